"""lib/container.sh: the scan after a session (warn_new_git_dirs) names new git metadata and sums
up, in one line, the folders it could not search; lib/table.sh's columns."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.shell.conftest import Bash

# A find whose search of the work dir could not enter CXGEN_TEST_UNREADABLE folders: GNU's
# messages (BSD's with CXGEN_TEST_FORMAT=bsd), then the real find's own work.
FIND = """#!/bin/sh
i=0
[ "$1" = . ] || exec /usr/bin/find "$@"
while [ "$i" -lt "${CXGEN_TEST_UNREADABLE:-0}" ]; do
  i=$((i + 1))
  if [ "${CXGEN_TEST_FORMAT:-}" = bsd ]; then
    echo "find: ./copier-$i: Permission denied" >&2
  else
    echo "find: './copier-$i': Permission denied" >&2
  fi
done
exec /usr/bin/find "$@"
"""


def scan(
    bash: Bash, tmp_path: Path, unreadable: int, fmt: str = "gnu"
) -> subprocess.CompletedProcess[str]:
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True, exist_ok=True)
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    (bindir / "find").write_text(FIND)
    (bindir / "find").chmod(0o755)
    code = """
marker="$TMPDIR/start"; touch -t 200001010000 "$marker"  # (the session began long ago)
mkdir -p "$WORK_DIR/src/.git"
warn_new_git_dirs "$marker"
"""
    return bash.run(
        code,
        libs=["paths.sh", "report.sh"],
        constants={
            "PROJECT_DIR": str(work),
            "WORK_DIR": str(work),
            "STATE_DIR": str(tmp_path / "state"),
            "AGENT_GIT_DIR": str(work / ".codex/.environment/git/agent.git"),
        },
        env={
            "PATH": f"{bindir}:/usr/bin:/bin",
            "CXGEN_TEST_UNREADABLE": str(unreadable),
            "CXGEN_TEST_FORMAT": fmt,
        },
    )


@pytest.mark.parametrize("fmt", ["gnu", "bsd"])
def test_folders_that_could_not_be_searched_are_one_line(
    bash: Bash, tmp_path: Path, fmt: str
) -> None:
    """Issue 19: a work dir with 100+ folders of other users printed a raw find error for each."""
    result = scan(bash, tmp_path, 150, fmt)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    work = tmp_path / "work"
    # The new .git is named (its own warning), then one line for the rest.
    assert f"  {work}/src/.git" in lines
    unreadable = [line for line in lines if "could not be searched" in line]
    assert unreadable == [
        "cxgen: WARNING: 150 folder(s) in the work dir could not be searched for git metadata"
        " (unreadable: the agent may hide a repository there), the first:"
        f" {work}/copier-1"
    ]
    assert not any("Permission denied" in line for line in lines)


def test_no_unreadable_folder_no_line(bash: Bash, tmp_path: Path) -> None:
    result = scan(bash, tmp_path, 0)
    assert result.returncode == 0 and "could not be searched" not in result.stderr


def table(bash: Bash, code: str) -> subprocess.CompletedProcess[str]:
    return bash.run(code + "\ntable_print", libs=["table.sh"])


def test_columns_are_as_wide_as_their_widest_cell(bash: Bash) -> None:
    result = table(
        bash,
        """
table_start
table_row NAME AGENT CREATED LAST
table_row a-long-session-name codex "About a minute ago" "/p a/x"
table_row b "" "1 second ago" ""
table_row c exec x "$(printf 'esc\\033[2Jape')"
""",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "NAME                 AGENT  CREATED             LAST",
        "a-long-session-name  codex  About a minute ago  /p a/x",
        "b                           1 second ago        ",
        "c                    exec   x                   esc[2Jape",
    ]


def test_an_empty_table_prints_nothing(bash: Bash) -> None:
    result = table(bash, "table_start")
    assert (result.returncode, result.stdout) == (0, "")
