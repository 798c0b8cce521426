"""Host variables and terminals, as handed to `docker run` (read from a recording stand-in for
docker, as in test_run_script_args): variables go by name only, values never on a command line;
`exec` gets a TTY when stdin and stdout are terminals, unless -T."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest

from cxgen.init import run_init
from tests.render.test_run_script_args import stand_ins

# Records argv, the values docker would read for the variables it was told to pass, and the
# relay's keys file (gone with the script's temporary folder once it ends).
RECORDER = """#!/bin/sh
for arg in "$@"; do
  printf '%s\\n' "$arg"
  case "$arg" in
    *target=/run/cxgen-relay-keys*)
      source="${arg#*source=}"
      cat "${source%%\\"*}" > "$CXGEN_TEST_ARGV.$1.relay" ;;
  esac
done > "$CXGEN_TEST_ARGV.$1"
printf '%s\\n' "CODEX_API_KEY=${CODEX_API_KEY-<unset>}" "MY_VAR=${MY_VAR-<unset>}" \\
  > "$CXGEN_TEST_ARGV.$1.env"
exit 0
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "proj"
    run_init(
        dest,
        {"agents": ["codex", "shell"], "env": ["TEAM_TOKEN"]},
        defaults=True,
        interactive=False,
    )
    return dest


def run(
    project: Path,
    tmp_path: Path,
    shell: list[str],
    *args: str,
    env: dict[str, str] | None = None,
    terminal: bool = False,
) -> tuple[subprocess.CompletedProcess[str], list[str], dict[str, str]]:
    record = tmp_path / "argv"
    base = stand_ins(tmp_path, docker=RECORDER)
    full_env = {
        **{k: v for k, v in base.items() if k not in ("OPENAI_API_KEY", "CODEX_API_KEY")},
        **(env or {}),
    }
    command = [*shell, str(project / "run_in_container.sh"), *args]
    if terminal:
        # stdin and stdout a terminal, stderr a pipe (what the user sees is not checked).
        leader, follower = pty.openpty()
        try:
            result = subprocess.run(
                command,
                env=full_env,
                stdin=follower,
                stdout=follower,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
                timeout=60,
            )
        finally:
            os.close(follower)
            os.close(leader)
    else:
        result = subprocess.run(
            command,
            env=full_env,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
    argv_file, env_file = Path(f"{record}.run"), Path(f"{record}.run.env")
    argv = argv_file.read_text().splitlines() if argv_file.exists() else []
    seen = dict(line.split("=", 1) for line in (env_file.read_text().splitlines() if argv else []))
    return result, argv, seen


def passed(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "-e" and "=" not in argv[i + 1]]


def relayed_keys(tmp_path: Path) -> str:
    """The keys file the relay got (what the entrypoint reads and empties)."""
    return (tmp_path / "argv.run.relay").read_text()


def test_openai_key_is_relayed_and_codex_gets_a_placeholder(
    project: Path, tmp_path: Path, script_shell: list[str]
) -> None:
    key = "sk-secret-value-1"
    result, argv, _ = run(
        project, tmp_path, script_shell, "exec", "--", "true", env={"OPENAI_API_KEY": key}
    )
    assert result.returncode == 0, result.stderr
    # Neither passed by name (docker would copy the value into the container's config) ...
    assert not {"OPENAI_API_KEY", "CODEX_API_KEY"} & set(passed(argv))
    assert "CODEX_API_KEY=cxgen-relayed-key" in argv and "OPENAI_API_KEY=cxgen-relayed-key" in argv
    assert not any(key in arg for arg in argv)
    # ... the relay has it, for its host (codex reads CODEX_API_KEY: OPENAI_API_KEY's value).
    assert relayed_keys(tmp_path) == f"api.openai.com {key}\n"
    routes = next(arg for arg in argv if arg.startswith("CXGEN_RELAY_ROUTES="))
    assert routes.startswith("CXGEN_RELAY_ROUTES=api.openai.com openai ")


def test_codex_api_key_of_its_own_wins(
    project: Path, tmp_path: Path, script_shell: list[str]
) -> None:
    run(
        project,
        tmp_path,
        script_shell,
        "exec",
        "--",
        "true",
        env={"OPENAI_API_KEY": "sk-a", "CODEX_API_KEY": "sk-b"},
    )
    assert relayed_keys(tmp_path) == "api.openai.com sk-b\n"


def test_a_key_the_relay_cannot_carry_is_refused_by_the_name_you_set(
    project: Path, tmp_path: Path, script_shell: list[str]
) -> None:
    result, argv, _ = run(
        project, tmp_path, script_shell, "exec", "--", "true", env={"OPENAI_API_KEY": "a b"}
    )
    assert result.returncode == 2 and argv == []
    assert result.stderr.strip() == (
        "cxgen: error: $OPENAI_API_KEY holds a character no API key has (or is over 8192 long):"
        " the relay refuses it; check its value"
    )


def test_env_answer_and_option_pass_names_only(
    project: Path, tmp_path: Path, script_shell: list[str]
) -> None:
    result, argv, seen = run(
        project,
        tmp_path,
        script_shell,
        "exec",
        "--env",
        "MY_VAR",
        "--env",
        "NOT_SET_HERE",
        "--",
        "true",
        env={"MY_VAR": "value with spaces", "TEAM_TOKEN": "t0ken"},
    )
    assert result.returncode == 0, result.stderr
    names = passed(argv)
    assert "MY_VAR" in names and "TEAM_TOKEN" in names and "NOT_SET_HERE" not in names
    assert seen["MY_VAR"] == "value with spaces"
    assert not any("value with spaces" in arg or "t0ken" in arg for arg in argv)
    assert "--env NOT_SET_HERE: not set here" in result.stderr
    # Unset variables of the presets are not passed at all.
    assert "OPENAI_API_KEY" not in names and "CODEX_API_KEY" not in names


@pytest.mark.parametrize("value", ["A=b", "1ABC", "A B", "$(id)", "-e"])
def test_env_option_refuses_anything_but_a_name(
    project: Path, tmp_path: Path, script_shell: list[str], value: str
) -> None:
    result, argv, _ = run(project, tmp_path, script_shell, "exec", "--env", value, "--", "true")
    assert result.returncode == 2 and argv == []
    assert "--env" in result.stderr


def test_exec_gets_a_tty_at_a_terminal(
    project: Path, tmp_path: Path, script_shell: list[str]
) -> None:
    result, argv, _ = run(project, tmp_path, script_shell, "exec", "--", "true", terminal=True)
    assert result.returncode == 0, result.stderr
    assert "-it" in argv


def test_exec_t_turns_the_tty_off(project: Path, tmp_path: Path, script_shell: list[str]) -> None:
    _, argv, _ = run(project, tmp_path, script_shell, "exec", "-T", "--", "true", terminal=True)
    assert "-it" not in argv and "-i" in argv


@pytest.mark.parametrize(
    ("stdin", "attached"),
    [("/dev/null", False), ("closed", False), ("a pipe", True), ("a file", True)],
)
def test_exec_without_terminals_attaches_only_a_stdin_to_read(
    project: Path, tmp_path: Path, script_shell: list[str], stdin: str, attached: bool
) -> None:
    """A pipe or a file you gave goes in (people pipe into exec); /dev/null or a closed stdin
    does not: the command gets its own /dev/null, as it would outside, not a pipe."""
    redirect = {
        "/dev/null": "</dev/null",
        "closed": "<&-",
        "a pipe": "< <(echo data)",
        "a file": f"<{project / 'run_in_container.sh'}",
    }[stdin]
    script = f'exec "$@" {redirect}'
    command = ["bash", "-c", script, "bash", *script_shell, str(project / "run_in_container.sh")]
    result = subprocess.run(
        [*command, "exec", "--", "true"],
        env=stand_ins(tmp_path, docker=RECORDER),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    argv = (tmp_path / "argv.run").read_text().splitlines()
    assert "-it" not in argv and "-t" not in argv
    assert ("-i" in argv) == attached
