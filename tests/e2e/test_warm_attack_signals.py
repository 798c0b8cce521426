"""Attacks (issue #22, warm starts) from inside a warm session on the root processes it shares
the container with: the claim (docker exec, waiting for the command, then the sweep) and the
spare's wait (which passes docker stop on: `kill -TERM -1` as root). In root mode the agent is
uid 0 without capabilities: it may signal them. In user mode it may not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.conftest import PROJECT_UID, Sandbox
from tests.e2e.test_warm import starts, warm_env

pytestmark = pytest.mark.e2e

# The container's processes as the agent sees them: "PID PPID uid=UID CMDLINE". The spare's wait
# is the entrypoint whose parent is init (pid 1); the claim is the entrypoint docker exec started
# (parent 0: outside the container's pid namespace).
PS = r"""
ps_list() {
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    uid=$(awk '/^Uid:/ {print $2}' $p/status 2>/dev/null) || continue
    ppid=$(awk '/^PPid:/ {print $2}' $p/status 2>/dev/null)
    cmd=$(tr '\0\n' '  ' < $p/cmdline 2>/dev/null | cut -c1-60)
    echo "$pid $ppid uid=$uid $cmd"
  done
}
"""


@pytest.fixture(params=["user", "root"])
def box(request: pytest.FixtureRequest, make_sandbox) -> Sandbox:  # type: ignore[no-untyped-def]
    return make_sandbox(owner=0 if request.param == "root" else PROJECT_UID)


def warm_session(box: Sandbox, tmp_path: Path, script: str, **kw: object):  # type: ignore[no-untyped-def]
    env = warm_env(tmp_path)
    first = box.run("exec", "--", "true", env=env)
    assert first.returncode == 0, first.stderr
    result = box.run("exec", "--", "bash", "-c", PS + script, env=env, **kw)  # type: ignore[arg-type]
    assert starts(tmp_path)[-1] == "warm", starts(tmp_path)
    return result


def test_the_agent_asks_the_spares_wait_to_end_every_process(box: Sandbox, tmp_path: Path) -> None:
    """TERM to the spare's wait makes it send TERM to every process (as root): the resolver,
    its log reader and the relay too, which the agent itself may never signal. (The wait is the
    entrypoint's first process: init's child with the lowest pid; a detached subshell of the
    entrypoint, such as the allowed names' diagnostic, is init's child too, for a while.)"""
    script = r"""
ps_list > /tmp/before
idle=$(awk '$2 == 1 && /entrypoint.sh/ {print $1}' /tmp/before | sort -n | head -1)
echo "idle=$idle"
getent hosts allowed.test >/dev/null && r=ok || r=fail; echo "RESULT dns-before=$r"
trap '' TERM
kill -TERM "$idle" && r=signalled || r=refused; echo "RESULT $r"
sleep 1
ps_list > /tmp/after
echo "--- before"; cat /tmp/before; echo "--- after"; cat /tmp/after
getent hosts allowed.test >/dev/null && r=ok || r=fail; echo "RESULT dns-after=$r"
"""
    result = warm_session(box, tmp_path, script)
    print(result.stdout, result.stderr[-1500:])
    results = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    if box.root_mode:
        assert "signalled" in results
        assert "dns-after=ok" in results, (
            "BROKE (root mode): the agent had the spare's wait (root) end the resolver, "
            "which it cannot signal itself"
        )
    else:
        assert "refused" in results and "dns-after=ok" in results


def test_killing_the_claim_leaves_nothing_running_after_the_session(
    box: Sandbox, tmp_path: Path
) -> None:
    """The agent kills the claim (root mode: uid 0 may) so that its sweep never runs, with a
    writer in the background: nothing may write into the work dir once the run script is back."""
    late = box.project / "late"
    script = rf"""
( trap '' TERM HUP INT; exec >/dev/null 2>&1 </dev/null
  while :; do date +%s%N >> {"/app" + str(late)}; sleep 0.02; done ) &
sleep 0.3
ps_list > /tmp/ps
claim=$(awk '$1 != 1 && $2 == 0 && /entrypoint.sh/ {{print $1}}' /tmp/ps | head -1)
echo "claim=$claim"
kill -KILL "$claim" && echo killed || echo refused
sleep 0.5
echo still-here
"""
    result = warm_session(box, tmp_path, script)
    back = time.monotonic()
    print(result.returncode, result.stdout, result.stderr[-800:])
    size = late.stat().st_size if late.exists() else 0
    time.sleep(2)  # (an observation window for a late writer, not a wait for a condition)
    grown = (late.stat().st_size if late.exists() else 0) - size
    print("grew after the run script returned:", grown, time.monotonic() - back)
    assert grown == 0, "BROKE: a process of the agent wrote into the work dir after its session"
    if box.root_mode:
        assert "killed" in result.stdout and result.returncode != 0
    else:
        assert "refused" in result.stdout


def test_a_fork_storm_outlives_neither_the_sweep(box: Sandbox, tmp_path: Path) -> None:
    """Processes forking all the time, in new sessions and process groups, ignoring every
    catchable signal: the sweep stops them all first, so none forks past it."""
    late = box.project / "late-storm"
    target = "/app" + str(late)
    script = rf"""
storm() {{
  trap '' TERM HUP INT QUIT USR1 USR2
  while :; do ( setsid sh -c 'sleep 0.5; echo x >> {target}' & ) 2>/dev/null; sleep 0.01; done
}}
for i in 1 2 3 4; do ( storm </dev/null >/dev/null 2>&1 & ); done
sleep 0.5
echo ending
"""
    result = warm_session(box, tmp_path, script)
    assert result.returncode == 0, result.stderr
    size = late.stat().st_size if late.exists() else 0
    time.sleep(3)  # (an observation window for a late writer)
    grown = (late.stat().st_size if late.exists() else 0) - size
    assert grown == 0, "BROKE: the fork storm wrote into the work dir after the session"
