"""`cxgen init`: render the template into a staging folder, then install it into the project."""

from __future__ import annotations

import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import copier
import yaml

from cxgen import __version__
from cxgen.accept import accept_policy
from cxgen.answers import QUESTIONS, validate_answers
from cxgen.errors import CxgenError, UsageError, copier_errors
from cxgen.line_endings import GITATTRIBUTES, RULES, check_gitattributes, ensure_lf_rules
from cxgen.project_files import (
    ANSWERS_FILE,
    install,
    plan_install,
    refuse_conflicts,
    refuse_symlinks,
    staged_files,
)
from cxgen.prompts import ask_questions
from cxgen.template_repo import git, template_repo, version_tag
from cxgen.validators import (
    LIST_ANSWERS,
    TEMPLATE_CHECKS,
    checking_saved_answers,
    list_as_text,
)

INIT_HOOK = Path(".codex/.environment/init.sh")
# Written into the answers file instead of this machine's cache path, so teammates can update.
TEMPLATE_SOURCE = "cxgen"


@dataclass
class InitResult:
    """What init wrote, and the lines it added to the project's own .gitattributes."""

    written: list[Path]
    gitattributes_added: list[str] = field(default_factory=list)


def check_destination(path: Path) -> Path:
    """The project folder: may exist (a folder) or not; never / and never a file."""
    text = str(path)
    if any(ord(ch) < 32 for ch in text):
        raise UsageError(
            f"invalid project path {text!r}: newlines and control characters are refused"
        )
    resolved = path.expanduser().resolve()
    if resolved == Path("/"):
        raise UsageError("refusing to generate into / ; give a project folder")
    if resolved.exists() and not resolved.is_dir():
        raise UsageError(f"{text} exists and is not a folder")
    if (resolved / ANSWERS_FILE).exists():
        raise UsageError(f"{text} is already a cxgen project; use `cxgen update` to change it")
    return resolved


def copier_data(answers: dict[str, Any]) -> dict[str, Any]:
    """Answers as Copier takes them: list answers as text ("[a, '*.b.com']"), which every
    release reads, whether it asks for them as YAML (up to 0.2.0) or as text."""
    return {
        key: list_as_text(value) if key in LIST_ANSWERS and isinstance(value, list) else value
        for key, value in answers.items()
    }


def render_template(
    dest: Path,
    answers: dict[str, Any],
    tag: str,
    *,
    defaults: bool = True,
    error_type: type[CxgenError] = UsageError,
    error_prefix: str = "",
) -> None:
    """Render template release `tag` with `answers` into `dest` (a fresh folder); unless
    `defaults`, ask the release's other questions at the terminal first."""
    with copier_errors(error_type, error_prefix):
        settings = copier.load_settings()  # the user's Copier settings: their defaults
        data = copier_data(answers)
        if not defaults:
            data |= ask_questions(tag, data, settings.defaults)
        copier.run_copy(
            str(template_repo()),
            str(dest),
            vcs_ref=tag,
            data=data,
            settings=settings,
            defaults=True,  # every question is answered or asked by now
            unsafe=True,  # our own template: it loads cxgen's Jinja extension
            quiet=True,
            skip_tasks=True,
            overwrite=True,
        )


def portable_answers(answers_path: Path) -> dict[str, Any]:
    """Rewrite the answers file without this machine's paths; return the answers as they were.

    Copier records its source as an absolute path into the local cache: teammates have other
    home folders, so the file names the source `cxgen`, resolved at update time.
    """
    text = answers_path.read_text(encoding="utf-8")
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    answers = yaml.safe_load(text)
    original = dict(answers)
    answers["_src_path"] = TEMPLATE_SOURCE
    # Typed at a prompt these are text ("a.com, b.com"): record them as lists, like --data.
    # The same validators as the prompts (already passed) return them as lists.
    with checking_saved_answers():
        for key in LIST_ANSWERS:
            answers[key] = TEMPLATE_CHECKS[key](answers.get(key))
    # The hook is copied into the project; its host path means nothing to teammates.
    answers["init_hook"] = ""
    body = yaml.safe_dump(answers, sort_keys=False, width=10_000, allow_unicode=True)
    answers_path.write_text(header + body, encoding="utf-8")
    return original


def _finish_staging(staging: Path) -> None:
    """Install the init hook and make the answers file machine-independent."""
    hook = portable_answers(staging / ANSWERS_FILE).get("init_hook") or ""
    if hook:
        target = staging / INIT_HOOK
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(hook, target)
        target.chmod(0o755)


def next_step(given: str, dest: Path) -> str:
    """The hint after init: a command that runs as written from here, and "commit" only where
    there is a git repository to commit to."""
    if dest == Path.cwd().resolve():
        command = "./run_in_container.sh --help"
    else:
        folder = f"./{given}" if given.startswith("-") else given
        command = f"cd {shlex.quote(folder)} && ./run_in_container.sh --help"
    try:
        in_git = git("rev-parse", "--is-inside-work-tree", cwd=dest).strip() == "true"
    except CxgenError:
        in_git = False
    if in_git:
        return f"next: commit them, then `{command}`"
    return f"next: `{command}` (to share the sandbox with a team, keep these files in git)"


def run_init(
    dest: Path,
    data: dict[str, Any],
    *,
    defaults: bool,
    interactive: bool,
    template_version: str = __version__,
) -> InitResult:
    """Generate the sandbox files into `dest`. Writes nothing on error."""
    dest = check_destination(dest)
    answers = validate_answers(data)
    missing = [q for q in QUESTIONS if q not in answers]
    if missing and not defaults and not interactive:
        raise UsageError(
            "no terminal to ask questions on; pass --defaults, or --data for: "
            + ", ".join(missing)
            + " (see `cxgen init --help`)"
        )
    tag = version_tag(template_version)
    if (
        template_version != __version__
        and tag not in git("tag", "--list", cwd=template_repo()).split()
    ):
        raise UsageError(f"unknown template version {template_version!r}")
    with tempfile.TemporaryDirectory(prefix="cxgen-") as tmp:
        staging = Path(tmp) / "project"
        render_template(staging, answers, tag, defaults=defaults)
        _finish_staging(staging)
        refuse_symlinks(dest, staged_files(staging))
        check_gitattributes(dest)
        plan = plan_install(staging, dest)
        refuse_conflicts(plan)
        install(staging, dest, plan.new)
    created, appended = _lf_rules(dest)
    accept_policy(dest, template_version)
    written = sorted([*plan.new, GITATTRIBUTES]) if created else plan.new
    return InitResult(written, appended)


def _lf_rules(dest: Path) -> tuple[bool, list[str]]:
    try:
        return ensure_lf_rules(dest)
    except OSError as error:
        raise CxgenError(
            f"the files are written, but not {dest / GITATTRIBUTES}: {error.strerror}; "
            f"add these lines to it yourself: {'; '.join(RULES)}"
        ) from error
