"""lib/domains.sh: the allowlist file read word by word (comments and blank lines left out,
nothing globbed), duplicates dropped, every domain checked (collect_domains) with where it came
from."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.shell.conftest import Bash, assert_usage_error

# each WORD...: one a line (printf alone would print an empty line for none).
EACH = """each() { local word; for word in "$@"; do printf '%s\\n' "$word"; done; }
"""
SHOW = """
each ${ALLOWED_DOMAINS[@]+"${ALLOWED_DOMAINS[@]}"}
echo --
each ${SOURCES[@]+"${SOURCES[@]}"}
"""


def domains(
    bash: Bash, code: str, *args: str, tmp: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    constants = {"DOMAINS_FILE": str(tmp / "allowed-domains.txt")}
    return bash.run(EACH + code, *args, libs=["domains.sh"], constants=constants, env=env)


def lists(result: subprocess.CompletedProcess[str]) -> tuple[list[str], list[str]]:
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    first, second = result.stdout.split("--\n")
    return first.splitlines(), second.splitlines()


def test_read_domains_leaves_out_comments_and_blank_lines(bash: Bash, tmp_path: Path) -> None:
    text = (
        "# the agents' domains\n"
        "example.com   # an end-of-line comment\n"
        "\n"
        "  \t \n"
        "*.example.org\tapi.example.net\n"
        "   # an indented comment\n"
        "not_checked_here#comment\n"
        "*\n"
        "last.example.com"  # no newline at the end
    )
    (tmp_path / "f").write_text(text)
    (tmp_path / "a-file-a-glob-would-find").touch()
    result = domains(bash, 'cd "$2"; read_domains "$1"' + SHOW, "f", str(tmp_path), tmp=tmp_path)
    assert lists(result) == (
        [
            "example.com",
            "*.example.org",
            "api.example.net",
            "not_checked_here",
            "*",
            "last.example.com",
        ],
        ["f:2", "f:5", "f:5", "f:7", "f:8", "f:9"],
    )


def test_read_domains_appends_and_an_empty_file_adds_nothing(bash: Bash, tmp_path: Path) -> None:
    (tmp_path / "empty").write_text("")
    (tmp_path / "comments").write_text("# nothing\n\n")
    (tmp_path / "one").write_text("one.example.com\n")
    code = 'ALLOWED_DOMAINS=() SOURCES=(); for f in "$@"; do read_domains "$f"; done' + SHOW
    result = domains(bash, code, "empty", "one", "comments", "one", tmp=tmp_path)
    assert lists(result) == (["one.example.com", "one.example.com"], ["one:1", "one:1"])


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ([], []),
        (["a.com"], ["a.com"]),
        (["a.com", "b.com", "a.com", "c.com", "b.com"], ["a.com", "b.com", "c.com"]),
        # Words, not substrings or patterns.
        (["x.a.com", "a.com", "*.a.com", "a.com"], ["x.a.com", "a.com", "*.a.com"]),
        (["*", "b.com", "*"], ["*", "b.com"]),
    ],
)
def test_dedupe_domains_keeps_the_first_of_each(
    bash: Bash, tmp_path: Path, given: list[str], kept: list[str]
) -> None:
    code = 'ALLOWED_DOMAINS=("$@"); SOURCES=(); dedupe_domains' + SHOW
    assert lists(domains(bash, code, *given, tmp=tmp_path)) == (kept, [])


def test_dedupe_domains_with_no_array_at_all(bash: Bash, tmp_path: Path) -> None:
    code = "SOURCES=(); dedupe_domains" + SHOW
    assert lists(domains(bash, code, tmp=tmp_path)) == ([], [])


COLLECT = """
EXTRA_DOMAINS=("$@")
collect_domains
each ${ALLOWED_DOMAINS[@]+"${ALLOWED_DOMAINS[@]}"}
echo --
each ${PROJECT_DOMAINS[@]+"${PROJECT_DOMAINS[@]}"}
"""


def test_collect_domains_merges_file_environment_and_allow(bash: Bash, tmp_path: Path) -> None:
    (tmp_path / "allowed-domains.txt").write_text("a.com\nb.com a.com\n")
    env = {"OPENAI_ALLOWED_DOMAINS": "c.com, b.com,d.com\ne.com"}
    result = domains(bash, COLLECT, "f.com", "a.com", tmp=tmp_path, env=env)
    # Duplicates dropped everywhere; PROJECT_DOMAINS is the file's alone (what you accept).
    assert lists(result) == (
        ["a.com", "b.com", "c.com", "d.com", "e.com", "f.com"],
        ["a.com", "b.com", "a.com"],
    )


def test_collect_domains_without_the_file(bash: Bash, tmp_path: Path) -> None:
    assert lists(domains(bash, COLLECT, tmp=tmp_path)) == ([], [])
    assert lists(domains(bash, COLLECT, "x.com", tmp=tmp_path)) == (["x.com"], [])


@pytest.mark.parametrize(
    ("file", "env", "allow", "message"),
    [
        ("ok.com\n\n# c\nBad.com\n", "", [], "{file}:4: invalid domain 'Bad.com'"),
        ("ok.com\nlocalhost\n", "", [], "{file}:2: invalid domain 'localhost'"),
        ("a..b.com\n", "", [], "{file}:1: invalid domain 'a..b.com'"),
        ("-a.com\n", "", [], "{file}:1: invalid domain '-a.com'"),
        ("*example.com\n", "", [], "{file}:1: invalid domain '*example.com'"),
        ("*.*.example.com\n", "", [], "{file}:1: invalid domain '*.*.example.com'"),
        ("example.com.\n", "", [], "{file}:1: invalid domain 'example.com.'"),
        (
            "a.com\n",
            "b.com,http://c.com",
            [],
            "OPENAI_ALLOWED_DOMAINS: invalid domain 'http://c.com'",
        ),
        ("a.com\n", "", ["b.com", "c_d.com"], "--allow: invalid domain 'c_d.com'"),
        # A control character in a name never reaches the terminal; the line stays one.
        ("a.com\nb\x1b[2J.com\n", "", [], "{file}:2: invalid domain 'b[2J.com'"),
        # (A CRLF file: \r stays in the word, so the name is refused; shown without it.)
        ("a.com\r\n", "", [], "{file}:1: invalid domain 'a.com'"),
    ],
)
def test_collect_domains_names_a_bad_domain_and_where_it_came_from(
    bash: Bash, tmp_path: Path, file: str, env: str, allow: list[str], message: str
) -> None:
    path = tmp_path / "allowed-domains.txt"
    path.write_bytes(file.encode())
    result = domains(bash, COLLECT, *allow, tmp=tmp_path, env={"OPENAI_ALLOWED_DOMAINS": env})
    assert_usage_error(
        result,
        message.format(file=path) + " (expected example.com or *.example.com)",
    )


def test_collect_domains_takes_every_valid_form(bash: Bash, tmp_path: Path) -> None:
    names = [
        "example.com",
        "*.example.com",
        "a.b.c.example.co.uk",
        "xn--bcher-kva.example",
        "1.2.3.4",  # (a dotted name of digits passes the name check)
        "a-b.c0m",
        f"{'a' * 63}.com",
    ]
    (tmp_path / "allowed-domains.txt").write_text("\n".join(names) + "\n")
    assert lists(domains(bash, COLLECT, tmp=tmp_path)) == (names, names)
    (tmp_path / "allowed-domains.txt").write_text(f"{'a' * 64}.com\n")
    assert domains(bash, COLLECT, tmp=tmp_path).returncode == 2
