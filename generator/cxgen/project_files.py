"""Move a staged render into a project without losing anything that is already there."""

from __future__ import annotations

import filecmp
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cxgen.errors import CxgenError, UsageError
from cxgen.resources import template_dir

ANSWERS_FILE = ".copier-answers.yml"
# The largest generated file cxgen reads from a project (the run script is ~130 KB): anything
# bigger is not one of its files, whatever its name.
MAX_GENERATED_BYTES = 16 * 1024 * 1024


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


def template_files() -> list[Path]:
    """Project-relative paths of the files the installed template writes."""
    root = template_dir() / "project"
    return [
        generated_name(str(path.relative_to(root)))
        for path in sorted(root.rglob("*"))
        if path.is_file()
    ]


def generated_name(template_name: str) -> Path:
    """The project-relative path a template file (relative to the template's project/) renders
    to: the file names hold no Jinja but the answers file's."""
    rel = template_name.removesuffix(".jinja")
    return Path(rel.replace("{{ _copier_conf.answers_file }}", ANSWERS_FILE))


def read_regular(path: Path, limit: int = MAX_GENERATED_BYTES) -> tuple[bytes, int]:
    """The bytes and mode of the regular file at path, read without following a link and without
    waiting: the agent writes the project, so a name may hold a FIFO (an open that never
    returns), a device, or a sparse file of terabytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{path} is not a regular file; move it away and retry")
        if info.st_size > limit:
            raise UsageError(
                f"{path} is over {limit // (1024 * 1024)} MiB, too big to be a file cxgen wrote; "
                "move it away and retry"
            )
        content = file.read(limit + 1)
    if len(content) > limit:  # it grew while being read
        raise UsageError(f"{path} changed while being read; retry")
    return content, stat.S_IMODE(info.st_mode)


def refuse_symlinks(dest: Path, files: list[Path]) -> None:
    """No path the install would create or write under dest may be a symlink.

    The agent writes the project, so a symlink there may lead anywhere on the host (`.codex`
    pointing at ~/.ssh). Links that stay inside the project are refused too: cxgen and the run
    script work only on real folders, and a link is not checked again after this.
    """
    for rel in files:
        path = dest
        for part in rel.parts:
            path = path / part
            if path.is_symlink():
                raise UsageError(
                    f"refusing to write through the symlink {path} (to {str(path.readlink())!r}); "
                    "replace it with a real folder or move it away; nothing was written"
                )


def _make_folder(path: Path, created: list[Path]) -> None:
    """The project folder and its missing parents (the path the user gave: links followed)."""
    for folder in [*reversed(path.parents), path]:
        if not folder.exists():
            folder.mkdir()
            created.append(folder)


def _open_folder(name: str, dir_fd: int) -> int:
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)


def _install_one(source: Path, dest: Path, rel: Path, created: list[Path]) -> None:
    """Create dest/rel from source, walking folder by folder with no-follow opens: a symlink
    planted at any step (even after plan_install looked) fails instead of leading elsewhere."""
    fds = [os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)]
    try:
        path = dest
        for part in rel.parts[:-1]:
            path = path / part
            try:
                os.mkdir(part, dir_fd=fds[-1])
                created.append(path)
            except FileExistsError:
                pass
            fds.append(_open_folder(part, fds[-1]))
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(rel.name, flags, 0o600, dir_fd=fds[-1])
        created.append(dest / rel)
        with os.fdopen(fd, "wb") as out:
            out.write(source.read_bytes())
            os.fchmod(out.fileno(), stat.S_IMODE(source.stat().st_mode))
    finally:
        for fd in fds:
            os.close(fd)


def install(staging: Path, dest: Path, files: list[Path]) -> None:
    """Copy `files` into dest as new files; on any failure remove what this call created."""
    created: list[Path] = []
    rel = Path()
    try:
        _make_folder(dest, created)
        for rel in files:
            _install_one(staging / rel, dest, rel, created)
    except OSError as error:
        for path in reversed(created):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
        raise CxgenError(
            f"cannot write {dest / rel}: {error.strerror}; nothing was written"
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
