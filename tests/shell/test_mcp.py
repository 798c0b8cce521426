"""lib/mcp.sh: the containerised MCP servers' declaration (.codex/sandbox/mcp-servers.txt) read
line by line, every word checked: a server's name, image and arguments, each `allow` line's
server and domains. Anything else is one line of error naming the file, the line and what is
wrong, before anything is built or started. (The servers at work: tests/e2e/test_mcp.py.)"""

from __future__ import annotations

import subprocess

import pytest

from tests.shell.conftest import Bash, assert_usage_error

DIGEST = "a" * 64
SHOW = """
mcp_parse "$1" decl
for ((i = 0; i < ${#MCP_NAMES[@]}; i++)); do
  printf '%s|%s|%s|%s\\n' "${MCP_NAMES[i]}" "${MCP_IMAGES[i]}" "${MCP_ARGS[i]}" "${MCP_DOMAINS[i]}"
done
printf -- '--\\n%s' "$MCP_TEXT"
"""


def parse(bash: Bash, text: str) -> subprocess.CompletedProcess[str]:
    return bash.run(SHOW, text, libs=["mcp.sh"])


def test_servers_with_their_images_arguments_and_allowlists(bash: Bash) -> None:
    text = (
        "# a comment\n"
        "\n"
        f"server fetch   mcp/fetch@sha256:{DIGEST} --ignore-robots-txt   # an end-of-line comment\n"
        "  allow fetch example.com\t*.wikipedia.org\n"
        "server time registry.example:5000/team/time-server:1.2 --local-timezone=UTC\n"
        "server quiet mcp/quiet\n"
        "allow fetch docs.example.org\n"
        "allow time ntp.example.net"  # no newline at the end
    )
    result = parse(bash, text)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    servers, normalized = result.stdout.split("--\n")
    assert servers.splitlines() == [
        f"fetch|mcp/fetch@sha256:{DIGEST}|--ignore-robots-txt|"
        "example.com *.wikipedia.org docs.example.org",
        "time|registry.example:5000/team/time-server:1.2|--local-timezone=UTC|ntp.example.net",
        "quiet|mcp/quiet||",
    ]
    # What the image's label carries: the lines as read, without comments or extra blanks.
    assert normalized.splitlines() == [
        f"server fetch mcp/fetch@sha256:{DIGEST} --ignore-robots-txt",
        "allow fetch example.com *.wikipedia.org",
        "server time registry.example:5000/team/time-server:1.2 --local-timezone=UTC",
        "server quiet mcp/quiet",
        "allow fetch docs.example.org",
        "allow time ntp.example.net",
    ]


@pytest.mark.parametrize("text", ["", "# only comments\n\n   \n", "\n"])
def test_no_servers(bash: Bash, text: str) -> None:
    result = parse(bash, text)
    assert (result.returncode, result.stderr, result.stdout) == (0, "", "--\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "fetch mcp/fetch",
            "decl:1: expected 'server NAME IMAGE [ARG...]' or 'allow NAME DOMAIN...'",
        ),
        ("server fetch", "decl:1: expected 'server NAME IMAGE [ARG...]'"),
        ("server Fetch mcp/fetch", "decl:1: invalid server name"),
        ("server 1fetch mcp/fetch", "decl:1: invalid server name"),
        ("server fe_tch mcp/fetch", "decl:1: invalid server name"),
        (f"server {'a' * 32} mcp/fetch", "decl:1: invalid server name"),
        ("server ../x mcp/fetch", "decl:1: invalid server name"),
        # Never a docker option, a shell word or a second command.
        ("server fetch --privileged", "decl:1: invalid image reference"),
        ("server fetch -v/:/host", "decl:1: invalid image reference"),
        ("server fetch mcp/fetch;id", "decl:1: invalid image reference"),
        ("server fetch MCP/Fetch", "decl:1: invalid image reference"),
        ("server fetch mcp/fetch $(id)", "decl:1: invalid argument"),
        ("server fetch mcp/fetch `id`", "decl:1: invalid argument"),
        ("server fetch mcp/fetch 'quoted words'", "decl:1: invalid argument"),
        ("server fetch mcp/fetch a|b", "decl:1: invalid argument"),
        ("server fetch mcp/fetch\r", "decl:1: invalid image reference"),
        ("server fetch mcp/fetch x\x1b[2J", "decl:1: invalid argument"),
        ("server a mcp/a\nserver a mcp/b", "decl:2: server a is declared twice"),
        ("allow fetch example.com", "decl:1: no server line above declares this name"),
        ("server fetch mcp/fetch\nallow fetch", "decl:2: expected 'allow NAME DOMAIN...'"),
        ("server fetch mcp/fetch\nallow fetch http://example.com", "decl:2: invalid domain"),
        ("server fetch mcp/fetch\nallow fetch a.com *", "decl:2: invalid domain"),
        ("server fetch mcp/fetch\nallow fetch Example.COM", "decl:2: invalid domain"),
        ("".join(f"server s{i} mcp/s\n" for i in range(9)), "decl:9: more than 8 servers"),
        ("server fetch mcp/fetch" + " x" * 70, "decl:1: more than 64 words"),
    ],
)
def test_a_bad_line_is_one_line_of_error(bash: Bash, text: str, message: str) -> None:
    result = parse(bash, text)
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    line = result.stderr.removeprefix("cxgen: error: ")
    assert line.startswith(message), result.stderr
    # One line, the file's line shown quoted (no control character reaches the terminal).
    assert result.stderr.count("\n") == 1
    assert "\x1b" not in result.stderr and "\r" not in result.stderr


def test_a_file_too_big_is_refused(bash: Bash) -> None:
    result = parse(bash, "# " + "x" * 17000)
    assert_usage_error(result, "decl: over 16384 bytes")


def test_the_image_label_is_read_as_the_declaration(bash: Bash) -> None:
    """A start reads the servers from its image's label (what docker inspect printed), never
    from the project's file: "<no value>" (an image without the label) declares none."""
    code = """
printf 'server fetch mcp/fetch\\nallow fetch example.com\\n\\n' >"$1/with"
printf '<no value>\\n' >"$1/without"
mcp_label "$1/with"; printf '%s %s\\n' "${MCP_NAMES[*]}" "${MCP_DOMAINS[*]}"
mcp_label "$1/without"; printf '[%s]\\n' "${MCP_NAMES[*]-}"
mcp_label "$1/missing"; printf '[%s]\\n' "${MCP_NAMES[*]-}"
printf 'server Bad x\\n' >"$1/bad"
mcp_label "$1/bad"
"""
    result = bash.run(code, str(bash.tmp), libs=["mcp.sh"])
    assert result.stdout == "fetch example.com\n[]\n[]\n"
    assert result.returncode == 2
    assert result.stderr.startswith(
        "cxgen: error: the image's .codex/sandbox/mcp-servers.txt:1: invalid server name"
    )
