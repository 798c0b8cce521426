"""lib/paths.sh: is_inside and is_below, the agent trees, and safe_path, which follows a symlink
only where the agent cannot have made it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shell.conftest import Bash, assert_usage_error

SYMLINK_IN_TREE = "is a symlink inside the project or work dir, which the agent may have planted"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/project (an agent tree: the project), tmp/outside (yours), tmp/host/secret."""
    root = tmp_path.resolve()
    for folder in ("project/sub", "outside/sub", "host/secret", "state"):
        (root / folder).mkdir(parents=True)
    (root / "project/file").write_text("f\n")
    (root / "host/secret/key").write_text("k\n")
    return root


def paths(
    bash: Bash, tree: Path, code: str, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    constants = {"PROJECT_DIR": str(tree / "project"), "STATE_DIR": str(tree / "state")}
    return bash.run(code, *args, libs=["paths.sh"], constants=constants, cwd=cwd)


def safe_path(bash: Bash, tree: Path, path: str, cwd: Path | None = None) -> str:
    result = paths(bash, tree, 'load_agent_trees; safe_path --work-dir "$1"', path, cwd=cwd)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return result.stdout


@pytest.mark.parametrize(
    ("child", "parent", "inside", "below"),
    [
        ("/a", "/a", True, False),
        ("/a/b", "/a", True, True),
        ("/a/b/c", "/a", True, True),
        ("/ab", "/a", False, False),
        ("/a", "/a/b", False, False),
        ("/a b/c", "/a b", True, True),
        ("/ax/c", "/a*", False, False),  # the parent is a string, not a pattern
        ("/a*/c", "/a*", True, True),
        ("/a[x]/c", "/a[x]", True, True),
        ("/ax/c", "/a?", False, False),
        ("/a/\nb", "/a", True, True),
        ("/a\n/b", "/a", False, False),
        ("/a/", "/a", True, True),  # (not normalised: callers give physical paths)
    ],
)
def test_is_inside_and_is_below(
    bash: Bash, tree: Path, child: str, parent: str, inside: bool, below: bool
) -> None:
    code = """
if is_inside "$1" "$2"; then echo inside; else echo outside; fi
if is_below "$1" "$2"; then echo below; else echo not-below; fi
"""
    result = paths(bash, tree, code, child, parent)
    expected = f"{'inside' if inside else 'outside'}\n{'below' if below else 'not-below'}\n"
    assert (result.returncode, result.stdout) == (0, expected)


def test_agent_trees_are_the_project_and_the_remembered_ones(bash: Bash, tree: Path) -> None:
    (tree / "state/agent-trees").write_text(f"{tree}/work\n\n{tree}/sessions\n")
    code = """
load_agent_trees
for path in "$PROJECT_DIR" "$PROJECT_DIR/x" "$1/work/y" "$1/sessions" "$1/outside"; do
  if in_agent_tree "$path"; then a=in; else a=out; fi
  if in_agent_tree "$path" strict; then b=below; else b=not-below; fi
  echo "${path#"$1"/} $a $b"
done
"""
    result = paths(bash, tree, code, str(tree))
    assert result.stdout.splitlines() == [
        "project in not-below",
        "project/x in below",
        "work/y in below",
        "sessions in not-below",
        "outside out not-below",
    ]


def test_remember_agent_tree_writes_each_tree_once(bash: Bash, tree: Path) -> None:
    (tree / "state").rmdir()  # made when needed
    code = """
load_agent_trees
remember_agent_trees "$PROJECT_DIR"
remember_agent_trees /w/one /w/two
remember_agent_trees /w/one
load_agent_trees
printf '%s\\n' "${AGENT_TREES[@]}"
"""
    result = paths(bash, tree, code)
    assert result.returncode == 0, result.stderr
    # The project itself is written too: for other projects' runs, which know nothing of it.
    project = str(tree / "project")
    assert (tree / "state/agent-trees").read_text() == f"{project}\n/w/one\n/w/two\n"
    assert result.stdout.splitlines() == [project, project, "/w/one", "/w/two"]


@pytest.mark.parametrize("alias", ["moved", "bind-mounted"])
def test_a_tree_is_known_by_its_identity_under_another_name(
    bash: Bash, tree: Path, alias: str
) -> None:
    """A remembered tree moved, or seen through a bind mount (or, on macOS, spelled in another
    case): a symlink in it is still the agent's."""
    (tree / "outside/link").symlink_to(tree / "host/secret")  # the agent's (outside/ is a tree)
    result = paths(bash, tree, 'load_agent_trees; remember_agent_trees "$1/outside"', str(tree))
    assert result.returncode == 0, result.stderr
    if alias == "moved":
        (tree / "outside").rename(tree / "renamed")
        name = tree / "renamed"
    else:
        if os.geteuid() != 0 or sys.platform != "linux":
            pytest.skip("bind mounts need root on Linux")
        name = tree / "alias"
        name.mkdir()
        subprocess.run(["mount", "--bind", str(tree / "outside"), str(name)], check=True)
    try:
        path = f"{name}/link"
        result = paths(bash, tree, 'load_agent_trees; safe_path --read-only "$1"', path)
        assert_usage_error(
            result, f"--read-only: refusing {path}: {path} {SYMLINK_IN_TREE}; give the real path"
        )
    finally:
        if alias != "moved":
            subprocess.run(["umount", str(name)], check=True)


def test_a_tree_made_again_under_a_remembered_name_is_known_by_its_new_identity(
    bash: Bash, tree: Path
) -> None:
    """A project removed and cloned again at the same path, then moved: its new folder was
    remembered by identity at its next run, though its name was known."""
    remember = 'load_agent_trees; remember_agent_trees "$1/outside"'
    assert paths(bash, tree, remember, str(tree)).returncode == 0
    shutil.rmtree(tree / "outside")
    (tree / "outside").mkdir()
    (tree / "outside/link").symlink_to(tree / "host/secret")
    assert paths(bash, tree, remember, str(tree)).returncode == 0
    (tree / "outside").rename(tree / "renamed")
    result = paths(
        bash, tree, 'load_agent_trees; safe_path --read-only "$1"', f"{tree}/renamed/link"
    )
    assert result.returncode == 2, result.stdout


def test_many_remembered_identities_load_at_once(bash: Bash, tree: Path) -> None:
    """The registry is never pruned: 20,000 identities load in one read (bash read line by
    line took seconds per start at 3,000, minutes here)."""
    ids = "".join(f"1:{n}\n" for n in range(20_000))
    (tree / "state/agent-trees").write_text(f"{tree}/outside\n")
    (tree / "state/agent-tree-ids").write_text(ids)
    code = 'load_agent_trees; in_agent_tree "$1/x" && echo in; echo "${#AGENT_TREE_IDS}"'
    result = paths(bash, tree, code, str(tree / "outside"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["in", str(len(ids) + 1)]


def test_trees_remembered_by_name_alone_get_their_identities_once(bash: Bash, tree: Path) -> None:
    """An earlier run script remembered trees by name alone: the first load records what they
    are (those that exist), and a rename no longer hides them."""
    (tree / "state/agent-trees").write_text(f"{tree}/outside\n{tree}/gone\n")
    result = paths(bash, tree, "load_agent_trees")
    assert result.returncode == 0, result.stderr
    ids = [(tree / name).stat() for name in ("project", "outside")]
    assert (tree / "state/agent-tree-ids").read_text() == "".join(
        f"{found.st_dev}:{found.st_ino}\n" for found in ids
    )
    (tree / "outside").rename(tree / "renamed")
    code = 'load_agent_trees; in_agent_tree "$1/renamed/x" strict && in_agent_tree "$1/renamed"'
    assert paths(bash, tree, code, str(tree)).returncode == 0
    assert paths(bash, tree, 'load_agent_trees; in_agent_tree "$1/host"', str(tree)).returncode == 1


def test_safe_path_prints_folders_and_files_absolute(bash: Bash, tree: Path) -> None:
    assert safe_path(bash, tree, str(tree / "project/sub")) == f"{tree}/project/sub\n"
    assert safe_path(bash, tree, f"{tree}//project/./sub/") == f"{tree}/project/sub\n"
    assert safe_path(bash, tree, str(tree / "project/file")) == f"{tree}/project/file\n"
    assert safe_path(bash, tree, str(tree / "project")) == f"{tree}/project\n"


def test_safe_path_makes_a_relative_path_absolute(bash: Bash, tree: Path) -> None:
    cwd = tree / "project"
    assert safe_path(bash, tree, "sub", cwd=cwd) == f"{tree}/project/sub\n"
    assert safe_path(bash, tree, "file", cwd=cwd) == f"{tree}/project/file\n"
    assert safe_path(bash, tree, "../outside/sub", cwd=cwd) == f"{tree}/outside/sub\n"
    assert safe_path(bash, tree, ".", cwd=cwd) == f"{tree}/project\n"


def test_safe_path_takes_names_a_shell_would_expand(bash: Bash, tree: Path) -> None:
    for name in ("a b", "*", "-rf", "$(touch x)", "a\tb"):
        (tree / "outside" / name).mkdir()
        assert safe_path(bash, tree, str(tree / "outside" / name)) == f"{tree}/outside/{name}\n"
    assert safe_path(bash, tree, "-rf", cwd=tree / "outside") == f"{tree}/outside/-rf\n"
    assert not (tree / "outside/x").exists()


def test_safe_path_follows_your_symlinks_outside_the_agent_trees(bash: Bash, tree: Path) -> None:
    (tree / "outside/to-secret").symlink_to(tree / "host/secret")
    (tree / "outside/to-key").symlink_to(tree / "host/secret/key")
    (tree / "outside/to-project").symlink_to(tree / "project")
    assert safe_path(bash, tree, f"{tree}/outside/to-secret") == f"{tree}/host/secret\n"
    assert safe_path(bash, tree, f"{tree}/outside/to-secret/key") == f"{tree}/host/secret/key\n"
    assert safe_path(bash, tree, f"{tree}/outside/to-project/sub") == f"{tree}/project/sub\n"
    # A symlink to a file, last in the path, is resolved too, one link at a time (a link of
    # yours to one the agent planted must not be followed through).
    assert safe_path(bash, tree, f"{tree}/outside/to-key") == f"{tree}/host/secret/key\n"


@pytest.mark.parametrize(
    ("link", "target", "given", "named"),
    [
        ("project/link", "host/secret", "project/link", "project/link"),
        ("project/link", "host/secret", "project/link/key", "project/link"),
        ("project/sub/link", "host/secret", "project/sub/link", "project/sub/link"),
        ("project/link", "host/secret/key", "project/link", "project/link"),  # last, a file
        ("project/link", "project/sub", "project/link", "project/link"),  # even to the tree
        ("project/link", "outside/nowhere", "project/link/..", "project/link"),
        # Through your symlink into the project, then the agent's.
        ("project/sub/link", "host/secret", "outside/to-project/sub/link", "project/sub/link"),
    ],
)
def test_safe_path_refuses_a_symlink_in_an_agent_tree(
    bash: Bash, tree: Path, link: str, target: str, given: str, named: str
) -> None:
    (tree / "outside/to-project").symlink_to(tree / "project")
    (tree / "outside/nowhere").mkdir()
    (tree / link).symlink_to(tree / target)
    result = paths(bash, tree, 'load_agent_trees; safe_path --work-dir "$1"', f"{tree}/{given}")
    assert_usage_error(
        result,
        f"--work-dir: refusing {tree}/{given}: {tree}/{named} {SYMLINK_IN_TREE}; "
        "give the real path",
    )


def test_safe_path_refuses_a_symlink_in_a_remembered_tree(bash: Bash, tree: Path) -> None:
    (tree / "outside/link").symlink_to(tree / "host/secret")
    path = f"{tree}/outside/link"
    assert safe_path(bash, tree, path) == f"{tree}/host/secret\n"
    # Once outside/ was a work dir, its symlinks are the agent's.
    (tree / "state/agent-trees").write_text(f"{tree}/outside\n")
    result = paths(bash, tree, 'load_agent_trees; safe_path --work-dir "$1"', path)
    assert_usage_error(
        result, f"--work-dir: refusing {path}: {path} {SYMLINK_IN_TREE}; give the real path"
    )


@pytest.mark.parametrize("given", ["outside/shared", "outside/shared/key"])
def test_safe_path_refuses_your_symlink_to_the_agents_symlink(
    bash: Bash, tree: Path, given: str
) -> None:
    (tree / "project/data").symlink_to(tree / "host/secret")  # the agent's
    (tree / "outside/shared").symlink_to(tree / "project/data")  # yours, made long ago
    result = paths(bash, tree, 'load_agent_trees; safe_path --read-only "$1"', f"{tree}/{given}")
    assert result.returncode == 2, f"followed to {result.stdout}"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/", "--work-dir: refusing to mount / (the whole host)"),
        ("/..", "--work-dir: refusing to mount / (the whole host)"),
        ("{tree}/outside/to-root", "--work-dir: refusing to mount / (the whole host)"),
        ("{tree}/project/a\nb", "--work-dir: paths with newlines are refused"),
        ("{tree}/project/a\rb", "--work-dir: paths with newlines are refused"),
        ("{tree}/project/missing", "--work-dir: no such file or directory: {tree}/project/missing"),
        ("missing", "--work-dir: no such file or directory: missing"),
        ("{tree}/project/file/", "--work-dir: no such file or directory: {tree}/project/file/"),
        ("{tree}/dangling", "--work-dir: no such file or directory: {tree}/dangling"),
    ],
)
def test_safe_path_errors_are_one_line(bash: Bash, tree: Path, path: str, message: str) -> None:
    (tree / "outside/to-root").symlink_to("/")
    (tree / "dangling").symlink_to(tree / "nowhere")
    (tree / "project/a\nb").mkdir()
    (tree / "project/a\rb").mkdir()
    result = paths(
        bash,
        tree,
        'load_agent_trees; got=$(safe_path --work-dir "$1"); echo "not reached: $got"',
        path.format(tree=tree),
        cwd=tree / "outside",
    )
    assert_usage_error(result, message.format(tree=tree))


def test_refuse_symlink(bash: Bash, tree: Path) -> None:
    (tree / "project/link").symlink_to(tree / "project/file")
    code = 'refuse_symlink "$1/file"; refuse_symlink "$1/sub"; refuse_symlink "$1/link"'
    result = paths(bash, tree, code, str(tree / "project"))
    assert_usage_error(
        result,
        f"refusing {tree}/project/link: it is a symlink, which the agent may have planted; "
        "remove it (or replace it with the real folder or file) and retry",
    )


# --- Shared folders (issue 19): no mount of a folder every user and program shares, nor yours --


def refuse(
    bash: Bash, tree: Path, path: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return bash.run(
        'refuse_shared_folder --work-dir "$1"; echo fine',
        path,
        libs=["paths.sh"],
        constants={"PROJECT_DIR": str(tree / "project"), "STATE_DIR": str(tree / "state")},
        env=env,
    )


def test_your_home_is_compared_by_its_physical_path(bash: Bash, tree: Path) -> None:
    (tree / "real-home").mkdir()
    (tree / "home-link").symlink_to(tree / "real-home")
    env = {"HOME": str(tree / "home-link"), "TMPDIR": str(tree / "state")}
    assert_usage_error(
        refuse(bash, tree, str(tree / "real-home"), env),
        f"--work-dir: refusing {tree}/real-home: your home folder (your shell's startup files,"
        " keys and agent sockets would be the agent's); give a folder of its own, such as one"
        " below it",
    )
    assert_usage_error(
        refuse(bash, tree, str(tree), env),
        f"--work-dir: refusing {tree}: it holds {tree}/real-home, your home folder (your shell's"
        " startup files, keys and agent sockets would be the agent's); give a folder of its own",
    )
    result = refuse(bash, tree, str(tree / "real-home/project"), env)
    assert (result.returncode, result.stdout) == (0, "fine\n"), result.stderr


@pytest.mark.parametrize("path", ["/tmp", "/var/tmp", "/usr", "/usr/local", "/etc"])
def test_system_folders_are_refused(bash: Bash, tree: Path, path: str) -> None:
    result = refuse(bash, tree, path, {"HOME": str(tree / "state")})
    assert_usage_error(
        result,
        f"--work-dir: refusing {path}: a folder the whole system shares (other programs' files"
        " and sockets, such as ssh-agent's or tmux's, would be the agent's); give a folder of its"
        " own, such as one below it",
    )


def test_a_system_folder_is_named_before_those_below_it(bash: Bash, tree: Path) -> None:
    """/var holds /var/tmp, but is itself one: said as such."""
    result = refuse(bash, tree, "/var", {"HOME": str(tree / "state")})
    assert "cxgen: error: --work-dir: refusing /var: a folder the whole system" in result.stderr


def test_a_paths_facts_are_asked_once_until_forgotten(bash: Bash, tree: Path) -> None:
    """lib/identity.sh: a start looks a path up once (its checks share the answer); once the
    agent has run (or you were asked a question) the answer is forgotten, and a folder swapped
    for another meanwhile is seen as the other one."""
    code = """
path_facts first "$1/outside"
mv "$1/outside" "$1/moved" && mkdir "$1/outside"
path_facts cached "$1/outside"
forget_path_facts
path_facts fresh "$1/outside"
path_ids ids "$1/outside"
printf '%s\\n' "$first" "$cached" "$fresh" "$ids"
"""
    result = paths(bash, tree, code, str(tree))
    assert result.returncode == 0, result.stderr
    first, cached, fresh, ids = result.stdout.splitlines()
    moved, new = (tree / "moved").stat(), (tree / "outside").stat()
    assert first == cached == f"{moved.st_dev}:{moved.st_ino}:{moved.st_uid}:{moved.st_gid}"
    assert fresh == f"{new.st_dev}:{new.st_ino}:{new.st_uid}:{new.st_gid}"
    assert ids == f"{new.st_dev}:{new.st_ino}"
