"""Move a staged render into a project without losing anything that is already there."""

from __future__ import annotations

import filecmp
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from cxgen.errors import CxgenError, UsageError


@dataclass
class InstallPlan:
    """What installing a staged render would do."""

    new: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    conflicts: list[Path] = field(default_factory=list)


def staged_files(staging: Path) -> list[Path]:
    """Relative paths of every file in the staging folder, sorted."""
    return sorted(p.relative_to(staging) for p in staging.rglob("*") if p.is_file())


def plan_install(staging: Path, dest: Path) -> InstallPlan:
    """Compare the staged files with the project's."""
    plan = InstallPlan()
    for rel in staged_files(staging):
        target = dest / rel
        if not target.exists() and not target.is_symlink():
            # A parent that exists as a file blocks the install too.
            blocked = any(
                p.exists() and not p.is_dir() for p in target.parents if dest in p.parents
            )
            (plan.conflicts if blocked else plan.new).append(rel)
        elif (
            target.is_file()
            and not target.is_symlink()
            and filecmp.cmp(staging / rel, target, shallow=False)
        ):
            plan.unchanged.append(rel)
        else:
            plan.conflicts.append(rel)
    return plan


def install(staging: Path, dest: Path, files: list[Path]) -> None:
    """Copy `files` into dest; on any failure remove what this call created, then raise."""
    created: list[Path] = []
    try:
        for rel in files:
            target = dest / rel
            for parent in reversed(target.parents):
                if not parent.exists():
                    parent.mkdir()
                    created.append(parent)
            shutil.copy2(staging / rel, target)
            created.append(target)
    except OSError as error:
        for path in reversed(created):
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
        raise CxgenError(
            f"cannot write {error.filename}: {error.strerror}; nothing was written"
        ) from error


def refuse_conflicts(plan: InstallPlan) -> None:
    """Existing files that differ are the user's: never overwrite them."""
    if plan.conflicts:
        names = ", ".join(str(p) for p in plan.conflicts[:5])
        more = f" and {len(plan.conflicts) - 5} more" if len(plan.conflicts) > 5 else ""
        raise UsageError(
            f"would overwrite existing files: {names}{more}; move them away, or use "
            "`cxgen update` for a cxgen project; nothing was written"
        )
