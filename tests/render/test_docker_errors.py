"""Docker down, or its socket denied: every command says why in one line, and what to do.

A stand-in for docker fails every call the way the real CLI does when the daemon's socket is
denied to this user, or when no daemon listens. Each command that talks to Docker must then
print docker_failed's line (lib/core.sh), the same one `build` and `list` give: never docker's
own text, the name of a file that holds it, or a guess such as "is Docker running?".
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from cxgen.init import run_init

DENIED_TEXT = (
    "permission denied while trying to connect to the Docker daemon socket at"
    " unix:///var/run/docker.sock: Get"
    ' "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/containers/json": dial unix'
    " /var/run/docker.sock: connect: permission denied"
)
DOWN_TEXT = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
    " Is the docker daemon running?"
)
# What the user reads: (docker's text, the one line cxgen prints instead).
REASONS = {
    "denied": (
        DENIED_TEXT,
        "cxgen: error: permission denied on the Docker socket: add yourself to the docker group"
        " (sudo usermod -aG docker $USER, then log in again) or use rootless Docker",
    ),
    "down": (
        DOWN_TEXT,
        "cxgen: error: the Docker daemon is not running (or DOCKER_HOST points nowhere):"
        " start Docker and retry",
    ),
}
FAILING_DOCKER = """#!/bin/sh
printf '%s\\n' "$CXGEN_TEST_DOCKER_SAYS" >&2
exit 1
"""
# Every command that talks to Docker, with what it needs to get that far.
COMMANDS = [
    ["run"],
    ["run", "--name", "mine", "--git", "track"],
    ["run", "--network", "mynet"],
    ["run", "--port", "8080"],
    ["shell"],
    ["exec", "--", "true"],
    ["exec", "-T", "--", "true"],
    ["exec", "--learn", "--", "true"],
    ["login"],
    ["build"],
    ["build", "--rebuild"],
    ["build", "--agent-update", "codex"],
    ["diff"],
    ["revert", "--yes"],
    ["fetch"],
    ["list"],
    ["list", "--all"],
    ["attach", "mine"],
    ["stop", "mine"],
    ["destroy", "mine"],
    ["destroy", "--stopped"],
    ["push", "--yes", "README.md"],
    ["pull", "--yes", "notes.txt"],
    ["images"],
    ["images", "--clean"],
    ["denied"],
    ["allow", "example.org"],
    ["lockdown", "on"],
    ["lockdown", "off"],
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated project, committed, with an agent repository and a git=track session's
    start (so fetch, diff and revert reach their Docker calls)."""
    dest = tmp_path_factory.mktemp("docker-errors") / "proj"
    run_init(
        dest,
        {"agents": ["codex", "shell"], "allowed_domains": ["pypi.org"]},
        defaults=True,
        interactive=False,
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=dest, check=True)
    (dest / ".codex/.environment/git/agent.git").mkdir(parents=True)
    return dest


@pytest.fixture
def track_start(project: Path) -> None:
    """A git=track repository for the project's work dir, as a session's start leaves it."""
    state = Path(os.environ["XDG_STATE_HOME"]) / "cxgen/tracks"
    track = state / (hashlib.sha256(str(project).encode()).hexdigest()[:16] + ".git")
    if track.exists():
        return
    subprocess.run(["git", "init", "-q", "--bare", str(track)], check=True)
    env = {**os.environ, "GIT_DIR": str(track)}
    tree = subprocess.run(
        ["git", "mktree"], input="", env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    commit = subprocess.run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "commit-tree",
            tree,
            "-m",
            "s",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(["git", "update-ref", "refs/cxgen/start", commit], env=env, check=True)


@pytest.mark.parametrize("reason", sorted(REASONS))
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_every_docker_command_says_why_docker_failed_in_one_line(
    project: Path,
    tmp_path: Path,
    script_shell: list[str],
    track_start: None,
    args: list[str],
    reason: str,
) -> None:
    says, line = REASONS[reason]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "docker").write_text(FAILING_DOCKER)
    (bindir / "docker").chmod(0o755)
    result = subprocess.run(
        [*script_shell, str(project / "run_in_container.sh"), *args],
        cwd=project,
        env={
            **os.environ,
            "PATH": f"{bindir}:{os.environ['PATH']}",
            "CXGEN_TEST_DOCKER_SAYS": says,
        },
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    errors = [text for text in result.stderr.splitlines() if text.startswith("cxgen: error: ")]
    assert errors == [line], result.stderr
    # Nothing but cxgen's own lines (login says where its callback listens first).
    assert all(text.startswith("cxgen: ") for text in result.stderr.splitlines()), result.stderr
