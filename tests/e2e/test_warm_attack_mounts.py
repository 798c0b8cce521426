"""Attack (issue #22, warm starts): a spare's mounts are resolved by `docker run` when the
session that leaves it ENDS, not when its start ran the racing checks (refuse_racing_sandboxes,
at_risk). An agent running meanwhile in another session of the project, whose work dir holds a
mount source of that start (here `--work-dir sub`), swaps it for a symlink to a folder of the
host, waits for the spare to be made, and puts it back. The next start with those options
passes every check (the folder is real again, no agent that can write it runs) and claims the
spare: its agent works in the host folder the symlink named.

A cold start cannot be raced so: its `docker run` follows its own checks at once, and those
refuse a path below a tree an agent of a running sandbox can write."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import PROJECT_UID, Sandbox
from tests.e2e.test_warm import starts, warm_env

pytestmark = pytest.mark.e2e


@pytest.fixture
def victim(request: pytest.FixtureRequest) -> tuple[Path, int]:
    """A host folder no sandbox may get: the user's (a home's dotfiles) in user mode; root's
    (standing for /etc or /root/.ssh) in root mode."""
    owner = 0 if request.param == "root" else PROJECT_UID
    path = Path(f"/var/tmp/cxgen-a22-victim-{uuid.uuid4().hex[:8]}")
    path.mkdir(mode=0o700)
    (path / "secret").write_text("host-secret\n")
    (path / "secret").chmod(0o600)
    for item in (path, path / "secret"):
        os.chown(item, owner, owner)
    yield path, owner
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("victim", ["user", "root"], indirect=True)
def test_a_spare_mounts_what_an_agent_swapped_in_after_the_checks(
    make_sandbox, tmp_path: Path, victim: tuple[Path, int]
) -> None:  # type: ignore[no-untyped-def]
    target, owner = victim
    box: Sandbox = make_sandbox(owner=owner)
    project = box.project
    sub = project / "sub"
    sub.mkdir()
    os.chown(sub, owner, owner)
    env = warm_env(tmp_path)

    # X: the user's session in a subfolder (a monorepo's package); it passes its checks (no
    # agent runs), then runs until told to stop.
    x = box.start(
        "exec", "--work-dir", str(sub), "--",
        "sh", "-c", "echo up; while [ ! -e stop ]; do sleep 0.1; done", env=env,
    )  # fmt: skip
    assert x.stdout is not None and x.stdout.readline() == "up\n"

    # A: another session, of the whole project (allowed: X cannot write the project's root).
    # Its agent swaps sub for a symlink to the victim, holds it until told, then puts sub back.
    swap = (
        "mv sub sub.old && ln -s " + str(target) + " sub && echo swapped;"
        " while [ ! -e release ]; do sleep 0.1; done; rm sub && mv sub.old sub && echo restored"
    )
    a = box.start("exec", "--", "sh", "-c", swap, env=env)
    assert a.stdout is not None and a.stdout.readline() == "swapped\n"

    # X ends (its own folder is at sub.old now); its run script makes the spare: docker run
    # --mount source=<project>/sub, which now names the victim.
    (project / "sub.old" / "stop").touch()
    _, err = x.communicate(timeout=600)
    assert x.returncode == 0, err

    (project / "release").touch()
    out, err = a.communicate(timeout=600)
    assert a.returncode == 0 and "restored" in out, err
    (project / "release").unlink()
    assert sub.is_dir() and not sub.is_symlink()

    # B: the same options as X, later, with no agent running: every check passes.
    b = box.run(
        "exec", "--work-dir", str(sub), "--",
        "sh", "-c", "cat secret 2>&1; echo planted > planted 2>&1; pwd", env=env,
    )  # fmt: skip
    planted = target / "planted"
    print("B starts:", starts(tmp_path), "stdout:", b.stdout, "stderr:", b.stderr[-800:])
    broke = "host-secret" in b.stdout or planted.exists()
    assert not broke, (
        f"BROKE: the warm session B read/wrote the host folder {target} "
        f"(starts {starts(tmp_path)}; planted={planted.exists()}): {b.stdout!r}"
    )


def test_the_claim_runs_the_init_hook_you_accepted_not_an_older_one(
    make_sandbox, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The init hook is mounted into the spare as a file: Docker binds that inode, and the
    start's configuration names only its path. A hook replaced since (git checkout, an editor
    that writes a new file and renames it), shown and accepted at the next start, must be the
    one that runs; the spare would run the one it was started with."""
    hook = tmp_path / "hook.sh"
    hook.write_text('echo v1 > "$SANDBOX_ENV_DIR/hook-ran"\n')
    box: Sandbox = make_sandbox(init_hook=str(hook))
    env = warm_env(tmp_path)
    result = box.run("exec", "--", "true", env=env)
    assert result.returncode == 0, result.stderr
    ran = box.project / ".codex/.environment/hook-ran"
    assert ran.read_text() == "v1\n"
    # You replace the hook (a new file renamed over it, as git and many editors write).
    init = box.project / ".codex/.environment/init.sh"
    new = init.with_name("init.sh.new")
    new.write_text('echo v2 > "$SANDBOX_ENV_DIR/hook-ran"\n')
    os.chown(new, PROJECT_UID, PROJECT_UID)
    new.rename(init)
    result = box.run("exec", "--accept-changes", "--", "true", env=env)
    assert result.returncode == 0, result.stderr
    print("starts:", starts(tmp_path), "hook-ran:", ran.read_text())
    assert ran.read_text() == "v2\n", (
        f"BROKE: the accepted hook is v2, but the claim ran {ran.read_text()!r} "
        f"(starts {starts(tmp_path)})"
    )
