"""`cxgen init` never writes through a symlink below the project folder (the agent writes the
project, so a link there may lead anywhere on the host): exit 2, one line, nothing written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from cxgen.errors import CxgenError
from cxgen.init import render_template
from cxgen.project_files import install, plan_install
from cxgen.template_repo import version_tag
from tests.conftest import run_cxgen, snapshot


def tree(path: Path) -> dict[str, str | bytes]:
    """Every entry under path without following links: files' bytes, links' targets, folders."""
    entries: dict[str, str | bytes] = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            entry = Path(root) / name
            rel = str(entry.relative_to(path))
            if entry.is_symlink():
                entries[rel] = "-> " + str(entry.readlink())
            elif entry.is_dir():
                entries[rel] = "dir"
            else:
                entries[rel] = entry.read_bytes()
    return entries


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path]:
    """A project holding one user file, and a folder outside it with one file."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "keep.txt").write_text("user data")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret").write_text("host file")
    return project, outside


def assert_refused(project: Path, outside: Path, link: str) -> None:
    """init exits 2 with one line naming `link`, and neither folder changed."""
    before, before_outside = tree(project), tree(outside)
    result = run_cxgen(["init", "--defaults", str(project)])
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("cxgen: error: ") and result.stderr.count("\n") == 1
    assert f"symlink {project / link} " in result.stderr
    assert tree(project) == before and tree(outside) == before_outside


def test_symlinked_codex_to_outside(places: tuple[Path, Path]) -> None:
    project, outside = places
    (project / ".codex").symlink_to(outside)
    assert_refused(project, outside, ".codex")


def test_symlinked_sandbox_below_a_real_codex(places: tuple[Path, Path]) -> None:
    project, outside = places
    (project / ".codex").mkdir()
    (project / ".codex/sandbox").symlink_to(outside)
    assert_refused(project, outside, ".codex/sandbox")


def test_dangling_symlink_creates_nothing_at_its_target(places: tuple[Path, Path]) -> None:
    project, outside = places
    (project / ".codex").symlink_to(outside / "not-yet")
    assert_refused(project, outside, ".codex")
    assert not (outside / "not-yet").exists()


def test_symlinked_target_file(places: tuple[Path, Path]) -> None:
    project, outside = places
    (project / "run_in_container.sh").symlink_to(outside / "secret")
    assert_refused(project, outside, "run_in_container.sh")


def test_symlink_staying_inside_the_project_is_refused_too(places: tuple[Path, Path]) -> None:
    """Chosen for simplicity: cxgen and the run script work only on real folders."""
    project, outside = places
    (project / "config").mkdir()
    (project / ".codex").symlink_to("config")
    assert_refused(project, outside, ".codex")


def test_the_project_folder_itself_may_be_a_link(tmp_path: Path) -> None:
    """The path the user typed is theirs (like macOS's /tmp): it is followed to the project."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    result = run_cxgen(["init", "--defaults", str(tmp_path / "link")])
    assert result.returncode == 0, result.stderr
    assert (real / "run_in_container.sh").is_file() and (real / ".codex/sandbox").is_dir()


def test_install_does_not_follow_a_link_planted_after_the_plan(
    places: tuple[Path, Path],
) -> None:
    """A link swapped in between planning and writing: install fails and removes its files."""
    project, outside = places
    before = snapshot(project)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "staging"
        render_template(staging, {}, version_tag())
        plan = plan_install(staging, project)
        assert not plan.conflicts
        (project / ".codex").symlink_to(outside)
        with pytest.raises(CxgenError, match="nothing was written"):
            install(staging, project, plan.new)
    (project / ".codex").unlink()
    assert snapshot(project) == before and tree(outside) == {"secret": b"host file"}


def test_install_does_not_follow_a_link_planted_at_a_file(places: tuple[Path, Path]) -> None:
    project, outside = places
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "staging"
        render_template(staging, {}, version_tag())
        plan = plan_install(staging, project)
        (project / "run_in_container.sh").symlink_to(outside / "secret")
        assert plan_install(staging, project).conflicts == [Path("run_in_container.sh")]
        with pytest.raises(CxgenError, match=r"run_in_container\.sh"):
            install(staging, project, plan.new)
    assert (outside / "secret").read_text() == "host file"
    assert tree(project) == {
        "keep.txt": b"user data",
        "run_in_container.sh": "-> " + str(outside / "secret"),
    }
