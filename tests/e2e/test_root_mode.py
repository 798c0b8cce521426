"""Root mode: you are root and the project is root's (servers, CI). The agent runs as uid 0, so
what it writes is root's on the host, yet it has no capabilities, cannot change the image, the
firewall or its state, and cannot leave setuid programs on the host. (The attack suite,
test_attacks.py and test_wall_*.py, runs every test in this mode too.)"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import LABEL, RUN_ID, Sandbox, docker
from tests.e2e.waiting import wait_until

# Each must fail with "Operation not permitted": the bits never reach the host's file.
SETUID_ATTEMPTS = {
    "chmod u+s": "touch f && chmod u+s f",
    "chmod g+s": "touch f && chmod g+s f",
    "chmod numeric": "touch f && chmod 6755 f",
    "install -m": "install -m 4755 /bin/true f",
    "open with O_CREAT": (
        'perl -MFcntl -e \'sysopen(my $f, "f", O_CREAT|O_WRONLY, 04755) or die "$!\\n"\''
    ),
    # (syscall needs a variable: it may write through a string argument.)
    "creat": 'perl -e \'my $f = "f"; syscall(85, $f, 04755) >= 0 or die "$!\\n"\'',
    "mknod of a file": (
        'perl -e \'my $f = "f"; syscall(259, -100, $f, 0100000|04755, 0) >= 0 or die "$!\\n"\''
    ),
}


@pytest.mark.parametrize("attempt", sorted(SETUID_ATTEMPTS))
def test_the_agent_cannot_make_setuid_files(root_sandbox: Sandbox, attempt: str) -> None:
    name = f"setid-{attempt.replace(' ', '-').replace('+', '')}"
    script = f"mkdir -p {name} && cd {name} && {{ {SETUID_ATTEMPTS[attempt]}; }}; echo rc=$?"
    result = root_sandbox.sh(script)
    assert "rc=0" not in result.stdout, result.stdout + result.stderr
    assert "not permitted" in result.stderr, result.stderr
    made = root_sandbox.project / name / "f"
    assert not made.exists() or made.stat().st_mode & 0o6000 == 0


def test_openat2_and_io_uring_are_unavailable_so_no_call_escapes_the_guard(
    root_sandbox: Sandbox,
) -> None:
    result = root_sandbox.sh(
        "perl -MErrno -e 'for my $nr (437, 425) { my $r = syscall($nr, 0, 0, 0, 0);"
        ' print "$nr ", ($r < 0 && $!{ENOSYS} ? "ENOSYS" : "available"), "\\n" }\''
    )
    assert result.stdout.split("\n")[:2] == ["437 ENOSYS", "425 ENOSYS"], result.stderr


def test_files_are_roots_on_the_host_and_hosts_git_still_works(root_sandbox: Sandbox) -> None:
    result = root_sandbox.sh("id -u; mkdir -p made/by && echo hi > made/by/agent && chmod 755 made")
    assert result.returncode == 0 and result.stdout.strip() == "0", result.stderr
    made = root_sandbox.project / "made/by/agent"
    assert (made.stat().st_uid, made.read_text()) == (0, "hi\n")
    assert (root_sandbox.project / "made").stat().st_mode & 0o777 == 0o755
    # No "dubious ownership": the project and what the agent wrote are root's, like the user.
    subprocess.run(["git", "init", "-q", str(root_sandbox.project)], check=True)
    git = subprocess.run(
        ["git", "-C", str(root_sandbox.project), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert git.returncode == 0 and "made/" in git.stdout, git.stderr


@pytest.mark.parametrize(
    "target",
    [
        "/usr/local/lib/cxgen/cxgen-ctl",  # run as root, with capabilities, by allow/lockdown
        "/usr/local/lib/cxgen/entrypoint.sh",  # run again on docker restart
        "/etc/ld.so.preload",  # loaded into every program root runs
        "/usr/sbin/nft",
        "/etc/passwd",
        "/etc/resolv.conf",
    ],
)
def test_nothing_of_the_image_is_writable(root_sandbox: Sandbox, target: str) -> None:
    result = root_sandbox.sh(
        f"echo evil >> {target}; echo rc=$?; [ ! -e {target} ] || {{ rm -f {target}; echo rm=$?; }}"
    )
    assert "rc=0" not in result.stdout and "rm=0" not in result.stdout, result.stdout
    assert "Read-only file system" in result.stderr, result.stderr


def test_temporary_folders_are_writable_and_executable(root_sandbox: Sandbox) -> None:
    result = root_sandbox.sh(
        "for d in /tmp /var/tmp; do cp /bin/true $d/t && $d/t && echo $d ok; done"
    )
    assert result.stdout.split() == ["/tmp", "ok", "/var/tmp", "ok"], result.stderr


def test_the_agent_cannot_reach_roots_helpers(root_sandbox: Sandbox) -> None:
    """dnslog.awk runs as root with the container's capabilities: same uid, but the agent
    cannot trace it, read its memory, environment or open files (it lacks those capabilities),
    nor signal the resolver (another uid)."""
    result = root_sandbox.sh(
        'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" != mawk ] || pid=${p#/proc/};'
        " done; echo pid=$pid;"
        " cat /proc/$pid/environ >/dev/null; echo environ=$?;"
        " readlink /proc/$pid/fd/0 /proc/$pid/root /proc/$pid/cwd; echo links=$?;"
        " perl -e 'print syscall(101, 16, $ARGV[0], 0, 0) == 0 ? 0 : 1' $pid;"
        " echo ' attach'=$?;"
        " kill -9 $(awk '$2 == \"(dnsmasq)\" {print $1}' /proc/[0-9]*/stat);"
        " echo kill-resolver=$?"
    )
    out = result.stdout
    assert "pid=" in out and "pid=\n" not in out, out
    for check in ("environ=1", "links=1", "1 attach=0", "kill-resolver=1"):
        assert check in out, out


def test_push_runs_without_capabilities(root_sandbox: Sandbox, tmp_path: Path) -> None:
    """The host's docker exec would give uid 0 the container's capabilities: push and pull drop
    them, so a symlink the agent planted into the firewall's state leads nowhere."""
    name = f"cxgen-test-{RUN_ID}-rootpush-{uuid.uuid4().hex[:4]}"
    setup = (
        "ln -sfn /var/lib/cxgen into-state && touch ready-root;"
        " while [ ! -f done-root ]; do sleep 0.2; done"
    )
    session = root_sandbox.start("exec", "--", "bash", "-c", setup, name=name)
    project = root_sandbox.project
    try:
        wait_until((project / "ready-root").exists, "the session to start", watch=session)
        source = tmp_path / "lockdown"
        source.write_text("x\n")
        pushed = root_sandbox.run("push", "--name", name, str(source), "into-state")
        assert pushed.returncode != 0, pushed.stderr
        state = docker("exec", name, "ls", "-A", "/var/lib/cxgen").stdout.split()
        assert "lockdown" not in state
        # An ordinary push still works, as uid 0: the file is root's.
        ok = root_sandbox.run("push", "--name", name, str(source))
        assert ok.returncode == 0, ok.stderr
        assert (project / "lockdown").stat().st_uid == 0
    finally:
        (project / "done-root").touch()
        docker("rm", "-f", "-v", name, check=False)
        session.wait(timeout=60)
        for leftover in ("lockdown", "into-state", "ready-root", "done-root"):
            (project / leftover).unlink(missing_ok=True)


def test_the_image_run_by_hand_as_root_without_read_only_refuses(root_sandbox: Sandbox) -> None:
    """uid 0 on a writable image would own the image's files: the entrypoint refuses."""
    result = docker(
        "run",
        "--rm",
        "--network",
        root_sandbox.network,
        "--label",
        LABEL,
        "--cap-drop",
        "ALL",
        "--cap-add",
        "NET_ADMIN",
        "--cap-add",
        "SETUID",
        "--cap-add",
        "SETGID",
        "--cap-add",
        "SETPCAP",
        "--cap-add",
        "CHOWN",
        "--cap-add",
        "DAC_OVERRIDE",
        "--sysctl",
        "net.ipv4.ip_unprivileged_port_start=1024",
        "-e",
        "CXGEN_UID=0",
        "-e",
        "CXGEN_GID=65534",
        root_sandbox.image,
        "echo",
        "started",
        check=False,
        timeout=60,
    )
    assert result.returncode == 78 and "started" not in result.stdout
    assert "read-only root filesystem" in result.stderr, result.stderr


def wait_for(path: Path, session: subprocess.Popen[str]) -> None:
    wait_until(path.exists, "the session to start", watch=session)


# What an agent running as uid 0 would do to steer root's tools: its own /run/cxgen (with a
# domains file that allows everything under .test), its own /dev/null.
TAKEOVER = """
mv /run/cxgen /run/cxgen.orig; echo "run rc=$?"
mv /run/cxgen-dns /run/cxgen-dns.orig; echo "dns rc=$?"
mkdir -m 755 /run/evil; echo "mkdir rc=$?"
mv /dev/null /dev/null.orig; echo "null rc=$?"
ln -s /var/lib/cxgen/upstream /dev/evil; echo "link rc=$?"
chmod 000 /dev/null; echo "chmod rc=$?"
stat -c "tmp owner %u" /tmp /var/tmp /run /dev
"""


def test_the_agent_cannot_replace_the_folders_roots_tools_use(root_sandbox: Sandbox) -> None:
    """Root mode's writable folders (/run, /tmp, /var/tmp) and /dev are not root's: uid 0 owns
    nothing there to rename, so allow and lockdown keep working on the real files."""
    name = f"cxgen-test-{RUN_ID}-takeover-{uuid.uuid4().hex[:4]}"
    project = root_sandbox.project
    script = (
        f"{TAKEOVER} touch took-over; while [ ! -f allowed-now ]; do sleep 0.1; done;"
        ' getent hosts blocked.test; echo "blocked rc=$?" >result-takeover'
    )
    session = root_sandbox.start("exec", "--", "bash", "-c", script, name=name)
    try:
        wait_for(project / "took-over", session)
        allowed = subprocess.run(
            [str(project / "run_in_container.sh"), "allow", "ext.test", name],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert allowed.returncode == 0, allowed.stderr
        (project / "allowed-now").touch()
        session.wait(timeout=60)
        out = session.stdout.read() if session.stdout else ""
        for step in ("run", "dns", "mkdir", "null", "link", "chmod"):
            assert f"{step} rc=0" not in out, out
        assert out.count("tmp owner 65530") == 4, out
        assert (project / "result-takeover").read_text().strip() == "blocked rc=2"
        assert session.returncode == 0
    finally:
        docker("rm", "-f", "-v", name, check=False)
        session.wait(timeout=60)
        for leftover in ("took-over", "allowed-now", "result-takeover"):
            (project / leftover).unlink(missing_ok=True)


def test_the_agent_cannot_signal_the_firewalls_helpers(root_sandbox: Sandbox) -> None:
    """The denied log's reader and cxgen-ctl run as the firewall's account: uid 0 without
    capabilities cannot signal them (so it cannot make allow or lockdown fail either)."""
    result = root_sandbox.sh(
        'for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" != mawk ] || pid=${p#/proc/};'
        " done; stat -c %u /proc/$pid; kill -0 $pid; echo kill=$?"
    )
    assert result.stdout.split() == ["65530", "kill=1"], result.stdout + result.stderr
