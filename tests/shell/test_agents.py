"""lib/agents.sh: the agents' command lines, read by name from settings.sh's tables (defined here
as settings.sh would)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.shell.conftest import Bash, assert_usage_error

TABLES = """
INSTALLED_AGENTS="codex claude shell"
AGENT_RUN_codex=(codex --yolo "two words" '$(touch pwned)')
AGENT_LOGIN_browser_codex=(codex login)
AGENT_LOGIN_PORT_codex=1455
AGENT_LOGIN_ADDRESS_codex=127.0.0.1
AGENT_LOGIN_ENV_codex=()
AGENT_LOGIN_device_codex=(codex login --device-auth)
AGENT_LOGIN_api_key_codex=(codex login --with-api-key)
AGENT_LOGIN_KEY_ENV_codex=CODEX_API_KEY
AGENT_RUN_claude=(claude --dangerously-skip-permissions)
AGENT_LOGIN_browser_claude=(claude /login)
AGENT_LOGIN_ENV_claude=(A=1 "B=two words")
AGENT_RUN_shell=(bash)
AGENT_RUN_empty=()
show() {
  local word
  printf '%s=' "$1"
  shift
  for word in "$@"; do printf '[%s]' "$word"; done
  echo
}
"""


def agents(bash: Bash, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return bash.run(TABLES + code, *args, libs=["agents.sh"])


@pytest.mark.parametrize(
    ("table", "name", "status", "reply"),
    [
        ("AGENT_RUN", "codex", 0, "[codex][--yolo][two words][$(touch pwned)]"),
        ("AGENT_RUN", "shell", 0, "[bash]"),
        ("AGENT_RUN", "empty", 0, ""),
        ("AGENT_LOGIN_ENV", "codex", 0, ""),
        ("AGENT_LOGIN_ENV", "claude", 0, "[A=1][B=two words]"),
        ("AGENT_LOGIN_device", "claude", 1, ""),
        ("AGENT_RUN", "gemini", 1, ""),
        ("AGENT_RUN", "", 1, ""),
        # Not a plain identifier: never evaluated.
        ("AGENT_RUN", "codex;touch pwned", 1, ""),
        ("AGENT_RUN", "codex[$(touch pwned)]", 1, ""),
        ("AGENT_RUN", "$(touch pwned)", 1, ""),
        ("AGENT_RUN", "codex\ntouch pwned", 1, ""),
        ("AGENT_RUN", "1codex", 1, ""),
    ],
)
def test_agents_table(
    bash: Bash, tmp_path: Path, table: str, name: str, status: int, reply: str
) -> None:
    code = """
REPLY=(stale)
status=0
agents_table "$1" "$2" || status=$?
show "$status" ${REPLY[@]+"${REPLY[@]}"}
"""
    result = agents(bash, code, table, name)
    assert (result.stdout, result.stderr) == (f"{status}={reply}\n", "")
    assert not (tmp_path / "pwned").exists()


def test_agent_command(bash: Bash) -> None:
    result = agents(bash, 'agent_command codex; show cmd "${AGENT_CMD[@]}"')
    expected = "cmd=[codex][--yolo][two words][$(touch pwned)]\n"
    assert (result.returncode, result.stdout) == (0, expected)


@pytest.mark.parametrize(
    ("name", "shown"), [("gemini", "gemini"), ("", ""), ("x\n\x1b[2Jy", "x[2Jy"), ("a b", "a b")]
)
def test_agent_command_refuses_an_agent_without_a_table(bash: Bash, name: str, shown: str) -> None:
    result = agents(bash, 'agent_command "$1"; echo not reached', name)
    assert_usage_error(result, f"unknown agent '{shown}'; this sandbox has: codex claude shell")


LOGIN = """
status=0
agent_login "$1" "$2" || status=$?
echo "status=$status port=$LOGIN_PORT address=$LOGIN_ADDRESS key=$LOGIN_KEY_ENV"
show env ${LOGIN_ENV[@]+"${LOGIN_ENV[@]}"}
[ "$status" -ne 0 ] || show cmd "${LOGIN_CMD[@]}"
"""


@pytest.mark.parametrize(
    ("agent", "mode", "expected"),
    [
        (
            "codex",
            "browser",
            "status=0 port=1455 address=127.0.0.1 key=\nenv=\ncmd=[codex][login]\n",
        ),
        (
            "codex",
            "device",
            "status=0 port=0 address= key=\nenv=\ncmd=[codex][login][--device-auth]\n",
        ),
        (
            "codex",
            "api-key",
            "status=0 port=0 address= key=CODEX_API_KEY\nenv=\n"
            "cmd=[codex][login][--with-api-key]\n",
        ),
        (
            "claude",
            "browser",
            "status=0 port=0 address= key=\nenv=[A=1][B=two words]\ncmd=[claude][/login]\n",
        ),
        # No such sign-in: fails (the caller says so), LOGIN_ENV already set.
        ("claude", "device", "status=1 port=0 address= key=\nenv=[A=1][B=two words]\n"),
        ("claude", "api-key", "status=1 port=0 address= key=\nenv=[A=1][B=two words]\n"),
        ("shell", "browser", "status=1 port=0 address= key=\nenv=\n"),
        ("codex", "other mode", "status=1 port=0 address= key=\nenv=\n"),
    ],
)
def test_agent_login(bash: Bash, agent: str, mode: str, expected: str) -> None:
    result = agents(bash, LOGIN, agent, mode)
    assert (result.returncode, result.stdout, result.stderr) == (0, expected, "")
