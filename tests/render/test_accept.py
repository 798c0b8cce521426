"""init and update record what they wrote as this user's accepted sandbox policy
(`run_in_container.sh accept`), so the user's next run starts without asking."""

from __future__ import annotations

import hashlib
import os
import pty
import select
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from cxgen import __version__
from cxgen.accept import carries_accept
from tests.conftest import run_cxgen


def records(state: Path) -> list[str]:
    """The accepted policies under the state folder, as text."""
    return sorted(p.read_text() for p in state.glob("projects/*/policy"))


def fake_docker(tmp_path: Path) -> Path:
    """A folder whose `docker` says yes to everything (every image is there), and writes each
    call's arguments to CXGEN_TEST_DOCKER_LOG when set."""
    bindir = tmp_path / "fake-docker"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "docker"
    log = '[ -z "$CXGEN_TEST_DOCKER_LOG" ] || echo "$*" >>"$CXGEN_TEST_DOCKER_LOG"'
    fake.write_text(f"#!/bin/sh\n{log}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return bindir


def build_without_approval(project: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`run_in_container.sh build` with no terminal and a docker that has every image."""
    env = {**os.environ, "PATH": f"{fake_docker(tmp_path)}:{os.environ['PATH']}"}
    env.pop("CXGEN_ACCEPT_CHANGES", None)
    return subprocess.run(
        [str(project / "run_in_container.sh"), "build"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_releases_with_accept() -> None:
    assert carries_accept(__version__) and carries_accept("0.3.0") and carries_accept("1.0.0")
    assert not carries_accept("0.1.0") and not carries_accept("0.0.1")


def test_init_records_the_policy_it_wrote(state: Path, tmp_path: Path) -> None:
    project = tmp_path / "p"
    result = run_cxgen(["init", "--defaults", "--data", "allowed_domains=[pypi.org]", str(project)])
    assert result.returncode == 0, result.stderr
    assert "accepted" not in result.stderr  # accept's own line is not shown
    [record] = records(state)
    assert f"project {project}\n" in record and "domain pypi.org\n" in record
    built = build_without_approval(project, tmp_path)
    assert built.returncode == 0, built.stderr
    assert "review" not in built.stderr


def test_init_of_a_release_without_accept_records_nothing(state: Path, tmp_path: Path) -> None:
    result = run_cxgen(["init", "--defaults", "--template-version", "0.1.0", str(tmp_path / "p")])
    assert result.returncode == 0, result.stderr
    assert not state.exists()


def test_a_failed_accept_is_one_line_and_exit_1(state: Path, tmp_path: Path) -> None:
    state.parent.mkdir()
    state.write_text("not a folder")  # the run script cannot create its state folder
    result = run_cxgen(["init", "--defaults", str(tmp_path / "p")])
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("cxgen: error: ")
    assert "the files are written, but `run_in_container.sh accept` failed: " in result.stderr
    assert (tmp_path / "p/run_in_container.sh").is_file()


# --- accept records what it showed -----------------------------------------------------------


def run_script(
    shell: list[str], project: Path, tmp_path: Path, *args: str, docker_log: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`run_in_container.sh ARGS` under SHELL, no terminal, a docker that has every image (and
    writes each call's arguments to `docker_log`, when given)."""
    env = {**os.environ, "PATH": f"{fake_docker(tmp_path)}:{os.environ['PATH']}"}
    env.pop("CXGEN_ACCEPT_CHANGES", None)
    env["CXGEN_TEST_DOCKER_LOG"] = str(docker_log or "")
    return subprocess.run(
        [*shell, str(project / "run_in_container.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


@pytest.fixture
def accepted_project(state: Path, tmp_path: Path) -> Path:
    """A project whose policy init recorded: pypi.org allowed."""
    project = tmp_path / "p"
    result = run_cxgen(["init", "--defaults", "--data", "allowed_domains=[pypi.org]", str(project)])
    assert result.returncode == 0, result.stderr
    return project


def change_policy(project: Path, *, add: str = "", remove: str = "", context: str = "") -> None:
    domains = project / ".codex/allowed-domains.txt"
    lines = [line for line in domains.read_text().splitlines() if line != remove]
    domains.write_text("\n".join([*lines, *([add] if add else [])]) + "\n")
    if context:
        entrypoint = project / ".codex/sandbox/entrypoint.sh"
        entrypoint.write_text(entrypoint.read_text() + context + "\n")


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_accept_records_and_shows_what_the_refused_start_showed(
    script_shell: list[str], accepted_project: Path, state: Path, tmp_path: Path
) -> None:
    change_policy(accepted_project, add="files.example", context="# reviewed change")
    refused = run_script(script_shell, accepted_project, tmp_path, "build")
    assert "not accepted" in last_line(refused)
    shown = ["  allowed domains added: files.example\n", "+# reviewed change\n"]
    assert all(line in refused.stderr for line in shown), refused.stderr
    result = run_script(script_shell, accepted_project, tmp_path, "accept")
    assert result.returncode == 0, result.stderr
    assert all(line in result.stderr for line in shown), result.stderr
    assert "accepted for " in result.stderr
    [record] = records(state)
    assert "domain files.example\n" in record
    assert not list(state.glob("projects/*/refused"))
    accepted = next(state.glob("projects/*/sandbox/entrypoint.sh")).read_text()
    assert accepted.endswith("# reviewed change\n")
    assert run_script(script_shell, accepted_project, tmp_path, "build").returncode == 0


def test_accept_without_a_refusal_needs_a_terminal_or_accept_changes(
    script_shell: list[str], accepted_project: Path, state: Path, tmp_path: Path
) -> None:
    before = records(state)
    change_policy(accepted_project, add="files.example")
    result = run_script(script_shell, accepted_project, tmp_path, "accept")
    assert "no refused start to accept" in last_line(result) and "terminal" in last_line(result)
    assert "allowed domains added: files.example" in result.stderr
    assert records(state) == before
    result = run_script(script_shell, accepted_project, tmp_path, "accept", "--accept-changes")
    assert result.returncode == 0, result.stderr
    assert "domain files.example\n" in records(state)[0]


def test_accept_names_what_changed_since_the_refusal_and_records_nothing(
    script_shell: list[str], accepted_project: Path, state: Path, tmp_path: Path
) -> None:
    change_policy(accepted_project, add="files.example")
    assert run_script(script_shell, accepted_project, tmp_path, "build").returncode == 2
    before = records(state)
    change_policy(accepted_project, add="evil.example", remove="pypi.org", context="# later")
    result = run_script(script_shell, accepted_project, tmp_path, "accept")
    assert last_line(result) == (
        "cxgen: error: allowed domains and .codex/sandbox changed since the refusal you reviewed:"
        " added evil.example, removed pypi.org; nothing was recorded: run ./run_in_container.sh"
        " accept in a terminal to review"
    )
    assert records(state) == before


def test_a_refusal_undone_by_hand_is_not_accepted_later(
    script_shell: list[str], accepted_project: Path, state: Path, tmp_path: Path
) -> None:
    domains = accepted_project / ".codex/allowed-domains.txt"
    original = domains.read_text()
    change_policy(accepted_project, add="files.example")
    assert run_script(script_shell, accepted_project, tmp_path, "build").returncode == 2
    domains.write_text(original)  # you decided against it
    assert run_script(script_shell, accepted_project, tmp_path, "build").returncode == 0
    change_policy(accepted_project, add="files.example")  # back, behind your back
    result = run_script(script_shell, accepted_project, tmp_path, "accept")
    assert "no refused start to accept" in last_line(result)


def test_an_init_hook_swapped_for_a_fifo_is_refused_not_waited_for(
    script_shell: list[str], accepted_project: Path, tmp_path: Path
) -> None:
    os.mkfifo(accepted_project / ".codex/.environment/init.sh")
    result = run_script(script_shell, accepted_project, tmp_path, "build")
    assert "init.sh: it must be a regular file" in last_line(result)


def test_a_yes_at_a_terminal_records_what_was_shown_not_what_came_after(
    script_shell: list[str], accepted_project: Path, state: Path, tmp_path: Path
) -> None:
    """While accept waits for your answer, the allowlist and .codex/sandbox change again (an
    agent of a sandbox holding the project): your yes records what you were shown."""
    change_policy(accepted_project, add="shown.example", context="# shown")
    env = {**os.environ, "PATH": f"{fake_docker(tmp_path)}:{os.environ['PATH']}"}
    env.pop("CXGEN_ACCEPT_CHANGES", None)
    leader, follower = pty.openpty()
    command = [*script_shell, str(accepted_project / "run_in_container.sh"), "accept"]
    process = subprocess.Popen(command, env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    try:
        seen, deadline = b"", time.monotonic() + 60
        while b"[y/N]" not in seen and time.monotonic() < deadline:
            if select.select([leader], [], [], 1)[0]:
                seen += os.read(leader, 65536)
        assert b"[y/N]" in seen, seen
        assert b"allowed domains added: shown.example" in seen and b"+# shown" in seen
        change_policy(accepted_project, add="late.example", context="# late")
        os.write(leader, b"y\n")
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        os.close(leader)
    [record] = records(state)
    assert "domain shown.example\n" in record and "late.example" not in record
    accepted = next(state.glob("projects/*/sandbox/entrypoint.sh")).read_text()
    assert accepted.endswith("# shown\n")
    # The late change is still pending.
    result = run_script(script_shell, accepted_project, tmp_path, "build")
    assert "not accepted" in last_line(result) and "added: late.example" in result.stderr


@pytest.mark.parametrize("swapped_in", ["fifo", "symlink"])
def test_accept_reads_the_init_hook_safely_while_it_is_swapped(
    state: Path, tmp_path: Path, script_shell: list[str], swapped_in: str
) -> None:
    """Issue 17: the agent of a running session can swap the init hook (in its home) between a
    file and a FIFO, or a symlink to a name that does not exist (as root: /etc/nologin), as fast
    as it likes. A plain read of a FIFO waits for ever; an open that creates would make the
    link's target. accept reads the hook twice: it must end every time (accepted, or a one-line
    error about the hook) and create nothing."""
    project = tmp_path / "p"
    assert run_cxgen(["init", "--defaults", str(project)]).returncode == 0
    hook = project / ".codex/.environment/init.sh"
    regular, odd = hook.with_name("regular.tmp"), hook.with_name("odd.tmp")
    target = tmp_path / "PWNED"
    done = threading.Event()

    def swap() -> None:
        while not done.is_set():
            regular.write_text("true\n")
            regular.replace(hook)
            if swapped_in == "fifo":
                os.mkfifo(odd)
            else:
                odd.symlink_to(target)
            odd.replace(hook)

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    try:
        for _ in range(20):
            accept = subprocess.Popen(
                [*script_shell, str(project / "run_in_container.sh"), "accept", "--accept-changes"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            try:
                _, err = accept.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(accept.pid, signal.SIGKILL)
                accept.communicate()
                raise AssertionError("accept waited on the FIFO") from None
            assert accept.returncode == 0 or (
                accept.returncode == 2 and err.count("\n") == 1 and "init" in err
            ), err
            assert not target.exists() and not target.is_symlink(), err
    finally:
        done.set()
        swapper.join()


def context_hash(folder: Path) -> str:
    """The build context's hash as the run script's context_hash computes it: the sha256 of one
    "SHA256 MODE ./PATH" line per file, in byte order of the paths (MODE: x if executable)."""
    lines = ""
    for path in sorted(folder.rglob("*"), key=lambda p: f"./{p.relative_to(folder)}".encode()):
        if path.is_file():
            mode = "x" if os.access(path, os.X_OK) else "-"
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            lines += f"{digest} {mode} ./{path.relative_to(folder)}\n"
    return hashlib.sha256(lines.encode()).hexdigest()


def test_the_approval_and_the_tag_name_the_build_context_by_its_whole_hash(
    script_shell: list[str], accepted_project: Path, state: Path, tmp_path: Path
) -> None:
    whole = context_hash(accepted_project / ".codex/sandbox")
    [record] = records(state)
    assert f"\nsandbox {whole}\n" in record
    log = tmp_path / "docker.log"
    result = run_script(script_shell, accepted_project, tmp_path, "build", docker_log=log)
    assert result.returncode == 0, result.stderr
    # (The defaults' agent is codex.)
    assert log.read_text().count(f" -- cxgen/codex:{whole}\n") == 1, log.read_text()


@pytest.mark.parametrize("context", ["as accepted", "colliding"])
def test_a_short_hash_approval_counts_only_for_the_copy_it_recorded(
    script_shell: list[str], accepted_project: Path, state: Path, tmp_path: Path, context: str
) -> None:
    """An approval recorded by an earlier run script names the context by 12 hex digits. A
    teammate's context sharing them with the one you accepted (found in minutes) is shown, not
    started; the one you accepted still starts, and its approval gets the whole hash."""
    sandbox = accepted_project / ".codex/sandbox"
    accepted = context_hash(sandbox)
    if context == "colliding":
        change_policy(accepted_project, context="# a context whose 12 digits collide")
    current = context_hash(sandbox)
    [policy] = state.glob("projects/*/policy")
    short = policy.read_text().replace(f"sandbox {accepted}\n", f"sandbox {current[:12]}\n")
    policy.write_text(short)
    result = run_script(script_shell, accepted_project, tmp_path, "build")
    if context == "colliding":
        assert "not accepted" in last_line(result)
        assert "+# a context whose 12 digits collide\n" in result.stderr
        assert f"sandbox {current[:12]}\n" in policy.read_text()
    else:
        assert result.returncode == 0, result.stderr
        assert "review" not in result.stderr
        assert f"\nsandbox {accepted}\n" in policy.read_text()


def test_a_reordered_allowlist_asks_nothing(
    script_shell: list[str], accepted_project: Path, state: Path, tmp_path: Path
) -> None:
    """Lines reordered or repeated in the allowlist change no domain: nothing to show, so no
    question (one showing an empty list teaches a yes to anything)."""
    change_policy(accepted_project, add="files.example")
    assert (
        run_script(
            script_shell, accepted_project, tmp_path, "accept", "--accept-changes"
        ).returncode
        == 0
    )
    domains = accepted_project / ".codex/allowed-domains.txt"
    lines = domains.read_text().splitlines()
    domains.write_text("\n".join([*reversed(lines), lines[-1]]) + "\n")
    result = run_script(script_shell, accepted_project, tmp_path, "build")
    assert result.returncode == 0, result.stderr
    assert "changed" not in result.stderr
    result = run_script(script_shell, accepted_project, tmp_path, "accept")
    assert result.returncode == 0 and "already accepted" in result.stderr, result.stderr
