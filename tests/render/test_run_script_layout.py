"""The run script as a table of contents: small files of small functions, and one list of
commands (the cmd/ files, the entry's COMMANDS, what --help lists), each with its own help."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.render.conftest import render_default_once

ENTRY_MAX_LINES = 80
FILE_MAX_LINES = 300
FUNCTION_MAX_LINES = 60
# A function's first line, at column 0 (`name() {`, or `function name {`).
FUNCTION = re.compile(r"^(?:function\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(\s*\))?\s*\{(.*)$")
COMMAND_FILES = sorted((REPO / "template/project/.codex/run/cmd").glob("*.sh"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, rendered once for this module's tests (which only read it)."""
    return render_default_once(tmp_path_factory, "layout").resolve()


def function_sizes(text: str) -> Iterator[tuple[str, int, int]]:
    """Each function defined at column 0: its name, first line number and length in lines (from
    its first line to the `}` that closes it at column 0; a one-liner counts 1). A function never
    closed has length -1."""
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        match = FUNCTION.match(line)
        if match is None:
            continue
        rest = match.group(2).strip()
        if rest.endswith("}"):
            yield match.group(1), number, 1
            continue
        end = next((i for i in range(number, len(lines)) if lines[i] == "}"), None)
        yield match.group(1), number, -1 if end is None else end - number + 2


def test_function_sizes_counts_from_the_name_to_the_closing_brace() -> None:
    text = (
        "# a() { not a function: a comment\n"
        "one() { true; }\n"
        "two() {\n"
        "  if x; then\n"
        "    y\n"
        "  }\n"  # (indented: not the end)
        "}\n"
        "function three {\n"
        "  :\n"
        "}\n"
        "  nested() { :; }\n"
        "open() {\n"
    )
    assert list(function_sizes(text)) == [
        ("one", 2, 1),
        ("two", 3, 5),
        ("three", 8, 3),
        ("open", 12, -1),
    ]


def test_run_script_files_and_functions_stay_small(project: Path) -> None:
    entry = project / "run_in_container.sh"
    run_dir = project / ".codex/run"
    files = [entry, *sorted(p for p in run_dir.rglob("*") if p.is_file())]
    too_long: list[str] = []
    entry_lines = len(entry.read_text().splitlines())
    if entry_lines > ENTRY_MAX_LINES:
        too_long.append(f"run_in_container.sh: {entry_lines} lines (at most {ENTRY_MAX_LINES})")
    count = 0
    for path in files:
        name = path.relative_to(project)
        text = path.read_text()
        lines = len(text.splitlines())
        if path != entry and lines > FILE_MAX_LINES:
            too_long.append(f"{name}: {lines} lines (at most {FILE_MAX_LINES})")
        if path.suffix != ".sh":
            continue
        for function, number, size in function_sizes(text):
            count += 1
            if size == -1:
                too_long.append(f"{name}:{number}: {function}() has no closing }} at column 0")
            elif size > FUNCTION_MAX_LINES:
                too_long.append(
                    f"{name}:{number}: {function}() is {size} lines (at most {FUNCTION_MAX_LINES})"
                )
    assert not too_long, "too long:\n" + "\n".join(too_long)
    # The count proves the files were read as shell: the run script has some 200 functions.
    assert count > 150, count


def entry_commands(project: Path) -> list[str]:
    """The words of the entry's COMMANDS: what its dispatcher accepts."""
    text = (project / "run_in_container.sh").read_text()
    found = re.findall(r'^readonly COMMANDS="([a-z ]+)"$', text, flags=re.MULTILINE)
    assert len(found) == 1, "run_in_container.sh sets COMMANDS once, with plain words"
    return str(found[0]).split()


def help_commands(output: str) -> list[str]:
    """The commands --help lists: the first word of each usage line under "Commands" (the
    default one in brackets)."""
    lines = output.split("\nCommands (", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    usages = [line for line in lines if line.startswith("  ") and not line.startswith("   ")]
    return [line.split()[0].strip("[]") for line in usages]


def stand_in_env(tmp_path: Path) -> dict[str, str]:
    """PATH with a docker that leaves a mark when called (help must not need it)."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    docker = bindir / "docker"
    docker.write_text(f"#!/bin/sh\ntouch '{tmp_path}/docker-called'\nexit 99\n")
    docker.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}


def run_script(
    shell: list[str], project: Path, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*shell, str(project / "run_in_container.sh"), *args],
        env=stand_in_env(tmp_path),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    assert not (tmp_path / "docker-called").exists(), "docker was called"
    return result


def test_one_list_of_commands(script_shell: list[str], project: Path, tmp_path: Path) -> None:
    files = sorted(p.stem for p in (project / ".codex/run/cmd").glob("*.sh"))
    dispatched = entry_commands(project)
    assert files == sorted(p.stem for p in COMMAND_FILES)
    assert sorted(dispatched) == files, "COMMANDS in run_in_container.sh and the cmd/ files"
    for args in (["--help"], ["-h"], ["help"]):
        result = run_script(script_shell, project, tmp_path, *args)
        assert (result.returncode, result.stderr) == (0, ""), args
        assert help_commands(result.stdout) == dispatched, args


def usage_line(command_file: Path) -> str:
    """The `# Usage:` line of a command file's header, as help prints it."""
    usages = [line for line in command_file.read_text().splitlines() if line.startswith("# Usage:")]
    assert len(usages) == 1, command_file
    return usages[0].removeprefix("# ")


@pytest.mark.parametrize("command_file", COMMAND_FILES, ids=[p.stem for p in COMMAND_FILES])
def test_each_command_has_its_help(
    script_shell: list[str], project: Path, tmp_path: Path, command_file: Path
) -> None:
    command = command_file.stem
    usage = usage_line(project / ".codex/run/cmd" / command_file.name)
    assert usage.split()[:3] == [
        "Usage:",
        "./run_in_container.sh",
        "[run]" if command == "run" else command,
    ]
    for args in (["help", command], [command, "--help"], [command, "-h"]):
        result = run_script(script_shell, project, tmp_path, *args)
        assert (result.returncode, result.stderr) == (0, ""), args
        assert result.stdout.splitlines()[0] == usage, args
        assert "Summary:" not in result.stdout and "@start-options" not in result.stdout


def one_line_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        f"cxgen: error: {message}\n",
    )


COMMANDS_TEXT = (
    "run shell exec login build accept diff revert fetch list attach stop destroy push pull "
    "images denied allow lockdown help"
)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bogus"], f"unknown command 'bogus'; commands: {COMMANDS_TEXT} (see --help)"),
        (["Run"], "unknown command Run (see --help)"),
        (["run2"], "unknown command run2 (see --help)"),
        (["a\nb"], "unknown command $'a\\nb' (see --help)"),
        (["\x1b[2J"], "unknown command $'\\E[2J' (see --help)"),
        (["help", "bogus"], f"help: unknown command 'bogus'; commands: {COMMANDS_TEXT}"),
        (["help", "a\nb"], f"help: unknown command 'ab'; commands: {COMMANDS_TEXT}"),
        (["help", "run", "shell"], "help: unexpected shell (see ./run_in_container.sh help help)"),
    ],
)
def test_an_unknown_command_is_one_line(
    script_shell: list[str], project: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    one_line_error(run_script(script_shell, project, tmp_path, *args), message)


def test_help_refuses_two_command_names_in_one_word(
    script_shell: list[str], project: Path, tmp_path: Path
) -> None:
    result = run_script(script_shell, project, tmp_path, "help", "run shell")
    one_line_error(result, f"help: unknown command 'run shell'; commands: {COMMANDS_TEXT}")
