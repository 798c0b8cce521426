"""Warm starts on real Docker: a spare sandbox, started ahead (after a session, by build --warm),
that the next start with the same options claims with `docker exec` instead of `docker run`.

Each spare serves one session and ends with it; one whose inputs differ from a start's is
removed and that start is cold; old and orphaned spares go; two starts racing for one spare get
one warm start and one cold. What runs in a warm session is what runs in a cold one (ids,
capabilities, no_new_privs, seccomp, umask, environment): compared probe by probe, both modes.
The wall's own batteries run warm too (CXGEN_TEST_START=warm, .ci/run)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import LABEL, PROJECT_UID, RUN_ID, Sandbox, docker
from tests.e2e.test_attacks import Terminal
from tests.e2e.waiting import wait_until

pytestmark = pytest.mark.e2e

# What a session is: who, with which privileges, where, in which environment (its shell level and
# its own fd listing aside; and this machine's addresses as the spare's start saw them: a Docker
# network made since, by another test, adds one, which the claim adds to the refused set).
PROBE = (
    "id; umask; pwd; grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status;"
    " env | grep -v -E '^(HOSTNAME|SHLVL|_|CXGEN_HOST_ADDRESSES)=' | sort;"
    " touch /probe-root 2>&1 | sed 's/.*: //'"
)


def warm_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Spares on, the spare after each session waited for, and each start logged."""
    return {
        "CXGEN_WARM": "1",
        "CXGEN_WARM_WAIT": "1",
        "CXGEN_START_LOG": str(tmp_path / "starts.log"),
        **extra,
    }


def starts(tmp_path: Path) -> list[str]:
    log = tmp_path / "starts.log"
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


def spares(box: Sandbox) -> list[str]:
    """The project's spare containers (by name: a claimed one has its session's)."""
    out = docker(
        "ps", "-a", "--filter", "label=org.cxgen.spare",
        "--filter", f"label=org.cxgen.project={box.project}", "--format", "{{.Names}}",
    ).stdout  # fmt: skip
    return [name for name in out.split() if ".spare-" in name]


def sessions(box: Sandbox) -> list[str]:
    """The project's containers but its spares."""
    out = docker(
        "ps", "-a", "--filter", f"label=org.cxgen.project={box.project}", "--format", "{{.Names}}"
    ).stdout
    return [name for name in out.split() if ".spare-" not in name]


def default_name(project: Path) -> str:
    digest = hashlib.sha256(str(project).encode()).hexdigest()[:8]
    return f"cxgen-{project.name}-{digest}"


def spare_record(name: str) -> Path:
    return Path(os.environ["XDG_STATE_HOME"], "cxgen", "spares", name)


def gone(name: str) -> bool:
    return docker("container", "inspect", name, check=False).returncode != 0


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def box(make_sandbox) -> Sandbox:  # type: ignore[no-untyped-def]
    return make_sandbox()


def test_the_next_start_claims_the_spare_and_no_spare_serves_twice(
    box: Sandbox, tmp_path: Path
) -> None:
    env = warm_env(tmp_path)
    ok(box.run("exec", "--", "sh", "-c", "echo one > /tmp/left", env=env))
    assert starts(tmp_path) == ["cold"]
    [spare] = spares(box)
    assert spare_record(spare).exists()
    assert "spare,ready" in ok(box.run("list", env=env)).stdout
    second = box.run(
        "exec", "--", "sh", "-c", "cat /tmp/left 2>&1; echo two > /tmp/left; exit 3", env=env
    )
    assert second.returncode == 3, second.stderr
    assert "No such file" in second.stdout
    assert gone(spare) and not spare_record(spare).exists()
    third = ok(box.run("exec", "--", "sh", "-c", "cat /tmp/left 2>&1 || true", env=env))
    assert "No such file" in third.stdout
    assert starts(tmp_path) == ["cold", "warm", "warm"]


@pytest.mark.parametrize("owner", ["user", "root"])
def test_a_warm_session_is_a_cold_one(make_sandbox, tmp_path: Path, owner: str) -> None:  # type: ignore[no-untyped-def]
    box = make_sandbox(owner=0 if owner == "root" else PROJECT_UID)
    env = warm_env(tmp_path)
    cold = ok(box.run("exec", "--", "bash", "-c", PROBE, env=env))
    warm = ok(box.run("exec", "--", "bash", "-c", PROBE, env=env))
    assert starts(tmp_path) == ["cold", "warm"]
    assert warm.stdout == cold.stdout
    assert "CapEff:\t0000000000000000" in warm.stdout and "NoNewPrivs:\t1" in warm.stdout


def test_nothing_of_the_agent_outlives_its_command(box: Sandbox, tmp_path: Path) -> None:
    env = warm_env(tmp_path)
    ok(box.run("exec", "--", "true", env=env))
    late = box.project / "late"
    # A background job that would write once the session is over: it dies with the command.
    ok(box.run("exec", "--", "sh", "-c", f"(sleep 2; echo late > {late}) & echo started", env=env))
    assert starts(tmp_path) == ["cold", "warm"]
    wait_until(lambda: sessions(box) == [], "the warm session's container to go")
    assert not late.exists()


def test_a_spare_that_differs_is_removed_and_the_start_is_cold(
    box: Sandbox, tmp_path: Path
) -> None:
    env = warm_env(tmp_path)
    ok(box.run("exec", "--", "true", env=env))
    [first] = spares(box)
    ok(box.run("exec", "--allow", "other.test", "--", "true", env=env))
    assert starts(tmp_path) == ["cold", "cold"]
    wait_until(lambda: gone(first), "the spare that differs to go")
    # The new one is that session's; a change of the allowlist itself moves on the same way.
    [second] = spares(box)
    domains = box.project / ".codex/allowed-domains.txt"
    domains.write_text(domains.read_text() + "added.test\n")
    ok(box.run("exec", "--accept-changes", "--allow", "other.test", "--", "true", env=env))
    assert starts(tmp_path)[-1] == "cold"
    wait_until(lambda: gone(second), "the spare of the old allowlist to go")


def test_a_new_spare_replaces_the_projects_spares_of_other_options(
    box: Sandbox, tmp_path: Path
) -> None:
    """Without any warm start between (cold starts, builds), spares do not pile up: one per
    project, the newest's."""
    env = warm_env(tmp_path)
    ok(box.run("build", "--warm", env=env))
    [first] = spares(box)
    ok(box.run("build", "--warm", "--allow", "other.test", env=env))
    wait_until(lambda: gone(first), "the spare of the other options to go")
    [second] = spares(box)
    assert second != first and not spare_record(first).exists()


def test_a_saved_lockdown_reaches_the_next_start(box: Sandbox, tmp_path: Path) -> None:
    env = warm_env(tmp_path)
    probe = "exec 3<>/dev/tcp/allowed.test/80 && echo reached || echo refused"
    assert ok(box.run("exec", "--", "bash", "-c", probe, env=env)).stdout.strip() == "reached"
    ok(box.run("lockdown", "on", "--save", env=env, name="", network=False))
    try:
        result = ok(box.run("exec", "--", "bash", "-c", probe + " 2>/dev/null", env=env))
        assert result.stdout.strip().endswith("refused"), result.stdout
        assert starts(tmp_path) == ["cold", "cold"]
    finally:
        ok(box.run("lockdown", "off", "--save", env=env, name="", network=False))


def test_two_starts_racing_for_one_spare(box: Sandbox, tmp_path: Path) -> None:
    env = warm_env(tmp_path, CXGEN_WARM_WAIT="0")
    ok(box.run("exec", "--", "true", env={**env, "CXGEN_WARM_WAIT": "1"}))
    [spare] = spares(box)
    racers = [box.start("exec", "--", "true", env=env) for _ in range(2)]
    for racer in racers:
        _, err = racer.communicate(timeout=600)
        assert racer.returncode == 0, err
    assert sorted(starts(tmp_path)) == ["cold", "cold", "warm"]
    assert gone(spare)


def fake_spare(box: Sandbox, suffix: str, age: int) -> str:
    """A container labelled as this project's spare, created AGE seconds ago (by its label)."""
    image = docker("image", "inspect", "-f", "{{.Id}}", box.image).stdout.strip()
    name = f"{default_name(box.project)}.spare-{suffix}-{os.getpid()}"
    docker(
        "run", "-d", "--name", name, "--label", LABEL, "--label", "org.cxgen.sandbox=1",
        "--label", f"org.cxgen.project={box.project}",
        "--label", f"org.cxgen.spare={os.geteuid()} {int(time.time()) - age}",
        "--entrypoint", "sleep", image, "1000",
    )  # fmt: skip
    return name


def test_old_and_orphaned_spares_are_removed(box: Sandbox, tmp_path: Path) -> None:
    env = warm_env(tmp_path)
    ok(box.run("exec", "--", "true", env=env))
    [spare] = spares(box)
    # The same configuration, but over an hour old: removed, and the start is cold.
    old = fake_spare(box, "old", 3601)
    spare_record(spare).rename(spare_record(old))
    docker("rm", "-f", spare)
    ok(box.run("exec", "--", "true", env=env))
    assert starts(tmp_path) == ["cold", "cold"]
    wait_until(lambda: gone(old), "the spare older than an hour to go")
    # A spare whose start died before recording it (no record after five minutes) goes too.
    orphan = fake_spare(box, "orphan", 301)
    ok(box.run("exec", "--", "true", env=env))
    assert starts(tmp_path)[-1] == "warm"
    wait_until(lambda: gone(orphan), "the orphaned spare to go")


def test_spares_can_be_turned_off(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    box = make_sandbox()
    ok(box.run("exec", "--", "true", env=warm_env(tmp_path, CXGEN_WARM="0")))
    assert spares(box) == [] and starts(tmp_path) == ["cold"]
    cold_project = make_sandbox(dest=tmp_path / "cold", start_mode="cold")
    ok(cold_project.run("exec", "--", "true", env={"CXGEN_WARM_WAIT": "1"}))
    assert spares(cold_project) == []
    refused = cold_project.run("build", "--warm", env={"CXGEN_WARM_WAIT": "1"})
    assert refused.returncode == 2 and "spares are off" in refused.stderr
    # CXGEN_WARM=1 turns them on for one run.
    ok(cold_project.run("exec", "--", "true", env={"CXGEN_WARM": "1", "CXGEN_WARM_WAIT": "1"}))
    assert len(spares(cold_project)) == 1


def test_what_a_spare_cannot_serve_starts_cold_and_build_warm_says_why(
    box: Sandbox, tmp_path: Path
) -> None:
    env = warm_env(tmp_path)
    refused = box.run("build", "--warm", "--keep", "--network", box.network, env=env)
    assert refused.returncode == 2 and "--keep" in refused.stderr.splitlines()[-1], refused.stderr
    ok(box.run("build", "--warm", "--network", box.network, env=env))
    # Again: one of these options waits already, so none more.
    again = ok(box.run("build", "--warm", "--network", box.network, env=env))
    assert "a warm sandbox is ready" in again.stderr
    [spare] = spares(box)
    name = f"cxgen-test-{RUN_ID}-kept-{os.getpid()}"
    ok(box.run("exec", "--keep", "--", "true", env=env, name=name))
    ok(box.run("destroy", name, env=env))
    assert starts(tmp_path) == ["cold"] and spares(box) == [spare]
    assert ok(box.run("exec", "--", "true", env=env)) and starts(tmp_path)[-1] == "warm"


def test_stop_reaches_the_command_of_a_warm_session(box: Sandbox, tmp_path: Path) -> None:
    env = warm_env(tmp_path)
    ok(box.run("exec", "--", "true", env=env))
    name = f"cxgen-test-{RUN_ID}-stop-{os.getpid()}"
    script = "trap 'echo term; exit 7' TERM; echo up; while :; do sleep 0.1; done"
    session = box.start("exec", "--", "bash", "-c", script, env=env, name=name)
    assert session.stdout is not None
    assert session.stdout.readline() == "up\n"
    # list says what it runs; attach cannot join an exec's terminal, and says so.
    [row] = [line for line in ok(box.run("list", env=env)).stdout.splitlines() if name in line]
    assert row.split()[1:3] == ["exec", "bash"], row
    refused = box.run("attach", name, env=env)
    assert refused.returncode == 2 and "started warm" in refused.stderr, refused.stderr
    ok(box.run("stop", name, env=env))
    out, err = session.communicate(timeout=600)
    assert out == "term\n" and session.returncode == 7, err
    assert starts(tmp_path) == ["cold", "warm"]


def test_a_terminal_and_ctrl_c_reach_a_warm_session(box: Sandbox, tmp_path: Path) -> None:
    env = warm_env(tmp_path)
    ok(box.run("exec", "--", "true", env=env))
    command, full_env = box.command(
        "exec",
        "--",
        "bash",
        "-c",
        "tty >/dev/null && echo on-a-tty; trap 'echo got-int; exit 5' INT; read -r",
        env=env,
    )
    terminal = Terminal(command, full_env)
    terminal.read(until="on-a-tty")
    terminal.write("\x03")
    assert "got-int" in terminal.read(until="got-int")
    assert terminal.close() == 5
    assert starts(tmp_path) == ["cold", "warm"]


def test_the_init_hook_runs_at_the_claim_not_in_the_spare(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hook = tmp_path / "hook.sh"
    hook.write_text('date +%s%N > "$SANDBOX_ENV_DIR/hook-ran"\n')
    box = make_sandbox(init_hook=str(hook))
    env = warm_env(tmp_path)
    ok(box.run("exec", "--", "true", env=env))
    ran = box.project / ".codex/.environment/hook-ran"
    first = ran.read_text()
    time.sleep(0.01)  # a later stamp than the first (nanoseconds), not a wait for a condition
    result = ok(box.run("exec", "--", "cat", "/app" + str(ran), env=env))
    assert starts(tmp_path) == ["cold", "warm"]
    assert "running init hook" in result.stderr and result.stdout != first


def test_a_new_address_of_this_machine_is_refused_in_a_spare_made_before_it(
    box: Sandbox, tmp_path: Path
) -> None:
    env = warm_env(tmp_path)
    ok(box.run("exec", "--", "true", env=env))
    network = f"cxgen-test-{RUN_ID}-new-{os.getpid()}"
    docker("network", "create", "--internal", "--label", LABEL, network)
    try:
        gateway = docker(
            "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", network
        ).stdout.strip()
        name = f"cxgen-test-{RUN_ID}-addr-{os.getpid()}"
        session = box.start(
            "exec", "--", "bash", "-c", "echo up; while :; do sleep 0.1; done", env=env, name=name
        )
        assert session.stdout is not None and session.stdout.readline() == "up\n"
        listed = docker("exec", name, "nft", "list", "set", "inet", "cxgen", "never4", check=False)
        refused = listed.stdout + listed.stderr
        ok(box.run("stop", name, env=env))
        session.communicate(timeout=600)
        assert gateway and gateway in refused, refused
        assert starts(tmp_path) == ["cold", "warm"]
    finally:
        docker("network", "rm", network, check=False)


def test_images_clean_removes_the_spares_that_cannot_serve(box: Sandbox, tmp_path: Path) -> None:
    env = warm_env(tmp_path)
    ok(box.run("exec", "--", "true", env=env))
    [ready] = spares(box)
    old = fake_spare(box, "old", 3601)
    # (The shim's private view of images: none of anyone's images can be removed here. A state
    # folder of its own: other tests' spares, recorded in theirs, are not this one's to judge.)
    scope = {
        "CXGEN_TEST_IMAGE_LABEL": f"org.cxgen.test-scope=none-{RUN_ID}",
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    result = ok(box.run("images", "--clean", "--yes", env={**env, **scope}))
    assert re.search(r"removed \d+ spare sandbox\(es\)", result.stderr), result.stderr
    assert gone(old) and not gone(ready)


def test_a_file_replaced_since_the_spare_was_made_sends_the_start_cold(
    box: Sandbox, tmp_path: Path
) -> None:
    """git checkout (or an editor) writes a new file and renames it over the old: Docker's
    read-only pin of the old file is gone from the spare, so the agent could write the new
    run_in_container.sh there. Such a spare never serves."""
    env = warm_env(tmp_path)
    ok(box.run("exec", "--", "true", env=env))
    [spare] = spares(box)
    script = box.project / "run_in_container.sh"
    new = script.with_name("run_in_container.sh.new")
    shutil.copy2(script, new)
    os.chown(new, PROJECT_UID, PROJECT_UID)
    new.rename(script)
    result = ok(
        box.run(
            "exec", "--", "sh", "-c", "echo x >> run_in_container.sh 2>&1 || echo refused", env=env
        )
    )
    assert starts(tmp_path) == ["cold", "cold"]
    assert result.stdout.strip().endswith("refused"), result.stdout
    wait_until(lambda: gone(spare), "the spare with the old file to go")
