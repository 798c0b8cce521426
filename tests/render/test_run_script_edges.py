"""Issue 19's rough edges, against a stand-in for docker: shared folders refused as mounts,
--port on an internal network, `list` and `images` columns as wide as their content, what
`images --clean` removes on a machine that other users share, and the one-way login note.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cxgen.init import run_init

# Records each call (argv joined, one line) to $CXGEN_TEST_DIR/calls and `docker run`'s argv to
# .../argv.run; answers from files in $CXGEN_TEST_DIR (network, ps, ps-q, image-ls,
# image-inspect, container-inspect) when they exist; with no image-inspect, no image exists.
DOCKER = """#!/bin/sh
dir="$CXGEN_TEST_DIR"
printf '%s\\n' "$*" >> "$dir/calls"
answer() { [ ! -f "$dir/$1" ] || cat "$dir/$1"; }
case "$1 $2" in
  "run "*) for arg in "$@"; do printf '%s\\n' "$arg"; done > "$dir/argv.run" ;;
  "network inspect") case "$*" in *Internal*) answer network ;; esac ;;
  "ps -aq") answer ps-q ;;
  "ps "*) answer ps ;;
  "image ls") answer image-ls ;;
  "image inspect") [ -f "$dir/image-inspect" ] || exit 1; answer image-inspect ;;
  "container inspect") answer container-inspect ;;
  "version "*) echo 20.10.24 ;;
esac
exit 0
"""

SHELL = ["bash"]


@pytest.fixture(autouse=True)
def _every_test_under_both_bashes(script_shell: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.SHELL", script_shell)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "proj"
    run_init(
        dest,
        {"agents": ["codex", "shell"], "allowed_domains": ["pypi.org"]},
        defaults=True,
        interactive=False,
    )
    return dest


def run(
    project: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "docker").write_text(DOCKER)
    (bindir / "docker").chmod(0o755)
    return subprocess.run(
        [*SHELL, str(project / "run_in_container.sh"), *args],
        env={
            **os.environ,
            "PATH": f"{bindir}:{os.environ['PATH']}",
            "CXGEN_TEST_DIR": str(tmp_path),
            "CXGEN_ACCEPT_CHANGES": "1",
            "XDG_STATE_HOME": str(tmp_path / "state"),
            **(env or {}),
        },
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def started(tmp_path: Path) -> bool:
    return (tmp_path / "argv.run").exists()


def one_line_usage_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """The one error line (the first run's notes may come before it)."""
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and lines[0].startswith("cxgen: error: "), result.stderr
    assert result.stderr.endswith(lines[0] + "\n")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# --- 7. A work dir (or any mount) that is a shared or system folder ------------------------------


@pytest.mark.parametrize("folder", ["/tmp", "/var/tmp", "/dev/shm", "/etc", "/usr", "/var"])
def test_a_shared_or_system_work_dir_is_refused(project: Path, tmp_path: Path, folder: str) -> None:
    """All of /tmp writable would give the agent every user's and program's files there, and
    their sockets (tmux's, ssh-agent's), which answer through a mount."""
    if not Path(folder).is_dir():
        pytest.skip(f"no {folder} here")
    result = run(project, tmp_path, "exec", "--work-dir", folder, "--", "true")
    one_line_usage_error(
        result, f"--work-dir: refusing {folder}: a folder the whole system shares", "sockets"
    )
    assert not started(tmp_path)


def test_your_home_and_a_folder_holding_it_are_refused(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "people/me"
    home.mkdir(parents=True)
    env = {"HOME": str(home)}
    result = run(project, tmp_path, "exec", "--work-dir", str(home), "--", "true", env=env)
    one_line_usage_error(result, f"refusing {home}: your home folder")
    result = run(project, tmp_path, "exec", "--work-dir", str(home.parent), "--", "true", env=env)
    one_line_usage_error(result, f"refusing {home.parent}: it holds {home}, your home folder")
    # Read-only too: a socket answers through a read-only mount.
    result = run(project, tmp_path, "exec", "--read-only", str(home), "--", "true", env=env)
    one_line_usage_error(result, f"--read-only: refusing {home}: your home folder")
    assert not started(tmp_path)
    # A folder of its own below it is fine.
    (home / "notes").mkdir()
    notes = str(home / "notes")
    result = run(project, tmp_path, "exec", "--read-only", notes, "--", "true", env=env)
    assert result.returncode == 0, result.stderr
    assert started(tmp_path)


@pytest.mark.parametrize("variable", ["TMPDIR", "XDG_RUNTIME_DIR"])
def test_your_temporary_and_runtime_folders_are_refused(
    project: Path, tmp_path: Path, variable: str
) -> None:
    folder = tmp_path / "runtime"
    folder.mkdir()
    result = run(
        project, tmp_path, "exec", "--sessions-path", str(folder), "--", "true",
        env={variable: str(folder)},
    )  # fmt: skip
    one_line_usage_error(result, f"--sessions-path: refusing {folder}: your programs'")
    assert not started(tmp_path)


@pytest.mark.parametrize("option", ["--work-dir", "--sessions-path", "--read-only", "--mount"])
def test_a_folder_holding_cxgens_state_is_refused(
    project: Path, tmp_path: Path, option: str
) -> None:
    """~/.local (say) holds your approvals, the agent trees and the relay's files: no sandbox may
    see or write them, whatever the option (run() keeps the state in tmp/state/cxgen)."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    result = run(project, tmp_path, "exec", option, str(state), "--yes", "--", "true")
    one_line_usage_error(
        result, f"{option}: refusing {state}:", f"cxgen's state folder ({state}/cxgen)"
    )
    assert not started(tmp_path)


def test_shared_folders_as_read_only_mounts_are_refused(project: Path, tmp_path: Path) -> None:
    result = run(project, tmp_path, "exec", "--read-only", "/tmp", "--", "true")
    one_line_usage_error(result, "--read-only: refusing /tmp: a folder the whole system shares")
    # A file in one is not the folder.
    hosts = Path("/etc/hosts")
    if hosts.is_file():
        result = run(project, tmp_path, "exec", "--read-only", str(hosts), "--", "true")
        assert result.returncode == 0, result.stderr


# --- 10c. --port on an internal network ------------------------------------------------------


@pytest.mark.parametrize("internal", [True, False])
def test_a_port_on_an_internal_network_is_warned_about(
    project: Path, tmp_path: Path, internal: bool
) -> None:
    """Docker publishes no port from an --internal network, and says nothing. (The sandbox still
    starts: this machine reaches the port at the sandbox's address there.)"""
    (tmp_path / "network").write_text(f"{str(internal).lower()} 10.89.0.1 fd00:89::1 \n")
    result = run(project, tmp_path, "exec", "--network", "lan", "--port", "8080", "--", "true")
    assert result.returncode == 0, result.stderr
    warning = (
        "cxgen: warning: --port: Docker publishes no port from network lan, which is internal"
        " (--internal): nothing answers on 127.0.0.1 (only at the sandbox's own address there);"
        " use a network that is not internal\n"
    )
    assert (warning in result.stderr) == internal, result.stderr
    argv = (tmp_path / "argv.run").read_text().splitlines()
    assert "127.0.0.1:8080:8080" in argv and "CXGEN_DOCKER_GATEWAY=10.89.0.1" in argv


# --- 10d. Columns as wide as their content ------------------------------------------------------


def columns_line_up(lines: list[str], header: list[str]) -> list[list[str]]:
    """Each header word starts where its column's cells start; returns the cells."""
    starts = [lines[0].index(word) for word in header]
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].rstrip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        for start in starts[1:]:
            assert line[start - 2 : start] == "  " and line[start] != " ", (line, lines)
        rows.append(cells)
    return rows


def test_list_columns_fit_their_content_and_say_what_runs(project: Path, tmp_path: Path) -> None:
    sessions = [
        ("cxgen-proj-1234abcd", "codex", "cxgen/codex-claude-gemini:0123456789ab", "running",
         "About a minute ago", "", str(project)),
        ("cxgen-proj-1234abcd-2", "exec make", "cxgen/shell:ba9876543210", "exited",
         "2 hours ago", "1", str(project)),
        ("old", "exec", "cxgen/shell:ba9876543210", "exited", "3 days ago", "", str(project)),
        ("elsewhere", "shell", "cxgen/x:1", "running", "1 second ago", "", "/other/pro ject"),
    ]  # fmt: skip
    (tmp_path / "ps").write_text("".join("|".join(row) + "\n" for row in sessions))
    result = run(project, tmp_path, "list")
    assert result.returncode == 0, result.stderr
    header = ["NAME", "COMMAND", "IMAGE", "STATE", "CREATED"]
    rows = columns_line_up(result.stdout.splitlines(), header)
    assert rows == [
        ["cxgen-proj-1234abcd", "codex", sessions[0][2], "running", "About a minute ago"],
        ["cxgen-proj-1234abcd-2", "exec make", sessions[1][2], "exited,kept", "2 hours ago"],
        ["old", "exec", sessions[2][2], "exited", "3 days ago"],
    ]
    result = run(project, tmp_path, "list", "--all")
    rows = columns_line_up(result.stdout.splitlines(), [*header, "PROJECT"])
    assert rows[-1] == [
        "elsewhere", "shell", "cxgen/x:1", "running", "1 second ago", r"/other/pro\ ject"
    ]  # fmt: skip
    assert "org.cxgen.command" in (tmp_path / "calls").read_text()


def test_a_session_is_labelled_with_what_it_runs(project: Path, tmp_path: Path) -> None:
    for args, command in [
        (["exec", "--", "/usr/bin/make", "test"], "exec make"),
        (["exec", "--", "bash", "-c", "x"], "exec bash"),
        (["shell"], "shell"),
        (["run"], "codex"),
        (["run", "--agent", "shell"], "shell"),
    ]:
        result = run(project, tmp_path, *args)
        assert result.returncode == 0, result.stderr
        argv = (tmp_path / "argv.run").read_text().splitlines()
        labels = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--label"]
        assert f"org.cxgen.command={command}" in labels, args


# --- 10b. images --clean on a shared machine ------------------------------------------------------

ME = os.geteuid()


def images_setup(project: Path, tmp_path: Path) -> dict[str, str]:
    """Five unused cxgen images (mine, another user's, an old one without a builder, a dangling
    one, one a container uses) and the project's own (used)."""
    result = run(project, tmp_path, "build")
    current = result.stdout.strip()
    assert current.startswith("cxgen/"), result.stderr
    images = {
        "mine": ("sha256:" + "1" * 64, "cxgen/old-mine:111111111111", str(ME)),
        "theirs": ("sha256:" + "2" * 64, "cxgen/their-long-project-name:222222222222", "4242"),
        "unknown": ("sha256:" + "3" * 64, "cxgen/older:333333333333", "<no value>"),
        "dangling": ("sha256:" + "4" * 64, "<none>:<none>", "4242"),
        "in-use": ("sha256:" + "5" * 64, "cxgen/in-use:555555555555", str(ME)),
        "current": ("sha256:" + "6" * 64, current, str(ME)),
        "not-cxgen": ("sha256:" + "7" * 64, "other/thing:1", str(ME)),
    }  # fmt: skip
    (tmp_path / "image-ls").write_text(
        "".join(f"{i}|{tag}|1.2GB|About a minute ago\n" for i, tag, _ in images.values())
    )
    (tmp_path / "image-inspect").write_text(
        "".join(f"{i} {builder}\n" for i, _, builder in images.values())
    )
    (tmp_path / "ps-q").write_text("c0ffee\n")
    (tmp_path / "container-inspect").write_text(images["in-use"][0] + "\n")
    return {key: tag if tag != "<none>:<none>" else i for key, (i, tag, _) in images.items()}


def test_images_lists_who_built_each(project: Path, tmp_path: Path) -> None:
    tags = images_setup(project, tmp_path)
    result = run(project, tmp_path, "images")
    assert result.returncode == 0, result.stderr
    header = ["IMAGE", "SIZE", "CREATED", "BUILT BY", "USED BY (your projects)"]
    rows = {row[0]: row for row in columns_line_up(result.stdout.splitlines(), header)}
    assert rows[tags["mine"]][3:] == ["you", "-"]
    assert rows[tags["theirs"]][3:] == ["uid 4242", "-"]
    assert rows[tags["unknown"]][3:] == ["-", "-"]
    assert rows[tags["current"]][3:] == ["you", str(project)]
    assert rows[tags["current"]][2] == "About a minute ago"
    assert "other/thing:1" not in rows


def test_images_clean_removes_only_what_you_built(project: Path, tmp_path: Path) -> None:
    tags = images_setup(project, tmp_path)
    result = run(project, tmp_path, "images", "--clean", "--yes")
    assert result.returncode == 0, result.stderr
    removed = [
        line.split()[-1]
        for line in (tmp_path / "calls").read_text().splitlines()
        if line.startswith("rmi ")
    ]
    assert sorted(removed) == sorted([tags["mine"], tags["dangling"]])
    err = result.stderr
    assert f"keeping {tags['in-use']}: a container uses it" in err
    assert (
        f"keeping 1 image(s) other users of this machine built: their projects may need them"
        f" (each user cleans their own): {tags['theirs']}" in err
    )
    assert "keeping 1 image(s) built before cxgen recorded who builds them" in err
    assert f"docker rmi {tags['unknown']}" in err
    assert all(len(line) < 400 for line in err.splitlines())


def test_builds_record_their_builder(project: Path, tmp_path: Path) -> None:
    result = run(project, tmp_path, "build")
    assert result.returncode == 0, result.stderr
    build = next(
        line for line in (tmp_path / "calls").read_text().splitlines() if line.startswith("build ")
    )
    assert f"--label org.cxgen.builder={ME} " in build


# --- 10e. Logins go one way: said once --------------------------------------------------------


def test_the_first_login_import_says_it_goes_one_way(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    (home / ".codex/auth.json").write_text("{}\n")
    env = {"HOME": str(home), "XDG_STATE_HOME": str(tmp_path / "state")}
    first = run(project, tmp_path, "exec", "--", "true", env=env)
    assert first.returncode == 0, first.stderr
    note = (
        "note: your codex login is copied into this project's agent home, one way: what the"
        " sandbox refreshes or signs in there is never written back to"
        f" {home}/.codex/auth.json"
    )
    assert note in first.stderr
    (home / ".codex/auth.json").write_text('{"new": 1}\n')
    again = run(project, tmp_path, "exec", "--", "true", env=env)
    assert again.returncode == 0 and "copied" in again.stderr, again.stderr
    assert "one way" not in again.stderr
