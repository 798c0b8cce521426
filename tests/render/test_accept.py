"""init and update record what they wrote as this user's accepted sandbox policy
(`run_in_container.sh accept`), so the user's next run starts without asking."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import threading
from pathlib import Path

from cxgen import __version__
from cxgen.accept import carries_accept
from tests.conftest import run_cxgen


def records(state: Path) -> list[str]:
    """The accepted policies under the state folder, as text."""
    return sorted(p.read_text() for p in state.glob("projects/*/policy"))


def build_without_approval(project: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`run_in_container.sh build` with no terminal and a docker that has every image."""
    bindir = tmp_path / "fake-docker"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "docker"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
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


def test_accept_never_waits_on_a_fifo_swapped_in_for_the_init_hook(
    state: Path, tmp_path: Path, script_shell: list[str]
) -> None:
    """Issue 17: the agent of a running session can swap the init hook (in its home) between a
    file and a FIFO as fast as it likes; a plain read of it (to hash it, to keep a copy) that
    meets the FIFO waits for ever. accept reads it twice: it must end every time (accepted, or
    a one-line error about the hook)."""
    project = tmp_path / "p"
    assert run_cxgen(["init", "--defaults", str(project)]).returncode == 0
    hook = project / ".codex/.environment/init.sh"
    regular, fifo = hook.with_name("regular.tmp"), hook.with_name("fifo.tmp")
    done = threading.Event()

    def swap() -> None:
        while not done.is_set():
            regular.write_text("true\n")
            regular.replace(hook)
            os.mkfifo(fifo)
            fifo.replace(hook)

    swapper = threading.Thread(target=swap, daemon=True)
    swapper.start()
    try:
        for _ in range(20):
            accept = subprocess.Popen(
                [*script_shell, str(project / "run_in_container.sh"), "accept"],
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
    finally:
        done.set()
        swapper.join()
