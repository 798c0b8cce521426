"""Several folders in one session (`--mount PATH`), on real Docker, as the project's owner (an
unprivileged user): two folders writable beside the work dir, with what the agent writes there
the user's; what must be refused is refused before anything starts; a symlink the agent plants
in a mounted folder leads only inside the container, and the host never follows it later; a
running session's --mount counts as its tree for the racing checks and the host actions, as its
work dir does."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import PROJECT_UID, RUN_ID, Sandbox, chown_tree, docker
from tests.e2e.test_git_track import stop
from tests.e2e.waiting import wait_until

USER = (PROJECT_UID, PROJECT_UID)


@pytest.fixture
def root(open_tmp: Path) -> Path:
    """A folder of the user's: box/project/, data/one, data/two dir (a space in the name), home/,
    state/ and secret/key (readable by the user: only the sandbox's walls keep it out)."""
    path = open_tmp / f"mounts-{uuid.uuid4().hex[:8]}"
    for folder in ("box", "data/one", "data/two dir", "home", "state", "secret"):
        (path / folder).mkdir(parents=True)
    (path / "secret/key").write_text("host-secret\n")
    return path


@pytest.fixture
def project(make_sandbox, root: Path) -> Sandbox:  # type: ignore[no-untyped-def]
    """A git repository with the sandbox in it, the user's."""
    (root / "box/project").mkdir()
    subprocess.run(["git", "init", "-q", str(root / "box/project")], check=True)
    sandbox: Sandbox = make_sandbox(root / "box/project")
    chown_tree(root)
    return sandbox


def as_user(
    project: Sandbox, root: Path, *args: str, state: str = "state", name: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        "HOME": str(root / "home"),
        "XDG_STATE_HOME": str(root / state),
        "TMPDIR": str(root / "home"),
        "CXGEN_ACCEPT_CHANGES": "1",
    }
    return project.run(*args, env=env, user=USER, timeout=240, name=name)


def one_line_refusal(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], result.stderr


def remembered(root: Path, state: str = "state") -> list[str]:
    trees = root / state / "cxgen/agent-trees"
    return trees.read_text().splitlines() if trees.exists() else []


def test_two_folders_are_writable_and_what_the_agent_writes_is_yours(
    project: Sandbox, root: Path
) -> None:
    one, two = root / "data/one", root / "data/two dir"
    script = (
        'pwd; echo a > "/app$1/a.txt" && echo b > "/app$2/b.txt"'
        ' && git init -q "/app$2/repo" && echo written'
    )
    result = as_user(
        project, root, "exec", "--mount", str(one), "--mount", str(two), "--yes",
        "--", "bash", "-c", script, "bash", str(one), str(two),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # The agent works in the work dir (the project), as before.
    assert result.stdout.splitlines() == [f"/app{project.project}", "written"]
    for path, text in ((one / "a.txt", "a\n"), (two / "b.txt", "b\n")):
        assert path.read_text() == text
        assert (path.stat().st_uid, path.stat().st_gid) == USER
    # The git metadata report covers the mounted folders too.
    assert "created or changed git metadata in 1 place(s)" in result.stderr
    assert f"  {str(two).replace(' ', chr(92) + ' ')}/repo/.git" in result.stderr.splitlines()
    # Both are agent trees from now on.
    assert {str(one), str(two)} <= set(remembered(root))


def test_what_must_be_refused_is_refused_before_anything_starts(
    project: Sandbox, root: Path
) -> None:
    one = root / "data/one"
    (project.project / "sub").mkdir()
    (project.project / "link").symlink_to(one)
    os.lchown(project.project / "link", *USER)
    chown_tree(project.project / "sub")
    before = sorted(str(p) for p in root.rglob("*") if "/state/" not in str(p))
    cases = [
        (["--mount", "/"], "refusing to mount / (the whole host)"),
        (["--mount", str(root / "home")], "your home folder"),
        (["--mount", str(project.project / "sub")], "it is inside the project"),
        (["--mount", str(project.project / ".git")], "it is inside the project"),
        (["--mount", str(project.project / ".codex")], "it is inside the project"),
        (["--mount", str(root / "box")], "it holds the project"),
        (["--mount", str(root / "data"), "--mount", str(one)], "it is inside another --mount"),
        (["--mount", str(one), "--mount", str(root / "data")], "it holds another --mount"),
        (["--mount", str(one), "--read-only", str(one)], "it is inside a read-only mount"),
        (
            ["--mount", str(project.project / "link")],
            f"{project.project}/link is a symlink inside the project or work dir",
        ),
        (["--mount", str(root / "secret/key")], "not a folder"),
    ]
    for args, message in cases:
        result = as_user(project, root, "exec", *args, "--yes", "--", "touch", "started")
        one_line_refusal(result, "--mount" if "symlink" in message else "", message)
    # Without a terminal and without --yes: refused, even for a folder that is fine.
    result = as_user(project, root, "exec", "--mount", str(one), "--", "touch", "started")
    one_line_refusal(result, "without a terminal to confirm", str(one), "--yes")
    # Nothing ran, nothing was written, no container was made, nothing was remembered.
    assert sorted(str(p) for p in root.rglob("*") if "/state/" not in str(p)) == before
    listed = docker("ps", "-aq", "--filter", f"label=org.cxgen.project={project.project}")
    assert listed.stdout.split() == []
    assert str(one) not in remembered(root)


def test_a_symlink_the_agent_plants_in_a_mount_leads_only_inside_the_container(
    project: Sandbox, root: Path
) -> None:
    one, secret = root / "data/one", root / "secret"
    script = (
        'ln -s "$2" "/app$1/escape" && ln -s / "/app$1/top"'
        ' && { cat "/app$1/escape/key" || echo "no escape"; }'
        ' && { cat "/app$1/top$2/key" || echo "no top"; }'
    )
    result = as_user(
        project, root, "exec", "--mount", str(one), "--yes",
        "--", "bash", "-c", script, "bash", str(one), str(secret),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["no escape", "no top"]
    assert "host-secret" not in result.stdout + result.stderr
    # On the host the link leads to the secret: no later host action follows it.
    assert (one / "escape/key").read_text() == "host-secret\n"
    for option in ("--mount", "--read-only", "--work-dir"):
        result = as_user(project, root, "exec", option, str(one / "escape"), "--yes", "--", "true")
        one_line_refusal(result, f"{one}/escape is a symlink inside the project or work dir")


def test_a_running_sessions_mount_is_its_tree_for_the_racing_checks(
    project: Sandbox, root: Path
) -> None:
    shared = root / "data/one"
    (shared / "sub").mkdir()
    chown_tree(shared)
    name = f"cxgen-test-{RUN_ID}-mount-{uuid.uuid4().hex[:6]}"
    env = {
        "HOME": str(root / "home"),
        "XDG_STATE_HOME": str(root / "state"),
        "TMPDIR": str(root / "home"),
        "CXGEN_ACCEPT_CHANGES": "1",
    }
    session = project.start(
        "exec", "--mount", str(shared), "--yes", "--",
        "sh", "-c", f'touch "/app{shared}/ready"; sleep 300',
        env=env, name=name, user=USER,
    )  # fmt: skip
    try:
        wait_until((shared / "ready").exists, "the session with --mount to start", watch=session)
        refusal = f"a running sandbox ({name}, work dir {project.project}) can write {shared}/sub"
        # Another session that would mount or read through a folder below it: refused, as below
        # a running session's work dir.
        for option in ("--read-only", "--mount", "--work-dir"):
            result = as_user(
                project, root, "exec", option, str(shared / "sub"), "--yes", "--", "true"
            )
            one_line_refusal(result, refusal)
        # The label alone (a state folder that never saw this tree, as another user's): host
        # actions still refuse to write there, and a trusted run refuses to share it.
        (root / "other-state").mkdir()
        chown_tree(root / "other-state")
        pulled = as_user(
            project, root, "pull", "--name", name, "--yes", "/etc/hostname", str(shared / "sub"),
            state="other-state",
        )  # fmt: skip
        one_line_refusal(
            pulled, f"pull: a running sandbox ({name}, work dir {project.project}) can write in"
        )
        assert not (shared / "sub/hostname").exists()
        learned = as_user(
            project, root, "exec", "--learn", "--work-dir", str(shared / "sub"), "--", "true",
            state="other-state",
        )  # fmt: skip
        one_line_refusal(learned, f"a running sandbox ({name}", f"can write {shared}/sub")
    finally:
        stop(session)
    # Once it is gone, nothing races: the same read-only mount is fine.
    result = as_user(project, root, "exec", "--read-only", str(shared / "sub"), "--", "true")
    assert result.returncode == 0, result.stderr


def test_a_kept_session_resumes_with_its_mounts_checked_again(project: Sandbox, root: Path) -> None:
    """attach names the folders it mounts again, covers them in the git report, and refuses one
    swapped for a symlink while the session was stopped (it would mount the secret instead)."""
    one = root / "data/one"
    name = f"cxgen-test-{RUN_ID}-keepmount-{uuid.uuid4().hex[:6]}"
    script = 'if [ -d "/app$1/repo" ]; then git init -q "/app$1/again"; fi; echo "run in /app$1"'
    first = as_user(
        project, root, "exec", "--keep", "--mount", str(one), "--yes",
        "--", "bash", "-c", script, "bash", str(one), name=name,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    (one / "repo").mkdir()
    chown_tree(one)
    try:
        resumed = as_user(project, root, "attach", name)
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.strip() == f"run in /app{one}"
        assert f"with the --mount folders {one}" in resumed.stderr
        assert f"  {one}/again/.git" in resumed.stderr.splitlines()
        one.rename(root / "data/one.real")
        one.symlink_to(root / "secret")
        os.lchown(one, *USER)
        refused = as_user(project, root, "attach", name)
        one_line_refusal(refused, str(one), "symlink", f"destroy {name}")
    finally:
        docker("rm", "-f", "-v", name, check=False)
