"""lib/versions.sh: comparing versions, the pin read from the Dockerfile, the newest version
remembered per user."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.shell.conftest import Bash

DOCKERFILE = """FROM debian
RUN if ! command -v codex >/dev/null 2>&1; then npm install -g @openai/codex@0.147.0; fi \\
  && true
RUN npm install -g @google/gemini-cli@1.2.3-beta.1 && npm cache clean --force
"""
PACKAGES = "AGENT_PACKAGES=(codex @openai/codex gemini @google/gemini-cli claude @anthropic-ai/x)\n"


def versions(bash: Bash, tmp: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp / "sandbox").mkdir(exist_ok=True)
    (tmp / "sandbox/Dockerfile").write_text(DOCKERFILE)
    constants = {
        "STATE_DIR": str(tmp / "state"),
        "SANDBOX_DIR": str(tmp / "sandbox"),
        "INSTALLED_AGENTS": "codex gemini claude",
    }
    return bash.run(PACKAGES + code, *args, libs=["versions.sh"], constants=constants)


@pytest.mark.parametrize(
    ("a", "b", "newer"),
    [
        ("1.2.4", "1.2.3", True),
        ("1.3.0", "1.2.9", True),
        ("2.0.0", "1.99.99", True),
        ("1.10.0", "1.9.0", True),  # numerically, not as text
        ("0.147.0", "0.46.0", True),
        ("1.2.3", "1.2.3", False),
        ("1.2.3", "1.2.4", False),
        ("1.9.0", "1.10.0", False),
        ("10.0.0", "9.99.99", True),
        ("1.2.3-beta.1", "1.2.3", False),  # the suffix is left out: the same version
        ("1.2.3", "1.2.3-beta.1", False),
        ("1.2.4-rc.1", "1.2.3", True),
        ("1.2.3+build.7", "1.2.2", True),
    ],
)
def test_version_newer(bash: Bash, tmp_path: Path, a: str, b: str, newer: bool) -> None:
    code = 'if version_newer "$1" "$2"; then echo yes; else echo no; fi'
    result = versions(bash, tmp_path, code, a, b)
    assert (result.stdout, result.stderr) == ("yes\n" if newer else "no\n", "")


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        ("codex", "0 @openai/codex 0.147.0"),
        ("gemini", "0 @google/gemini-cli 1.2.3-beta.1"),
        ("claude", "1 @anthropic-ai/x "),  # a package, no pin in the Dockerfile
        ("shell", "1  "),  # not from npm
    ],
)
def test_agent_package_reads_the_pin(bash: Bash, tmp_path: Path, agent: str, expected: str) -> None:
    code = 'status=0; agent_package "$1" || status=$?; echo "$status $PACKAGE $PINNED_VERSION"'
    result = versions(bash, tmp_path, code, agent)
    assert (result.stdout, result.stderr) == (expected + "\n", "")


def test_remember_version_keeps_the_newest(bash: Bash, tmp_path: Path) -> None:
    code = """
remember_version codex 0.150.0
remember_version gemini 1.0.0
remember_version codex 0.149.0
remember_version codex 0.160.1
remember_version gemini 0.9.0
"""
    result = versions(bash, tmp_path, code)
    assert (result.returncode, result.stderr) == (0, "")
    assert (tmp_path / "state/agent-versions").read_text() == "gemini 1.0.0\ncodex 0.160.1\n"


def test_notice_newer_versions(bash: Bash, tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state/agent-versions").write_text(
        "codex 0.200.0\ngemini 1.2.3\nclaude 9.9.9\nother 9.9.9\ncodex not-a-version\n"
    )
    result = versions(bash, tmp_path, "notice_newer_versions")
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == (
        "cxgen: codex 0.200.0 is known (this project pins 0.147.0): "
        "./run_in_container.sh build --agent-update codex\n"
    )
