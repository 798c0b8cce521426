"""The project's lockdown (issue 19): `lockdown on --save` holds for every session of the project,
running, new or kept, until `lockdown off --save`; it is kept in the host user's state, outside
the project and out of every sandbox's reach. Probes run as the agent inside real sandboxes on the
tests' --internal network, against the tests' own server containers only.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import RUN_ID, Sandbox, Topology, docker
from tests.e2e.test_fwctl import AGENT, BOTH_MODES, CTL, session, wait_ready

HELLO = "hello-from-allowed"
CURL = ("curl", "-sS", "-m", "5", "http://allowed.test/")
# A kept session's command: what it reached, each time it starts.
PROBE = "curl -sS -m 5 http://allowed.test/; echo rc=$?"
ON_AT_START = (
    "lockdown is on for this project: nothing leaves the sandbox"
    " (./run_in_container.sh lockdown off --save lifts it)"
)
LISTED = "Lockdown is on for this project"


def lockdown_record(project: Path) -> Path:
    """Where the run script keeps the project's lockdown: beside its accepted policy."""
    key = hashlib.sha256(str(project.resolve()).encode()).hexdigest()[:16]
    return Path(os.environ["XDG_STATE_HOME"], "cxgen", "projects", key, "lockdown")


def test_the_projects_lockdown_holds_for_every_session_until_lifted(
    make_sandbox: Callable[..., Sandbox],
    topology: Topology,
    script_shell: list[str],
) -> None:
    sandbox: Sandbox = make_sandbox()
    record = lockdown_record(sandbox.project)
    allowed = topology.hosts["allowed"]

    def new_session() -> tuple[int, str, str]:
        result = sandbox.run("exec", "--", *CURL, shell=script_shell)
        return result.returncode, result.stdout.strip(), result.stderr

    # A new session reaches the allowed name (served by the tests' own container).
    status, out, err = new_session()
    assert (status, out) == (0, HELLO), err
    with session(sandbox, script_shell) as running:
        assert running.agent(*CURL).stdout.strip() == HELLO
        saved = running.host("lockdown", "on", "--save")
        assert saved.returncode == 0, saved.stdout + saved.stderr
        assert f"lockdown on in {running.name}" in saved.stderr
        # The running session got it at once: the name and its address are refused.
        assert running.agent(*CURL).returncode == 6
        result = running.agent("curl", "-sS", "-m", "5", f"http://{allowed.ipv4}/")
        assert result.returncode == 7, result.stdout
        # A new session starts locked down, and says so.
        status, out, err = new_session()
        assert status == 6 and HELLO not in out, err
        assert ON_AT_START in err
        assert "Lockdown is on for this project" in running.host("denied").stdout
        listed = running.host("list")
        assert listed.returncode == 0 and LISTED in listed.stdout, listed.stderr
        # Kept in the host user's state, outside the project; no sandbox mounts that folder.
        assert record.read_text() == "on\n"
        assert sandbox.project.resolve() not in record.resolve().parents
        mounts = running.agent("cat", "/proc/self/mountinfo").stdout
        assert "/projects/" not in mounts and os.environ["XDG_STATE_HOME"] not in mounts
        assert running.agent("test", "-e", f"/app{record}").returncode != 0
        # Nor can the agent lift it from inside (the helper and the state are root's).
        for attack in (
            f"{CTL} lockdown off project",
            "echo off >/var/lib/cxgen/project-lockdown",
            "rm -f /var/lib/cxgen/lockdown",
            "nft flush chain inet cxgen lockdown",
            "kill -HUP $(cat /run/cxgen/dnsmasq.pid)",
        ):
            result = running.agent("bash", "-c", attack)
            assert result.returncode != 0, f"{attack}: {result.stdout}"
        assert running.agent(*CURL).returncode == 6
        # allow allows, and says that the lockdown wins; learn mode is refused.
        result = running.host("allow", "ext.test", running.name)
        assert result.returncode == 0, result.stderr
        assert "lockdown is on for this project: ext.test is allowed, but" in result.stderr
        assert running.agent("curl", "-sS", "-m", "5", "http://ext.test/").returncode == 6
        learn = sandbox.run("exec", "--learn", "--", "true", shell=script_shell)
        assert learn.returncode == 2 and "exec --learn needs open network" in learn.stderr
        # Lifted: at once in the running session, and from the start of new ones.
        lifted = running.host("lockdown", "off", "--save")
        assert lifted.returncode == 0, lifted.stdout + lifted.stderr
        assert f"lockdown off in {running.name}" in lifted.stderr
        assert running.agent(*CURL).stdout.strip() == HELLO
        assert not record.exists()
    status, out, err = new_session()
    assert (status, out) == (0, HELLO), err
    assert "lockdown is on" not in err
    assert LISTED not in sandbox.run("list", shell=script_shell).stdout


@BOTH_MODES
def test_a_kept_session_starts_again_under_the_projects_lockdown_as_it_is_now(
    make_sandbox: Callable[..., Sandbox],
    owner: int,
) -> None:
    """attach: the lockdown saved since a session was kept holds from its next start, and one
    lifted since no longer does (its container keeps the environment it was made with)."""
    sandbox: Sandbox = make_sandbox(owner=owner)
    made_open = f"cxgen-test-{RUN_ID}-open-{uuid.uuid4().hex[:6]}"
    made_locked = f"cxgen-test-{RUN_ID}-locked-{uuid.uuid4().hex[:6]}"
    first = sandbox.run("exec", "--keep", "--", "bash", "-c", PROBE, name=made_open)
    assert f"{HELLO}\nrc=0" in first.stdout, first.stderr
    result = sandbox.run("lockdown", "on", "--save", name="", network=False)
    assert result.returncode == 0, result.stderr
    first = sandbox.run("exec", "--keep", "--", "bash", "-c", PROBE, name=made_locked)
    assert "rc=6" in first.stdout and ON_AT_START in first.stderr, first.stdout + first.stderr
    for name in (made_open, made_locked):
        again = sandbox.run("attach", name)
        assert "rc=6" in again.stdout and HELLO not in again.stdout, again.stdout + again.stderr
        assert ON_AT_START in again.stderr
    result = sandbox.run("lockdown", "off", "--save", name="", network=False)
    assert result.returncode == 0, result.stderr
    for name in (made_open, made_locked):
        again = sandbox.run("attach", name)
        assert f"{HELLO}\nrc=0" in again.stdout, again.stdout + again.stderr
        assert "lockdown is on" not in again.stderr
    for name in (made_open, made_locked):
        assert sandbox.run("destroy", name).returncode == 0


def test_a_session_still_starting_gets_the_lockdown_once_its_firewall_is_up(
    make_sandbox: Callable[..., Sandbox],
) -> None:
    """lockdown on --save as a session starts: its helper waits for the firewall it is setting
    up (instead of failing with "no firewall"), then puts the lockdown in force. (A cold start:
    a spare's firewall is up before any session has it, and its command's output is the
    claim's, not in docker logs.)"""
    sandbox: Sandbox = make_sandbox()
    name = f"cxgen-test-{RUN_ID}-starting-{uuid.uuid4().hex[:6]}"
    process = sandbox.start(
        "exec", "--", "bash", "-c", "echo ready; exec sleep 600", name=name, env={"CXGEN_WARM": "0"}
    )
    try:
        # As soon as Docker lists it as running: its entrypoint has just begun.
        deadline = time.monotonic() + 120
        while (
            name not in docker("ps", "--filter", f"name=^{name}$", "--format", "{{.Names}}").stdout
        ):
            assert time.monotonic() < deadline and process.poll() is None, "no start"
            time.sleep(0.05)
        saved = sandbox.run("lockdown", "on", "--save", name="", network=False)
        assert saved.returncode == 0, saved.stdout + saved.stderr
        assert f"lockdown on in {name}" in saved.stderr
        wait_ready(name)
        result = docker("exec", name, *AGENT, *CURL, check=False)
        assert result.returncode == 6, result.stdout
    finally:
        sandbox.run("lockdown", "off", "--save", name="", network=False)
        docker("rm", "-f", "-v", name, check=False)
        process.wait(timeout=60)
