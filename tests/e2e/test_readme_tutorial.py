"""The README's five-minute tutorial, run as written on real Docker, as root and as a user in the
docker group, from an empty home.

Three things differ from a user's machine, and only these: `cxgen init` gets its answers with
`--data` (the shell agent on the local base image: no terminal to press Enter at, no npm here);
sessions start on the tests' --internal network (`--network`), where "pypi.org" is one of the
tests' own containers (a network alias, answered by Docker's embedded DNS: no lookup leaves this
machine); git's identity comes from the environment; and for the user, `cxgen init` runs as root,
its files then given to the user (this machine's cxgen lives in a Python under /root, which the
user cannot run; the generated project is the same). The bash that `./run_in_container.sh shell`
opens reads the tutorial's sandbox lines from a pipe, as typed.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    LABEL,
    PROJECT_UID,
    SHIM_DIR,
    Topology,
    chown_tree,
    docker,
    docker_lock,
    start_server,
)
from tests.unit.test_readme import SANDBOX, TUTORIAL

NAME = "pypi.org"
# What the tests change in the tutorial's lines, and nothing else.
INIT = "cxgen init"
SESSION = re.compile(r"^\./run_in_container\.sh (exec|shell)\b")


@pytest.fixture(scope="module")
def named_server(server_image: str, topology: Topology) -> Iterator[set[str]]:
    """A server answering as NAME on the tests' network (Docker's DNS knows the alias): its
    addresses (IPv4 and IPv6: getent shows either)."""
    host = start_server(topology.network, "pypi", [NAME], server_image)
    yield {address for address in (host.ipv4, host.ipv6) if address}
    docker("rm", "-f", host.container, check=False)


@dataclass
class User:
    """Who types the tutorial: root, or an unprivileged user in the docker group."""

    home: Path
    uid: int
    env: dict[str, str]

    def wrap(self, line: str) -> list[str]:
        command = ["bash", "-c", line]
        if self.uid == 0 or line.startswith(INIT):
            return command
        docker_gid = Path("/var/run/docker.sock").stat().st_gid
        return [
            "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.uid}",
            f"--groups={docker_gid}",
            "--inh-caps=-all",
            "--",
            *command,
        ]


@pytest.fixture(params=[0, PROJECT_UID], ids=["root", "user"])
def user(request: pytest.FixtureRequest, open_tmp: Path, topology: Topology) -> User:
    home = open_tmp / f"tutorial-{uuid.uuid4().hex[:8]}"
    home.mkdir()
    os.chown(home, request.param, request.param)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("XDG_", "CXGEN_", "GIT_", "PYTEST", "OPENAI", "CODEX"))
    }
    env.update(
        HOME=str(home),
        PATH=os.pathsep.join([str(SHIM_DIR), str(Path(sys.executable).parent), os.environ["PATH"]]),
        CXGEN_REAL_DOCKER=shutil.which("docker") or "docker",
        CXGEN_TEST_LABEL=LABEL,
        CXGEN_TEST_DNS=os.environ["CXGEN_TEST_DNS"],
        GIT_AUTHOR_NAME="Tutorial",
        GIT_AUTHOR_EMAIL="tutorial@example.com",
        GIT_COMMITTER_NAME="Tutorial",
        GIT_COMMITTER_EMAIL="tutorial@example.com",
    )
    return User(home, request.param, env)


def as_run(line: str, base_image: str, network: str) -> str:
    """The tutorial's LINE as the test runs it (see the module's docstring)."""
    if line == INIT:
        return f"{INIT} --defaults --data agents='[shell]' --data base_image={base_image}"
    return SESSION.sub(lambda m: f"{m.group(0)} --network {shlex.quote(network)}", line)


class Shell:
    """`./run_in_container.sh shell` with its stdin a pipe: lines typed into the sandbox's bash."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.put(line.rstrip("\n"))

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def wait_for(self, pattern: str, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        stderr = self.process.stderr.read() if self.process.poll() is not None else ""  # type: ignore[union-attr]
        raise AssertionError(f"{pattern!r} never came; got {self.seen}; stderr: {stderr[-2000:]}")


def test_the_readme_tutorial_works_as_written(
    user: User, base_image: str, topology: Topology, named_server: set[str]
) -> None:
    project = user.home / "cxgen-tutorial"
    shell: Shell | None = None
    try:
        for where, line in TUTORIAL:
            if where == SANDBOX:
                assert shell is not None
                shell.type(line)
                if line.startswith("getent") and "blocked" in line:
                    shell.wait_for(r"^blocked$")
                elif line.startswith("getent"):
                    address = shell.wait_for(rf"^\S+\s+{re.escape(NAME)}$").split()[0]
                    assert address in named_server
                elif line == "exit":
                    assert shell.process.wait(timeout=120) == 0
                    shell = None
                continue
            command = user.wrap(as_run(line, base_image, topology.network))
            cwd = project if project.is_dir() else user.home
            if line.endswith(" shell"):
                shell = Shell(command, cwd, user.env)
                continue
            result = run_host(line, command, cwd, user.env)
            if line == INIT:
                chown_tree(user.home, user.uid)
            check_host_step(line, result, project)
    finally:
        if shell is not None:
            shell.process.kill()
            shell.process.wait(timeout=60)
    assert run_host("git status", user.wrap("git status --short"), project, user.env).stdout == ""
    assert NAME in (project / ".codex/allowed-domains.txt").read_text().splitlines()
    # `exit` ended the session, and its container went with it; what waits is a spare for the
    # next session (warm starts, on by default), nothing else.
    listed = run_host("list", user.wrap("./run_in_container.sh list"), project, user.env)
    rows = listed.stdout.splitlines()[1:]
    assert all(" spare," in row for row in rows), listed.stdout


def run_host(
    line: str, command: list[str], cwd: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    if line.startswith("./run_in_container.sh exec"):
        with docker_lock():  # the first run builds the image: one build at a time here
            result = run()
    elif line == "./run_in_container.sh denied":
        # The refusal reaches the log through the resolver's FIFO: wait for it, never sleep.
        deadline = time.monotonic() + 60
        while NAME not in (result := run()).stdout and time.monotonic() < deadline:
            time.sleep(0.5)
    else:
        result = run()
    assert result.returncode == 0, f"{line}: {result.stdout[-2000:]} {result.stderr[-3000:]}"
    return result


def check_host_step(line: str, result: subprocess.CompletedProcess[str], project: Path) -> None:
    """What the README says each host step shows."""
    if line == "git status --short":
        assert result.stdout == "", "every generated file is committed"
    elif line.startswith("./run_in_container.sh exec"):
        assert f"/app{project.resolve()}" in result.stdout.splitlines()
        assert "run_in_container.sh" in result.stdout
    elif line == "./run_in_container.sh denied":
        assert f"./run_in_container.sh allow {NAME}" in result.stdout
    elif line == f"./run_in_container.sh allow {NAME}":
        assert "allowed" in result.stdout + result.stderr
