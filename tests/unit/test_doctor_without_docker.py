"""`cxgen doctor` where Docker is absent (no CLI on PATH, DOCKER_HOST at a missing socket) or
unreachable: one line per failing check, each with its fix, and exit 1. The project checks that
need no daemon still run (answers, version, policy, image tag)."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import run_cxgen


def without_docker(tmp_path: Path) -> dict[str, str]:
    """The environment with every command of PATH but docker (linked into one folder), and
    DOCKER_HOST at a socket that is not there."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for folder in os.environ["PATH"].split(os.pathsep):
        if not folder or not Path(folder).is_dir():
            continue
        for command in Path(folder).iterdir():
            link = bindir / command.name
            if command.name != "docker" and os.access(command, os.X_OK) and not link.exists():
                link.symlink_to(command)
    return {
        **os.environ,
        "PATH": str(bindir),
        "DOCKER_HOST": f"unix://{tmp_path}/missing.sock",
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


def failures(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("FAIL")]


def test_docker_absent(tmp_path: Path) -> None:
    env = without_docker(tmp_path)
    project = tmp_path / "p"
    init = run_cxgen(["init", "--defaults", str(project)], env=env)
    assert init.returncode == 0, init.stderr
    result = run_cxgen(["doctor", str(project)], env=env)
    assert result.returncode == 1, result.stdout
    assert "blocks running" in result.stderr
    fails = failures(result.stdout)
    assert [line.split(":")[0] for line in fails] == ["FAIL  docker CLI", "FAIL  docker socket"]
    assert all("; fix: " in line for line in fails)
    assert "missing.sock does not exist" in fails[1]
    report = result.stdout
    assert "ok    policy: the allowlist and .codex/sandbox are as you accepted" in report
    assert "skip  image: cxgen/" in report
    assert "skip  firewall (nf_tables): needs the Docker daemon" in report
    assert not (Path.home() / ".local/state").exists()


def test_daemon_unreachable(tmp_path: Path) -> None:
    env = {**without_docker(tmp_path), "DOCKER_HOST": "tcp://127.0.0.1:9"}
    result = run_cxgen(["doctor"], env=env, cwd=tmp_path)
    assert result.returncode == 1
    [cli, daemon] = failures(result.stdout)
    assert cli.startswith("FAIL  docker CLI: not found on PATH")
    assert daemon.startswith("FAIL  Docker daemon: not reachable: ") and "; fix: " in daemon
    assert f"skip  project: {tmp_path} is not a cxgen project" in result.stdout


def test_not_a_project(tmp_path: Path) -> None:
    result = run_cxgen(["doctor", str(tmp_path)], env=without_docker(tmp_path))
    assert result.returncode == 1
    assert f"FAIL  project: {tmp_path} is not a cxgen project (no .copier-answers.yml); fix: " in (
        result.stdout
    )
