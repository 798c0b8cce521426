"""A trusted run executes nothing the agent wrote (issue 17). `exec --learn -- CMD` runs a command
you trust with OPEN network and proposes the names it used for the allowlist; code the agent left
behind must not run in it: not git=track's agent repository (its core.fsmonitor), not the agent
home's dotfiles, not a planted __pycache__. Each attack is armed first (it runs in an ordinary
session), then the trusted run must neither run it (no marker) nor propose the names it looked
up. Both modes: a user's project and root mode."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    PROJECT_UID,
    UNLISTED_NAME,
    Sandbox,
    Topology,
    build,
    chown_tree,
    generate,
)
from tests.e2e.test_git_track import USER, git, stop
from tests.e2e.waiting import wait_until

BOTH_MODES = pytest.mark.parametrize("owner", [PROJECT_UID, 0], ids=["user", "root"])
# What the planted code looks up and fetches: names the allowlist lacks, which learn mode would
# propose if the planted code ran there.
PLANTED_NAMES = {UNLISTED_NAME, "blocked.test"}


def proposals(stderr: str) -> set[str]:
    return set(re.findall(r"^cxgen:   \+ (\S+) \(not allowed yet\)$", stderr, re.M))


def planted_shell(marker: str) -> str:
    """A shell script that leaves a marker and reaches two names the allowlist lacks."""
    return (
        "#!/bin/sh\n"
        f"touch {marker}\n"
        f"getent hosts {UNLISTED_NAME} >/dev/null\n"
        "curl -s -m 5 http://blocked.test/ >/dev/null\n"
        "exit 1\n"
    )


def git_project(
    base_image: str, topology: Topology, root: Path, owner: int, mode: str = "track"
) -> tuple[Sandbox, dict[str, str], tuple[int, int] | None]:
    """A committed project (git=`mode`) owned by `owner` (0: root mode), its state in `root`;
    how to run the run script there (as the owner)."""
    project = root / "project"
    project.mkdir()
    git(project, "init", "-q")
    generate(project, base_image, owner=owner, git=mode)
    (project / "a.txt").write_text("hello\n")
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    (root / "state").mkdir()
    chown_tree(root, owner)
    env = {"XDG_STATE_HOME": str(root / "state"), "HOME": str(root), "CXGEN_ACCEPT_CHANGES": "1"}
    sandbox = Sandbox(project, build(project), topology.network, root_mode=owner == 0)
    return sandbox, env, (USER if owner else None)


@BOTH_MODES
def test_the_agents_fsmonitor_never_runs_in_a_trusted_git_track_run(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path, owner: int
) -> None:
    """Finding 2: the agent sets core.fsmonitor in its own repository (git=track mounts it at
    .git); your trusted `exec --learn -- git status` must see your .git, read-only, and run
    nothing of the agent's with open network."""
    root = open_tmp / f"trusted-fsmonitor-{tmp_path.name}"
    root.mkdir()
    sandbox, env, user = git_project(base_image, topology, root, owner)
    project = sandbox.project
    marker = project / "PWNED-fsmonitor"
    plant = (
        f"cat > .git/fsmonitor <<'EOF'\n{planted_shell(f'/app{marker}')}EOF\n"
        'chmod +x .git/fsmonitor && git config core.fsmonitor "$PWD/.git/fsmonitor"'
        " && git status --short >/dev/null"
    )
    result = sandbox.run("exec", "--", "bash", "-c", plant, env=env, user=user, timeout=180)
    assert result.returncode == 0, result.stderr
    # Armed: the agent's own git runs it (in its sandbox, behind the firewall).
    assert marker.exists(), "the planted fsmonitor did not run in the agent's session"
    marker.unlink()
    result = sandbox.run(
        "exec",
        "--learn",
        "--",
        "bash",
        "-c",
        "git status --short && git log --format=%s && ! git config core.fsmonitor",
        env=env,
        user=user,
        timeout=180,
    )
    assert not marker.exists(), "the agent's fsmonitor ran in the trusted run"
    assert not proposals(result.stderr) & PLANTED_NAMES, result.stderr
    assert result.returncode == 0, result.stderr
    # Your repository, as it is.
    assert result.stdout.splitlines()[-1] == "init", result.stdout
    # Read-only inside.
    result = sandbox.run(
        "exec", "--learn", "--", "git", "config", "core.fsmonitor", "x", env=env, user=user
    )
    assert result.returncode != 0
    assert "fsmonitor" not in git(project, "config", "--list")


PLANT_PYC = r"""
import importlib._bootstrap_external as bootstrap, importlib.util, os, sys
source = "helper.py"
status = os.stat(source)
evil = (
    "import socket, subprocess, sys\n"
    "open(sys.argv[0].replace('run.py', 'PWNED-pyc'), 'w').close()\n"
    "try: socket.getaddrinfo(%r, 80)\n"
    "except OSError: pass\n"
    "subprocess.run(['curl', '-s', '-m', '5', 'http://blocked.test/'], capture_output=True)\n"
    "def hi(): return 'planted'\n"
) % sys.argv[1]
code = compile(evil, os.path.abspath(source), "exec")
# The real source's mtime and size in the header: Python's check passes.
data = bootstrap._code_to_timestamp_pyc(code, int(status.st_mtime), status.st_size)
path = importlib.util.cache_from_source(source)
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "wb") as out:
    out.write(data)
"""


@BOTH_MODES
def test_a_planted_pycache_never_runs_in_a_trusted_run(make_sandbox, owner: int) -> None:  # type: ignore[no-untyped-def]
    """Finding 5: a __pycache__/helper.cpython-311.pyc compiled from the agent's code, with the
    real source's mtime and size in its header (and ignored by git, so not in your review)."""
    sandbox = make_sandbox(owner=owner)
    project = sandbox.project
    (project / "helper.py").write_text("def hi():\n    return 'benign'\n")
    (project / "run.py").write_text("import helper\nprint(helper.hi())\n")
    chown_tree(project, owner)
    marker = project / "PWNED-pyc"
    result = sandbox.run("exec", "--", "python3", "-c", PLANT_PYC, UNLISTED_NAME)
    assert result.returncode == 0, result.stderr
    # Armed: an ordinary python3 run.py runs the planted bytecode.
    result = sandbox.run("exec", "--", "python3", "run.py")
    assert result.stdout.strip() == "planted" and marker.exists(), result.stderr
    marker.unlink()
    result = sandbox.run("exec", "--learn", "--", "python3", "run.py", timeout=180)
    assert not marker.exists(), "the planted bytecode ran in the trusted run"
    assert not proposals(result.stderr) & PLANTED_NAMES, result.stderr
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "benign", result.stdout
    # The tree's cache is left as it was (the command wrote its own elsewhere).
    assert "planted" in sandbox.run("exec", "--", "python3", "run.py").stdout


@BOTH_MODES
def test_the_agents_dotfiles_are_not_obeyed_in_a_trusted_run(make_sandbox, owner: int) -> None:  # type: ignore[no-untyped-def]
    """The agent home is the agent's: its .gitconfig (a global core.fsmonitor, an XDG git
    config) and login files (.bash_profile, .profile, .bashrc) must not steer the trusted run."""
    sandbox = make_sandbox(owner=owner)
    project = sandbox.project
    marker = project / "PWNED-home"
    hook = planted_shell(f"/app{marker}")
    plant = (
        f"cat > \"$HOME/hook\" <<'EOF'\n{hook}EOF\n"
        'chmod +x "$HOME/hook"'
        ' && printf "[core]\\n\\tfsmonitor = %s\\n" "$HOME/hook" > "$HOME/.gitconfig"'
        ' && mkdir -p "$HOME/.config/git" && cp "$HOME/.gitconfig" "$HOME/.config/git/config"'
        ' && for f in .bash_profile .profile .bashrc; do echo "\\"$HOME/hook\\"" > "$HOME/$f"; done'
    )
    result = sandbox.sh(plant)
    assert result.returncode == 0, result.stderr
    check = "git init -q /tmp/r && git -C /tmp/r status --short"
    # Armed: in the agent's own session both run it.
    for command in (["bash", "-lc", "true"], ["bash", "-ic", "true"], ["bash", "-c", check]):
        result = sandbox.run("exec", "--", *command)
        assert marker.exists(), (command, result.stderr)
        marker.unlink()
    result = sandbox.run(
        "exec", "--learn", "--", "bash", "-lc", f"{check} && bash -ic true", timeout=180
    )
    assert not marker.exists(), "the agent's dotfiles ran in the trusted run"
    assert not proposals(result.stderr) & PLANTED_NAMES, result.stderr
    assert result.returncode == 0, result.stderr


def test_a_trusted_run_starts_with_empty_homes_and_caches(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    """Every home, config and cache folder the usual tools read is fresh, outside every mount
    the agent writes; CODEX_HOME (the agent home) is not set."""
    sandbox = make_sandbox()
    names = [
        "HOME",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "PYTHONPYCACHEPREFIX",
        "PIP_CACHE_DIR",
        "UV_CACHE_DIR",
        "npm_config_cache",
        "GOCACHE",
        "GOMODCACHE",
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
    ]
    script = 'for n in "$@"; do printf "%s=%s\\n" "$n" "${!n-unset}"; done; ls -A "$HOME"'
    result = sandbox.run("exec", "--learn", "--", "bash", "-c", script, "env", *names, "CODEX_HOME")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    values = dict(line.split("=", 1) for line in lines if "=" in line)
    fresh = re.match(r"^(/tmp/cxgen-learn\.\w+)/home$", values["HOME"])
    assert fresh, values
    for name in names:
        assert values[name].startswith(fresh.group(1) + "/"), (name, values[name])
    # CODEX_HOME is not set, and `ls -A $HOME` printed nothing after it.
    assert lines[-1] == "CODEX_HOME=unset", result.stdout


@BOTH_MODES
def test_a_trusted_run_waits_for_the_agent_to_stop(  # type: ignore[no-untyped-def]
    make_sandbox, owner: int, script_shell: list[str]
) -> None:
    """An agent still running on the work dir could change it under the trusted command (after
    your review): refused until it stops."""
    sandbox = make_sandbox(owner=owner)
    ready = sandbox.project / "ready"
    session = sandbox.start("exec", "--", "sh", "-c", "touch ready; sleep 60")
    try:
        wait_until(ready.exists, "the session to start", watch=session)
        result = sandbox.run("exec", "--learn", "--", "true", shell=script_shell)
        assert result.returncode == 2, result.stderr
        assert "a running sandbox" in result.stderr and "stop it first" in result.stderr
    finally:
        stop(session)
    result = sandbox.run("exec", "--learn", "--", "true", shell=script_shell, timeout=180)
    assert result.returncode == 0, result.stderr


def test_a_trusted_run_names_what_git_ignores(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path, script_shell: list[str]
) -> None:
    """What git ignores in the work dir (build outputs, sourceless bytecode) is not in your
    review and not covered: the trusted run says so, in one line. The .pyc files of __pycache__
    (covered) and the agent home are left out, other files of __pycache__ not; a .gitignore made
    a FIFO (git would wait on it) costs 3 s."""
    root = open_tmp / f"trusted-ignored-{tmp_path.name}"
    root.mkdir()
    sandbox, env, user = git_project(base_image, topology, root, PROJECT_UID, mode="readonly")
    project = sandbox.project
    (project / ".gitignore").write_text("build/\n*.pyc\n__pycache__/\n")
    git(project, "add", ".gitignore")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "ignore")
    chown_tree(project)

    def learn() -> str:
        result = sandbox.run(
            "exec", "--learn", "--", "true", env=env, user=user, shell=script_shell, timeout=180
        )
        assert result.returncode == 0, result.stderr
        return result.stderr

    assert "git ignores" not in learn()
    plant = "mkdir -p build pkg/__pycache__ && touch build/tool json.pyc pkg/__pycache__/m.pyc"
    assert sandbox.run("exec", "--", "sh", "-c", plant, env=env, user=user).returncode == 0
    stderr = learn()
    assert "warning: 2 path(s) git ignores in the work dir (e.g. build/)" in stderr, stderr
    # Source in a __pycache__ folder is not bytecode: python -m unittest imports it as a package.
    plant = "mkdir -p tests/__pycache__ && touch tests/__pycache__/__init__.py"
    assert sandbox.run("exec", "--", "sh", "-c", plant, env=env, user=user).returncode == 0
    stderr = learn()
    assert "warning: 3 path(s) git ignores in the work dir" in stderr, stderr
    assert sandbox.run("exec", "--", "rm", "-r", "tests", env=env, user=user).returncode == 0
    plant = "mkdir deep && mkfifo deep/.gitignore && touch deep/x"
    assert sandbox.run("exec", "--", "sh", "-c", plant, env=env, user=user).returncode == 0
    stderr = learn()
    assert "could not list the files git ignores" in stderr, stderr
