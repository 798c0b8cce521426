"""A running sandbox's firewall from the host (issue 11): the denied log, live allow, lockdown,
learn mode. Every probe runs as the agent (its uid, no capabilities, no-new-privs) inside a real
sandbox on the tests' --internal network, against the tests' own containers only.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import PROJECT_UID, SILENT_NAME, Sandbox, Topology, docker
from tests.e2e.waiting import BOUND, wait_until

AGENT = [
    "setpriv",
    f"--reuid={PROJECT_UID}",
    f"--regid={PROJECT_UID}",
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
    "--",
]
# Root mode's agent, as the entrypoint makes it: uid 0 in nogroup, nothing to regain.
ROOT_AGENT = [
    "setpriv",
    "--reuid=0",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
    "--securebits=+noroot,+noroot_locked",
    "--",
    "perl",
    "/usr/local/lib/cxgen/no-setuid.pl",
]
# Tests that hold in root mode too (the project is root's): owner 0.
BOTH_MODES = pytest.mark.parametrize("owner", [PROJECT_UID, 0], ids=["user", "root"])
CTL = "/usr/local/lib/cxgen/cxgen-ctl"
# How each tool fails on a refused name and a refused connection: at once, never a timeout.
PROBE = r"""
import socket, subprocess, sys
host, address = sys.argv[1], sys.argv[2]
curl = subprocess.run(["curl", "-sS", "-m", "5", f"http://{host}/"], capture_output=True, text=True)
print("curl-name", curl.returncode)
curl = subprocess.run(["curl", "-sS", "-m", "5", f"http://{address}/"], capture_output=True)
print("curl-address", curl.returncode)
print("getent", subprocess.run(["getent", "hosts", host], capture_output=True).returncode)
try:
    socket.getaddrinfo(host, 80)
    print("python-name ok")
except socket.gaierror as error:
    print("python-name", "NXDOMAIN" if error.errno == socket.EAI_NONAME else error.errno)
sock = socket.socket()
sock.settimeout(5)
try:
    sock.connect((address, 80))
    print("python-address ok")
except ConnectionRefusedError:
    print("python-address refused")
except OSError as error:
    print("python-address", type(error).__name__)
"""
REFUSED = {
    "curl-name": "6",
    "curl-address": "7",
    "getent": "2",
    "python-name": "NXDOMAIN",
    "python-address": "refused",
}


@dataclass
class Session:
    """A running sandbox (`exec -- sleep`) and the host commands that steer it."""

    sandbox: Sandbox
    name: str
    process: subprocess.Popen[str]
    shell: list[str]

    def agent(self, *command: str, timeout: int = 60) -> subprocess.CompletedProcess[str]:
        """COMMAND as the agent inside the session."""
        agent = ROOT_AGENT if self.sandbox.root_mode else AGENT
        return docker("exec", self.name, *agent, *command, check=False, timeout=timeout)

    def host(
        self, *args: str, stdin: int | None = subprocess.DEVNULL
    ) -> subprocess.CompletedProcess[str]:
        """`run_in_container.sh ARGS` on the host, as the user (no terminal)."""
        return subprocess.run(
            [*self.shell, str(self.sandbox.project / "run_in_container.sh"), *args],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=stdin,
            check=False,
        )

    def started_at(self) -> str:
        return docker("inspect", "-f", "{{.State.StartedAt}}", self.name).stdout.strip()


def wait_ready(name: str, since: str = "") -> None:
    """Until the entrypoint has handed over to the command (the firewall is up)."""
    wait_until(
        lambda: docker("logs", name, check=False).stdout.count("ready") > (1 if since else 0),
        f"{name} to start",
    )


@contextmanager
def session(
    sandbox: Sandbox,
    shell: list[str] | None = None,
    *options: str,
    env: dict[str, str] | None = None,
) -> Iterator[Session]:
    command, env = sandbox.command(
        "exec", *options, "--", "bash", "-c", "echo ready; exec sleep 600", env=env
    )
    name = command[command.index("--name") + 1]
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_ready(name)
        yield Session(sandbox, name, process, shell or ["bash"])
    finally:
        docker("rm", "-f", "-v", name, check=False)
        process.wait(timeout=60)


def probe(current: Session, host: str, address: str) -> dict[str, str]:
    result = current.agent("python3", "-c", PROBE, host, address)
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines())


def test_a_refused_request_is_in_denied_and_its_allow_command_opens_it_at_once(
    make_sandbox,
    topology: Topology,
    script_shell: list[str],  # type: ignore[no-untyped-def]
) -> None:
    blocked = topology.hosts["blocked"]
    lan = topology.hosts["lan"]
    with session(make_sandbox(), script_shell) as current:
        started = current.started_at()
        assert current.agent("curl", "-sS", "-m", "5", "http://blocked.test/").returncode == 6
        assert current.agent("curl", "-sS", "-m", "5", f"http://{lan.ipv4}:81/").returncode == 7
        # Names from the agent's lookups never reach the terminal as control codes.
        current.agent("getent", "hosts", "esc\x1b[31m.example")
        denied = current.host("denied", current.name)
        assert denied.returncode == 0, denied.stderr
        out = denied.stdout
        assert "\x1b" not in out
        line = next(line for line in out.splitlines() if " blocked.test " in line)
        assert re.match(r"^\s+[1-9][0-9]*\s+blocked\.test\s", line), line
        suggested = line.split("./run_in_container.sh ", 1)[1].split()
        assert suggested == ["allow", "blocked.test", current.name]
        # Issue 19: which one lasts for this sandbox, and how to keep a name for the project.
        assert (
            "  (each for this sandbox only; for every later session of this project too, add"
            " --save:\n"
            f"  ./run_in_container.sh allow DOMAIN --save {current.name}, which adds it to"
            " .codex/allowed-domains.txt)\n"
        ) in out, out
        assert re.search(rf"\b1\s+{re.escape(lan.ipv4)} tcp/81\s+no allowed name led there", out), (
            out
        )
        assert "allowed.test" not in out
        # The suggested command, pasted: the name works now, in the same container.
        allowed = current.host(*suggested)
        assert allowed.returncode == 0, allowed.stdout + allowed.stderr
        assert f"blocked.test resolves to {blocked.ipv4}" in allowed.stdout + allowed.stderr
        result = current.agent("curl", "-sS", "-m", "5", "http://blocked.test/")
        assert result.stdout.strip() == "hello-from-blocked", result.stderr
        assert current.started_at() == started
        # Counted, not repeated.
        current.agent("getent", "hosts", "unlisted.test")
        current.agent("getent", "hosts", "unlisted.test")
        out = current.host("denied").stdout
        lines = [line for line in out.splitlines() if "unlisted.test" in line]
        assert len(lines) == 1, out
        count = re.match(
            r"^\s+(\d+)\s+unlisted\.test\s+\./run_in_container\.sh allow unlisted\.test$", lines[0]
        )
        assert count and int(count.group(1)) >= 2, out


def test_allow_save_adds_to_the_allowlist_as_accepted(make_sandbox, topology: Topology) -> None:  # type: ignore[no-untyped-def]
    sandbox = make_sandbox()
    domains = sandbox.project / ".codex/allowed-domains.txt"
    before = domains.read_text()
    with session(sandbox) as current:
        result = current.host("allow", "ext.test", "--save")
        assert result.returncode == 0, result.stderr
        assert (
            current.agent("curl", "-sS", "-m", "5", "http://ext.test/").stdout.strip()
            == "hello-from-ext"
        )
    assert domains.read_text() == before + "ext.test\n"
    # The next start does not ask about it (no terminal here: a question would be a refusal).
    result = sandbox.run("exec", "--", "getent", "hosts", "ext.test")
    assert result.returncode == 0, result.stderr
    ext = topology.hosts["ext"]
    assert result.stdout.split()[0] in (ext.ipv4, ext.ipv6)
    assert "changed since you accepted" not in result.stderr
    # Saving again changes nothing; with no session running, --save alone still saves.
    current_text = domains.read_text()
    again = subprocess.run(
        [str(sandbox.project / "run_in_container.sh"), "allow", "ext.test", "--save"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert again.returncode == 0 and domains.read_text() == current_text, again.stderr
    refused = subprocess.run(
        [str(sandbox.project / "run_in_container.sh"), "allow", "ext.test"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert refused.returncode == 2 and "no sandbox of this project is running" in refused.stderr


def test_allow_says_one_thing_at_once_when_the_name_does_not_resolve(  # type: ignore[no-untyped-def]
    make_sandbox, topology: Topology, silent_dns: str
) -> None:
    """Issue 19: with a DNS server that never answers for the name, `allow` printed "allowed",
    then after half a minute "error: allow failed" (exit 1), or a warning (exit 0). Now: the name
    is in force at once, and one line says so and that it does not resolve yet (after a lookup of
    a few seconds at most), exit 0; a name that resolves, allowed next, works."""
    silent = f"x.{SILENT_NAME}"
    with session(make_sandbox(), env={"CXGEN_TEST_DNS": silent_dns}) as current:
        result = current.host("allow", silent)
        assert result.returncode == 0 and result.stderr == "", result.stdout + result.stderr
        assert result.stdout.splitlines() == [
            f"cxgen-ctl: allowed {silent} in this sandbox (kept across docker restart);"
            " it does not resolve yet (no answer from the DNS server within 3 s):"
            " it works once it does"
        ]
        # In force: its lookups are forwarded (a name not allowed is refused at once, 2; this
        # one the DNS server leaves unanswered: cut by the timeout, 124).
        lookup = current.agent("timeout", "3", "getent", "hosts", silent)
        assert lookup.returncode == 124, lookup
        result = current.host("allow", "nosuch.test")
        assert result.returncode == 0 and result.stdout.splitlines() == [
            "cxgen-ctl: allowed nosuch.test in this sandbox (kept across docker restart);"
            " it does not resolve yet (the DNS server has no address for it): it works once it does"
        ], result.stdout + result.stderr
        result = current.host("allow", "ext.test")
        ext = topology.hosts["ext"]
        assert result.returncode == 0 and result.stdout.splitlines() == [
            "cxgen-ctl: allowed ext.test in this sandbox (kept across docker restart);"
            f" ext.test resolves to {' '.join(sorted([ext.ipv4, ext.ipv6]))}"
        ], result.stdout + result.stderr
        result = current.agent("curl", "-sS", "-m", "5", "http://ext.test/")
        assert result.stdout.strip() == "hello-from-ext", result.stderr


def test_denied_shows_what_the_start_found_about_the_allowed_names(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    """The allowed names are looked up beside the command: what that found (a dead name) is
    kept for `denied`, whether or not a terminal showed it."""
    with session(make_sandbox(), None, "--allow", "dead.allowed.test") as current:
        deadline = time.monotonic() + 60
        out = ""
        while time.monotonic() < deadline:
            out = current.host("denied").stdout
            if "Allowed names, as looked up" in out:
                break
            time.sleep(0.2)
        assert re.search(
            r"^Allowed names, as looked up when the sandbox started:\n"
            r"  allowed domain 'dead\.allowed\.test' does not resolve \(",
            out,
            re.M,
        ), out
        assert "allowed.test' does not resolve" not in out.replace("dead.allowed.test", "")


@BOTH_MODES
def test_the_agent_cannot_call_the_helper_nor_touch_its_log_and_state(
    make_sandbox,
    topology: Topology,  # type: ignore[no-untyped-def]
    owner: int,
) -> None:
    blocked = topology.hosts["blocked"].ipv4
    with session(make_sandbox(owner=owner)) as current:
        attacks = {
            "run the helper": f"{CTL} allow blocked.test",
            "read the helper": f"bash {CTL} allow blocked.test",
            "lockdown off": f"{CTL} lockdown off",
            "write the log": "printf '\\001dump 1\\n' >>/run/cxgen/dns.log",
            "read the log folder": "ls /run/cxgen",
            "read the resolver's names": "cat /run/cxgen-dns/servers",
            "add a resolver name": "echo server=/blocked.test/1.2.3.4 >>/run/cxgen-dns/servers",
            "write the state": "touch /var/lib/cxgen/allowed",
            "read the state": "ls /var/lib/cxgen",
            "add to the allow set": f"nft add element inet cxgen allow4 {{ {blocked} }}",
            "empty the denied set": "nft flush set inet cxgen denied4",
            "reload the resolver": "kill -HUP $(cat /run/cxgen/dnsmasq.pid)",
        }
        for what, attack in attacks.items():
            result = current.agent("bash", "-c", attack)
            assert result.returncode != 0, f"{what}: {result.stdout}"
        # A name crafted to forge log lines (a newline, then what a reply line looks like).
        forge = (
            "import socket, struct\n"
            "labels = [b'x\\nNov  1 00:00:00 dnsmasq[1]: 9 a/1 reply forged',\n"
            "          b'test is 1', b'2', b'3', b'4']\n"
            "body = b''.join(bytes([len(l)]) + l for l in labels)\n"
            "body += b'\\0' + struct.pack('!HH', 1, 1)\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)\n"
            "s.sendto(struct.pack('!HHHHHH', 7, 0x100, 1, 0, 0, 0) + body, ('127.0.0.1', 53))\n"
            "print(s.recv(512)[3] & 15)\n"
        )
        assert current.agent("python3", "-c", forge).stdout.strip() == "3"  # NXDOMAIN
        assert current.agent("curl", "-sS", "-m", "5", "http://blocked.test/").returncode == 6
        out = current.host("denied").stdout
        assert "forged" not in out and "blocked.test" in out
        assert "names that are not plain host names" in out
        # Lockdown: the agent cannot lift it either.
        assert current.host("lockdown", "on").returncode == 0
        for attack in (f"{CTL} lockdown off", "nft flush chain inet cxgen lockdown"):
            assert current.agent("bash", "-c", attack).returncode != 0
        assert current.agent("curl", "-sS", "-m", "5", "http://allowed.test/").returncode == 6


@BOTH_MODES
def test_lockdown_denies_everything_fast_and_survives_docker_restart(
    make_sandbox,
    topology: Topology,  # type: ignore[no-untyped-def]
    owner: int,
) -> None:
    allowed = topology.hosts["allowed"]
    # --keep: Docker may remove an --rm container that is being restarted.
    with session(make_sandbox(owner=owner), None, "--keep") as current:
        # Refused by the allowlist: every tool fails at once, the same way.
        assert probe(current, "blocked.test", topology.hosts["blocked"].ipv4) == REFUSED
        assert probe(current, "allowed.test", allowed.ipv4) == {
            "curl-name": "0",
            "curl-address": "0",
            "getent": "0",
            "python-name": "ok",
            "python-address": "ok",
        }
        result = current.host("lockdown", "on")
        assert result.returncode == 0 and "lockdown on" in result.stdout, result.stderr
        # An allowed name and its address: refused alike, and as fast, in every tool.
        assert probe(current, "allowed.test", allowed.ipv4) == REFUSED
        docker("restart", "-t", "1", current.name)
        wait_ready(current.name, since="restart")
        assert "lockdown is on" in docker("logs", current.name).stderr
        assert probe(current, "allowed.test", allowed.ipv4) == REFUSED
        assert "Lockdown is on" in current.host("denied").stdout
        result = current.host("lockdown", "off")
        assert result.returncode == 0, result.stderr
        result = current.agent("curl", "-sS", "-m", "5", "http://allowed.test/")
        assert result.stdout.strip() == "hello-from-allowed", result.stderr


@BOTH_MODES
def test_a_domain_allowed_live_survives_docker_restart(make_sandbox, owner: int) -> None:  # type: ignore[no-untyped-def]
    with session(make_sandbox(owner=owner), None, "--keep") as current:
        assert current.host("allow", "ext.test").returncode == 0
        docker("restart", "-t", "1", current.name)
        wait_ready(current.name, since="restart")
        result = current.agent("curl", "-sS", "-m", "5", "http://ext.test/")
        assert result.stdout.strip() == "hello-from-ext", result.stderr


def learn_proposals(stderr: str) -> set[str]:
    return set(re.findall(r"^cxgen:   \+ (\S+) \(not allowed yet\)$", stderr, re.M))


LEARN_COMMAND = (
    "curl -sS http://allowed.test/ && curl -sS http://ext.test/ && curl -sS http://blocked.test/"
    " && getent hosts sub.wild.test >/dev/null && ! getent hosts nosuch.test"
    " && ! curl -sS -m 5 http://$1:81/ 2>/dev/null; exit 7"
)


def test_learn_mode_proposes_exactly_the_names_the_command_used(
    make_sandbox,
    topology: Topology,
    script_shell: list[str],  # type: ignore[no-untyped-def]
) -> None:
    sandbox = make_sandbox()
    lan = topology.hosts["lan"].ipv4
    before = (sandbox.project / ".codex/allowed-domains.txt").read_text()
    command, env = sandbox.command(
        "exec", "--learn", "--", "bash", "-c", LEARN_COMMAND, "learn", lan, shell=script_shell
    )
    name = command[command.index("--name") + 1]
    result = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 7, result.stderr
    assert result.stdout.split() == ["hello-from-allowed", "hello-from-ext", "hello-from-blocked"]
    assert result.stderr.count("WARNING: --learn") == 1
    assert learn_proposals(result.stderr) == {"ext.test", "blocked.test"}, result.stderr
    assert "already allowed: allowed.test sub.wild.test" in result.stderr
    assert "did not resolve (not proposed): nosuch.test" in result.stderr
    # A raw private address stays refused, and is reported.
    assert re.search(
        rf"refused even in learn mode.*\n.*  {re.escape(lan)} tcp/81 \(1 packets\)", result.stderr
    )
    # No terminal: printed, not saved; and the container is gone.
    assert (sandbox.project / ".codex/allowed-domains.txt").read_text() == before
    assert docker("ps", "-aq", "--filter", f"name=^{name}$").stdout.strip() == ""


def test_learn_mode_saves_on_a_yes_at_the_terminal(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sandbox = make_sandbox()
    domains = sandbox.project / ".codex/allowed-domains.txt"
    before = domains.read_text()
    command, env = sandbox.command(
        "exec", "--learn", "--", "bash", "-c", "curl -sS http://ext.test/"
    )
    main, secondary = pty.openpty()
    process = subprocess.Popen(
        command, env=env, stdin=secondary, stdout=secondary, stderr=secondary
    )
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + BOUND
    answered = False
    while process.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                output += os.read(main, 4096)
            except OSError:
                break
        if not answered and b"[y/N]" in output:
            os.write(main, b"y\n")
            answered = True
    process.wait(timeout=30)
    os.close(main)
    assert answered and process.returncode == 0, output.decode(errors="replace")
    assert domains.read_text() == before + "ext.test\n"
    # Accepted with it: the next start does not ask.
    result = sandbox.run("exec", "--", "getent", "hosts", "ext.test")
    assert result.returncode == 0, result.stderr


def test_the_denied_log_stays_bounded_and_refusing_stays_fast(
    make_sandbox, topology: Topology
) -> None:  # type: ignore[no-untyped-def]
    lan = topology.hosts["lan"]
    flood = (
        "import socket, struct, sys\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)\n"
        "for i in range(2100):\n"
        "    body = b''.join(bytes([len(l)]) + l for l in [b'n%d' % i, b'flood', b'test'])\n"
        "    query = struct.pack('!HHHHHH', i, 0x100, 1, 0, 0, 0) + body + b'\\0\\0\\1\\0\\1'\n"
        "    s.sendto(query, ('127.0.0.1', 53))\n"
        "    s.recv(512)\n"
        "refused = 0\n"
        "for port in range(1, 4200):\n"
        "    c = socket.socket(); c.settimeout(5)\n"
        "    try: c.connect((sys.argv[1], port))\n"
        "    except ConnectionRefusedError: refused += 1\n"
        "    c.close()\n"
        "print(refused)\n"
    )
    with session(make_sandbox()) as current:
        result = current.agent("python3", "-c", flood, lan.ipv4, timeout=120)
        assert result.stdout.strip() == "4199", result.stderr
        out = current.host("denied").stdout
        assert re.search(r"\(\d+ more names were not recorded", out), out[-2000:]
        assert "connections beyond 4096 destinations were refused but not recorded" in out
        assert len(out.splitlines()) < 2000 + 4096 + 20
        # Still refused, still at once.
        assert probe(current, "blocked.test", topology.hosts["blocked"].ipv4) == REFUSED


def test_the_helper_checks_domains_itself(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    with session(make_sandbox()) as current:
        for bad in ("Bad.test", "a..test", "-a.test", "x.test\nother.test", "*.*.test", "test"):
            result = docker("exec", "-u", "0", current.name, CTL, "allow", bad, check=False)
            assert result.returncode == 1 and "invalid domain" in result.stderr, bad


def test_learn_mode_does_not_run_with_the_agents_home(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    """A startup file the agent left in its home (here a Python .pth, which runs at every
    python start) must not run inside the trusted command, which has open network."""
    sandbox = make_sandbox()
    plant = (
        'd="$HOME/.local/lib/python3.11/site-packages" && mkdir -p "$d" '
        '&& echo "import sys; print(\'PLANTED-RAN\')" > "$d/zz.pth" && python3 -c pass'
    )
    planted = sandbox.sh(plant)
    assert planted.returncode == 0 and "PLANTED-RAN" in planted.stdout, planted.stderr
    result = sandbox.run(
        "exec", "--learn", "--", "bash", "-c", 'python3 -c pass; echo "home=$HOME"'
    )
    assert result.returncode == 0, result.stderr
    assert "PLANTED-RAN" not in result.stdout
    assert re.search(r"^home=/tmp/cxgen-learn\.\w+/home$", result.stdout, re.M), result.stdout
