"""The attack suite: each test attacks the sandbox from inside a real container, as the agent.

Topology (conftest): an --internal IPv4+IPv6 network holding the tests' own servers:
allowed.test (allowed), sub.wild.test (allowed by *.wild.test), blocked.test, and a nameless
"LAN" host. Probes go only to those containers and to the sandbox's own loopback.
curl exit codes: 0 connected, 6 name did not resolve, 7 connection refused, 28 timed out.
"""

from __future__ import annotations

import os
import pty
import random
import select
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    LABEL,
    PROJECT_UID,
    RUN_ID,
    SILENT_NAME,
    Sandbox,
    Topology,
    docker,
    start_server,
)

CURL = "curl -sS --max-time 5 -o /dev/null -w '%{http_code}'"


@pytest.fixture
def sandbox(either_sandbox: Sandbox) -> Sandbox:
    """Every test here runs in both modes: a user's project and root's (root mode)."""
    return either_sandbox


def curl_status(sandbox: Sandbox, target: str, flags: str = "") -> int:
    result = sandbox.sh(f'{CURL} {flags} {target}; echo " rc=$?"')
    return int(result.stdout.rsplit("rc=", 1)[1])


def test_allowed_name_resolves_and_connects(sandbox: Sandbox) -> None:
    result = sandbox.sh("curl -sS --max-time 5 http://allowed.test/")
    assert result.stdout.strip() == "hello-from-allowed", result.stderr


def test_allowed_name_over_ipv6(sandbox: Sandbox, topology: Topology) -> None:
    result = sandbox.sh(
        "getent ahostsv6 allowed.test | head -n1; curl -6 -sS --max-time 5 http://allowed.test/"
    )
    assert result.stdout.split()[0] == topology.hosts["allowed"].ipv6
    assert result.stdout.strip().endswith("hello-from-allowed"), result.stderr


def test_subdomain_of_a_wildcard_entry_works(sandbox: Sandbox) -> None:
    result = sandbox.sh("curl -sS --max-time 5 http://sub.wild.test/")
    assert result.stdout.strip() == "hello-from-wild", result.stderr


def test_wildcard_entry_does_not_allow_the_apex(sandbox: Sandbox) -> None:
    assert sandbox.sh("getent hosts wild.test").returncode == 2


def test_blocked_name_does_not_resolve_or_connect(sandbox: Sandbox) -> None:
    assert sandbox.sh("getent hosts blocked.test").returncode == 2
    assert curl_status(sandbox, "http://blocked.test/") == 6


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_blocked_server_by_raw_address_is_refused_fast(
    sandbox: Sandbox, topology: Topology, family: str
) -> None:
    address = getattr(topology.hosts["blocked"], family)
    target = f"http://[{address}]/" if family == "ipv6" else f"http://{address}/"
    assert curl_status(sandbox, target, "-g") == 7  # REJECT: refused at once, not a timeout


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_lan_host_by_address_is_refused(sandbox: Sandbox, topology: Topology, family: str) -> None:
    address = getattr(topology.hosts["lan"], family)
    target = f"http://[{address}]/" if family == "ipv6" else f"http://{address}/"
    assert curl_status(sandbox, target, "-g") == 7


def test_resolving_an_allowed_name_opens_nothing_beside_its_addresses(
    sandbox: Sandbox, topology: Topology
) -> None:
    """Resolving an allowed name opens its addresses (on every port: the allowlist is per
    address, see README) and nothing next to them, such as a blocked server's raw IP."""
    blocked = topology.hosts["blocked"].ipv4
    result = sandbox.sh(
        f"curl -sS --max-time 5 http://allowed.test/ >/dev/null; {CURL} http://{blocked}/"
    )
    assert result.stdout.strip() == "000"


@pytest.mark.parametrize("transport", ["", "+tcp"])
def test_direct_dns_to_docker_resolver_is_refused(sandbox: Sandbox, transport: str) -> None:
    """127.0.0.11 is also the upstream on user networks: the agent cannot query it directly."""
    result = sandbox.sh(f"dig {transport} +time=2 +tries=1 @127.0.0.11 blocked.test")
    assert "ANSWER SECTION" not in result.stdout
    if sandbox.root_mode:
        # resolv.conf is read-only there: every lookup sent to it is redirected to our resolver.
        assert "status: NXDOMAIN" in result.stdout, result.stdout
    else:
        assert result.returncode != 0
        assert "connection refused" in result.stdout + result.stderr


def test_dns_to_an_outside_server_cannot_tunnel(sandbox: Sandbox, topology: Topology) -> None:
    """UDP 53 anywhere else is as closed as any other port (our blocked host plays the server)."""
    result = sandbox.sh(
        f"dig +time=2 +tries=1 @{topology.hosts['blocked'].ipv4} exfil.blocked.test"
    )
    assert result.returncode != 0 and "ANSWER SECTION" not in result.stdout


def test_the_local_resolver_answers_blocked_names_with_nxdomain(sandbox: Sandbox) -> None:
    result = sandbox.sh("dig +time=2 +tries=1 @127.0.0.1 blocked.test")
    assert "status: NXDOMAIN" in result.stdout


@pytest.mark.parametrize(
    "attack",
    [
        "nft flush ruleset",
        "iptables -F",
        "iptables -P OUTPUT ACCEPT",
        "ip6tables -P OUTPUT ACCEPT",
        "nft add rule inet cxgen output accept",
        "kill -9 $(cat /run/cxgen/dnsmasq.pid)",
        "echo nameserver 127.0.0.11 > /etc/resolv.conf",
    ],
)
def test_agent_cannot_undo_the_firewall(sandbox: Sandbox, topology: Topology, attack: str) -> None:
    blocked = topology.hosts["blocked"].ipv4
    result = sandbox.sh(
        f'{attack}; echo "attack rc=$?"; {CURL} http://{blocked}/; echo; getent hosts blocked.test'
    )
    assert "attack rc=0" not in result.stdout, result.stdout
    assert "\n000\n" in result.stdout + "\n" and "blocked.test" not in result.stdout


def test_no_sudo(sandbox: Sandbox) -> None:
    result = sandbox.sh("sudo -n id -u; echo rc=$?")
    assert "rc=0" not in result.stdout and "\n0\n" not in "\n" + result.stdout


def test_no_setuid_binaries(sandbox: Sandbox) -> None:
    result = sandbox.sh("find / -xdev -perm /6000 -type f 2>/dev/null")
    assert result.stdout.strip() == ""


def test_capabilities_are_gone_and_no_new_privs(sandbox: Sandbox) -> None:
    status = dict(
        line.split(":\t", 1)
        for line in sandbox.sh("cat /proc/self/status").stdout.splitlines()
        if ":\t" in line
    )
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[field], 16) == 0, field
    assert status["NoNewPrivs"].strip() == "1"
    if sandbox.root_mode:
        # uid 0 (what it writes is root's) in a group that is not root's, and no way to
        # regain capabilities by exec (SECBIT_NOROOT, locked).
        assert status["Uid"].split() == ["0"] * 4 and status["Gid"].split()[0] != "0"
        assert status["Groups"].split() == []
        assert status["Seccomp"].strip() == "2"
    else:
        assert status["Uid"].split()[0] != "0"


def test_no_docker_socket(sandbox: Sandbox) -> None:
    result = sandbox.sh(
        "ls /var/run/docker.sock /run/docker.sock 2>&1; find / -xdev -name docker.sock 2>/dev/null"
    )
    assert "docker.sock\n" not in result.stdout.replace("No such file", "")


def test_agent_cannot_read_or_change_rules(sandbox: Sandbox) -> None:
    result = sandbox.sh("nft list ruleset; echo rc=$?")
    assert "rc=0" not in result.stdout and "policy" not in result.stdout


def test_files_created_belong_to_the_unprivileged_host_user(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    """The run script itself runs as an unprivileged host user (in the docker group)."""
    uid = gid = PROJECT_UID
    # Under /tmp directly: pytest's own tmp folders are private to root.
    with tempfile.TemporaryDirectory(prefix="cxgen-test-") as tmp:
        Path(tmp).chmod(0o755)
        home = Path(tmp) / "home"
        home.mkdir()
        os.chown(home, uid, gid)
        owned = make_sandbox(Path(tmp) / "owned")
        result = owned.run(
            "exec",
            "--",
            "bash",
            "-c",
            "id -u; touch created-by-agent",
            user=(uid, gid),
            env={"HOME": str(home)},
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(uid)
        stat = (owned.project / "created-by-agent").stat()
        assert (stat.st_uid, stat.st_gid) == (uid, gid)
        sessions = (owned.project / ".codex/.environment/sessions").stat()
        assert sessions.st_uid == uid


def plain_run(sandbox: Sandbox, *extra: str) -> subprocess.CompletedProcess[str]:
    """The image run by hand, without run_in_container.sh: `echo started` must never run."""
    return docker(
        "run",
        "--rm",
        "--network",
        sandbox.network,
        "--label",
        LABEL,
        *extra,
        sandbox.image,
        "echo",
        "started",
        check=False,
        timeout=60,
    )


def test_image_without_net_admin_refuses_to_start_anything(sandbox: Sandbox) -> None:
    """A plain `docker run` of the image (no NET_ADMIN) must not run the command unprotected."""
    result = plain_run(sandbox)
    assert result.returncode == 78 and "started" not in result.stdout
    assert "NET_ADMIN" in result.stderr


def test_private_addresses_are_denied_by_default_even_for_allowed_names(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    """DNS-rebinding defence: with private_destinations=deny an allowed name resolving into a
    private range resolves, but the connection is refused."""
    strict = make_sandbox(private_destinations="deny")
    result = strict.sh(
        f"getent hosts allowed.test >/dev/null && echo resolved; {CURL} http://allowed.test/"
    )
    assert result.stdout.startswith("resolved") and result.stdout.strip().endswith("000")


def test_no_firewall_is_loud(sandbox: Sandbox) -> None:
    result = sandbox.run("exec", "--no-firewall", "--", "true")
    assert result.returncode == 0
    assert "UNRESTRICTED" in result.stderr and "firewall disabled" in result.stderr


def test_dead_and_duplicate_domains_warn_but_start(sandbox: Sandbox) -> None:
    """The allowed names are looked up beside the command (a diagnostic, never a wait before
    it): a session that lasts a moment gets the warning on stderr, and stdout stays the
    command's."""
    result = sandbox.run(
        "exec", "--allow", "allowed.test", "--allow", "dead.allowed.test",
        "--allow", "allowed.test", "--", "bash", "-c", "sleep 3; echo up",
    )  # fmt: skip
    assert result.returncode == 0 and result.stdout == "up\n"
    assert "'dead.allowed.test' does not resolve" in result.stderr
    assert "'allowed.test' does not resolve" not in result.stderr
    assert "did not learn" not in result.stderr


class Terminal:
    """`run_in_container.sh` started on a terminal of its own (a pty), as a user's is."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.main, side = pty.openpty()
        self.process = subprocess.Popen(command, stdin=side, stdout=side, stderr=side, env=env)
        os.close(side)
        self.output = b""

    def read(self, until: str | None = None, timeout: float = 120) -> str:
        """What it wrote so far, reading until UNTIL has come (else until its end)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until is not None and until.encode() in self.output:
                break
            ready, _, _ = select.select([self.main], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(self.main, 4096)
            except OSError:  # EIO: the terminal's last user closed it
                break
            if not chunk:
                break
            self.output += chunk
        return self.output.decode(errors="replace")

    def write(self, text: str) -> None:
        os.write(self.main, text.encode())

    def close(self) -> int:
        status = self.process.wait(timeout=60)
        os.close(self.main)
        return status


# Its first act, as the agent: whether a lookup (getent, the allowed names' diagnostic, root's)
# is running as it starts; then it waits for a line from the terminal.
FIRST_LOOK = (
    'for f in /proc/[0-9]*/comm; do read -r c <"$f" 2>/dev/null || continue;'
    ' if [ "$c" = getent ]; then echo LOOKUP-RUNNING; break; fi; done;'
    " echo STARTED; read -r _"
)
STILL_LOOKING = "the allowed names are still being looked up"


def test_on_a_terminal_the_warnings_come_before_the_command_or_not_at_all(
    sandbox: Sandbox,
) -> None:
    """A line written across a full-screen agent would garble it: on a terminal the
    diagnostic's warnings come before the command when they are ready by then (a dead name the
    DNS server refuses at once), else a line says where they will be; never after it starts."""
    command, env = sandbox.command(
        "exec", "--allow", "dead.allowed.test", "--", "bash", "-c", "echo STARTED"
    )
    terminal = Terminal(command, env)
    text = terminal.read()
    assert terminal.close() == 0, text
    before, started, after = text.partition("STARTED")
    assert started, text
    assert "'dead.allowed.test' does not resolve" in before or STILL_LOOKING in before, text
    assert "cxgen-sandbox" not in after, text


def test_on_a_terminal_the_start_does_not_wait_for_lookups_that_time_out(
    sandbox: Sandbox, silent_dns: str
) -> None:
    """Issue 19: `shell` took ~14 s to show a prompt where the allowed names' DNS server did
    not answer: on a terminal the entrypoint waited for their lookups. Now the command starts
    while they still run (here the resolver is told to wait 2 x 30 s for each answer), a line
    says so, their findings never cross the command's screen, and `denied` tells the state."""
    command, env = sandbox.command(
        "exec", "--allow", f"slow.{SILENT_NAME}", "--env", "RES_OPTIONS",
        "--", "bash", "-c", FIRST_LOOK,
        env={"CXGEN_TEST_DNS": silent_dns, "RES_OPTIONS": "attempts:2 timeout:30"},
    )  # fmt: skip
    name = command[command.index("--name") + 1]
    terminal = Terminal(command, env)
    try:
        text = terminal.read(until="STARTED")
        before, started, _ = text.partition("STARTED")
        assert started and "LOOKUP-RUNNING" in before, text
        assert STILL_LOOKING in before, text
        denied = subprocess.run(
            [str(sandbox.project / "run_in_container.sh"), "denied", name],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        assert "Allowed names: still being looked up" in denied.stdout, denied
        terminal.write("\n")
        text = terminal.read()
    finally:
        docker("rm", "-f", "-v", name, check=False)
        terminal.close()
    assert "does not resolve" not in text, text


def test_hostile_allow_value_is_refused_before_docker_runs(sandbox: Sandbox) -> None:
    for value in ["evil.com;id", "$(id).x.com", "http://a.com", "a.com\nb.com"]:
        result = sandbox.run("exec", "--allow", value, "--", "true")
        assert result.returncode == 2 and result.stderr.startswith(
            "cxgen: error: --allow: invalid domain"
        )


def test_agent_cannot_plant_git_hooks_or_config(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A hook or core.fsmonitor written by the agent would run on the host: both are read-only."""
    import subprocess

    project = tmp_path / "repo"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    repo = make_sandbox(project)
    before = (project / ".git/config").read_bytes()
    result = repo.sh(
        "echo 'touch /tmp/pwned' > .git/hooks/pre-commit && echo wrote-hook;"
        " git config core.fsmonitor 'touch /tmp/pwned' 2>/dev/null && echo wrote-config;"
        " echo '[core] fsmonitor = evil' >> .git/config && echo appended-config; echo done"
    )
    assert result.stdout.strip() == "done", result.stdout
    assert (project / ".git/config").read_bytes() == before
    assert not (project / ".git/hooks/pre-commit").exists()


@pytest.fixture
def link_local_network(server_image: str) -> Iterator[str]:
    """An internal network in 169.254.0.0/16 (where cloud metadata lives) with a server named
    meta.test: our own stand-in for a metadata endpoint."""
    name = f"cxgen-test-{RUN_ID}-ll-{uuid.uuid4().hex[:4]}"
    for _ in range(5):  # another worker may hold the random subnet
        subnet = f"169.254.{random.randrange(1, 254)}.0/24"
        created = docker(
            "network",
            "create",
            "--internal",
            "--subnet",
            subnet,
            "--label",
            LABEL,
            name,
            check=False,
        )
        if created.returncode == 0:
            break
    else:
        pytest.fail(f"could not create a link-local test network: {created.stderr}")
    server = None
    try:
        server = start_server(name, "meta", ["meta.test"], server_image)
        yield name
    finally:
        if server:
            docker("rm", "-f", "-v", server.container, check=False)
        docker("network", "rm", name, check=False)


def test_link_local_is_denied_even_for_an_allowed_name(
    make_sandbox, link_local_network: str
) -> None:  # type: ignore[no-untyped-def]
    """Even in the permissive allowed-names mode, a name resolving into 169.254/16 stays shut."""
    built = make_sandbox(allowed_domains=["meta.test"], private_destinations="allowed-names")
    sandbox = Sandbox(built.project, built.image, link_local_network)
    result = sandbox.sh(f"getent hosts meta.test; {CURL} http://meta.test/")
    assert result.stdout.split()[0].startswith("169.254."), result.stderr
    assert result.stdout.strip().endswith("000")


@pytest.mark.parametrize(
    "extra",
    [
        ["-e", "CXGEN_PRIVATE_DESTINATIONS=open-sesame"],
        ["-e", "CXGEN_ALLOWED_DOMAINS=evil.com;id"],
        ["--read-only"],  # the firewall cannot even write its rules
    ],
    ids=["bad-mode", "hostile-domain", "read-only-root"],
)
def test_any_setup_error_stops_the_start(sandbox: Sandbox, extra: list[str]) -> None:
    result = plain_run(sandbox, "--cap-add", "NET_ADMIN", *extra)
    assert result.returncode == 78 and "started" not in result.stdout, result.stderr
    assert "nothing was started" in result.stderr


@pytest.mark.parametrize("host", ["blocked", "lan"])
@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_refused_connections_get_a_reset_not_an_icmp_error(
    sandbox: Sandbox, topology: Topology, host: str, family: str
) -> None:
    """A TCP reset fails connect() at once ("Connection refused"); an ICMP error only at its
    first retransmission ("No route to host", about a second later)."""
    address = getattr(topology.hosts[host], family)
    result = sandbox.sh(f"exec 3<>/dev/tcp/{address}/80")
    assert result.returncode != 0 and "Connection refused" in result.stderr, result.stderr
