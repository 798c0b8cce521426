"""lib/folders.sh: --mount's checks (check_mounts), and how the other checks count a --mount
folder as an agent's tree: the racing checks read it from the container listing
(refuse_racing_sandboxes, refuse_sandboxes_writing), the git metadata scan covers it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.shell.conftest import Bash, assert_usage_error


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/box/project (with .codex, .git), tmp/work, tmp/a (with a/sub), tmp/b, tmp/home."""
    root = tmp_path.resolve()
    for folder in ("box/project/.codex", "box/project/.git", "work", "a/sub", "b", "home", "state"):
        (root / folder).mkdir(parents=True)
    (root / "file").write_text("f\n")
    return root


def check(
    bash: Bash, tree: Path, *mounts: str, extra: str = "", yes: str = "yes"
) -> subprocess.CompletedProcess[str]:
    """check_mounts with MOUNTS, then the paths it kept, one a line."""
    code = f"""
WORK_DIR={tree}/work SESSIONS_PATH="" READONLY_MOUNTS=() DEFAULT_READONLY_MOUNTS=() INIT_SCRIPT=""
YES={yes} AT_RISK=() MOUNTS=("$@")
{extra}
load_agent_trees
check_mounts
printf '%s\\n' "${{MOUNT_PATHS[@]}}"
"""
    constants = {"PROJECT_DIR": str(tree / "box/project"), "STATE_DIR": str(tree / "state/cxgen")}
    return bash.run(
        code,
        *mounts,
        libs=["paths.sh", "mounts.sh", "folders.sh"],
        constants=constants,
        env={"HOME": str(tree / "home"), "TMPDIR": str(tree / "home")},
    )


def test_two_folders_are_kept_physical(bash: Bash, tree: Path) -> None:
    (tree / "link").symlink_to(tree / "b")  # a link of yours, outside every agent tree
    result = check(bash, tree, str(tree / "a"), str(tree / "link"))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout.splitlines() == [str(tree / "a"), str(tree / "b")]


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ("box/project", "it is inside the project ({project})"),
        ("box/project/.codex", "it is inside the project ({project})"),
        ("box/project/.git", "it is inside the project ({project})"),
        ("work", "it is inside the work dir ({work})"),
        ("box", "it holds the project ({project})"),
        ("state", "it holds cxgen's state folder ({state})"),
    ],
)
def test_what_the_sandbox_mounts_already_is_refused(
    bash: Bash, tree: Path, mount: str, message: str
) -> None:
    result = check(bash, tree, str(tree / mount))
    path = str(tree / mount)
    values = {"project": tree / "box/project", "work": tree / "work", "state": tree / "state/cxgen"}
    assert_usage_error(
        result,
        f"--mount: refusing {path}: {message.format(**values)}"
        + (
            ", which the sandbox mounts already; give a folder outside it"
            if "inside" in message
            else "; give a folder beside it"
        ),
    )


def test_overlapping_mounts_are_refused(bash: Bash, tree: Path) -> None:
    for first, second, how in [
        ("a", "a/sub", "it is inside another --mount"),
        ("a/sub", "a", "it holds another --mount"),
        ("a", "a", "it is inside another --mount"),
    ]:
        result = check(bash, tree, str(tree / first), str(tree / second))
        assert result.returncode == 2 and f"refusing {tree / second}: {how}" in result.stderr


def test_read_only_mounts_sessions_and_the_init_script_are_kept_apart(
    bash: Bash, tree: Path
) -> None:
    cases = {
        f'READONLY_MOUNTS=("{tree}/a/sub")': "it holds a read-only mount",
        f'DEFAULT_READONLY_MOUNTS=("{tree}/a")': "it is inside a read-only mount",
        f'SESSIONS_PATH="{tree}/a"': "it is inside the --sessions-path folder",
        f'INIT_SCRIPT="{tree}/a/sub/hook.sh"': "it holds the --init_script file",
    }
    (tree / "a/sub/hook.sh").write_text("true\n")
    for extra, message in cases.items():
        mount = tree / "a"
        result = check(bash, tree, str(mount), extra=extra)
        assert result.returncode == 2 and message in result.stderr, (extra, result.stderr)


def test_a_file_a_shared_folder_and_a_folder_outside_the_root_are_refused(
    bash: Bash, tree: Path
) -> None:
    assert_usage_error(check(bash, tree, str(tree / "file")), f"--mount: not a folder: {tree}/file")
    result = check(bash, tree, str(tree / "home"))
    assert result.returncode == 2 and "your home folder" in result.stderr
    result = check(bash, tree, "/")
    assert_usage_error(result, "--mount: refusing to mount / (the whole host)")
    result = check(bash, tree, "/etc")
    assert result.returncode == 2 and "a folder the whole system shares" in result.stderr
    result = check(bash, tree, str(tree / "a"), extra=f"WORKSPACE_ROOT_DIR={tree}/b")
    assert_usage_error(result, f"--mount: {tree}/a is outside WORKSPACE_ROOT_DIR ({tree}/b)")


def test_a_symlink_in_an_agent_tree_is_refused(bash: Bash, tree: Path) -> None:
    (tree / "box/project/out").symlink_to(tree / "a")
    result = check(bash, tree, str(tree / "box/project/out/sub"))
    assert result.returncode == 2 and "is a symlink inside the project or work dir" in result.stderr


def test_without_a_terminal_and_without_yes_it_is_refused(bash: Bash, tree: Path) -> None:
    result = check(bash, tree, str(tree / "a"), yes="no")
    assert_usage_error(
        result,
        f"refusing writable mount outside the work dir without a terminal to confirm: {tree}/a"
        " (--yes mounts it without the question)",
    )


def test_a_folder_below_another_agents_tree_is_at_risk(bash: Bash, tree: Path) -> None:
    (tree / "state/cxgen").mkdir(parents=True)
    (tree / "state/cxgen/agent-trees").write_text(f"{tree}/a\n")
    result = check(bash, tree, str(tree / "a/sub"), extra="", yes="yes")
    assert result.returncode == 0, result.stderr
    at_risk = bash.run(
        f"""
WORK_DIR={tree}/work SESSIONS_PATH="" READONLY_MOUNTS=() DEFAULT_READONLY_MOUNTS=() INIT_SCRIPT=""
YES=yes AT_RISK=() MOUNTS=({tree}/a/sub {tree}/b)
load_agent_trees; check_mounts; printf '%s\\n' "${{AT_RISK[@]}}"
""",
        libs=["paths.sh", "mounts.sh", "folders.sh"],
        constants={
            "PROJECT_DIR": str(tree / "box/project"),
            "STATE_DIR": str(tree / "state/cxgen"),
        },
        env={"HOME": str(tree / "home")},
    )
    assert at_risk.stdout.splitlines() == [f"{tree}/a/sub"], at_risk.stderr


def listing(*sandboxes: tuple[str, str, str, list[str], list[str]]) -> str:
    """start_sandbox_queries' listing: name, state, spare label and id (none here), work dir,
    project, sessions, the --mount folders, "-", the pinned paths, "."."""
    lines: list[str] = []
    for name, workdir, project, mounts, pinned in sandboxes:
        lines += [
            name,
            "running",
            " 0123abcd",
            workdir,
            project,
            "",
            *mounts,
            "",
            "-",
            *pinned,
            "",
            ".",
        ]
    return "\n".join(lines) + "\n"


def racing(
    bash: Bash, tmp_path: Path, text: str, *at_risk: str
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sandboxes").write_text(text)
    code = """
RUN_TMP=$TMPDIR; sleep 0 & LISTING_PID=$!; AT_RISK=("$@")
refuse_racing_sandboxes
printf '%s' "$SANDBOXES"
"""
    return bash.run(
        code,
        *at_risk,
        libs=["paths.sh", "mounts.sh", "folders.sh", "warm.sh"],
        constants={"PROJECT_DIR": "/p", "STATE_DIR": str(tmp_path / "state")},
    )


def test_a_running_sandboxs_mount_races_like_its_work_dir(bash: Bash, tmp_path: Path) -> None:
    text = listing(
        ("one", "/w1", "/p1", ["/data/shared", "/data/other dir"], ["/p1/.codex"]),
        ("two", "/w2", "/p2", [], []),
    )
    # Below its --mount: refused, as below its work dir.
    for path in ("/data/shared/sub", "/data/other dir/x", "/w1/sub"):
        result = racing(bash, tmp_path, text, path)
        assert_usage_error(
            result,
            f"a running sandbox (one, work dir /w1) can write {path}; stop or destroy it"
            " (./run_in_container.sh list --all lists them) and retry",
        )
    # Beside it, or the folder itself (two sessions may share one, as a work dir): no race.
    result = racing(bash, tmp_path, text, "/data/sharedx/sub", "/data/shared", "/w2")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "one running /p1\ntwo running /p2\n"
    # A pinned path is not a tree: below it is safe where every step is pinned.
    result = racing(bash, tmp_path, text, "/p1/.codex")
    assert result.returncode == 0, result.stderr


DOCKER = """#!/bin/sh
cat "$CXGEN_TEST_LISTING"
"""


def test_host_actions_refuse_a_tree_a_sandbox_mounts(bash: Bash, tmp_path: Path) -> None:
    """refuse_sandboxes_writing (revert, pull): Docker's listing with each --mount label."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "docker").write_text(DOCKER)
    (bindir / "docker").chmod(0o755)
    (tmp_path / "listing").write_text(
        "one\nrunning\n 0123abcd\n/w1\n/p1\n\n/data/a.b\n/data/c\n\n.\n"
        "two\nexited\n 4567abcd\n/w2\n/p2\n\n\n."
    )
    env = {
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "CXGEN_TEST_LISTING": str(tmp_path / "listing"),
    }
    cases = {
        (
            "/data/a.b/x",
            "inside",
        ): "pull: a running sandbox (one, work dir /w1) can write in /data/a.b/x",
        ("/data", "overlap"): "revert: a running sandbox (one, work dir /w1) can write in /data",
        (
            "/w2/x",
            "inside",
        ): "pull: a stopped (kept) sandbox (two, work dir /w2) can write in /w2/x",
    }
    for (path, how), message in cases.items():
        verb = message.split(":", 1)[0]
        result = bash.run(
            f"refuse_sandboxes_writing {path} {how} {verb}",
            libs=["paths.sh", "folders.sh", "revert.sh", "warm.sh"],
            constants={"PROJECT_DIR": "/p", "STATE_DIR": str(tmp_path / "state")},
            env=env,
        )
        assert result.returncode == 2 and message in result.stderr, result.stderr
    for path, how in (("/data", "inside"), ("/data/cx", "inside"), ("/elsewhere", "overlap")):
        result = bash.run(
            f"refuse_sandboxes_writing {path} {how} pull",
            libs=["paths.sh", "folders.sh", "revert.sh", "warm.sh"],
            constants={"PROJECT_DIR": "/p", "STATE_DIR": str(tmp_path / "state")},
            env=env,
        )
        assert (result.returncode, result.stderr) == (0, ""), (path, result.stderr)


def test_the_git_metadata_scan_covers_each_mount(bash: Bash, tmp_path: Path) -> None:
    work, first, second = (tmp_path / name for name in ("work", "first", "second dir"))
    for folder in (work, first, second):
        folder.mkdir()
    code = f"""
marker="$TMPDIR/start"; touch -t 200001010000 "$marker"
mkdir -p "{first}/repo/.git" "{second}/.git"
MOUNT_PATHS=("{first}" "{second}")
warn_new_git_dirs "$marker"
"""
    result = bash.run(
        code,
        libs=["paths.sh", "report.sh"],
        constants={
            "PROJECT_DIR": str(work),
            "WORK_DIR": str(work),
            "STATE_DIR": str(tmp_path / "state"),
            "AGENT_GIT_DIR": str(work / ".codex/.environment/git/agent.git"),
        },
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "in 2 place(s)" in lines[0]
    assert lines[2:] == [
        f"  {first}/repo/.git",
        f"  {str(second).replace(' ', chr(92) + ' ')}/.git",
    ]


@pytest.mark.parametrize("what", ["--work-dir", "--sessions-path", "--read-only"])
def test_no_mount_of_any_kind_reaches_cxgens_state(bash: Bash, tree: Path, what: str) -> None:
    """A work dir, sessions folder or read-only mount that holds ~/.local/state/cxgen would give
    the agent your approvals, the agent trees and the relay's files (also before the folder
    exists: it is made later)."""
    for state in ("state/cxgen", "state/not-yet/cxgen"):
        result = bash.run(
            f'refuse_state_folder {what} "$1"',
            str(tree / "state"),
            libs=["paths.sh", "folders.sh"],
            constants={"PROJECT_DIR": str(tree / "box/project"), "STATE_DIR": str(tree / state)},
        )
        assert_usage_error(
            result,
            f"{what}: refusing {tree}/state: it holds or lies in cxgen's state folder"
            f" ({tree}/{state}), which no sandbox may see",
        )
    beside = bash.run(
        f'refuse_state_folder {what} "$1"',
        str(tree / "a"),
        libs=["paths.sh", "folders.sh"],
        constants={
            "PROJECT_DIR": str(tree / "box/project"),
            "STATE_DIR": str(tree / "state/cxgen"),
        },
    )
    assert (beside.returncode, beside.stderr) == (0, "")


def scan_since(
    bash: Bash, tmp_path: Path, before: str, during: str, work: Path | None = None
) -> list[str]:
    """The report's lines for a work dir (WORK, else tmp_path/work) where BEFORE ran before the
    session's marker and DURING after it (shell code, in the work dir)."""
    work = work or tmp_path / "work"
    work.mkdir(parents=True)
    code = f"""
cd "{work}"
{before}
marker="$TMPDIR/start"; : >"$marker"
sleep 0.01; touch "$TMPDIR/later"
while ! [ "$TMPDIR/later" -nt "$marker" ]; do touch "$TMPDIR/later"; done
{during}
warn_new_git_dirs "$marker"
"""
    result = bash.run(
        code,
        libs=["paths.sh", "report.sh"],
        constants={
            "PROJECT_DIR": str(tmp_path / "project"),
            "WORK_DIR": str(work),
            "STATE_DIR": str(tmp_path / "state"),
            "AGENT_GIT_DIR": str(tmp_path / "agent.git"),
        },
    )
    assert result.returncode == 0, result.stderr
    return result.stderr.splitlines()


def test_a_bare_repository_that_was_there_is_reported_when_it_changed(
    bash: Bash, tmp_path: Path
) -> None:
    before = (
        "mkdir -p old.git/objects old.git/refs old.git/hooks same.git/objects same.git/refs;"
        " echo ref > old.git/HEAD; echo ref > same.git/HEAD"
    )
    lines = scan_since(bash, tmp_path, before, "echo x > old.git/hooks/post-receive")
    assert "in 1 place(s)" in lines[0] and lines[2:] == [f"  {tmp_path}/work/old.git"]


def test_a_new_repository_whose_head_is_a_symlink_is_reported(bash: Bash, tmp_path: Path) -> None:
    during = "mkdir -p fake/objects fake/refs/heads && ln -s refs/heads/main fake/HEAD"
    lines = scan_since(bash, tmp_path, "", during)
    assert lines[2:] == [f"  {tmp_path}/work/fake"]


def test_changed_run_code_at_any_depth_is_reported(bash: Bash, tmp_path: Path) -> None:
    before = (
        "mkdir -p a/b/c/p/.codex/run/lib q/.codex/run;"
        " touch a/b/c/p/.codex/run/lib/core.sh q/run_in_container.sh"
    )
    during = (
        "echo x >> a/b/c/p/.codex/run/lib/core.sh; mkdir -p n/.codex/skills/evil;"
        " touch n/.copier-answers.yml"
    )
    lines = scan_since(bash, tmp_path, before, during)
    work = tmp_path / "work"
    assert "cxgen's run code or skills in 3 place(s)" in lines[0], lines
    assert sorted(lines[2:]) == sorted(
        [
            f"  {work}/a/b/c/p/.codex/run",
            f"  {work}/n/.codex/skills",
            f"  {work}/n/.copier-answers.yml",
        ]
    )


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ("/etc/cron.d", True),
        ("/usr/local/bin", True),
        ("/var/lib/docker", True),
        ("/private/var/db", True),
        ("/Library/x", True),
        ("/private/var/folders/ab/T/x", False),
        ("/srv/data/x", False),
        ("/variant", False),
    ],
)
def test_the_systems_trees_are_refused(
    bash: Bash, tmp_path: Path, path: str, refused: bool
) -> None:
    result = bash.run(
        'refuse_system_tree --mount "$1"; echo fine',
        path,
        libs=["paths.sh"],
        constants={"PROJECT_DIR": "/p", "STATE_DIR": str(tmp_path / "state")},
    )
    if refused:
        assert result.returncode == 2 and result.stdout == "", result.stderr
        assert f"--mount: refusing {path}: it lies in /" in result.stderr
    else:
        assert (result.returncode, result.stdout) == (0, "fine\n"), result.stderr


def test_overlaps_are_decided_by_identity(bash: Bash, tmp_path: Path) -> None:
    """mount_overlaps compares device:inode of each path and its folders (here the same folder
    by name: the names' check is skipped, as a second path to it would pass it)."""
    (tmp_path / "project/sub").mkdir(parents=True)
    (tmp_path / "beside").mkdir()
    code = 'OVERLAP_PATHS=("$1") OVERLAP_WHATS=("the project"); mount_overlaps "$2"; echo fine'
    for path, words in (
        ("project/sub", "it is inside the project"),
        ("", "it holds the project"),
        ("beside", ""),
    ):
        result = bash.run(
            code, str(tmp_path / "project"), str(tmp_path / path).rstrip("/"),
            libs=["paths.sh", "folders.sh"],
            constants={"PROJECT_DIR": "/p", "STATE_DIR": str(tmp_path / "state")},
        )  # fmt: skip
        if words:
            assert (
                result.returncode == 2
                and f"{words} ({tmp_path}/project) by another path" in result.stderr
            )
        else:
            assert (result.returncode, result.stdout) == (0, "fine\n"), result.stderr


def test_a_waiting_spare_races_nothing_and_a_claimed_one_is_a_session(
    bash: Bash, tmp_path: Path
) -> None:
    """Spares (warm starts) in the listing: this project's of this user are SPARES ("NAME ID
    CREATED"), never racers; one a start has claimed, still under its spare's name, is a session;
    one whose command is over (the host's mark by id) neither races nor holds its name."""
    state = tmp_path / "state"
    (state / "cxgen/spares").mkdir(parents=True)
    spare = "cxgen-p-1.spare-1-2"
    claimed = "cxgen-p-1.spare-3-4"
    uid = os.geteuid()
    lines = [
        spare, "running", f"{uid} 1000 aaaa1111", "/p", "/p", "", "", "-", "", ".",
        claimed, "running", f"{uid} 1000 bbbb2222", "/p", "/p", "", "", "-", "", ".",
        "cxgen-p-1", "running", f"{uid} 1000 cccc3333", "/p", "/p", "", "", "-", "", ".",
    ]  # fmt: skip
    (state / "cxgen/spares" / f"{claimed}.claimed").write_text("1\n")
    (state / "cxgen/spares/cccc3333.over").touch()
    (tmp_path / "sandboxes").write_text("\n".join(lines) + "\n")
    code = """
RUN_TMP=$TMPDIR; sleep 0 & LISTING_PID=$!; AT_RISK=("$@")
refuse_racing_sandboxes
printf 'spares %s|over%s|' "${SPARES[*]}" "$OVER"; printf '%s' "$SANDBOXES"
"""
    constants = {"PROJECT_DIR": "/p", "STATE_DIR": str(state / "cxgen")}
    libs = ["paths.sh", "mounts.sh", "folders.sh", "warm.sh"]
    result = bash.run(code, "/p/sub", libs=libs, constants=constants)
    # The claimed one races /p/sub (a session's work dir); the others do not.
    assert result.returncode == 2 and f"({claimed}, work dir /p)" in result.stderr, result.stderr
    result = bash.run(code, "/elsewhere", libs=libs, constants=constants)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"spares {spare} aaaa1111 1000|over cxgen-p-1 |"), result.stdout
    assert "cxgen-p-1 running" not in result.stdout


# A work dir that itself lies in a .codex/skills folder (a --mount of ~/.codex/skills is one).
IN_SKILLS = "host/.codex/skills/work"


def test_changed_control_folders_are_named_once_each(bash: Bash, tmp_path: Path) -> None:
    """One search after a session: each .codex/run or .codex/skills that changed, itself or deep
    inside, is named once (the outermost), and new git metadata beside them; the folders above
    the work dir are not the work dir's."""
    work = tmp_path / IN_SKILLS
    before = "mkdir -p a/.codex/run/deep b/.codex/skills/s/.codex/run c/.codex/run"
    during = (
        "echo x > a/.codex/run/deep/x; echo y > b/.codex/skills/s/.codex/run/y;"
        " echo z > c/.codex/run/z; mkdir -p r/.git"
    )
    lines = scan_since(bash, tmp_path, before, during, work)
    named = sorted(line.strip() for line in lines if line.startswith("  "))
    folders = ["a/.codex/run", "b/.codex/skills", "c/.codex/run", "r/.git"]
    assert named == [f"{work}/{folder}" for folder in folders], lines


def test_unchanged_control_folders_are_not_named(bash: Bash, tmp_path: Path) -> None:
    before = "mkdir -p a/.codex/run/deep r/.git && echo x > a/.codex/run/deep/x"
    assert scan_since(bash, tmp_path, before, "", tmp_path / IN_SKILLS) == []
