"""`cxgen init`: render the template into a staging folder, then install it into the project."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import copier
import yaml

from cxgen.answers import QUESTIONS, validate_answers
from cxgen.errors import CxgenError, UsageError
from cxgen.project_files import install, plan_install, refuse_conflicts
from cxgen.resources import template_dir

ANSWERS_FILE = ".copier-answers.yml"
INIT_HOOK = Path(".codex/.environment/init.sh")
# Written into the answers file instead of this machine's cache path, so teammates can update.
TEMPLATE_SOURCE = "cxgen"


def check_destination(path: Path) -> Path:
    """The project folder: may exist (a folder) or not; never / and never a file."""
    text = str(path)
    if any(ord(ch) < 32 for ch in text):
        raise UsageError(f"invalid project path {text!r}: newlines and control characters are refused")
    resolved = path.expanduser().resolve()
    if resolved == Path("/"):
        raise UsageError("refusing to generate into / ; give a project folder")
    if resolved.exists() and not resolved.is_dir():
        raise UsageError(f"{text} exists and is not a folder")
    if (resolved / ANSWERS_FILE).exists():
        raise UsageError(f"{text} is already a cxgen project; use `cxgen update` to change it")
    return resolved


def _render(staging: Path, answers: dict[str, Any], defaults: bool) -> None:
    try:
        copier.run_copy(
            str(template_dir()),
            str(staging),
            data=answers,
            defaults=defaults,
            unsafe=True,  # our own template: it loads cxgen's Jinja extension
            quiet=True,
            skip_tasks=True,
            overwrite=True,
        )
    except copier.errors.CopierAnswersInterrupt as error:
        raise KeyboardInterrupt from error
    except (ValueError, copier.errors.CopierError) as error:
        raise UsageError(str(error).splitlines()[0]) from error


def _finish_staging(staging: Path) -> None:
    """Install the init hook and make the answers file machine-independent."""
    answers_path = staging / ANSWERS_FILE
    text = answers_path.read_text(encoding="utf-8")
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    answers = yaml.safe_load(text)
    answers["_src_path"] = TEMPLATE_SOURCE
    hook = answers.get("init_hook") or ""
    # The hook is copied into the project; its host path means nothing to teammates.
    answers["init_hook"] = ""
    body = yaml.safe_dump(answers, sort_keys=False, width=10_000, allow_unicode=True)
    answers_path.write_text(header + body, encoding="utf-8")
    if hook:
        target = staging / INIT_HOOK
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(hook, target)
        target.chmod(0o755)


def run_init(
    dest: Path, data: dict[str, Any], *, defaults: bool, interactive: bool
) -> list[Path]:
    """Generate the sandbox files into `dest`; return the files written. Writes nothing on error."""
    dest = check_destination(dest)
    answers = validate_answers(data)
    missing = [q for q in QUESTIONS if q not in answers]
    if missing and not defaults and not interactive:
        raise UsageError(
            "no terminal to ask questions on; pass --defaults, or --data for: " + ", ".join(missing)
        )
    with tempfile.TemporaryDirectory(prefix="cxgen-") as tmp:
        staging = Path(tmp) / "project"
        _render(staging, answers, defaults)
        _finish_staging(staging)
        plan = plan_install(staging, dest)
        refuse_conflicts(plan)
        try:
            install(staging, dest, plan.new)
        except CxgenError:
            raise
    return plan.new
