"""run_in_container.sh, the entry: what it sources (settings.sh, lib/*.sh, the command's cmd file)
must be what cxgen wrote, not a symlink the agent planted, on the way to it or in its place. It
refuses with one line (exit 2) before it sources anything: every file here first leaves a mark
when sourced, and no mark may appear."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.render.conftest import render_default_once

MARK = "sourced"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, rendered once; each test works on a copy."""
    return render_default_once(tmp_path_factory, "entry")


@pytest.fixture
def project(rendered: Path, tmp_path: Path) -> Path:
    """A copy of the project whose every file under .codex/run touches tmp/sourced when sourced."""
    dest = tmp_path.resolve() / "proj"
    shutil.copytree(rendered, dest, symlinks=True)
    for path in (dest / ".codex/run").rglob("*.sh"):
        path.write_text(f"touch '{tmp_path.resolve() / MARK}'\n" + path.read_text())
    return dest


def run_entry(shell: list[str], project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*shell, str(project / "run_in_container.sh"), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def test_the_marks_work(script_shell: list[str], project: Path, tmp_path: Path) -> None:
    """The control: unchanged, the entry sources the files (so they leave the mark)."""
    result = run_entry(script_shell, project, "help", "help")
    assert (result.returncode, result.stderr) == (0, "")
    assert (tmp_path / MARK).exists()


def plant_symlink(project: Path, relative: str, elsewhere: Path) -> Path:
    """PATH replaced by a symlink to a copy of it elsewhere (the same files, marks included;
    a new PATH: a symlink to a copy of settings.sh). Returns PATH."""
    path = project / relative
    copy = elsewhere / relative.replace("/", "_")
    if path.is_dir():
        shutil.copytree(path, copy, symlinks=True)
        shutil.rmtree(path)
    else:
        source = path if path.exists() else project / ".codex/run/settings.sh"
        shutil.copy(source, copy)
        path.unlink(missing_ok=True)
    path.symlink_to(copy)
    return path


@pytest.mark.parametrize(
    "relative",
    [
        ".codex",
        ".codex/run",
        ".codex/run/lib",
        ".codex/run/cmd",
        ".codex/run/settings.sh",
        ".codex/run/lib/core.sh",
        ".codex/run/lib/paths.sh",
        ".codex/run/lib/zz-planted.sh",  # one more lib file, the agent's
        ".codex/run/cmd/help.sh",  # the command's file
    ],
)
def test_a_symlink_is_refused_before_anything_is_sourced(
    script_shell: list[str], project: Path, tmp_path: Path, relative: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = plant_symlink(project, relative, elsewhere)
    result = run_entry(script_shell, project, "help")
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        f"cxgen: error: refusing {path}: it is a symlink, which the agent may have planted; "
        "remove it and restore it (git checkout -- .codex/run) and retry\n",
    )
    assert not (tmp_path / MARK).exists(), "sourced before the refusal"


def test_another_commands_symlinked_file_is_not_sourced(
    script_shell: list[str], project: Path, tmp_path: Path
) -> None:
    # Only the command that runs is sourced: help runs with cmd/run.sh made a symlink (its
    # header is read, as text, for the list of commands).
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    plant_symlink(project, ".codex/run/cmd/run.sh", elsewhere)
    (elsewhere / ".codex_run_cmd_run.sh").write_text(
        f"# Usage: ./run_in_container.sh [run]\n# Summary: s\ntouch '{tmp_path}/run-sourced'\n"
    )
    result = run_entry(script_shell, project, "help", "help")
    assert (result.returncode, result.stderr) == (0, "")
    assert not (tmp_path / "run-sourced").exists()


@pytest.mark.parametrize(
    ("command", "relative"),
    [
        ("help", ".codex/run/cmd/help.sh"),
        ("stop", ".codex/run/cmd/stop.sh"),
        ("run", ".codex/run/cmd/run.sh"),  # the default command
        ("help", ".codex/run/settings.sh"),
        ("help", ".codex/run/lib"),
        ("help", ".codex/run/cmd"),
        ("help", ".codex/run"),
    ],
)
def test_a_missing_file_is_one_line(
    script_shell: list[str], project: Path, tmp_path: Path, command: str, relative: str
) -> None:
    path = project / relative
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    args = [] if command == "run" else [command]
    result = run_entry(script_shell, project, *args)
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        f"cxgen: error: missing {path}; restore it (git checkout -- .codex/run, or cxgen "
        "update) and retry\n",
    )
    assert not (tmp_path / MARK).exists()


def test_a_project_path_with_a_newline_is_one_line(
    script_shell: list[str], project: Path, tmp_path: Path
) -> None:
    moved = tmp_path / "a\nb" / "proj"
    moved.parent.mkdir()
    project.rename(moved)
    result = run_entry(script_shell, moved, "help")
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        "cxgen: error: the project's path holds a newline; move it to a plain path\n",
    )
    assert not (tmp_path / MARK).exists()
