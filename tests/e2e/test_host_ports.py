"""Host ports (`--host-port PORT`, the `host_ports` answer) on real Docker: exactly those TCP
ports of the Docker host open to the sandbox, at host.docker.internal:PORT, which names the
sandbox network's gateway (the tests' --internal network: Docker 20.10's own host-gateway,
docker0's address, is out of reach from there). Every other port and address of the host stays
refused, UDP to the open port too, and lockdown closes it. The host's side is this machine:
listeners of the test's own, bound to the test network's gateway address only (and one to the
host's address on the second test network). Then the real codex reaches an OpenAI stand-in
served there through a provider profile (`-- exec --profile NAME`, `-- -c ...`), its key passed
by name, and the real Claude Code reaches an Anthropic stand-in through its settings."""

from __future__ import annotations

import contextlib
import json
import secrets
import shlex
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cxgen
from tests.e2e.conftest import (
    CLAUDE_MOCK,
    MOCK,
    PROJECT_UID,
    Sandbox,
    Topology,
    build,
    chown_tree,
    generate,
    network_gateway,
)
from tests.e2e.test_wall_network import image_run
from tests.e2e.waiting import wait_until

# Run as the agent: each argument KIND:HOST:PORT is tried once (tcp: connect and read the
# server's line; udp: send one datagram), one line of outcome each.
PROBE = r"""
import socket, sys
for spec in sys.argv[1:]:
    kind, host, port = spec.split(":")
    try:
        if kind == "tcp":
            with socket.create_connection((host, int(port)), timeout=20) as sock:
                outcome = "open " + sock.makefile().readline().strip()
        else:
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"probe", (host, int(port)))
            outcome = "sent"
    except OSError as error:
        outcome = f"refused {error.strerror}"
    print(spec, outcome, flush=True)
"""


@dataclass
class Listener:
    """A TCP server of the test's own on this machine (the Docker host), and optionally a UDP
    socket at the same address and port: whom they heard from."""

    address: str
    port: int
    connections: list[str] = field(default_factory=list)
    datagrams: list[str] = field(default_factory=list)


@contextmanager
def listening(address: str, port: int = 0) -> Iterator[Listener]:
    """A TCP listener (and a UDP socket at the same port) bound to `address` alone: each
    connection gets "host-PORT" and is closed."""
    tcp = socket.socket()
    tcp.bind((address, port))
    tcp.listen()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((address, tcp.getsockname()[1]))
    found = Listener(address, tcp.getsockname()[1])
    stop = threading.Event()
    for sock in (tcp, udp):
        sock.settimeout(0.2)  # (how often the threads look at `stop`)

    def serve_tcp() -> None:
        while not stop.is_set():
            try:
                conn, peer = tcp.accept()
            except TimeoutError:
                continue
            found.connections.append(peer[0])
            with conn, contextlib.suppress(OSError):  # (a client gone already)
                conn.sendall(f"host-{found.port}\n".encode())

    def serve_udp() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                found.datagrams.append(udp.recvfrom(512)[1][0])

    threads = [threading.Thread(target=t, daemon=True) for t in (serve_tcp, serve_udp)]
    for thread in threads:
        thread.start()
    try:
        yield found
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        tcp.close()
        udp.close()


@dataclass
class HostSide:
    gateway: str
    opened: Listener  # the port the tests open
    other: Listener  # another port of the same address
    elsewhere: Listener  # the opened port's number at another address of the host


@pytest.fixture(scope="module")
def host_side(topology: Topology) -> Iterator[HostSide]:
    gateway = network_gateway(topology.network)
    with contextlib.ExitStack() as stack:
        opened = stack.enter_context(listening(gateway))
        other = stack.enter_context(listening(gateway))
        elsewhere = stack.enter_context(listening(topology.host_address, opened.port))
        yield HostSide(gateway, opened, other, elsewhere)


def probe(
    sandbox: Sandbox, *args: str, specs: list[str], **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """The probe as the agent in a new session (ARGS: the run script's options), after a
    lookup of host.docker.internal."""
    script = (
        "getent hosts host.docker.internal || echo 'name unknown';"
        f" python3 -c {shlex.quote(PROBE)} {' '.join(specs)}"
    )
    return sandbox.run("exec", *args, "--", "bash", "-c", script, **kwargs)


def outcomes(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    return {
        line.split(" ", 1)[0]: line.split(" ", 1)[1]
        for line in result.stdout.splitlines()
        if line.startswith(("tcp:", "udp:"))
    }


def everything(side: HostSide) -> list[str]:
    port = side.opened.port
    return [
        f"tcp:host.docker.internal:{port}",
        f"tcp:{side.gateway}:{port}",
        f"udp:{side.gateway}:{port}",
        f"tcp:{side.gateway}:{side.other.port}",
        f"tcp:{side.elsewhere.address}:{port}",
    ]


def heard(side: HostSide) -> tuple[int, int, int, int]:
    """What the listeners heard from sandboxes (not from this machine: the run script's check
    that something listens connects from the gateway's own address)."""

    def sandboxes(peers: list[str]) -> int:
        return len([peer for peer in peers if peer != side.gateway])

    return (
        sandboxes(side.opened.connections),
        sandboxes(side.opened.datagrams),
        sandboxes(side.other.connections),
        sandboxes(side.elsewhere.connections),
    )


@pytest.fixture
def sandbox(either_sandbox: Sandbox) -> Sandbox:
    """A user's project and root's (root mode)."""
    return either_sandbox


def test_a_host_port_opens_that_port_of_the_host_and_nothing_else(
    sandbox: Sandbox, host_side: HostSide
) -> None:
    port = host_side.opened.port
    before = heard(host_side)
    result = probe(sandbox, "--host-port", str(port), specs=everything(host_side))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split()[:2] == [host_side.gateway, "host.docker.internal"]
    found = outcomes(result)
    assert found[f"tcp:host.docker.internal:{port}"] == f"open host-{port}", result.stdout
    assert found[f"tcp:{host_side.gateway}:{port}"] == f"open host-{port}"
    # UDP to the same port never leaves (refused as it is sent); the gateway's other port and
    # the host's other address are refused at once, by the firewall: their listeners hear none.
    assert found[f"udp:{host_side.gateway}:{port}"] == "refused Operation not permitted"
    assert found[f"tcp:{host_side.gateway}:{host_side.other.port}"] == "refused Connection refused"
    assert found[f"tcp:{host_side.elsewhere.address}:{port}"] == "refused Connection refused"
    after = heard(host_side)
    assert after[0] == before[0] + 2 and after[1:] == before[1:], (before, after)
    # Something listens there (the run script tried): no warning.
    assert host_side.gateway in host_side.opened.connections
    assert "nothing listens" not in result.stderr, result.stderr


def test_without_a_host_port_the_host_stays_closed(sandbox: Sandbox, host_side: HostSide) -> None:
    before = heard(host_side)
    specs = [s for s in everything(host_side) if "host.docker.internal" not in s]
    result = probe(sandbox, specs=specs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("name unknown\n"), result.stdout
    found = outcomes(result)
    assert found[f"tcp:{host_side.gateway}:{host_side.opened.port}"] == "refused Connection refused"
    assert all(outcome.startswith("refused") for outcome in found.values()), found
    assert heard(host_side) == before


def test_a_port_nothing_listens_on_is_warned_about(sandbox: Sandbox, host_side: HostSide) -> None:
    with socket.socket() as free:
        free.bind((host_side.gateway, 0))
        port = free.getsockname()[1]
    result = probe(sandbox, "--host-port", str(port), specs=[f"tcp:{host_side.gateway}:{port}"])
    assert result.returncode == 0, result.stderr
    assert f"warning: host port {port}: nothing listens at {host_side.gateway}:{port}" in (
        result.stderr
    )
    # The firewall let it through; this machine answered that nothing listens.
    assert outcomes(result)[f"tcp:{host_side.gateway}:{port}"] == "refused Connection refused"


def test_the_answer_opens_it_for_every_session_and_lockdown_closes_it(
    make_sandbox: Callable[..., Sandbox], host_side: HostSide, tmp_path: Path
) -> None:
    port = host_side.opened.port
    box = make_sandbox(tmp_path / "p", host_ports=[str(port)])
    assert f"DEFAULT_HOST_PORTS=({port})" in (box.project / ".codex/run/settings.sh").read_text()
    before = heard(host_side)
    result = probe(box, specs=everything(host_side))
    found = outcomes(result)
    assert found[f"tcp:host.docker.internal:{port}"] == f"open host-{port}", result.stdout
    assert found[f"udp:{host_side.gateway}:{port}"] == "refused Operation not permitted"
    assert found[f"tcp:{host_side.gateway}:{host_side.other.port}"] == "refused Connection refused"
    assert heard(host_side)[0] == before[0] + 2
    # The project's lockdown: nothing leaves, the host port included (the lockdown rule is the
    # firewall's first).
    script = str(box.project / "run_in_container.sh")
    saved = subprocess.run([script, "lockdown", "on", "--save"], capture_output=True, text=True)
    assert saved.returncode == 0, saved.stderr
    try:
        before = heard(host_side)
        result = probe(box, "--host-port", str(port), specs=everything(host_side)[:2])
        assert "--host-port's ports stay closed" in result.stderr
        assert all(v.startswith("refused") for v in outcomes(result).values()), result.stdout
        assert len(outcomes(result)) == 2 and heard(host_side) == before
    finally:
        lifted = subprocess.run([script, "lockdown", "off", "--save"], capture_output=True)
        assert lifted.returncode == 0


@pytest.mark.parametrize(
    ("ports", "gateway", "error"),
    [
        ("80 99999", "{gateway}", "invalid port '99999' in CXGEN_HOST_PORTS"),
        ("80;tcp", "{gateway}", "invalid port '80;tcp'"),
        ("1-65535", "{gateway}", "invalid port '1-65535'"),
        ("80", "0.0.0.0/0", "invalid CXGEN_DOCKER_GATEWAY"),
        ("80", "{gateway} tcp dport 1-65535 accept;", "invalid CXGEN_DOCKER_GATEWAY"),
    ],
)
def test_the_entrypoint_refuses_odd_host_ports(
    sandbox: Sandbox, host_side: HostSide, ports: str, gateway: str, error: str
) -> None:
    """What the run script would never pass, passed by hand: the sandbox stops before the
    command (fail closed), and nothing opens."""
    result = image_run(
        sandbox,
        "--sysctl",
        "net.ipv4.ip_unprivileged_port_start=1024",
        "-e",
        f"CXGEN_HOST_PORTS={ports}",
        "-e",
        f"CXGEN_DOCKER_GATEWAY={gateway.format(gateway=host_side.gateway)}",
    )
    assert result.returncode == 78 and "started" not in result.stdout, result.stderr
    assert error in result.stderr and "nothing was started" in result.stderr


def test_without_the_gateway_named_the_firewall_takes_its_default_route(
    sandbox: Sandbox, host_side: HostSide
) -> None:
    """Docker's default bridge may name no gateway (the run script then passes none, and
    host-gateway for the name): the entrypoint opens the host ports at its default route's
    gateway. Shown on the test network, whose gateway is also its default route."""
    port = host_side.opened.port
    before = heard(host_side)
    result = image_run(
        sandbox,
        "--sysctl",
        "net.ipv4.ip_unprivileged_port_start=1024",
        "--add-host",
        f"host.docker.internal:{host_side.gateway}",
        "-e",
        f"CXGEN_HOST_PORTS={port}",
        command=["python3", "-c", PROBE, *everything(host_side)],
    )
    assert result.returncode == 0, result.stderr
    found = outcomes(result)
    assert found[f"tcp:host.docker.internal:{port}"] == f"open host-{port}", result.stdout
    assert found[f"tcp:{host_side.gateway}:{host_side.other.port}"] == "refused Connection refused"
    assert found[f"udp:{host_side.gateway}:{port}"] == "refused Operation not permitted"
    assert heard(host_side)[0] == before[0] + 2 and heard(host_side)[1:] == before[1:]


def test_doctor_says_what_listens_where(
    make_sandbox: Callable[..., Sandbox], host_side: HostSide, tmp_path: Path
) -> None:
    """doctor checks the default bridge's gateway (where a sandbox without --network reaches
    this machine) and 127.0.0.1: a service on loopback alone is out of the sandbox's reach."""
    with listening("127.0.0.1") as loopback, socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        nothing = free.getsockname()[1]
        box = make_sandbox(tmp_path / "p", host_ports=[str(loopback.port), str(nothing)])
        result = run_cxgen(["doctor", str(box.project)])
        wait_until(lambda: loopback.connections, "doctor's connection seen")
    lines = {line.split(":")[0]: line for line in result.stdout.splitlines()}
    assert "127.0.0.1 alone" in lines[f"warn  host port {loopback.port}"], result.stdout
    assert "OLLAMA_HOST=0.0.0.0" in lines[f"warn  host port {loopback.port}"]
    assert "nothing listens" in lines[f"warn  host port {nothing}"], result.stdout
    # Its two connections: to 127.0.0.1, and to the gateway (refused there).
    assert loopback.connections == ["127.0.0.1"]


# --- A model on the host: codex profiles, Claude Code's base URL -------------------------------


@contextmanager
def stand_in(mock: Path, address: str, log: Path) -> Iterator[int]:
    """An API stand-in (tests/e2e/mock/*.py, its request handler) served on this machine, on
    `address` alone, in a process of its own logging each request as a JSON line to `log`;
    yields its port."""
    server = (
        "import importlib.util, sys\n"
        "from http.server import ThreadingHTTPServer\n"
        "spec = importlib.util.spec_from_file_location('mock', sys.argv[1])\n"
        "mock = importlib.util.module_from_spec(spec); spec.loader.exec_module(mock)\n"
        "server = ThreadingHTTPServer((sys.argv[2], 0), mock.Handler)\n"
        "print(server.server_address[1], file=sys.stderr, flush=True)\n"
        "server.serve_forever()\n"
    )
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", server, str(mock), address],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        assert process.stderr is not None
        yield int(process.stderr.readline())
    finally:
        process.terminate()
        process.wait(timeout=10)


def requests_logged(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def host_project(open_tmp: Path) -> Callable[..., tuple[Sandbox, Path]]:
    """A project of the unprivileged user (and that user's empty home) for an agent image."""

    def make(image: str, topology: Topology, **answers: object) -> tuple[Sandbox, Path]:
        root = open_tmp / f"model-{secrets.token_hex(4)}"
        (root / "home").mkdir(parents=True)
        project = root / "project"
        project.mkdir()
        subprocess.run(["git", "init", "-q", str(project)], check=True)  # (codex works in one)
        generate(project, image, apt_packages=[], allowed_domains=[], **answers)
        chown_tree(root)
        return Sandbox(project, build(project), topology.network), root / "home"

    return make


def as_user(
    sandbox: Sandbox, home: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """The script run by the project's owner, no agent key of its own in the environment."""
    clean = {"HOME": str(home), "OPENAI_API_KEY": "", "CODEX_API_KEY": "", **env}
    return sandbox.run(*args, user=(PROJECT_UID, PROJECT_UID), env=clean, timeout=300)


PROVIDER = """\
[model_providers.litellm]
name = "litellm"
base_url = "http://host.docker.internal:{port}/v1"
env_key = "LITELLM_KEY"
wire_api = "responses"
"""


@pytest.mark.parametrize(
    "how",
    [
        pytest.param(("--", "exec", "--profile", "local", "write proof"), id="exec--profile"),
        pytest.param(("--", "--profile", "local", "exec", "write proof"), id="--profile-exec"),
        pytest.param(
            ("--", "exec", "-c", "model_provider=litellm", "-c", "model=mock-model", "write proof"),
            id="-c",
        ),
    ],
)
def test_a_codex_profile_reaches_a_model_on_the_host(
    codex_image: str,
    topology: Topology,
    host_project: Callable[..., tuple[Sandbox, Path]],
    tmp_path: Path,
    how: tuple[str, ...],
) -> None:
    """The README's example: a provider in the agent home's config.toml, a profile beside it
    (codex 0.147: `NAME.config.toml`; a `[profiles.NAME]` table is refused), the key passed by
    name (--env), the provider's port opened with --host-port."""
    box, home = host_project(codex_image, topology, agents=["codex"])
    gateway = network_gateway(topology.network)
    log = tmp_path / "requests.log"
    key = f"sk-litellm-{secrets.token_hex(8)}"
    with stand_in(MOCK, gateway, log) as port:
        agent_home = box.project / ".codex/.environment"
        (agent_home / "config.toml").write_text(PROVIDER.format(port=port))
        (agent_home / "local.config.toml").write_text(
            'model_provider = "litellm"\nmodel = "mock-model"\n'
        )
        chown_tree(agent_home)
        result = as_user(box, home, "--host-port", str(port), "--env", "LITELLM_KEY", *how,
                         LITELLM_KEY=key)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "mock: done" in result.stdout
    seen = requests_logged(log)
    # Both turns (the tool call, then its output) went to the stand-in, with the key.
    assert [(r["path"], r["authorization"]) for r in seen] == [
        ("/v1/responses", f"Bearer {key}")
    ] * 2
    assert seen[0]["host"] == f"host.docker.internal:{port}"
    assert seen[0]["body"]["model"] == "mock-model"
    # The tool call ran in the sandbox, as the host user.
    assert (box.project / "proof.txt").read_text().strip() == str(PROJECT_UID)


def test_the_answers_carry_a_codex_provider_too(
    codex_image: str,
    topology: Topology,
    host_project: Callable[..., tuple[Sandbox, Path]],
    tmp_path: Path,
) -> None:
    """host_ports and env answers instead of options: `./run_in_container.sh -- exec --profile
    local "task"` as a teammate types it."""
    gateway = network_gateway(topology.network)
    log = tmp_path / "requests.log"
    key = f"sk-litellm-{secrets.token_hex(8)}"
    with stand_in(MOCK, gateway, log) as port:
        box, home = host_project(
            codex_image, topology, agents=["codex"], host_ports=[str(port)], env=["LITELLM_KEY"]
        )
        agent_home = box.project / ".codex/.environment"
        (agent_home / "config.toml").write_text(PROVIDER.format(port=port))
        (agent_home / "local.config.toml").write_text('model_provider = "litellm"\n')
        chown_tree(agent_home)
        result = as_user(box, home, "--", "exec", "--profile", "local", "-m", "mock-model",
                         "write proof", LITELLM_KEY=key)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert [r["authorization"] for r in requests_logged(log)] == [f"Bearer {key}"] * 2


def test_claude_reaches_a_model_on_the_host_through_its_settings(
    claude_image: str,
    topology: Topology,
    host_project: Callable[..., tuple[Sandbox, Path]],
    tmp_path: Path,
) -> None:
    """Claude Code: ANTHROPIC_BASE_URL inside is the relay's, so the agent home's settings.json
    points it at the host port, and an apiKeyHelper reads the key passed by name."""
    box, home = host_project(claude_image, topology, agents=["claude"])
    gateway = network_gateway(topology.network)
    log = tmp_path / "requests.log"
    key = f"sk-litellm-{secrets.token_hex(8)}"
    with stand_in(CLAUDE_MOCK, gateway, log) as port:
        settings = box.project / ".codex/.environment/home/.claude/settings.json"
        settings.parent.mkdir(parents=True)
        settings.write_text(
            json.dumps(
                {
                    "env": {"ANTHROPIC_BASE_URL": f"http://host.docker.internal:{port}"},
                    "apiKeyHelper": "printenv LITELLM_KEY",
                }
            )
        )
        chown_tree(box.project / ".codex/.environment")
        result = as_user(box, home, "--host-port", str(port), "--env", "LITELLM_KEY", "--",
                         "-p", "write proof", LITELLM_KEY=key, ANTHROPIC_API_KEY="")  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    messages = [r for r in requests_logged(log) if r["path"].startswith("/v1/messages")]
    assert messages and all(r["authorization"] == f"Bearer {key}" for r in messages), messages
    assert (box.project / "proof.txt").read_text().strip() == str(PROJECT_UID)


def test_codex_refuses_a_profiles_table_with_profile(
    codex_image: str,
    topology: Topology,
    host_project: Callable[..., tuple[Sandbox, Path]],
) -> None:
    """What the docs say of codex 0.147: `--profile NAME` reads `NAME.config.toml`, and refuses
    a config.toml that still has a `[profiles.NAME]` table (the older form, Claudex's)."""
    box, home = host_project(codex_image, topology, agents=["codex"])
    agent_home = box.project / ".codex/.environment"
    (agent_home / "config.toml").write_text(
        PROVIDER.format(port=9) + '\n[profiles.local]\nmodel_provider = "litellm"\n'
    )
    chown_tree(agent_home)
    result = as_user(box, home, "--", "exec", "--profile", "local", "write proof")
    assert result.returncode != 0
    assert "move those settings into" in result.stdout + result.stderr
    assert "local.config.toml" in result.stdout + result.stderr
