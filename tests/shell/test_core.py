"""lib/core.sh: say and die (one clean line each), within (a timeout without timeout(1)),
read_regular_file's file_id, make_run_tmp,
docker_failed and docker_query (one line saying why docker failed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shell.conftest import Bash, assert_usage_error

# ESC [31m, BEL, tab, newline, CR, DEL, and raw C1 bytes (0x85 NEL, 0x9b CSI): none may reach the
# terminal. Made by printf in the test's bash, so the bytes are exact.
HOSTILE = r"printf 'a\033[31mb\007c\td\ne\rf\177g\205h\233i'"


def test_say_drops_control_characters_to_one_line(bash: Bash) -> None:
    result = bash.run(f'say "told: $({HOSTILE})" more')
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == "cxgen: told: a[31mbcdefghi more\n"


def test_say_keeps_utf8_letters_in_a_utf8_locale(bash: Bash) -> None:
    # LC_ALL=C inside say: the byte ranges are bytes, whatever the caller's locale.
    result = bash.run(f'say "café $({HOSTILE})"', env={"LC_ALL": "C.UTF-8"})
    assert result.stderr == "cxgen: café a[31mbcdefghi\n"


def test_printable_keeps_tab_and_newline_and_drops_the_rest(bash: Bash) -> None:
    result = bash.run(f"{HOSTILE} | printable", env={"LC_ALL": "C.UTF-8"})
    assert (result.returncode, result.stdout) == (0, "a[31mbc\td\nefghi")


@pytest.mark.parametrize(("call", "status"), [('die "$1"', 1), ('die "$1" 2', 2)])
def test_die_strips_the_message_and_exits_with_its_status(
    bash: Bash, call: str, status: int
) -> None:
    result = bash.run(f'x=$({HOSTILE}); set -- "$x"; {call}; echo not reached')
    assert (result.returncode, result.stdout) == (status, "")
    assert result.stderr == "cxgen: error: a[31mbcdefghi\n"


def test_die_usage_status_is_two(bash: Bash) -> None:
    assert_usage_error(bash.run('die "bad value" "$EXIT_USAGE"'), "bad value")


@pytest.mark.parametrize(
    ("command", "status"),
    [("true", 0), ("false", 1), ("sh -c 'exit 3'", 3), ("stuck", 137)],
)
def test_within_returns_the_commands_status_or_137_when_stuck(
    bash: Bash, command: str, status: int
) -> None:
    # A stuck command is stopped after its second (not after the 600 of its sleep: the test's
    # own timeout would say so). Only the subshell is killed: a function must exec its last
    # program (as list_ignored_files does), or that program outlives it.
    code = f"""
stuck() {{ exec sleep 600; }}
status=0
within 1 {command} || status=$?
echo "status $status"
"""
    result = bash.run(code, timeout=20)
    assert (result.stdout, result.stderr) == (f"status {status}\n", "")


def test_within_gives_the_command_no_stdin_and_drops_its_errors(bash: Bash) -> None:
    code = """
talk() { echo out; echo err >&2; cat; }
echo "typed on stdin" | within 5 talk
"""
    result = bash.run(code)
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "")


def test_within_does_not_run_the_callers_exit_trap(bash: Bash, tmp_path: Path) -> None:
    """Regression: the watchdog subshell, stopped with SIGTERM before it had reset the traps it
    was forked with, ran the caller's EXIT trap, which removed RUN_TMP. Stopped early (the command
    done at once) a hundred times, then stopped late (the command stuck): the folder stays until
    the script's own exit."""
    run_tmp = tmp_path / "run-tmp"
    code = """
mkdir "$1"
trap 'rm -rf "$1"' EXIT
for i in $(seq 1 100); do
  within 5 true
  [ -d "$1" ] || die "removed after $i quick commands"
done
status=0
within 1 sleep 600 || status=$?
[ -d "$1" ] || die "removed after a stuck command"
echo "kept; status $status"
"""
    result = bash.run(code, str(run_tmp), timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "kept; status 137\n", "")
    assert not run_tmp.exists()  # the caller's trap did run, once, at its exit


def test_within_stops_a_fifo_open_that_waits(bash: Bash, tmp_path: Path) -> None:
    # read_agent_file's case: an open of a FIFO with no writer waits for ever.
    fifo = tmp_path / "fifo"
    code = 'mkfifo "$1"; status=0; within 1 read_regular_file "$1" || status=$?; echo "$status"'
    result = bash.run(code, str(fifo), libs=["paths.sh"], constants=STATE, timeout=20)
    assert (result.stdout, result.stderr) == ("137\n", "")


STATE = {"STATE_DIR": "/nonexistent/state", "PROJECT_DIR": "/nonexistent/project"}


def test_read_regular_file_reads_files_and_refuses_symlinks(bash: Bash, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("secret\n")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    code = """
read_regular_file "$1"
read_regular_file "$2" || echo "link refused"
read_regular_file "$3" || echo "folder refused"
"""
    args = [str(tmp_path / name) for name in ("file", "link", "")]
    result = bash.run(code, *args, libs=["paths.sh"], constants=STATE)
    assert (result.returncode, result.stdout) == (0, "secret\nlink refused\nfolder refused\n")


def test_read_regular_file_stops_one_byte_after_a_mebibyte(bash: Bash, tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * (3 << 20))
    result = bash.run(
        'read_regular_file "$1" | wc -c', str(tmp_path / "big"), libs=["paths.sh"], constants=STATE
    )
    assert (result.returncode, result.stdout.strip()) == (0, str((1 << 20) + 1))


def test_make_run_tmp_makes_one_private_folder_removed_at_exit(bash: Bash, tmp_path: Path) -> None:
    code = """
make_run_tmp
first="$RUN_TMP"
make_run_tmp
[ "$RUN_TMP" = "$first" ] || die "a second folder"
echo "$RUN_TMP"
"""
    result = bash.run(code)
    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.strip())
    assert folder.parent == tmp_path and folder.name.startswith("cxgen.")
    assert not folder.exists()


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (
            "permission denied while trying to connect to the Docker daemon socket",
            "permission denied on the Docker socket: add yourself to the docker group "
            "(sudo usermod -aG docker $USER, then log in again) or use rootless Docker",
        ),
        (
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.",
            "the Docker daemon is not running (or DOCKER_HOST points nowhere): "
            "start Docker and retry",
        ),
        ("first line\nsecond line", "docker failed: first line"),
        ("", "docker failed and said nothing: check that Docker runs (docker version) and retry"),
    ],
)
def test_docker_failed_says_why_in_one_line(bash: Bash, output: str, message: str) -> None:
    result = bash.run('docker_failed "$1"', output)
    assert (result.returncode, result.stderr) == (1, f"cxgen: error: {message}\n")


def test_need_docker_without_docker_on_path(bash: Bash, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = bash.run('PATH="$1"; need_docker', str(empty))
    assert result.returncode == 1
    assert result.stderr.startswith("cxgen: error: docker not found: install Docker")
    assert result.stderr.count("\n") == 1


DOCKER_DENIED = (
    "permission denied while trying to connect to the Docker daemon socket at"
    " unix:///var/run/docker.sock: connect: permission denied"
)
SOCKET_LINE = (
    "permission denied on the Docker socket: add yourself to the docker group"
    " (sudo usermod -aG docker $USER, then log in again) or use rootless Docker"
)


def test_docker_failed_with_reads_the_files_text(bash: Bash, tmp_path: Path) -> None:
    # (Issue 19: the file's path was given as docker's text, and printed.)
    (tmp_path / "docker.err").write_text(DOCKER_DENIED + "\n")
    result = bash.run('docker_failed_with "$1"', str(tmp_path / "docker.err"))
    assert (result.returncode, result.stderr) == (1, f"cxgen: error: {SOCKET_LINE}\n")


def fake_docker(tmp_path: Path, script: str) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "docker").write_text("#!/bin/sh\n" + script)
    (bindir / "docker").chmod(0o755)
    return {"PATH": f"{bindir}:/usr/bin:/bin"}


def test_docker_query_keeps_a_warning_out_of_the_answer(bash: Bash, tmp_path: Path) -> None:
    env = fake_docker(
        tmp_path, "echo 'WARNING: Error loading config file' >&2\necho one\necho two\n"
    )
    result = bash.run('docker_query out ps; printf "[%s]" "$out"', env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, "[one\ntwo]", "")


def test_docker_query_dies_with_the_reason_docker_gave(bash: Bash, tmp_path: Path) -> None:
    env = fake_docker(tmp_path, f"echo '{DOCKER_DENIED}' >&2\nexit 1\n")
    result = bash.run("docker_query out ps; echo not reached", env=env)
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        f"cxgen: error: {SOCKET_LINE}\n",
    )
