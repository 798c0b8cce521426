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

from tests.e2e.conftest import PROJECT_UID, RUN_ID, Sandbox, chown_tree, docker, generate
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


def control_files(project: Path) -> dict[str, bytes]:
    """The bytes of a project's host-side control files: .codex/run, its skills, the run script,
    the answers."""
    files = [*sorted((project / ".codex/run").rglob("*.sh"))]
    files += [project / "run_in_container.sh", project / ".copier-answers.yml"]
    return {str(path): path.read_bytes() for path in files}


def test_another_cxgen_project_in_a_mount_keeps_its_control_files(
    project: Sandbox, root: Path, base_image: str
) -> None:
    """Attack: --mount of a folder that is or holds another cxgen project; the agent rewrites that
    project's .codex/run (its next ./run_in_container.sh, even help, runs it on the host), plants
    a skill, replaces its run script, or renames a folder on the way to put a copy in place. Each
    is refused inside; a project deeper than the search is named in the report after."""
    one, two = root / "data/one", root / "data/two dir"
    top = generate(one / "top", base_image)
    # .codex three levels below the mount: the deepest protected; one more: reported only.
    (one / "top").rename(one / "victim")
    top = one / "victim"
    low = generate(two / "a" / "low", base_image)
    deep = generate(two / "a" / "b" / "deep", base_image)
    chown_tree(root)
    before = {path: control_files(path) for path in (top, low)}
    plant = "\necho PWNED >&2\n"
    script = r"""
attempt() { if (eval "$1") 2>/dev/null; then echo "DONE: $1"; else echo "refused: $1"; fi; }
for p in "/app$1" "/app$2/a/low"; do
  attempt "printf '$3' >> '$p/.codex/run/lib/core.sh'"
  attempt "mkdir -p '$p/.codex/skills/evil'"
  attempt "echo x > '$p/.codex/allowed-domains.txt'"
  attempt "echo 'echo PWNED' > '$p/run_in_container.sh'"
  attempt "echo x >> '$p/.copier-answers.yml'"
  attempt "mv '$p/.codex' '$p/.codex.old'"
done
attempt "mv '/app$2/a' '/app$2/a.old'"
attempt "mv '/app$2/a/low' '/app$2/a/low.old'"
printf "$3" >> "/app$2/a/b/deep/.codex/run/lib/core.sh" && echo "deep written"
"""
    result = as_user(
        project, root, "exec", "--mount", str(one), "--mount", str(two), "--yes",
        "--", "bash", "-c", script, "bash", str(top), str(two), plant,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert not [line for line in lines if line.startswith("DONE")], result.stdout
    assert len([line for line in lines if line.startswith("refused")]) == 14, result.stdout
    assert "deep written" in lines
    for path in (top, low):
        assert control_files(path) == before[path]
        assert not (path / ".codex/skills").exists()
        help_out = subprocess.run(
            [str(path / "run_in_container.sh"), "help"], capture_output=True, text=True, check=True
        )
        assert "PWNED" not in help_out.stdout + help_out.stderr
    # The deeper project is named in the report.
    assert "created or changed cxgen's run code or skills in 1 place(s)" in result.stderr
    assert f"  {str(deep).replace(' ', chr(92) + ' ')}/.codex/run" in result.stderr.splitlines()
    # The outside review's repro: --mount of the other project itself.
    result = as_user(
        project, root, "exec", "--mount", str(top), "--yes", "--", "bash", "-c",
        f'printf "{plant}" >> "/app{top}/.codex/run/lib/core.sh" || echo refused',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["refused"]
    assert control_files(top) == before[top]


def test_bare_repositories_the_agent_changes_or_makes_are_reported(
    project: Sandbox, root: Path
) -> None:
    """Attack: a hook in a bare repository that was there before (a host `git push` to it runs it),
    and a new repository whose HEAD is a symlink (its core.fsmonitor runs on `git status`)."""
    one = root / "data/one"
    subprocess.run(["git", "init", "-q", "--bare", str(one / "remote.git")], check=True)
    chown_tree(one)
    script = r"""
cd "/app$1"
hook=remote.git/hooks/post-receive
printf '#!/bin/sh\necho hooked\n' > "$hook" && chmod +x "$hook"
mkdir -p fake/objects fake/refs/heads && ln -s refs/heads/main fake/HEAD
printf '[core]\n\tbare = false\n\tfsmonitor = "echo ran; false"\n' > fake/config
echo planted
"""
    result = as_user(
        project, root, "exec", "--mount", str(one), "--yes",
        "--", "bash", "-c", script, "bash", str(one),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["planted"]
    assert "created or changed git metadata in 2 place(s)" in result.stderr
    lines = result.stderr.splitlines()
    assert f"  {one}/remote.git" in lines and f"  {one}/fake" in lines
    # A session that changes nothing there reports nothing.
    quiet = as_user(project, root, "exec", "--mount", str(one), "--yes", "--", "true")
    assert quiet.returncode == 0, quiet.stderr
    assert "git metadata" not in quiet.stderr


@pytest.mark.parametrize("folder", ["/etc/cron.d", "/usr/local/bin", "/var/lib"])
def test_a_folder_in_the_systems_trees_is_refused(
    project: Sandbox, root: Path, folder: str
) -> None:
    """Attack: --mount of a system folder below the shared ones (in root mode, a cron job or
    Docker's storage is root on the host). Refused before anything starts; nothing is written."""
    result = as_user(project, root, "exec", "--mount", folder, "--yes", "--", "touch", "started")
    one_line_refusal(result, "--mount", f"refusing {folder}: it lies in /", "system's own files")
    assert not (project.project / "started").exists()
    listed = docker("ps", "-aq", "--filter", f"label=org.cxgen.project={project.project}")
    assert listed.stdout.split() == []


def test_a_second_path_to_the_project_is_the_project(project: Sandbox, root: Path) -> None:
    """Attack: a bind mount of the project at another path (on macOS a case-insensitive disk's
    other spelling) passed the overlap check, which compared names: the project's own .codex
    was writable through it. Now decided by device and inode."""
    alias, holder = root / "data/alias", root / "data/holder"
    alias.mkdir()
    (holder / "in").mkdir(parents=True)
    chown_tree(root / "data")
    subprocess.run(["mount", "--bind", str(project.project), str(alias)], check=True)
    subprocess.run(["mount", "--bind", str(root / "box"), str(holder / "in")], check=True)
    try:
        for given, message in (
            (alias, f"it is inside the project ({project.project}) by another path"),
            (alias / ".codex", "it is inside the project"),
            (holder, f"it holds the project ({project.project}) by another path"),
        ):
            result = as_user(project, root, "exec", "--mount", str(given), "--yes", "--", "true")
            one_line_refusal(result, f"--mount: refusing {given}", message)
    finally:
        subprocess.run(["umount", str(alias)], check=False)
        subprocess.run(["umount", str(holder / "in")], check=False)
