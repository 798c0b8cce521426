"""`cxgen doctor` where Docker is absent (no CLI on PATH, DOCKER_HOST at a missing socket) or
unreachable: one line per failing check, each with its fix, and exit 1. The project checks that
need no daemon still run (answers, version, policy, image tag). With no CLI but a daemon that
answers (a stand-in for Docker's API here), every check still gives its line."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import socketserver
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

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


class FakeDaemon(http.server.BaseHTTPRequestHandler):
    """Docker's API as an engine with no images answers it: its version, an empty image list,
    404 for anything else."""

    VERSION: ClassVar[dict[str, str]] = {
        "Version": "20.10.24",
        "ApiVersion": "1.41",
        "Os": "linux",
        "Arch": "amd64",
    }

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path.endswith("/version"):
            self.answer(200, self.VERSION)
        elif path.endswith("/images/json"):
            self.answer(200, [])
        else:
            self.answer(404, {"message": f"No such image: {path}"})

    def answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def address_string(self) -> str:
        return "unix"  # (a unix socket's peer has no address)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def daemon_socket() -> Iterator[Path]:
    """A Docker API that answers on a unix socket (in a short path: sun_path holds 108 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="cxd-"))
    sock = folder / "docker.sock"
    server = socketserver.ThreadingUnixStreamServer(str(sock), FakeDaemon)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sock
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(folder)


def test_no_docker_cli_but_a_daemon_answers(tmp_path: Path, daemon_socket: Path) -> None:
    # (Issue 19: the builder check ran `docker buildx version` unguarded: CommandNotFound, exit 3.)
    env = {**without_docker(tmp_path), "DOCKER_HOST": f"unix://{daemon_socket}"}
    project = tmp_path / "p"
    assert run_cxgen(["init", "--defaults", str(project)], env=env).returncode == 0
    result = run_cxgen(["doctor", str(project)], env=env)
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr
    assert [line.split(":")[0] for line in failures(result.stdout)] == ["FAIL  docker CLI"]
    report = result.stdout.splitlines()
    [cli] = failures(result.stdout)
    assert cli.startswith("FAIL  docker CLI: not found on PATH") and "; fix: install" in cli
    assert f"ok    docker socket: {daemon_socket} (read and write)" in report
    assert "ok    Docker daemon: Engine 20.10.24 (API 1.41), linux/amd64" in report
    assert "skip  builder: needs the docker CLI (see its line above)" in report
    assert any(line.startswith("ok    bash: ") for line in report)
    assert "ok    policy: the allowlist and .codex/sandbox are as you accepted" in report
    assert any(line.startswith("warn  image: cxgen/") for line in report)
    assert any(line.startswith("warn  firewall (nf_tables): not tested") for line in report)
