"""LF line endings in every checkout: the project's root .gitattributes names cxgen's root files.

With Git for Windows' default `core.autocrlf=true` (also used from WSL) a checkout gets CRLF
scripts: bash cannot run them and the image tag changes. `.codex/.gitattributes` (a template
file) covers `.codex/`; the root files are named in the project's own `.gitattributes`, which
cxgen creates, or, when the user has one, extends by the missing lines (never rewrites it).
"""

from __future__ import annotations

import os
from pathlib import Path

from cxgen.errors import UsageError
from cxgen.project_files import refuse_symlinks

GITATTRIBUTES = Path(".gitattributes")
RULES = ("run_in_container.sh text eol=lf", ".copier-answers.yml text eol=lf")
COMMENT = "# cxgen: LF in every checkout (also with core.autocrlf=true): scripts run as committed"


def check_gitattributes(project: Path) -> None:
    """Refuse, before anything is written, a .gitattributes that cxgen could not extend safely."""
    refuse_symlinks(project, [GITATTRIBUTES])
    path = project / GITATTRIBUTES
    if path.exists() and not path.is_file():
        raise UsageError(f"{path} is not a file; move it away; nothing was written")


def _missing_rules(text: str) -> list[str]:
    present = {" ".join(line.split()) for line in text.splitlines()}
    return [rule for rule in RULES if rule not in present]


def ensure_lf_rules(project: Path) -> tuple[bool, list[str]]:
    """Create the project's .gitattributes, or append the rules it lacks.

    Returns (created, rules appended to an existing file). Never follows a symlink.
    """
    check_gitattributes(project)
    path = project / GITATTRIBUTES
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as created:
            created.write("\n".join([COMMENT, *RULES, ".gitattributes text eol=lf"]) + "\n")
        return True, []
    with os.fdopen(fd, "rb") as existing:
        text = existing.read().decode("utf-8", errors="replace")
    missing = _missing_rules(text)
    if missing:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)
        with os.fdopen(fd, "w", encoding="utf-8") as appended:
            lead = "" if not text or text.endswith("\n") else "\n"
            appended.write(lead + "\n".join([COMMENT, *missing]) + "\n")
    return False, missing
