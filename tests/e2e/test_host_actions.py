"""Host actions that write in an agent's tree, on real Docker (issue 17). `revert` writes in a
throwaway container: a sandbox that swaps a folder for a symlink while git writes and deletes
there (one started during the revert, which no check can see coming) leads git only into that
container, never into a host folder; and revert refuses while a sandbox whose tree overlaps the
work dir runs. Both modes: a user's project and root's."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    LABEL,
    RUN_ID,
    SHIM_DIR,
    Sandbox,
    Topology,
    build,
    chown_tree,
    docker,
    generate,
)
from tests.e2e.test_git_track import USER, git, stop
from tests.e2e.waiting import wait_until

# As many files as the reviewer's reproduction: git writes them one by one, so a racer has time.
FILES = 3000
NAMES = [f"f{i:04}" for i in range(FILES)]


def track_project(
    base_image: str, topology: Topology, root: Path, owner: int
) -> tuple[Sandbox, dict[str, str]]:
    """A committed git=track project with src/d holding FILES files, owned by `owner` (0: root
    mode), its state beside it."""
    project = root / "project"
    project.mkdir()
    git(project, "init", "-q")
    generate(project, base_image, owner=owner, git="track")
    (project / "src/d").mkdir(parents=True)
    (project / "src/m.c").write_text("code\n")
    for name in NAMES:
        (project / "src/d" / name).write_text("kept\n")
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    (root / "state").mkdir()
    chown_tree(root, owner)
    env = {"XDG_STATE_HOME": str(root / "state"), "HOME": str(root), "CXGEN_ACCEPT_CHANGES": "1"}
    return Sandbox(project, build(project), topology.network, root_mode=owner == 0), env


def as_owner(
    sandbox: Sandbox, env: dict[str, str], *args: str, shell: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The run script as the project's owner: the unprivileged user, or root in root mode."""
    user = None if sandbox.root_mode else USER
    return sandbox.run(*args, env=env, user=user, timeout=300, shell=shell)


# The racer: another sandbox's agent, modelled by a plain container that sees the project's src
# (not a cxgen sandbox, so revert's check cannot see it: a sandbox started during the revert).
# While revert deletes src/e (which the session made) it swaps src/e for a symlink to a host
# folder holding files of the same names; once revert has recreated 20 files of src/d (which the
# session deleted), it swaps src/d for a symlink to another, empty, host folder.
RACER = r"""
touch /log/ready
n=0
while :; do
  if [ -d /src/e ] && [ ! -L /src/e ] && [ ! -e /src/e/f0020 ] && [ -e /src/e/f2999 ]; then
    mv /src/e /src/e.moved && ln -s "$1" /src/e && echo e >>/log/swaps
  fi
  if [ -d /src/d ] && [ ! -L /src/d ] && [ -e /src/d/f0020 ] && [ ! -e /src/d/f2999 ]; then
    n=$((n + 1))
    mv /src/d "/src/d.moved$n" && ln -s "$2" /src/d && echo d >>/log/swaps
  fi
done
"""


def start_racer(sandbox: Sandbox, image: str, log: Path, owner: int, *targets: Path) -> str:
    name = f"cxgen-test-{RUN_ID}-racer-{uuid.uuid4().hex[:6]}"
    docker(
        "run",
        "-d",
        "--rm",
        "--label",
        LABEL,
        "--name",
        name,
        "--network",
        "none",
        "--cap-drop",
        "ALL",
        "--user",
        f"{owner}:{owner}",
        "-v",
        f"{sandbox.project / 'src'}:/src",
        "-v",
        f"{log}:/log",
        "--entrypoint",
        "bash",
        image,
        "-c",
        RACER,
        "racer",
        *map(str, targets),
    )
    wait_until((log / "ready").exists, "the racer to start")
    return name


@pytest.mark.parametrize("mode", ["user", "root"])
def test_a_symlink_swapped_in_during_revert_leads_nowhere_on_the_host(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path, mode: str
) -> None:
    owner = 0 if mode == "root" else USER[0]
    root = open_tmp / f"host-actions-{tmp_path.name}"
    root.mkdir()
    sandbox, env = track_project(base_image, topology, root, owner)
    project = sandbox.project
    # Host folders outside the project: an empty one (in root mode root's alone, like
    # /etc/cron.d) and one with files named like those revert deletes.
    target, doomed, log = root / "target", root / "doomed", root / "log"
    for folder in (target, doomed, log):
        folder.mkdir()
    for name in NAMES:
        (doomed / name).write_text("yours\n")
    chown_tree(root, owner)
    if mode == "root":
        target.chmod(0o700)
    script = (
        "rm -rf src/d && mkdir src/e && cd src/e"
        f" && for i in $(seq -f %04g 0 {FILES - 1}); do echo new > f$i; done"
    )
    result = as_owner(sandbox, env, "exec", "--", "bash", "-c", script)
    assert result.returncode == 0, result.stderr
    racer = start_racer(sandbox, sandbox.image, log, owner, doomed, target)
    try:
        result = as_owner(sandbox, env, "revert", "--yes")
    finally:
        docker("rm", "-f", racer, check=False)
    swaps = (log / "swaps").read_text().split() if (log / "swaps").exists() else []
    # The race was run: revert was writing in src/d when it became a symlink.
    assert "d" in swaps, f"the racer never swapped src/d; revert said: {result.stderr[-2000:]}"
    landed = sorted(path.name for path in target.iterdir())
    assert landed == [], f"{len(landed)} files landed in {target}, e.g. {landed[:3]}"
    kept = sorted(path.name for path in doomed.iterdir())
    assert kept == NAMES, f"revert deleted {FILES - len(kept)} files of {doomed}"
    # Completed inside the tree, or failed with one line saying so.
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 0 or last.startswith("cxgen: error: revert failed"), result.stderr
    # Nothing of the revert's container is left, and the next snapshot works.
    leftover = docker(
        "ps", "-aq", "--filter", "label=org.cxgen.revert=1", "--filter", f"label={LABEL}"
    )
    assert leftover.stdout.strip() == ""
    assert not list(project.glob("**/.cxgen-revert.*"))
    assert as_owner(sandbox, env, "diff", "--stat").returncode == 0


@pytest.mark.parametrize("mode", ["user", "root"])
def test_revert_refuses_while_an_overlapping_sandbox_runs(
    base_image: str,
    topology: Topology,
    open_tmp: Path,
    tmp_path: Path,
    mode: str,
    script_shell: list[str],
) -> None:
    owner = 0 if mode == "root" else USER[0]
    root = open_tmp / f"host-actions-{tmp_path.name}"
    root.mkdir()
    sandbox, env = track_project(base_image, topology, root, owner)
    project = sandbox.project
    result = as_owner(sandbox, env, "exec", "--", "bash", "-c", "rm -rf src/d && echo x > a.txt")
    assert result.returncode == 0, result.stderr
    name = f"cxgen-test-{RUN_ID}-overlap-{uuid.uuid4().hex[:6]}"
    # A session in a folder of the work dir (not the same work dir): its agent could race revert.
    session = sandbox.start(
        "exec",
        "--work-dir",
        str(project / "src"),
        "--",
        "sh",
        "-c",
        "touch ready; sleep 60",
        env=env,
        name=name,
        user=None if sandbox.root_mode else USER,
    )
    try:
        wait_until((project / "src/ready").exists, "the session in src to start")
        result = as_owner(sandbox, env, "revert", "--yes", shell=script_shell)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "revert: a running sandbox" in result.stderr and name in result.stderr
        assert "stop it" in result.stderr
        assert not (project / "src/d").exists() and (project / "a.txt").read_text() == "x\n"
    finally:
        stop(session)
    # Your own change to a file no sandbox can write (read-only in revert's container too).
    answers = project / ".copier-answers.yml"
    answers.write_text(answers.read_text() + "# mine\n")
    untouched = (project / "src/m.c").stat()
    # Stopped (and removed): revert goes on.
    result = as_owner(sandbox, env, "revert", "--yes", shell=script_shell)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (project / "src/d").iterdir()) == NAMES
    assert not (project / "a.txt").exists()
    assert answers.read_text().endswith("# mine\n") and "left as they are" in result.stderr
    # A file the session did not change is not written again.
    after = (project / "src/m.c").stat()
    assert (after.st_ino, after.st_mtime_ns) == (untouched.st_ino, untouched.st_mtime_ns)


# Stands in for `docker` before the tests' shim: as revert's container is created, swaps the
# work dir for a symlink to a host folder, as a sandbox started during the revert could.
SWAPPING_DOCKER = """#!/bin/bash
case " $* " in *" org.cxgen.revert=1 "*)
  mv "$SWAP_DIR" "$SWAP_DIR.real" && ln -s "$SWAP_TARGET" "$SWAP_DIR" ;;
esac
exec "$SWAP_SHIM" "$@"
"""


@pytest.mark.parametrize("mode", ["user", "root"])
def test_a_work_dir_swapped_as_revert_starts_is_left_alone(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path, mode: str
) -> None:
    """The container's mounts are made by path: the work dir swapped for a symlink to a host
    folder just before Docker mounts it must not make git write the session's start there."""
    owner = 0 if mode == "root" else USER[0]
    root = open_tmp / f"host-actions-{tmp_path.name}"
    root.mkdir()
    sandbox, env = track_project(base_image, topology, root, owner)
    src = sandbox.project / "src"
    result = as_owner(sandbox, env, "exec", "--work-dir", str(src), "--", "rm", "-rf", "d")
    assert result.returncode == 0, result.stderr
    target, wrapper = root / "target", root / "wrapper"
    target.mkdir()
    wrapper.mkdir()
    (wrapper / "docker").write_text(SWAPPING_DOCKER)
    (wrapper / "docker").chmod(0o755)
    chown_tree(root, owner)
    swap_env = {
        **env,
        "PATH": f"{wrapper}:{SHIM_DIR}:/usr/local/bin:/usr/bin:/bin",
        "SWAP_DIR": str(src),
        "SWAP_TARGET": str(target),
        "SWAP_SHIM": str(SHIM_DIR / "docker"),
    }
    result = as_owner(sandbox, swap_env, "revert", "--yes", "--work-dir", str(src))
    assert src.is_symlink(), "the swap did not happen"
    landed = sorted(str(path.relative_to(target)) for path in target.rglob("*"))
    assert landed == [], f"{len(landed)} paths landed in {target}, e.g. {landed[:3]}"
    assert result.returncode == 1, result.stderr
    assert "not the folder revert checked" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("cxgen: error: revert failed")
    # The real work dir, moved aside, was not touched either; nor is a mark left in it.
    assert sorted(path.name for path in (root / "project/src.real").iterdir()) == ["m.c"]


def test_diff_and_revert_from_a_subfolder_cover_the_whole_work_dir(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    """Git's paths were relative to the folder you ran the script in: from src, a snapshot saw
    only src, so diff missed the session's other changes and revert left them."""
    root = open_tmp / f"host-actions-{tmp_path.name}"
    root.mkdir()
    sandbox, env = track_project(base_image, topology, root, USER[0])
    project = sandbox.project
    script = "echo changed >> .gitignore && echo t > top.txt && echo n > src/n.c"
    result = as_owner(sandbox, env, "exec", "--", "bash", "-c", script)
    assert result.returncode == 0, result.stderr
    src = project / "src"
    diff = sandbox.run("diff", "--stat", env=env, user=USER, cwd=src)
    assert diff.returncode == 0, diff.stderr
    for name in ("top.txt", "src/n.c", ".gitignore"):
        assert name in diff.stdout, diff.stdout
    assert "changed .gitignore" in diff.stderr
    result = sandbox.run("revert", "--yes", env=env, user=USER, cwd=src, timeout=300)
    assert result.returncode == 0, result.stderr
    assert not (project / "top.txt").exists() and not (src / "n.c").exists()
    assert not (project / ".gitignore").exists()


# The flipper: another sandbox's agent that swaps src/d with a symlink to a host folder and back,
# atomically (renameat2 RENAME_EXCHANGE, x86-64 syscall 316) and as fast as it can, while a
# git=track snapshot reads the work dir.
FLIPPER = r"""
ln -s "$1" /src/l && touch /log/ready
exec perl -e 'my ($d, $l) = ("/src/d", "/src/l");
  syscall(316, -100, $d, -100, $l, 2) == 0 or die "renameat2: $!";
  open(my $f, ">", "/log/flipped"); close($f);
  while (1) { syscall(316, -100, $d, -100, $l, 2) }'
"""


@pytest.mark.parametrize("mode", ["user", "root"])
def test_a_symlink_swapped_in_during_a_snapshot_brings_no_host_file_in(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path, mode: str
) -> None:
    """git=track snapshots what the work dir holds as a session starts (and for diff); revert
    later writes that snapshot back, where the agent reads. A folder swapped for a symlink to a
    host folder while git reads must never bring that folder's files into a snapshot: git reads
    in a container that sees only the work dir."""
    owner = 0 if mode == "root" else USER[0]
    root = open_tmp / f"host-actions-{tmp_path.name}"
    root.mkdir()
    sandbox, env = track_project(base_image, topology, root, owner)
    secret, log = root / "secret", root / "log"
    secret.mkdir()
    log.mkdir()
    mark = f"SECRET-{uuid.uuid4().hex}"
    for name in NAMES:
        (secret / name).write_text(f"{mark}\n")
    chown_tree(root, owner)
    secret.chmod(0o700)
    # Every file of src/d new to the snapshot, so git reads each one.
    (sandbox.project / "src/d/stamp").write_text("changed\n")
    for name in NAMES:
        (sandbox.project / "src/d" / name).write_text("changed\n")
    chown_tree(sandbox.project / "src", owner)
    name = f"cxgen-test-{RUN_ID}-flipper-{uuid.uuid4().hex[:6]}"
    docker(
        "run", "-d", "--rm", "--label", LABEL, "--name", name, "--network", "none",
        "--cap-drop", "ALL", "--user", f"{owner}:{owner}",
        "-v", f"{sandbox.project / 'src'}:/src", "-v", f"{log}:/log",
        "--entrypoint", "bash", sandbox.image, "-c", FLIPPER, "flipper", str(secret),
    )  # fmt: skip
    try:
        wait_until((log / "flipped").exists, "the flipper to swap src/d")
        for _ in range(3):
            # Each may fail (a file vanishes as git reads it): git has read and stored blobs.
            as_owner(sandbox, env, "exec", "--", "true")
            as_owner(sandbox, env, "diff", "--stat")
    finally:
        docker("rm", "-f", name, check=False)
    src = sandbox.project / "src"
    if (src / "d").is_symlink():
        (src / "d").unlink()
        (src / "l").rename(src / "d")
    else:
        (src / "l").unlink()
    [track] = (root / "state/cxgen/tracks").glob("*[0-9a-f].git")
    objects = subprocess.run(
        ["git", "--git-dir", str(track), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout
    assert mark.encode() not in objects, "a host file's content is in a git=track snapshot"
    # With the racer gone, snapshots work again.
    for args in (["exec", "--", "true"], ["diff", "--stat"]):
        result = as_owner(sandbox, env, *args)
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("where", [".gitignore", "src/.gitattributes", "src/sub/.git/HEAD"])
def test_a_fifo_where_git_reads_settings_never_hangs_a_snapshot(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path, where: str
) -> None:
    """git waits for ever on a FIFO it reads as settings (.gitignore, .gitattributes, a nested
    repository's HEAD): a git=track start says which and stops instead."""
    root = open_tmp / f"host-actions-{tmp_path.name}"
    root.mkdir()
    sandbox, env = track_project(base_image, topology, root, USER[0])
    fifo = sandbox.project / where
    fifo.parent.mkdir(parents=True, exist_ok=True)
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    chown_tree(sandbox.project, USER[0])
    result = as_owner(sandbox, env, "exec", "--", "true")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"cxgen: error: git=track: {where} is no file (a FIFO?) where git reads its settings, "
        "and git would wait on it for ever; remove it and retry"
    )
    fifo.unlink()
    assert as_owner(sandbox, env, "exec", "--", "true").returncode == 0


def test_a_symlinked_nested_git_never_hangs_a_snapshot(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    """Re-attack: sub/.git -> ../x, whose HEAD is a FIFO: git follows the link and would wait
    for ever (a find that does not follow links sees no FIFO). Refused, named, at once."""
    root = open_tmp / f"host-actions-{tmp_path.name}"
    root.mkdir()
    sandbox, env = track_project(base_image, topology, root, USER[0])
    (sandbox.project / "x/objects").mkdir(parents=True)
    os.mkfifo(sandbox.project / "x/HEAD")
    (sandbox.project / "sub").mkdir()
    (sandbox.project / "sub/.git").symlink_to("../x")
    chown_tree(sandbox.project, USER[0])
    result = as_owner(sandbox, env, "exec", "--", "true")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "cxgen: error: git=track: sub/.git is a symlink, which git would follow to read a "
        "repository elsewhere; remove it and retry"
    )


def test_revert_leaves_a_file_too_large_to_track_alone(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    """Re-attack: a tracked file that grew over CXGEN_TRACK_MAX_MB kept its old snapshot entry,
    and revert wrote that old content over the new (lost). It is left alone, as said."""
    root = open_tmp / f"host-actions-{tmp_path.name}"
    root.mkdir()
    sandbox, env = track_project(base_image, topology, root, USER[0])
    big = sandbox.project / "src/big.dat"
    big.write_text("small\n")
    chown_tree(sandbox.project, USER[0])
    env = {**env, "CXGEN_TRACK_MAX_MB": "1"}
    result = as_owner(sandbox, env, "exec", "--", "sh", "-c", "echo x > new.txt")
    assert result.returncode == 0, result.stderr
    content = os.urandom(2 << 20)
    big.write_bytes(content)
    result = as_owner(sandbox, env, "revert", "--yes")
    assert result.returncode == 0, result.stderr
    assert not (sandbox.project / "new.txt").exists()
    assert big.read_bytes() == content
