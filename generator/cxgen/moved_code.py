"""`cxgen update` across the run script's move into .codex/run/ (release 0.4.0).

Up to 0.3.0, run_in_container.sh was the whole host program (some 3,300 lines); since 0.4.0 it
only loads .codex/run/ (settings.sh, lib/*.sh, cmd/*.sh), where the same functions live. Copier
replaces an unedited old script with the new entry by itself. A three-way merge of an edited one
into the entry would help nobody, so instead: the user's script is kept beside the entry
(run_in_container.sh.vOLD-edited), the entry is written, and each of the user's edits (the diff
between what their release rendered and their file) is named with the function it was in and
the file that function lives in now, for them to re-apply.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cxgen.errors import CxgenError, UsageError
from cxgen.project_files import read_regular, template_files
from cxgen.template_repo import git, git_bytes, template_repo, version_tag

RUN_SCRIPT = Path("run_in_container.sh")
RUN_DIR = Path(".codex/run")
# The one-file script's template, and a file only the split layout has.
ONE_FILE_TEMPLATE = "project/run_in_container.sh.jinja"
SPLIT_TEMPLATE = "project/.codex/run"
ENTRY_TEMPLATE = "project/run_in_container.sh"
# Where an edit outside every function goes when no line of it is found in the new files: the
# top of the old script was its settings.
TOP_OF_FILE = "settings / top of file"
SETTINGS = ".codex/run/settings.sh"

# Functions of the one-file script that no function of the same name continues, and where
# their code is now. (Every other function kept its name: it is looked up in the new files.)
RENAMED = {
    "usage": "the `# Usage:`/`# Summary:` header of .codex/run/cmd/COMMAND.sh (help prints it)",
    "parse_args": ".codex/run/lib/options.sh (options_parse, options_set)",
    "set_option": ".codex/run/lib/options.sh (options_set)",
    "parse_manage_args": ".codex/run/lib/options.sh (options_parse, options_session_name)",
    "main": "run_in_container.sh (main) and .codex/run/lib/command.sh (command_main)",
    "cmd_session": ".codex/run/lib/start.sh (start_session)",
    "check_firewall_args": (
        ".codex/run/cmd/{denied,allow,lockdown,exec}.sh (args_denied, args_allow, "
        "args_lockdown, args_exec)"
    ),
    "start_docker_queries": ".codex/run/lib/image.sh (start_image_query, start_sandbox_queries)",
    "root_mode_args": ".codex/run/lib/home.sh (container_folders_args)",
    "remember_agent_tree": ".codex/run/lib/paths.sh (remember_agent_trees)",
    # Same names, but their tables of agents became data.
    "agent_command": ".codex/run/lib/agents.sh; its table: AGENT_RUN_* in .codex/run/settings.sh",
    "agent_login": ".codex/run/lib/agents.sh; its table: AGENT_LOGIN_* in .codex/run/settings.sh",
}

_DEF = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\(\)\s*\{")
# A variable set at the top of a script: `NAME=...`, `readonly NAME[=...] ...`.
_DECLARE = re.compile(r"(?:readonly|declare|export)((?:\s+-[A-Za-z]+)*)\s+(.*)")
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\+?=|\[)")
_NAMES = re.compile(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)(?=\+?=|\s|$)")
# Lines too common to say where an edit is.
_TRIVIAL = {"", "}", "{", "fi", "done", "esac", ")", ";;", "else", "then", "do", "return 0"}


@dataclass(frozen=True)
class MovedEdit:
    """One hunk of the user's edits to the old script, and where its code is now."""

    lines: str  # in the kept copy: "812", "812-815", or "812, lines removed"
    was_in: str  # "in refuse_symlink", "outside any function", or TOP_OF_FILE
    now_in: str  # where to re-apply it


@dataclass
class MovedScript:
    """The user's edited one-file script, kept beside the new entry, and their edits."""

    kept: str
    edits: list[MovedEdit] = field(default_factory=list)


def splits_run_script(old: str, new: str) -> bool:
    """Whether an update from release `old` to `new` crosses the run script's move."""
    return _in_release(old, ONE_FILE_TEMPLATE) and _in_release(new, SPLIT_TEMPLATE)


def _in_release(version: str, path: str) -> bool:
    try:
        git("cat-file", "-e", f"{version_tag(version)}:{path}", cwd=template_repo())
    except CxgenError:
        return False
    return True


def kept_name(old: str) -> Path:
    """Where the user's edited one-file script is kept."""
    return Path(f"{RUN_SCRIPT}.v{old}-edited")


def _text(content: bytes) -> str:
    return content.decode("utf-8", errors="replace").replace("\r\n", "\n")


def edited_script(project: Path, base: Path) -> bytes | None:
    """The project's run script when it is not what its release rendered (`base`), else None.

    Line endings do not count (a checkout may have CRLF where git keeps LF)."""
    path = project / RUN_SCRIPT
    if path.is_symlink() or not path.is_file():
        return None  # deleted by the user (it stays deleted) or refused before this
    mine = read_regular(path)[0]
    generated = base / RUN_SCRIPT
    if generated.is_file() and _text(mine) == _text(generated.read_bytes()):
        return None
    return mine


def check_kept_free(project: Path, old: str) -> None:
    """Refuse, before anything is written, when the kept copy's name is taken."""
    path = project / kept_name(old)
    if path.exists() or path.is_symlink():
        raise UsageError(
            f"{path} is in the way: the update keeps your edited {RUN_SCRIPT} there; move it "
            "away and retry; nothing was written"
        )


def move_run_script(project: Path, old: str, new: str, mine: bytes, base: Path) -> MovedScript:
    """Keep the user's script beside the entry, write the entry, and name every edit."""
    kept = kept_name(old)
    _write(project / kept, mine, 0o644, create=True)
    entry, mode = _release_file(new, ENTRY_TEMPLATE)
    _write(project / RUN_SCRIPT, entry, mode, create=False)
    generated = _text((base / RUN_SCRIPT).read_bytes()) if (base / RUN_SCRIPT).is_file() else ""
    edits = find_edits(generated, _text(mine), _Layout(_new_layout(project)))
    return MovedScript(str(kept), edits)


def _release_file(version: str, path: str) -> tuple[bytes, int]:
    repo = template_repo()
    content = git_bytes("show", f"{version_tag(version)}:{path}", cwd=repo)
    entry = git("ls-tree", version_tag(version), "--", path, cwd=repo)
    return content, 0o755 if entry.startswith("100755") else 0o644


def _write(path: Path, content: bytes, mode: int, *, create: bool) -> None:
    """Write a file in the project without following a link (and, to create, only a new one)."""
    flags = os.O_WRONLY | os.O_NOFOLLOW | (os.O_CREAT | os.O_EXCL if create else os.O_TRUNC)
    try:
        fd = os.open(path, flags, mode)
    except OSError as error:
        raise CxgenError(f"cannot write {path}: {error.strerror}") from error
    with os.fdopen(fd, "wb") as out:
        out.write(content)
        os.fchmod(out.fileno(), mode)


def _new_layout(project: Path) -> dict[str, list[str]]:
    """The lines of the new entry and of every .codex/run/ script, as the update wrote them."""
    files = {}
    for rel in template_files():
        if rel == RUN_SCRIPT or (RUN_DIR in rel.parents and rel.suffix == ".sh"):
            path = project / rel
            if path.is_file() and not path.is_symlink():
                files[str(rel)] = _text(read_regular(path)[0]).splitlines()
    return files


def function_owners(lines: list[str]) -> list[str | None]:
    """For each line, the function it belongs to (its body, or the comment right above its
    definition), or None outside every function."""
    owners: list[str | None] = [None] * len(lines)
    index = 0
    while index < len(lines):
        match = _DEF.match(lines[index])
        if not match or lines[index][:1].isspace():
            index += 1
            continue
        name, end = match[1], index
        if not lines[index].rstrip().endswith("}"):  # not a one-line function
            end = next(
                (k for k in range(index + 1, len(lines)) if lines[k].startswith("}")),
                len(lines) - 1,
            )
        above = index - 1
        while above >= 0 and lines[above].startswith("#") and owners[above] is None:
            owners[above] = name
            above -= 1
        for line in range(index, end + 1):
            owners[line] = name
        index = end + 1
    return owners


class _Layout:
    """Where things are in the new files: functions by name, lines verbatim, variables set."""

    def __init__(self, files: dict[str, list[str]]) -> None:
        self.functions: dict[str, list[str]] = {}
        self.lines: dict[str, list[str]] = {}
        self.variables: dict[str, list[str]] = {}
        for rel, lines in files.items():
            for line in lines:
                match = _DEF.match(line)
                if match:
                    _add(self.functions, match[1], rel)
                if line.strip() not in _TRIVIAL:
                    _add(self.lines, line.strip(), rel)
                for name in _set_at_top(line):
                    _add(self.variables, name, rel)

    def function(self, name: str) -> str:
        if name in RENAMED:
            return RENAMED[name]
        if name in self.functions:
            return ", ".join(self.functions[name])
        return f"no file: {name} is gone (see .codex/run/)"

    def top_level(self, lines: Iterable[str]) -> list[str]:
        """The new files holding any of these lines from outside every function, verbatim or
        as the variable they set."""
        found: list[str] = []
        for line in lines:
            for rel in self.lines.get(line.strip(), []) if line.strip() not in _TRIVIAL else []:
                _append(found, rel)
            for name in _set_at_top(line):
                for rel in self.variables.get(name, []):
                    _append(found, rel)
        return found


def _add(table: dict[str, list[str]], key: str, rel: str) -> None:
    _append(table.setdefault(key, []), rel)


def _append(items: list[str], item: str) -> None:
    if item not in items:
        items.append(item)


def _set_at_top(line: str) -> list[str]:
    """The variables an unindented line sets (`NAME=`, `readonly A B=...`)."""
    if line[:1].isspace():
        return []
    declared = _DECLARE.fullmatch(line.rstrip())
    if declared:
        return _NAMES.findall(declared[2])
    assigned = _ASSIGN.match(line)
    return [assigned[1]] if assigned else []


def find_edits(generated: str, mine: str, layout: _Layout) -> list[MovedEdit]:
    """Each hunk of the diff from `generated` (the old release's script) to `mine`."""
    old_lines, my_lines = generated.splitlines(), mine.splitlines()
    owners = function_owners(old_lines)
    matcher = difflib.SequenceMatcher(None, old_lines, my_lines, autojunk=False)
    edits = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        # An insertion touches the lines around it.
        touched = range(i1, i2) if i2 > i1 else [k for k in (i1 - 1, i1) if 0 <= k < len(old_lines)]
        names: list[str] = []
        for k in touched:
            if owners[k]:
                _append(names, str(owners[k]))
        outside = layout.top_level(old_lines[k] for k in touched if owners[k] is None)
        places: list[str] = []
        for name in names:
            _append(places, layout.function(name))
        for rel in outside:
            _append(places, rel)
        if names:
            was_in = "in " + ", ".join(names) + (" and outside any function" if outside else "")
        elif outside:
            was_in = "outside any function"
        else:
            was_in, places = TOP_OF_FILE, [SETTINGS]
        edits.append(MovedEdit(_line_range(j1, j2), was_in, "; ".join(places)))
    return edits


def _line_range(j1: int, j2: int) -> str:
    """The hunk's lines in the kept copy (1-based)."""
    if j2 == j1:
        return f"{max(j1, 1)}, lines removed"
    return str(j1 + 1) if j2 == j1 + 1 else f"{j1 + 1}-{j2}"
