"""git=track's agent repository on real Docker: inside, the agent's git works in the work dir
(the project's history, HEAD and your uncommitted changes) and commits to a repository of its
own; `fetch` brings its branches to the host as agent/<branch>, through git upload-pack run in
a container (the running session, or a throwaway one). A hostile agent repository (config,
hooks, alternates to a host path, a symlinked objects folder, a symlink or FIFO in its place)
runs nothing on the host and leaks nothing into it."""

from __future__ import annotations

import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import RUN_ID, Sandbox, Topology, build, chown_tree, generate
from tests.e2e.test_git_track import USER, as_user, committed_project, git, stop
from tests.e2e.waiting import wait_until


def wait_for(path: Path) -> None:
    wait_until(path.exists, f"{path} to appear")


def test_agent_commits_reach_the_host_through_fetch(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    root = open_tmp / f"agentgit-{tmp_path.name}"
    root.mkdir()
    sandbox, env = committed_project(base_image, topology, root)
    project = sandbox.project
    branch = git(project, "symbolic-ref", "--short", "HEAD").strip()
    result = as_user(sandbox, env, "fetch")
    assert result.returncode == 2 and "--git track" in result.stderr, result.stderr
    # Your uncommitted change: the agent's git shows it as uncommitted.
    (project / "a.txt").write_text("hello\nmine\n")
    script = (
        "set -e; git status --porcelain; git rev-parse --abbrev-ref HEAD; git log --format=%s; "
        "echo agent > agent.txt; git add agent.txt; git commit -qm 'agent work'; "
        "git checkout -qb feature; echo f > f.txt; git add f.txt; git commit -qm 'feature work'; "
        f"git checkout -q {branch}; git update-ref refs/heads/-dash HEAD; "
        # Clones and nested repositories of its own work as anywhere.
        "git clone -q . /tmp/clone; git -C /tmp/clone log -1 --format=%s >&2; "
        "git init -q nested; git -C nested commit -q --allow-empty -m n; git status --porcelain >&2"
    )
    result = as_user(sandbox, env, "exec", "--", "bash", "-c", script)
    assert result.returncode == 0, result.stderr
    assert "agent work" in result.stderr and "?? nested/" in result.stderr, result.stderr
    lines = result.stdout.splitlines()
    assert " M a.txt" in lines and branch in lines and "init" in lines, result.stdout
    # The project's own repository did not move.
    assert git(project, "log", "--format=%s", branch) == "init\n"
    assert "agent" not in git(project, "branch", "-a")
    # No session runs: upload-pack runs in a throwaway container.
    result = as_user(sandbox, env, "fetch")
    assert result.returncode == 0, result.stderr
    assert f"agent/{branch}" in result.stderr and "agent/feature" in result.stderr
    assert git(project, "log", "--format=%s", f"agent/{branch}") == "agent work\ninit\n"
    assert git(project, "log", "-1", "--format=%s", "agent/feature") == "feature work\n"
    # A ref name starting with '-' arrives as a ref, never as an option.
    assert git(project, "rev-parse", "refs/remotes/agent/-dash") == git(
        project, "rev-parse", f"agent/{branch}"
    )
    # The next session: the agent's branch follows yours again (you have its commits, as
    # agent/BRANCH); fetch while it runs goes through that session.
    ready = project / "ready"
    session = sandbox.start(
        "exec",
        "--",
        "bash",
        "-c",
        "git log -1 --format=%s > seen; git commit -q --allow-empty -m again; "
        "touch ready; sleep 60",
        env=env,
        user=USER,
    )
    try:
        wait_for(ready)
        assert (project / "seen").read_text() == "init\n"
        result = as_user(sandbox, env, "fetch")
        assert result.returncode == 0, result.stderr
        assert git(project, "log", "-1", "--format=%s", f"agent/{branch}") == "again\n"
    finally:
        stop(session)
    # diff and revert still cover the last session's files.
    result = as_user(sandbox, env, "diff", "--stat")
    assert result.returncode == 0 and "ready" in result.stdout, result.stderr
    assert ".environment" not in result.stdout
    result = as_user(sandbox, env, "revert", "--yes")
    assert result.returncode == 0, result.stderr
    assert not ready.exists() and (project / "agent.txt").exists()
    assert (project / "a.txt").read_text() == "hello\nmine\n"
    assert git(project, "log", "--format=%s", branch) == "init\n"


def secret_repo(root: Path) -> str:
    """A repository of the host user's that the agent must never reach; its commit's id."""
    secret = root / "secret"
    secret.mkdir()
    git(secret, "init", "-q")
    (secret / "s.txt").write_text("TOPSECRET\n")
    git(secret, "add", "-A")
    git(secret, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "secret")
    chown_tree(secret)
    return git(secret, "rev-parse", "HEAD").strip()


def has_object(repo: Path, sha: str) -> bool:
    return (
        subprocess.run(
            ["git", "-c", "safe.directory=*", "--git-dir", str(repo), "cat-file", "-e", sha],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


def test_a_hostile_agent_repository_runs_and_leaks_nothing_on_the_host(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    root = open_tmp / f"agentgit-{tmp_path.name}"
    root.mkdir()
    sandbox, env = committed_project(base_image, topology, root)
    project = sandbox.project
    sha = secret_repo(root)
    # Not mounted in any container: only a command run on this host can create it.
    marker = root / "marker"
    touch = f"touch {marker}"
    hook = f"#!/bin/sh\n{touch}\n"
    script = (
        "set -e; echo w > w.txt; git add w.txt; git commit -qm work; "
        "repo=$(git rev-parse --absolute-git-dir); "
        f"git config core.fsmonitor '{touch}'; git config core.hooksPath \"$repo/evil-hooks\"; "
        f"git config core.sshCommand '{touch}'; git config core.pager '{touch}'; "
        f"git config uploadpack.packObjectsHook '{touch}'; "
        f"git config core.alternateRefsCommand '{touch}'; git config protocol.allow always; "
        'mkdir -p "$repo/evil-hooks"; '
        "for h in reference-transaction post-checkout post-merge pre-auto-gc fsmonitor-watchman "
        "post-index-change push-to-checkout; do "
        f'printf \'%s\' \'{hook}\' > "$repo/hooks/$h"; cp "$repo/hooks/$h" "$repo/evil-hooks/$h"; '
        'chmod +x "$repo/hooks/$h" "$repo/evil-hooks/$h"; done; '
        f'echo {root}/secret/.git/objects >> "$repo/objects/info/alternates"'
    )
    result = as_user(sandbox, env, "exec", "--", "bash", "-c", script)
    assert result.returncode == 0, result.stderr
    result = as_user(sandbox, env, "fetch")
    assert result.returncode == 0, result.stderr
    branch = git(project, "symbolic-ref", "--short", "HEAD").strip()
    assert git(project, "log", "-1", "--format=%s", f"agent/{branch}") == "work\n"
    assert not marker.exists()
    # A ref to the secret commit (reachable only through an alternate on this host), then the
    # objects folder swapped for a symlink to the secret one: nothing of it arrives.
    for step in (
        f"git update-ref refs/heads/leak {sha} || "
        f"printf '%s\\n' {sha} > \"$(git rev-parse --absolute-git-dir)/refs/heads/leak\"",
        'repo=$(git rev-parse --absolute-git-dir); mv "$repo/objects" "$repo/objects.real"; '
        f'ln -s {root}/secret/.git/objects "$repo/objects"',
    ):
        result = as_user(sandbox, env, "exec", "--", "bash", "-c", step)
        assert result.returncode == 0, result.stderr
        as_user(sandbox, env, "fetch")
        assert not marker.exists()
        assert not has_object(project / ".git", sha)
        assert "leak" not in git(project, "branch", "-a")
    for relay in (root / "state/cxgen/tracks").glob("*-agent.git"):
        assert not has_object(relay, sha)
    # The agent repository itself swapped for a symlink to your secret repository (by an agent
    # whose session does not pin it, e.g. --git readonly), then for a FIFO: refused at once.
    agent_repo = ".codex/.environment/git/agent.git"
    for swap, why in (
        (f"rm -rf {agent_repo} && ln -s {root}/secret/.git {agent_repo}", "symlink"),
        (f"rm -rf {agent_repo} && mkfifo {agent_repo}", "no agent repository"),
    ):
        result = as_user(sandbox, env, "exec", "--git", "readonly", "--", "bash", "-c", swap)
        assert result.returncode == 0, result.stderr
        result = as_user(sandbox, env, "fetch")
        assert result.returncode == 2 and why in result.stderr, result.stderr
        assert not has_object(project / ".git", sha)
    # A git=track start refuses the FIFO too, rather than mount something else at .git.
    result = as_user(sandbox, env, "exec", "--", "true")
    assert result.returncode != 0 and "agent.git" in result.stderr, result.stderr
    assert not marker.exists()


def test_a_kept_track_session_resumes_and_fetch_works_under_bash_32(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path, script_shell: list[str]
) -> None:
    """attach checks the read-only .git mount like the others; the agent's commits of both runs
    arrive; the run script's fetch runs under bash 3.2 too."""
    root = open_tmp / f"agentgit-{tmp_path.name}"
    root.mkdir()
    sandbox, env = committed_project(base_image, topology, root)
    project = sandbox.project
    branch = git(project, "symbolic-ref", "--short", "HEAD").strip()
    name = f"cxgen-test-{RUN_ID}-agit-{uuid.uuid4().hex[:4]}"
    script = 'git commit -q --allow-empty -m "run $(git rev-list --count HEAD)"'
    try:
        for command in (("exec", "--keep", "--", "bash", "-c", script), ("attach", name)):
            result = sandbox.run(
                *command, user=USER, env=env, timeout=180, name=name, shell=script_shell
            )
            assert result.returncode == 0, result.stderr
        result = sandbox.run("fetch", user=USER, env=env, timeout=180, shell=script_shell)
        assert result.returncode == 0, result.stderr
        log = git(project, "log", "--format=%s", f"agent/{branch}")
        assert log == "run 2\nrun 1\ninit\n", log
    finally:
        subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)


def test_root_mode_agent_commits_reach_the_host(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    """A root-owned project (root mode: the agent is uid 0 without capabilities): the same
    repository and fetch, through the running session and a throwaway container; upload-pack
    runs as an unprivileged uid in both."""
    root = open_tmp / f"agentgit-{tmp_path.name}"
    root.mkdir()
    project = root / "project"
    project.mkdir()
    git(project, "init", "-q")
    generate(project, base_image, owner=0, git="track")
    (project / "a.txt").write_text("hello\n")
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    branch = git(project, "symbolic-ref", "--short", "HEAD").strip()
    env = {"XDG_STATE_HOME": str(root / "state"), "CXGEN_ACCEPT_CHANGES": "1"}
    sandbox = Sandbox(project, build(project), topology.network, root_mode=True)
    script = (
        "set -e; git status --porcelain; echo r > r.txt; git add r.txt; git commit -qm root-work"
    )
    result = sandbox.run("exec", "--", "bash", "-c", script, env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    result = sandbox.run("fetch", env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    assert git(project, "log", "--format=%s", f"agent/{branch}") == "root-work\ninit\n"
    ready = project / "ready"
    session = sandbox.start(
        "exec",
        "--",
        "bash",
        "-c",
        "git commit -q --allow-empty -m live; touch ready; sleep 60",
        env=env,
    )
    try:
        wait_for(ready)
        result = sandbox.run("fetch", env=env, timeout=180)
        assert result.returncode == 0, result.stderr
        assert git(project, "log", "-1", "--format=%s", f"agent/{branch}") == "live\n"
    finally:
        stop(session)


def test_fetch_stops_at_the_size_limit(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    root = open_tmp / f"agentgit-{tmp_path.name}"
    root.mkdir()
    sandbox, env = committed_project(base_image, topology, root)
    project = sandbox.project
    script = "head -c 3000000 /dev/urandom > big.bin && git add big.bin && git commit -qm big"
    result = as_user(sandbox, env, "exec", "--", "bash", "-c", script)
    assert result.returncode == 0, result.stderr
    limited = {**env, "CXGEN_FETCH_MAX_MB": "1"}
    result = sandbox.run("fetch", user=USER, env=limited, timeout=180)
    assert result.returncode == 1 and "CXGEN_FETCH_MAX_MB" in result.stderr, result.stderr
    assert "agent/" not in git(project, "branch", "-a")
    (relay,) = (root / "state/cxgen/tracks").glob("*-agent.git")
    assert not list((relay / "objects/pack").glob("tmp_*"))
    # Not fetched: the next session keeps the agent's branch as it was.
    result = as_user(sandbox, env, "exec", "--", "git", "log", "-1", "--format=%s")
    assert result.stdout == "big\n" and "not in the project yet" in result.stderr, result.stderr
    result = as_user(sandbox, env, "fetch")
    assert result.returncode == 0, result.stderr
    branch = git(project, "symbolic-ref", "--short", "HEAD").strip()
    assert git(project, "log", "-1", "--format=%s", f"agent/{branch}") == "big\n"


def test_what_the_agent_names_and_writes_reaches_the_host_harmless(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    """Attack review: branch names that are commands when pasted, or hold C1 controls; a
    commit that changes the run script; escape sequences in a file; a sparse file of 200 MiB."""
    root = open_tmp / f"agentgit-names-{tmp_path.name}"
    root.mkdir()
    sandbox, env = committed_project(base_image, topology, root)
    project = sandbox.project
    marker = root / "PWNED-paste"
    script = (
        "set -e; git update-ref 'refs/heads/0;touch${IFS}" + str(marker) + ";true' HEAD;"
        " git update-ref \"refs/heads/evil$(printf '\\302\\233')31m\" HEAD;"
        " git checkout -qb feature; echo '# changed' >> notes.txt; git add notes.txt;"
        " h=$(printf 'echo evil\\n' | git hash-object -w --stdin);"
        " git update-index --cacheinfo 100755,$h,run_in_container.sh;"
        " git update-index --add --cacheinfo 100644,$h,.codex/run/lib/core.sh;"
        " git commit -qm 'docs: notes';"
        # Past the first 50 branches, and deeper than the top folder (second review).
        " for i in $(seq -w 1 55); do git branch x$i HEAD~1; done;"
        " e=$(echo 'curl x' | git hash-object -w --stdin); export GIT_INDEX_FILE=/tmp/i;"
        " git read-tree HEAD~1; git update-index --add --cacheinfo 100644,$e,tools/.envrc;"
        " git update-ref refs/heads/zzz-sub $(git commit-tree -p HEAD~1 -m t $(git write-tree));"
        " unset GIT_INDEX_FILE;"
        # No history in common with yours; names in another case (case-insensitive disks).
        " t=$(printf '100644 blob %s\\t.envrc\\n' $e | git mktree);"
        " git update-ref refs/heads/orphan $(git commit-tree -m o $t);"
        " t=$(printf '100644 blob %s\\t.GitAttributes\\n' $e | git mktree);"
        " git update-ref refs/heads/upper $(git commit-tree -p HEAD~1 -m u $t);"
        " printf 'x \\033]0;TITLE\\007 \\302\\233 y \\033]52;c;cHduZWQ=\\007\\n' > esc.txt;"
        " truncate -s 200M sparse.bin"
    )
    result = as_user(sandbox, env, "exec", "--", "bash", "-c", script)
    assert result.returncode == 0, result.stderr
    fetched = as_user(sandbox, env, "fetch")
    assert fetched.returncode == 0, fetched.stderr
    err = fetched.stderr
    assert "\x9b" not in err and "\x1b" not in err
    hint = next(line for line in err.splitlines() if "see its work" in line)
    assert "touch" not in hint and "agent/feature" in hint, hint
    assert (
        "agent/feature changes files that run on your host" in err and "run_in_container.sh" in err
    )
    assert ".codex/run/lib/core.sh" in err
    assert "agent/zzz-sub changes files that run on your host when merged: tools/.envrc" in err
    assert "agent/orphan changes files that run on your host when merged: .envrc" in err
    assert "agent/upper changes files that run on your host when merged: .GitAttributes" in err
    # The branches arrived with their real names.
    assert "evil" in git(project, "branch", "-r") and not marker.exists()
    diff = as_user(sandbox, env, "diff")
    assert diff.returncode == 0, diff.stderr
    assert "esc.txt" in diff.stdout and "TITLE" in diff.stdout
    assert "\x1b" not in diff.stdout and "\x9b" not in diff.stdout and "\x07" not in diff.stdout
    assert "sparse.bin" not in diff.stdout and "not tracked" in diff.stderr


def test_fetch_refuses_an_endless_list_of_branches(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    root = open_tmp / f"agentgit-refs-{tmp_path.name}"
    root.mkdir()
    sandbox, env = committed_project(base_image, topology, root)
    script = (
        "h=$(git rev-parse HEAD); for i in $(seq 1 1001); do"
        ' printf \'%s refs/heads/spam/%04d\\n\' "$h" "$i"; done >> .git/packed-refs'
    )
    result = as_user(sandbox, env, "exec", "--", "bash", "-c", script)
    assert result.returncode == 0, result.stderr
    fetched = as_user(sandbox, env, "fetch")
    assert fetched.returncode != 0 and "more than 1000 branches" in fetched.stderr, fetched.stderr
    assert "agent/" not in git(sandbox.project, "branch", "-r")


def test_fetch_counts_the_branches_that_arrived_not_what_a_step_said(
    base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    """Issue 17: in a running git=track session, fetch's upload-pack runs as the agent, which can
    kill it. The agent kills the first one (the one that lists its branches for the count), so
    the list says none; 3,001 branches must still not reach the project. (Root mode: upload-pack
    runs as another uid than the agent's, which cannot signal it.)"""
    root = open_tmp / f"agentgit-kill-{tmp_path.name}"
    root.mkdir()
    sandbox, env = committed_project(base_image, topology, root)
    project = sandbox.project
    script = (
        'repo=$(git rev-parse --absolute-git-dir); h=$(git rev-parse HEAD); long=$(printf "x%.0s"'
        ' $(seq 150)); for i in $(seq 3001); do printf "%s refs/heads/spam/%s/%04d\\n" "$h"'
        ' "$long" "$i"; done >> "$repo/packed-refs"; touch ready;'
        # The first process whose arguments hold "upload-pack" is killed, then nothing else.
        " while :; do for d in /proc/[0-9]*; do"
        ' mapfile -d "" args < "$d/cmdline" 2>/dev/null || continue; for a in "${args[@]}"; do'
        ' if [ "$a" = upload-pack ]; then kill -9 "${d#/proc/}" && : > killed; break 3; fi;'
        " done; done; done; sleep 120"
    )
    session = sandbox.start("exec", "--", "bash", "-c", script, env=env, user=USER)
    try:
        wait_for(project / "ready")
        fetched = as_user(sandbox, env, "fetch")
        wait_for(project / "killed")
        assert fetched.returncode != 0 and "nothing was fetched" in fetched.stderr, fetched.stderr
        assert git(project, "for-each-ref", "refs/remotes/agent/") == ""
        (relay,) = (root / "state/cxgen/tracks").glob("*-agent.git")
        assert git(relay, "--git-dir", str(relay), "for-each-ref", "refs/agent/") == ""
    finally:
        stop(session)


def track_project(
    mode: str, base_image: str, topology: Topology, root: Path
) -> tuple[Sandbox, dict, tuple[int, int] | None]:
    """A committed git=track project, its environment and the user to run it as: the
    unprivileged user's (user), or root's (root mode)."""
    if mode == "user":
        sandbox, env = committed_project(base_image, topology, root)
        return sandbox, env, USER
    project = root / "project"
    project.mkdir()
    git(project, "init", "-q")
    generate(project, base_image, owner=0, git="track")
    (project / "a.txt").write_text("hello\n")
    git(project, "add", "-A")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    env = {"XDG_STATE_HOME": str(root / "state"), "CXGEN_ACCEPT_CHANGES": "1"}
    return Sandbox(project, build(project), topology.network, root_mode=True), env, None


@pytest.mark.parametrize("mode", ["user", "root"])
@pytest.mark.parametrize("fifo", ["home/.gitconfig", "git/agent.git/info/exclude"])
def test_a_fifo_the_agent_left_never_hangs_the_next_start(
    mode: str, fifo: str, base_image: str, topology: Topology, open_tmp: Path, tmp_path: Path
) -> None:
    """Issue 17: a FIFO where the agent repository's setup reads (the agent's git config) or
    writes (info/exclude, copied from the project) made it wait for ever, before the command:
    every later git=track start hung. The next start runs and names what to remove; fetch
    refuses a FIFO in the agent's repository at once. (The timeouts are the hang detector.)"""
    root = open_tmp / f"agentgit-fifo-{tmp_path.name}"
    root.mkdir()
    sandbox, env, user = track_project(mode, base_image, topology, root)
    path = sandbox.project / ".codex/.environment" / fifo
    inside = path.relative_to(sandbox.project)
    made = sandbox.run(
        "exec", "--", "bash", "-c", f"rm -f {inside} && mkfifo {inside}", user=user, env=env
    )
    assert made.returncode == 0, made.stderr
    assert stat.S_ISFIFO(path.lstat().st_mode)
    started = sandbox.run("exec", "--", "echo", "started", user=user, env=env, timeout=120)
    assert started.returncode == 0 and started.stdout == "started\n", started.stderr
    assert f"{path} is a FIFO" in started.stderr, started.stderr
    if "agent.git" in fifo:
        fetched = sandbox.run("fetch", user=user, env=env, timeout=120)
        assert fetched.returncode == 1, fetched.stderr
        assert f".codex/.environment/{fifo} is a FIFO" in fetched.stderr, fetched.stderr
    path.unlink()
    again = sandbox.run(
        "exec", "--", "git", "log", "-1", "--format=%s", user=user, env=env, timeout=120
    )
    assert again.returncode == 0 and again.stdout == "init\n", again.stderr
    assert "FIFO" not in again.stderr
