"""lib/options.sh: the one option parser, driven by the CMD_OPTIONS, CMD_WORDS and CMD_DASHES a
command's file declares (set here by each test). Every error is one line and exit 2."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

import pytest

from tests.shell.conftest import Bash, assert_usage_error

SETTINGS = {
    "DEFAULT_AGENT": "codex",
    "PROJECT_DIR": "/p",
    "DEFAULT_GIT_MODE": "readonly",
    "DEFAULT_MEMORY": "8g",
    "DEFAULT_PIDS_LIMIT": "4096",
}
SCALARS = (
    "AGENT WORK_DIR TTY NETWORK CONTAINER_NAME INIT_SCRIPT SESSIONS_PATH FIREWALL REBUILD "
    "AGENT_UPDATE KEEP PARALLEL SSH_AGENT LEARN SAVE LOGIN GIT_MODE MEMORY PIDS_LIMIT "
    "ACCEPT_CHANGES CONFIG_DIR CONFIG_GIVEN AUTH_FILE CREDENTIALS_MODE LOGIN_MODE DIFF_STAT YES "
    "ALL STOPPED CLEAN TARGET"
)
ARRAYS = "READONLY_MOUNTS EXTRA_DOMAINS EXTRA_ENV CMD_ARGS WORDS PORTS"
# Prints every variable the parser sets, one NAME=VALUE a line (arrays: NAME=[a][b]).
SHOW = f"""
help_command() {{ echo "help for $1"; }}
options_parse "$@"
for name in {SCALARS}; do printf '%s=%s\\n' "$name" "${{!name}}"; done
for name in {ARRAYS}; do
  eval "set -- \\${{$name[@]+\\"\\${{$name[@]}}\\"}}"
  printf '%s=' "$name"
  for value in "$@"; do printf '[%s]' "$value"; done
  echo
done
"""
ALL_FLAGS = "--no-firewall -T --rebuild --accept-changes --device --with-api-key --stat --yes "
ALL_FLAGS += "--keep --parallel --ssh-agent --learn --save --all --stopped --clean"


def parse_run(
    bash: Bash,
    *args: str,
    options: str = "@start",
    words: str = "0",
    dashes: str = "args",
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """options_parse ARGS (the first is the command's name) with these CMD_* settings."""
    constants = {**SETTINGS, "CMD_OPTIONS": options, "CMD_WORDS": words, "CMD_DASHES": dashes}
    return bash.run(SHOW, *args, libs=["options.sh"], constants=constants, env=env)


def parse(
    bash: Bash, *args: str, options: str = "@start", words: str = "0", dashes: str = "args"
) -> dict[str, str]:
    result = parse_run(bash, *args, options=options, words=words, dashes=dashes)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def changed(
    bash: Bash, *args: str, options: str = "@start", words: str = "0", dashes: str = "args"
) -> dict[str, str]:
    """What ARGS changed from the defaults."""
    defaults = parse(bash, args[0], options=options, words=words, dashes=dashes)
    got = parse(bash, *args, options=options, words=words, dashes=dashes)
    return {k: v for k, v in got.items() if defaults[k] != v}


def test_defaults_come_from_the_settings_and_the_environment(bash: Bash) -> None:
    got = parse(bash, "run")
    home = got["CONFIG_DIR"].removesuffix("/.codex")
    assert home and got == {
        "AGENT": "codex",
        "WORK_DIR": "/p",
        "TTY": "auto",
        "NETWORK": "",
        "CONTAINER_NAME": "",
        "INIT_SCRIPT": "",
        "SESSIONS_PATH": "",
        "FIREWALL": "on",
        "REBUILD": "no",
        "AGENT_UPDATE": "",
        "KEEP": "no",
        "PARALLEL": "no",
        "SSH_AGENT": "no",
        "LEARN": "no",
        "SAVE": "no",
        "LOGIN": "no",
        "GIT_MODE": "readonly",
        "MEMORY": "8g",
        "PIDS_LIMIT": "4096",
        "ACCEPT_CHANGES": "0",
        "CONFIG_DIR": f"{home}/.codex",
        "CONFIG_GIVEN": "",
        "AUTH_FILE": "",
        "CREDENTIALS_MODE": "copy",
        "LOGIN_MODE": "browser",
        "DIFF_STAT": "no",
        "YES": "no",
        "ALL": "no",
        "STOPPED": "no",
        "CLEAN": "no",
        "TARGET": "",
        "READONLY_MOUNTS": "",
        "EXTRA_DOMAINS": "",
        "EXTRA_ENV": "",
        "CMD_ARGS": "",
        "WORDS": "",
        "PORTS": "",
    }
    env = {
        "CXGEN_ACCEPT_CHANGES": "1",
        "CODEX_CONFIG_DIR": "/cfg",
        "CODEX_AUTH_FILE": "/auth.json",
        "CXGEN_CREDENTIALS": "none",
    }
    result = parse_run(bash, "run", env=env)
    got = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert {k: got[k] for k in ("ACCEPT_CHANGES", "CONFIG_DIR", "CONFIG_GIVEN")} == {
        "ACCEPT_CHANGES": "1",
        "CONFIG_DIR": "/cfg",
        "CONFIG_GIVEN": "yes",
    }
    assert (got["AUTH_FILE"], got["CREDENTIALS_MODE"]) == ("/auth.json", "none")


def test_session_options_take_their_values(bash: Bash) -> None:
    args = [
        *("--agent", "claude", "--work-dir", "/w", "--network", "my-net", "--name", "box-1"),
        *("--init-script", "/i.sh", "--sessions-path", "/s", "--config", "/c"),
        *("--auth-file", "/a.json", "--git", "track", "--memory", "4g"),
        *("--pids-limit", "100", "--credentials", "none"),
    ]
    assert changed(bash, "run", *args) == {
        "AGENT": "claude",
        "WORK_DIR": "/w",
        "NETWORK": "my-net",
        "CONTAINER_NAME": "box-1",
        "INIT_SCRIPT": "/i.sh",
        "SESSIONS_PATH": "/s",
        "CONFIG_DIR": "/c",
        "CONFIG_GIVEN": "yes",
        "AUTH_FILE": "/a.json",
        "GIT_MODE": "track",
        "MEMORY": "4g",
        "PIDS_LIMIT": "100",
        "CREDENTIALS_MODE": "none",
    }


def test_old_spellings_and_the_last_value_wins(bash: Bash) -> None:
    args = ["--work_dir", "/a", "--init_script", "/b", "--auth_file", "/c"]
    args += ["--agent", "one", "--agent", "two"]
    got = changed(bash, "run", *args, "--memory", "none", "--pids-limit", "none")
    assert got == {
        "WORK_DIR": "/a",
        "INIT_SCRIPT": "/b",
        "AUTH_FILE": "/c",
        "AGENT": "two",
        "MEMORY": "none",
        "PIDS_LIMIT": "none",
    }
    assert changed(bash, "run", "--credentials", "sync")["CREDENTIALS_MODE"] == "sync"


def test_repeatable_options_keep_every_value_in_order(bash: Bash) -> None:
    args = [
        *("--read-only", "/r1", "--allow", "a.example.com", "--env", "API_KEY", "--port", "8080"),
        *("--read-only", "/r 2", "--allow", "*.example.org", "--env", "_X"),
        *("--port", "3000:80", "--port", "65535"),
    ]
    assert changed(bash, "run", *args) == {
        "READONLY_MOUNTS": "[/r1][/r 2]",
        "EXTRA_DOMAINS": "[a.example.com][*.example.org]",
        "EXTRA_ENV": "[API_KEY][_X]",
        "PORTS": "[8080][3000:80][65535]",
    }


def test_flags(bash: Bash) -> None:
    assert changed(bash, "x", *ALL_FLAGS.split(), options=ALL_FLAGS) == {
        "FIREWALL": "off",
        "TTY": "no",
        "REBUILD": "yes",
        "ACCEPT_CHANGES": "1",
        "LOGIN_MODE": "api-key",  # the last of --device and --with-api-key
        "DIFF_STAT": "yes",
        "YES": "yes",
        "KEEP": "yes",
        "PARALLEL": "yes",
        "SSH_AGENT": "yes",
        "LEARN": "yes",
        "SAVE": "yes",
        "ALL": "yes",
        "STOPPED": "yes",
        "CLEAN": "yes",
    }
    assert changed(bash, "login", "--device", options="--device")["LOGIN_MODE"] == "device"


def test_double_dash_hands_the_rest_over_as_the_command(bash: Bash) -> None:
    got = changed(bash, "exec", "-T", "--", "ls", "--agent", "x", "--", "-la")
    assert got == {"TTY": "no", "CMD_ARGS": "[ls][--agent][x][--][-la]"}
    assert changed(bash, "exec", "--") == {}


def test_double_dash_hands_the_rest_over_as_words(bash: Bash) -> None:
    got = changed(
        bash, "push", "src", "--", "-dest", "--yes", options="--yes", words="99", dashes="words"
    )
    assert got == {"WORDS": "[src][-dest][--yes]"}


def test_double_dash_is_refused_where_nothing_follows_it(bash: Bash) -> None:
    result = parse_run(bash, "list", "--", "x", options="--all", dashes="")
    assert_usage_error(result, "list: unexpected -- (see ./run_in_container.sh help list)")


def test_words_up_to_cmd_words(bash: Bash) -> None:
    assert changed(bash, "pull", "a", "--yes", "b c", options="--yes", words="2", dashes="") == {
        "WORDS": "[a][b c]",
        "YES": "yes",
    }
    result = parse_run(bash, "pull", "a", "b", "c d", options="", words="2", dashes="")
    assert_usage_error(result, "pull: unexpected c\\ d (see ./run_in_container.sh help pull)")
    result = parse_run(bash, "stop", "a\nb", options="", dashes="")
    assert_usage_error(result, "stop: unexpected $'a\\nb' (see ./run_in_container.sh help stop)")


def test_a_word_where_a_command_goes_after_double_dash(bash: Bash) -> None:
    result = parse_run(bash, "exec", "ls", "-la")
    assert_usage_error(
        result, "unexpected 'ls': the command goes after --, as in ./run_in_container.sh exec -- ls"
    )


def unknown(command: str, option: str) -> str:
    return f"{command}: unknown option '{option}' (see ./run_in_container.sh help {command})"


@pytest.mark.parametrize(
    ("command", "option", "message"),
    [
        ("run", "--rebuild", unknown("run", "--rebuild")),
        ("run", "--bogus", unknown("run", "--bogus")),
        ("run", "--agent=x", unknown("run", "--agent=x")),
        ("run", "-", unknown("run", "-")),
        ("run", "-\x1b[2J\nx", unknown("run", "-[2Jx")),
        ("stop", "--agent", unknown("stop", "--agent")),
        (
            "run",
            "--agent-update",
            "--agent-update goes with build: ./run_in_container.sh build --agent-update "
            "NAME[@VERSION]",
        ),
        (
            "run",
            "--device",
            "--device and --with-api-key go with login: ./run_in_container.sh login --device",
        ),
        (
            "shell",
            "--with-api-key",
            "--device and --with-api-key go with login: ./run_in_container.sh login --device",
        ),
        ("run", "--learn", "--learn goes with exec: ./run_in_container.sh exec --learn -- CMD"),
        ("exec", "--save", "--save goes with allow and lockdown"),
    ],
)
def test_unknown_options_name_the_command_or_where_they_go(
    bash: Bash, command: str, option: str, message: str
) -> None:
    options = "" if command == "stop" else "@start"
    assert_usage_error(parse_run(bash, command, option, options=options), message)


def test_help_stops_the_parse(bash: Bash) -> None:
    for flag in ("-h", "--help"):
        result = parse_run(bash, "build", "--rebuild", flag, "--bogus", options="--rebuild")
        assert (result.returncode, result.stdout, result.stderr) == (0, "help for build\n", "")
    # After --, it is the command's.
    assert changed(bash, "exec", "--", "--help") == {"CMD_ARGS": "[--help]"}


@pytest.mark.parametrize(
    ("args", "update", "also"),
    [
        (["--agent-update"], "codex", {}),
        (["--agent-update", "claude"], "claude", {}),
        (["--agent-update", "claude@1.2.3"], "claude@1.2.3", {}),
        (["--agent-update", "--rebuild"], "codex", {"REBUILD": "yes"}),
        (["--agent", "gemini", "--agent-update"], "gemini", {"AGENT": "gemini"}),
        (["--agent-update", "--", "x"], "codex", {"CMD_ARGS": "[x]"}),
    ],
)
def test_agent_update_takes_an_optional_name(
    bash: Bash, args: list[str], update: str, also: dict[str, str]
) -> None:
    options = "@start --rebuild --agent-update"
    assert changed(bash, "build", *args, options=options) == {"AGENT_UPDATE": update, **also}


def test_agent_update_without_a_name_is_the_started_agent_wherever_agent_is(bash: Bash) -> None:
    options = "@start --rebuild --agent-update"
    got = changed(bash, "build", "--agent-update", "--agent", "gemini", options=options)
    assert got == {"AGENT_UPDATE": "gemini", "AGENT": "gemini"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agent"], "--agent needs a value"),
        (["--agent", ""], "--agent needs a value"),
        (["-T", "--port"], "--port needs a value"),
        (["--port", "0"], "--port: expected PORT or HOST_PORT:PORT (1-65535), not 0"),
        (["--port", "65536"], "--port: expected PORT or HOST_PORT:PORT (1-65535), not 65536"),
        (["--port", "99999"], "--port: expected PORT or HOST_PORT:PORT (1-65535), not 99999"),
        (["--port", "080"], "--port: expected PORT or HOST_PORT:PORT (1-65535), not 080"),
        (["--port", "8080:"], "--port: expected PORT or HOST_PORT:PORT (1-65535), not 8080:"),
        (["--port", ":80"], "--port: expected PORT or HOST_PORT:PORT (1-65535), not :80"),
        (["--port", "1:2:3"], "--port: expected PORT or HOST_PORT:PORT (1-65535), not 1:2:3"),
        (
            ["--port", "70000:80"],
            "--port: expected PORT or HOST_PORT:PORT (1-65535), not 70000:80",
        ),
        (["--port", "-1"], "--port: expected PORT or HOST_PORT:PORT (1-65535), not -1"),
        (
            ["--port", "80\n81"],
            "--port: expected PORT or HOST_PORT:PORT (1-65535), not $'80\\n81'",
        ),
        (["--memory", "4gb"], "--memory: expected a size like 4g, or none, not '4gb'"),
        (["--memory", "0"], "--memory: expected a size like 4g, or none, not '0'"),
        (["--memory", "1.5g"], "--memory: expected a size like 4g, or none, not '1.5g'"),
        (["--memory", "-4g"], "--memory: expected a size like 4g, or none, not '-4g'"),
        (["--memory", "NONE"], "--memory: expected a size like 4g, or none, not 'NONE'"),
        (["--pids-limit", "0"], "--pids-limit: expected a number, or none, not '0'"),
        (
            ["--network", "host"],
            "--network: 'host' is refused: the sandbox needs its own network namespace",
        ),
        (
            ["--network", "none"],
            "--network: 'none' is refused: the sandbox needs its own network namespace",
        ),
        (
            ["--network", "container:db"],
            "--network: 'container:db' is refused: the sandbox needs its own network namespace",
        ),
        (["--network", "my net"], "--network: invalid network name 'my net'"),
        (["--network", "-x"], "--network: invalid network name '-x'"),
        (["--name", "a/b"], "--name: invalid container name 'a/b'"),
        (["--name", "x" * 64], f"--name: invalid container name '{'x' * 64}'"),
        (
            ["--allow", "Example.com"],
            "--allow: invalid domain 'Example.com' (expected example.com or *.example.com)",
        ),
        (
            ["--allow", "localhost"],
            "--allow: invalid domain 'localhost' (expected example.com or *.example.com)",
        ),
        (
            ["--allow", "a.com\nb.com"],
            "--allow: invalid domain 'a.comb.com' (expected example.com or *.example.com)",
        ),
        (
            ["--env", "KEY=value"],
            "--env: expected a variable name like MY_API_KEY, not 'KEY=value' (values are read "
            "from your environment)",
        ),
        (["--git", "rw"], "--git: expected readonly, track, off or writable, not 'rw'"),
        (
            ["--credentials", "keep"],
            "--credentials (or CXGEN_CREDENTIALS): expected copy or none, not 'keep'",
        ),
    ],
)
def test_bad_values_are_one_line(bash: Bash, args: list[str], message: str) -> None:
    assert_usage_error(parse_run(bash, "run", *args), message)


def test_bad_credentials_from_the_environment(bash: Bash) -> None:
    result = parse_run(bash, "run", env={"CXGEN_CREDENTIALS": "sometimes"})
    assert_usage_error(
        result, "--credentials (or CXGEN_CREDENTIALS): expected copy or none, not 'sometimes'"
    )


@pytest.mark.parametrize(
    ("words", "error"),
    [
        (["box-1"], None),
        ([], "stop needs a session name: ./run_in_container.sh stop NAME (list shows them)"),
        (["a", "b"], "stop takes one session name"),
        (["a b"], "stop: invalid session name a\\ b"),
        (["-x"], "stop: invalid session name -x"),
    ],
)
def test_options_session_name(bash: Bash, words: list[str], error: str | None) -> None:
    constants = {**SETTINGS, "CMD_OPTIONS": "", "CMD_WORDS": "99", "CMD_DASHES": "words"}
    code = 'options_parse stop -- "$@"; options_session_name stop; echo "$TARGET"'
    result = bash.run(code, *words, libs=["options.sh"], constants=constants)
    if error is None:
        assert (result.returncode, result.stdout) == (0, "box-1\n")
    else:
        assert_usage_error(result, error)
