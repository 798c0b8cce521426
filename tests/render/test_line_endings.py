"""Generated files keep LF in every checkout, Git for Windows' core.autocrlf=true included, so
the scripts run and the image tag is the same on every teammate's machine (no Docker)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from cxgen.errors import UsageError
from cxgen.init import run_init
from tests.conftest import run_cxgen, snapshot

GIT_ID = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
RULES = ["run_in_container.sh text eol=lf", ".copier-answers.yml text eol=lf"]


def sh(*args: str, cwd: Path) -> str:
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def accepted_hash(checkout: Path, state: Path) -> str:
    """The build context's hash as `run_in_container.sh accept` records it (no terminal, nothing
    refused before: --accept-changes)."""
    result = subprocess.run(
        ["./run_in_container.sh", "accept", "--accept-changes"],
        cwd=checkout,
        env={**os.environ, "XDG_STATE_HOME": str(state)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"accepted for .*: \.codex/sandbox \([0-9a-f]{12}\.\.\.\)", result.stderr)
    (policy,) = (state / "cxgen" / "projects").glob("*/policy")
    found = re.search(r"^sandbox ([0-9a-f]{64})$", policy.read_text(), re.MULTILINE)
    assert found, policy.read_text()
    return found.group(1)


def test_a_crlf_checkout_has_lf_files_and_the_same_image_hash(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    sh("git", "init", "-q", cwd=project)
    written = run_init(project, {"agents": ["shell"]}, defaults=True, interactive=False).written
    assert Path(".gitattributes") in written and Path(".codex/.gitattributes") in written
    sh("git", "add", "-A", cwd=project)
    sh("git", *GIT_ID, "commit", "-q", "-m", "sandbox", cwd=project)
    clone = tmp_path / "windows-checkout"
    sh("git", "clone", "-q", "-c", "core.autocrlf=true", str(project), str(clone), cwd=tmp_path)
    with_cr = [str(rel) for rel in written if b"\r" in (clone / rel).read_bytes()]
    assert with_cr == []
    assert snapshot(clone / ".codex") == snapshot(project / ".codex")
    assert accepted_hash(clone, tmp_path / "state-clone") == accepted_hash(
        project, tmp_path / "state-project"
    )


def test_an_existing_gitattributes_gets_the_missing_lines_appended(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / ".gitattributes").write_text(f"*.png binary\n{RULES[1]}")  # no final newline
    result = run_cxgen(["init", "--defaults", "--data", "agents=[shell]", str(project)])
    assert result.returncode == 0, result.stderr
    text = (project / ".gitattributes").read_text()
    assert text.startswith(f"*.png binary\n{RULES[1]}\n")  # the user's lines, untouched
    assert text.endswith(f"\n{RULES[0]}\n") and text.count(RULES[1]) == 1
    assert f"added to your .gitattributes (LF line endings in every checkout): `{RULES[0]}`" in (
        result.stderr
    )
    assert "  .gitattributes\n" not in result.stderr  # not among the files written


def test_a_gitattributes_with_the_rules_is_left_alone(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / ".gitattributes").write_text("\n".join(["* text=auto", *RULES]) + "\n")
    before = (project / ".gitattributes").read_bytes()
    result = run_cxgen(["init", "--defaults", "--data", "agents=[shell]", str(project)])
    assert result.returncode == 0, result.stderr
    assert (project / ".gitattributes").read_bytes() == before
    assert "added to your .gitattributes" not in result.stderr


def test_a_symlinked_gitattributes_is_refused_and_nothing_written(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    outside = tmp_path / "outside"
    outside.write_text("mine\n")
    (project / ".gitattributes").symlink_to(outside)
    before = snapshot(project)
    with pytest.raises(UsageError, match="symlink"):
        run_init(project, {"agents": ["shell"]}, defaults=True, interactive=False)
    assert snapshot(project) == before and outside.read_text() == "mine\n"


def test_update_keeps_the_users_gitattributes_and_adds_missing_rules(tmp_path: Path) -> None:
    project = tmp_path / "p"
    run_init(project, {"agents": ["shell"]}, defaults=True, interactive=False)
    (project / ".gitattributes").write_text("*.png binary\n")  # a user who dropped our lines
    sh("git", "init", "-q", cwd=project)
    sh("git", "add", "-A", cwd=project)
    sh("git", *GIT_ID, "commit", "-q", "-m", "sandbox", cwd=project)
    result = run_cxgen(["update", "--data", "allowed_domains=pypi.org", str(project)])
    assert result.returncode == 0, result.stderr
    text = (project / ".gitattributes").read_text()
    assert text.startswith("*.png binary\n") and all(rule in text for rule in RULES)
    assert "  .gitattributes" in result.stderr  # named among the changed files
