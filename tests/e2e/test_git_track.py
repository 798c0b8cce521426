"""git=track on real Docker: the host snapshots the work dir as a session starts, `diff` shows
what the session changed, `revert` puts it back without following the agent's symlinks, and
refuses while a sandbox runs there. The agent home (credentials) is never snapshotted."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.conftest import PROJECT_UID, Sandbox, Topology, build, chown_tree, generate
from tests.e2e.waiting import wait_until

USER = (PROJECT_UID, PROJECT_UID)


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(project), *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def committed_project(base_image: str, topology: Topology, root: Path) -> tuple[Sandbox, dict]:
    """A committed project with git=track, its files and state the unprivileged user's."""
    project = root / "project"
    project.mkdir()
    git(project, "init", "-q")
    generate(project, base_image, git="track")
    (project / "a.txt").write_text("hello\n")
    (project / "src").mkdir()
    (project / "src/m.c").write_text("code\n")
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    (root / "state").mkdir()
    chown_tree(root)
    env = {"XDG_STATE_HOME": str(root / "state"), "HOME": str(root), "CXGEN_ACCEPT_CHANGES": "1"}
    return Sandbox(project, build(project), topology.network), env


def stop(session: subprocess.Popen[str]) -> None:
    """Remove a session started with Sandbox.start (and its anonymous volumes); reap it."""
    args = list(session.args)
    subprocess.run(
        ["docker", "rm", "-f", "-v", args[args.index("--name") + 1]],
        capture_output=True,
        check=False,
    )
    session.communicate(timeout=60)


def as_user(sandbox: Sandbox, env: dict, *args: str):  # type: ignore[no-untyped-def]
    return sandbox.run(*args, user=USER, env=env, timeout=180)


def test_diff_and_revert_undo_a_session(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    root = open_tmp / f"track-{tmp_path.name}"
    root.mkdir()
    sandbox, env = committed_project(base_image, topology, root)
    project = sandbox.project
    result = as_user(sandbox, env, "diff")
    assert result.returncode == 2 and "no session with git=track" in result.stderr
    victim = root / "victim"
    victim.mkdir()
    (victim / "m.c").write_text("not yours\n")
    chown_tree(victim)
    script = (
        "echo changed >> a.txt && echo new > new.txt && rm -rf src "
        f"&& ln -s {victim} src && echo secret > .codex/.environment/auth.json "
        "&& git status --short >/dev/null 2>&1; true"
    )
    result = as_user(sandbox, env, "exec", "--", "bash", "-c", script)
    assert result.returncode == 0, result.stderr
    result = as_user(sandbox, env, "diff", "--stat")
    assert result.returncode == 0, result.stderr
    for name in ("a.txt", "new.txt", "src/m.c"):
        assert name in result.stdout, result.stdout
    assert ".environment" not in result.stdout
    patch = as_user(sandbox, env, "diff").stdout
    assert "+changed" in patch and "-code" in patch
    # Without a terminal and without --yes: nothing changes.
    result = as_user(sandbox, env, "revert")
    assert result.returncode != 0 and "--yes" in result.stderr
    assert (project / "new.txt").exists()
    result = as_user(sandbox, env, "revert", "--yes")
    assert result.returncode == 0, result.stderr
    assert (project / "a.txt").read_text() == "hello\n"
    assert not (project / "new.txt").exists()
    assert (project / "src").is_dir() and not (project / "src").is_symlink()
    assert (project / "src/m.c").read_text() == "code\n"
    # Through the agent's symlink nothing was written or removed.
    assert (victim / "m.c").read_text() == "not yours\n"
    assert git(project, "status", "--porcelain") == ""
    # The agent home was left alone (not reverted, never tracked).
    assert (project / ".codex/.environment/auth.json").read_text() == "secret\n"


def test_revert_waits_for_the_sandbox_to_stop(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    root = open_tmp / f"track-{tmp_path.name}"
    root.mkdir()
    sandbox, env = committed_project(base_image, topology, root)
    session = sandbox.start(
        "exec", "--", "sh", "-c", "echo x > b.txt; sleep 60", env=env, user=USER
    )
    try:
        wait_until((sandbox.project / "b.txt").exists, "the session to write", watch=session)
        result = as_user(sandbox, env, "revert", "--yes")
        assert result.returncode == 2 and "a running sandbox" in result.stderr
        assert (sandbox.project / "b.txt").exists()
    finally:
        stop(session)


def test_a_nested_repositorys_filter_never_runs_on_the_host(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    """The agent plants a repository with a clean filter in its own config and attributes that
    use it; the host's snapshots and diffs must never start git inside it."""
    root = open_tmp / f"track-nested-{tmp_path.name}"
    root.mkdir()
    sandbox, env = committed_project(base_image, topology, root)
    marker = root / "PWNED-filter"
    plant = (
        "mkdir -p sub && cd sub && git init -q && echo one > f"
        " && git -c user.name=a -c user.email=a@a add f"
        " && git -c user.name=a -c user.email=a@a commit -qm one"
        f" && git config filter.x.clean 'sh -c \"id >{marker}; cat\"'"
        " && echo '* filter=x' > .gitattributes && echo two > f"
    )
    for step in (plant, "cd sub && echo six > f && touch -d '2001-01-01' f"):
        result = as_user(sandbox, env, "exec", "--", "bash", "-c", step)
        assert result.returncode == 0, result.stderr
        assert as_user(sandbox, env, "diff", "--stat").returncode == 0
        assert as_user(sandbox, env, "diff").returncode == 0
    assert not marker.exists()
