"""denied, allow, lockdown and exec --learn on the host side, against a stand-in for docker: the
arguments checked before any docker call, the one `docker exec -u 0` each makes, --save's file
and policy, and what reaches the terminal. The helper's work is the e2e suite's (test_fwctl.py).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from cxgen.init import run_init

# Records each call's argv to $CXGEN_TEST_ARGV.<subcommand>; `ps` lists $CXGEN_TEST_SESSIONS;
# `container inspect` answers with the launch label of the container run; `exec` prints what the
# helper would, with a terminal escape in it.
DOCKER = """#!/bin/sh
for arg in "$@"; do printf '%s\\n' "$arg"; done > "$CXGEN_TEST_ARGV.$1"
case "$1" in
  ps) for name in $CXGEN_TEST_SESSIONS; do echo "$name"; done ;;
  container) sed -n 's/^org\\.cxgen\\.launch=//p' "$CXGEN_TEST_ARGV.run" ;;
  exec) printf 'helper says \\033[31mred\\n' ;;
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
        {"agents": ["shell"], "allowed_domains": ["pypi.org"]},
        defaults=True,
        interactive=False,
    )
    return dest


def run(
    project: Path, tmp_path: Path, *args: str, sessions: str = "sess-a"
) -> subprocess.CompletedProcess[str]:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "docker").write_text(DOCKER)
    (bindir / "docker").chmod(0o755)
    for old in tmp_path.glob("argv.*"):
        old.unlink()
    return subprocess.run(
        [*SHELL, str(project / "run_in_container.sh"), *args],
        env={
            **os.environ,
            "PATH": f"{bindir}:{os.environ['PATH']}",
            "CXGEN_TEST_ARGV": str(tmp_path / "argv"),
            "CXGEN_TEST_SESSIONS": sessions,
        },
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def docker_calls(tmp_path: Path) -> dict[str, list[str]]:
    return {p.suffix[1:]: p.read_text().splitlines() for p in tmp_path.glob("argv.*")}


@pytest.mark.parametrize(
    "args",
    [
        ["allow"],
        ["allow", "Bad.example"],
        ["allow", "a..example"],
        ["allow", "-x.example"],
        ["allow", "x.example\nother.example"],
        ["allow", "x.example", "sess-a", "extra"],
        ["lockdown"],
        ["lockdown", "maybe"],
        ["lockdown", "on", "a", "b"],
        ["denied", "a", "b"],
        ["denied", "--save"],
        ["run", "--learn"],
        ["exec", "--learn", "--no-firewall", "--", "true"],
    ],
)
def test_bad_arguments_stop_before_docker(project: Path, tmp_path: Path, args: list[str]) -> None:
    result = run(project, tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("cxgen: error: ") and result.stderr.count("\n") == 1
    # Nothing but a start's listing of the sandboxes, which it asks for (read-only) as it
    # begins, before its options are read (lib/queries.sh).
    calls = docker_calls(tmp_path)
    assert set(calls) <= {"ps"}, calls
    assert calls.get("ps", ["ps", "-a", "--filter", "label=org.cxgen.sandbox=1"])[:4] == [
        "ps", "-a", "--filter", "label=org.cxgen.sandbox=1"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "helper_args"),
    [
        (["allow", "files.example"], ["allow", "files.example"]),
        (["allow", "*.cdn.example", "sess-a"], ["allow", "*.cdn.example"]),
        (["lockdown", "on"], ["lockdown", "on"]),
        (["lockdown", "off", "sess-a"], ["lockdown", "off"]),
        (["denied"], ["denied"]),
        (["denied", "sess-a"], ["denied", "sess-a"]),
    ],
)
def test_one_docker_exec_as_root_into_the_projects_session(
    project: Path, tmp_path: Path, args: list[str], helper_args: list[str]
) -> None:
    result = run(project, tmp_path, *args)
    assert result.returncode == 0, result.stderr
    calls = docker_calls(tmp_path)
    assert calls["exec"] == [
        "exec",
        "-u",
        "0",
        "sess-a",
        "/usr/local/lib/cxgen/cxgen-ctl",
        *helper_args,
    ]
    assert f"label=org.cxgen.project={project}" in calls["ps"]
    # What the sandbox prints reaches the terminal without control codes.
    assert "helper says [31mred" in result.stdout and "\x1b" not in result.stdout


def test_which_session(project: Path, tmp_path: Path) -> None:
    result = run(project, tmp_path, "denied", sessions="")
    assert result.returncode == 2 and "no sandbox of this project is running" in result.stderr
    result = run(project, tmp_path, "denied", sessions="s1 s2")
    assert result.returncode == 2 and "several sandboxes" in result.stderr
    result = run(project, tmp_path, "lockdown", "on", "s3", sessions="s1 s2")
    assert (
        result.returncode == 2 and "no running sandbox of this project is named s3" in result.stderr
    )
    assert "exec" not in docker_calls(tmp_path)


def test_allow_save_appends_and_counts_as_accepted(project: Path, tmp_path: Path) -> None:
    domains = project / ".codex/allowed-domains.txt"
    # A last line without its newline stays a line of its own.
    domains.write_text(domains.read_text().rstrip("\n"))
    before = domains.read_text()
    result = run(project, tmp_path, "allow", "files.example", "--save", sessions="")
    assert result.returncode == 0, result.stderr
    assert "saving only" in result.stderr and "exec" not in docker_calls(tmp_path)
    assert domains.read_text() == before + "\nfiles.example\n"
    # The next start neither asks nor refuses (no terminal here: an unaccepted change is exit 2).
    result = run(project, tmp_path, "exec", "--", "true")
    assert result.returncode == 0, result.stderr
    assert "changed since you accepted" not in result.stderr
    # Again: nothing to add.
    result = run(project, tmp_path, "allow", "files.example", "--save", sessions="")
    assert result.returncode == 0 and domains.read_text() == before + "\nfiles.example\n"


def test_allow_save_leaves_other_pending_changes_pending(project: Path, tmp_path: Path) -> None:
    domains = project / ".codex/allowed-domains.txt"
    domains.write_text(domains.read_text() + "other.example\n")  # say, from a git pull
    assert run(project, tmp_path, "allow", "files.example", "--save", sessions="").returncode == 0
    result = run(project, tmp_path, "exec", "--", "true")
    assert result.returncode == 2
    assert re.search(r"allowed domains added: other\.example$", result.stderr, re.M), result.stderr


def test_learn_runs_without_rm_in_learn_mode(project: Path, tmp_path: Path) -> None:
    result = run(project, tmp_path, "exec", "--learn", "--", "make", "test")
    assert result.returncode == 0, result.stderr
    assert "WARNING: --learn" in result.stderr
    argv = docker_calls(tmp_path)["run"]
    assert "--rm" not in argv and "CXGEN_LEARN=1" in argv
    name = argv[argv.index("--name") + 1]
    # The report is copied out of the stopped container, which is then removed (its own: the
    # launch label says so).
    assert docker_calls(tmp_path)["rm"] == ["rm", "-f", "-v", "--", name]


def test_the_domain_pattern_is_the_same_on_both_sides(project: Path) -> None:
    host = re.search(
        r"^readonly DOMAIN_RE='(.*)'$", (project / ".codex/run/lib/core.sh").read_text(), re.M
    )
    sandbox = re.search(
        r"^readonly FW_DOMAIN_RE='(.*)'$",
        (project / ".codex/sandbox/firewall.sh").read_text(),
        re.M,
    )
    assert host and sandbox and host.group(1) == sandbox.group(1)


# The project's lockdown (lockdown on --save, issue 19): recorded outside the project, told to
# every new session's entrypoint, and in force at once in each running session.
CTL = "/usr/local/lib/cxgen/cxgen-ctl"


def lockdown_record(project: Path) -> Path:
    """Where the project's lockdown is recorded: beside its accepted policy, in your state."""
    key = hashlib.sha256(str(project.resolve()).encode()).hexdigest()[:16]
    return Path(os.environ["XDG_STATE_HOME"], "cxgen", "projects", key, "lockdown")


@pytest.mark.parametrize(
    "args",
    [
        ["lockdown", "on", "--save", "sess-a"],
        ["lockdown", "off", "--save", "--name", "sess-a"],
        ["lockdown", "--save"],
    ],
)
def test_lockdown_save_takes_no_session_name(
    project: Path, tmp_path: Path, args: list[str]
) -> None:
    result = run(project, tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("cxgen: error: ") and result.stderr.count("\n") == 1
    assert docker_calls(tmp_path) == {}


def test_lockdown_save_holds_for_the_project_until_lifted(project: Path, tmp_path: Path) -> None:
    record = lockdown_record(project)
    result = run(project, tmp_path, "exec", "--", "true", sessions="")
    assert result.returncode == 0, result.stderr
    argv = docker_calls(tmp_path)["run"]
    assert "CXGEN_LOCKDOWN=on" not in argv and "org.cxgen.lockdown=off" in argv
    # On: recorded in your state, outside the project; each running session told (as root).
    result = run(project, tmp_path, "lockdown", "on", "--save", sessions="s1 s2")
    assert result.returncode == 0, result.stderr
    assert "lockdown on in s1" in result.stderr and "lockdown on in s2" in result.stderr
    assert "every new session starts locked down" in result.stderr
    assert docker_calls(tmp_path)["exec"] == [
        "exec",
        "-u",
        "0",
        "s2",
        CTL,
        "lockdown",
        "on",
        "project",
    ]
    assert record.read_text() == "on\n" and project.resolve() not in record.resolve().parents
    # A new session starts with it: its entrypoint is told before the command runs.
    result = run(project, tmp_path, "exec", "--", "true", sessions="")
    assert result.returncode == 0, result.stderr
    argv = docker_calls(tmp_path)["run"]
    assert "CXGEN_LOCKDOWN=on" in argv and "org.cxgen.lockdown=on" in argv
    # What would lift it is refused, before any container.
    for args in (
        ["exec", "--learn", "--", "true"],
        ["exec", "--no-firewall", "--", "true"],
        ["run", "--no-firewall"],
    ):
        result = run(project, tmp_path, *args, sessions="")
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("cxgen: error: lockdown is on for this project: ")
        assert "lockdown off --save" in result.stderr and result.stderr.count("\n") == 1
        assert "run" not in docker_calls(tmp_path)
    # list says so; allow allows, and says that the lockdown wins.
    result = run(project, tmp_path, "list")
    assert "Lockdown is on for this project" in result.stdout, result.stderr
    result = run(project, tmp_path, "allow", "files.example", "--save", sessions="")
    assert result.returncode == 0, result.stderr
    assert "lockdown is on for this project: files.example is allowed, but" in result.stderr
    # One session's lockdown off: that session only, until its next start.
    result = run(project, tmp_path, "lockdown", "off", "s1", sessions="s1")
    assert result.returncode == 0, result.stderr
    assert docker_calls(tmp_path)["exec"][-2:] == ["lockdown", "off"]
    assert "lockdown is still on for this project" in result.stderr and record.exists()
    # Off: gone from your state, lifted in the running sessions, new sessions start open.
    result = run(project, tmp_path, "lockdown", "off", "--save", sessions="s1")
    assert result.returncode == 0, result.stderr
    assert docker_calls(tmp_path)["exec"][-3:] == ["lockdown", "off", "project"]
    assert not record.exists()
    result = run(project, tmp_path, "exec", "--", "true", sessions="")
    argv = docker_calls(tmp_path)["run"]
    assert "CXGEN_LOCKDOWN=on" not in argv and "org.cxgen.lockdown=off" in argv
    assert "Lockdown is on" not in run(project, tmp_path, "list").stdout


def test_login_under_the_projects_lockdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sign-in that needs the network is refused, with the ways out; an API key needs none."""
    project = tmp_path / "codex"
    run_init(project, {"agents": ["codex"]}, defaults=True, interactive=False)
    assert run(project, tmp_path, "lockdown", "on", "--save", sessions="").returncode == 0
    for args in (["login"], ["login", "--device"]):
        result = run(project, tmp_path, *args, sessions="")
        assert result.returncode == 2, result.stderr
        assert "login --with-api-key" in result.stderr and "lockdown off --save" in result.stderr
        assert "run" not in docker_calls(tmp_path)
    monkeypatch.setenv("CODEX_API_KEY", "sk-test")
    result = run(project, tmp_path, "login", "--with-api-key", sessions="")
    assert result.returncode == 0, result.stderr
    assert "CXGEN_LOCKDOWN=on" in docker_calls(tmp_path)["run"]
