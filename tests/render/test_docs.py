"""The README and docs/ in step with the real thing: every command and option that
`./run_in_container.sh help CMD` prints is in docs/reference.md, every `./run_in_container.sh ...`
the README and docs show is a real command with options it takes, every answer key of copier.yml
is documented and every `--data KEY=` names one, every `cxgen` option is documented."""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from cxgen.cli import build_parser
from tests.conftest import REPO
from tests.render.conftest import render_default_once

README = REPO / "README.md"
REFERENCE = REPO / "docs/reference.md"
# What a user reads for today's commands (the changelog may name what is gone).
PAGES = [README, *sorted((REPO / "docs").glob("*.md"))]
# Spellings the option parser also takes (the seed's, and their dashed twins), not in --help.
ALIASES = {
    "--work_dir": "--work-dir",
    "--init-script": "--init_script",
    "--auth-file": "--auth_file",
}
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
RUN_SCRIPT = re.compile(r"\./run_in_container\.sh(?=[ `]|$)([^`\n]*)", re.MULTILINE)
# Where a command line's options end: its arguments, a comment, the next shell command.
STOP = {"--", "#", "&&", "||", ";"}
# `cxgen WORD [the rest, to the next shell command]` in code.
COMMAND_LINE = re.compile(r"(?:^|[\s/;&(])cxgen (-{0,2}[a-z][a-z-]*)(?=\s|$)((?: [^#&;|]*)?)")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default project, rendered once for this module's tests (which only read it)."""
    return render_default_once(tmp_path_factory, "docs").resolve()


@pytest.fixture(scope="module")
def helps(project: Path) -> dict[str, str]:
    """Each command's `./run_in_container.sh help CMD`, by command."""
    commands = sorted(path.stem for path in (project / ".codex/run/cmd").glob("*.sh"))
    assert "run" in commands and "exec" in commands

    def help_of(command: str) -> str:
        result = subprocess.run(
            ["bash", str(project / "run_in_container.sh"), "help", command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    return {command: help_of(command) for command in commands}


def reference() -> str:
    return REFERENCE.read_text()


def documented(option: str, text: str) -> bool:
    """OPTION is named in TEXT as code: `--opt`, `--opt ARG`, `--opt=...`, `-h, --help`."""
    return re.search(re.escape("`" + option) + r"[\s`\[=,]", text) is not None


def test_every_command_is_in_the_reference_with_its_usage(helps: dict[str, str]) -> None:
    """The reference lists each command by the very usage line its help prints."""
    text = reference()
    for help_text in helps.values():
        usage = help_text.splitlines()[0]
        assert usage.startswith("Usage: ./run_in_container.sh"), usage
        assert usage.removeprefix("Usage: ") in text, f"docs/reference.md lacks: {usage}"


def test_every_option_and_variable_in_help_is_in_the_reference(helps: dict[str, str]) -> None:
    text = reference()
    everything = "\n".join(helps.values())
    options = set(OPTION.findall(everything))
    assert {"--agent", "--learn", "--save", "-T", "--accept-changes"} <= options
    missing = sorted(option for option in options if not documented(option, text))
    assert not missing, f"options in --help but not in docs/reference.md: {missing}"
    variables = set(re.findall(r"\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b", everything))
    assert "CXGEN_TRACK_TIMEOUT" in variables
    missing = sorted(name for name in variables if f"`{name}" not in text and name not in text)
    assert not missing, f"variables in --help but not in docs/reference.md: {missing}"


def test_the_reference_options_are_real(helps: dict[str, str]) -> None:
    """Every option a row of the reference's run-script tables starts with is one --help shows
    (or a spelling the parser also takes)."""
    section = reference().split("\n## run_in_container.sh", 1)[1].split("\n## ", 1)[0]
    real = set(OPTION.findall("\n".join(helps.values())))
    rows = re.findall(r"^\| `(-[^|]*)\|", section, re.MULTILINE)
    assert len(rows) > 20
    for row in rows:
        for option in OPTION.findall(row):
            assert option in real or ALIASES.get(option) in real, f"not an option: {option}"


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_the_documented_aliases_are_taken(project: Path, alias: str) -> None:
    assert documented(alias, reference()) or f"(`{alias}`)" in reference()
    result = subprocess.run(
        ["bash", str(project / "run_in_container.sh"), "exec", alias, "/tmp/x", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr


def run_script_lines() -> list[tuple[str, str]]:
    """Every `./run_in_container.sh ...` the README and docs show: (page, the rest of the line)."""
    return [
        (page.name, match.group(1))
        for page in PAGES
        for match in RUN_SCRIPT.finditer(page.read_text())
    ]


def command_and_options(rest: str, commands: set[str]) -> tuple[str, list[str]]:
    """The command a documented line runs (`run` when it starts with an option) and the options
    it gives that command; a placeholder (COMMAND, [OPTIONS]) is no option."""
    command = ""
    options: list[str] = []
    for raw in rest.split():
        if raw in STOP or raw.startswith("#"):
            break
        token = raw.strip("[]|,")
        if not command:
            if token in commands:
                command = token
                continue
            command = "run"
            if not token.startswith("-"):
                assert re.fullmatch(r"[A-Z_.]+|", token), f"not a command: {raw!r} in {rest!r}"
                continue
        if token == "--":
            break
        if token.startswith("-"):
            options.append(token.split("=", 1)[0])
    return command or "run", options


def test_every_run_script_line_in_the_docs_is_a_real_command(helps: dict[str, str]) -> None:
    lines = run_script_lines()
    assert len(lines) > 60
    pages = {page for page, _ in lines}
    assert {"README.md", "reference.md", "agents.md", "security.md"} <= pages
    commands = set(helps)
    for page, rest in lines:
        command, options = command_and_options(rest, commands)
        taken = set(OPTION.findall(helps[command]))
        for option in options:
            assert option in taken or ALIASES.get(option) in taken, (
                f"{page}: ./run_in_container.sh{rest}: {command} takes no {option}"
            )


def test_command_and_options_reads_the_shapes_the_docs_use() -> None:
    commands = {"run", "exec", "destroy", "build", "help", "allow"}
    assert command_and_options(" --parallel", commands) == ("run", ["--parallel"])
    assert command_and_options(" [run] [OPTIONS] [-- AGENT_ARGS...]", commands) == ("run", [])
    assert command_and_options(" exec --learn -- CMD --x", commands) == ("exec", ["--learn"])
    assert command_and_options(" destroy NAME | --stopped", commands) == ("destroy", ["--stopped"])
    assert command_and_options(" build [--agent-update [NAME]]", commands) == (
        "build",
        ["--agent-update"],
    )
    assert command_and_options(" allow x.org --save  # and", commands) == ("allow", ["--save"])
    assert command_and_options("", commands) == ("run", [])
    with pytest.raises(AssertionError):
        command_and_options(" lockdwn on", commands)


def answer_keys() -> list[str]:
    config = yaml.safe_load((REPO / "template/copier.yml").read_text())
    return [key for key in config if not key.startswith("_")]


def test_every_answer_key_is_in_the_reference() -> None:
    text = reference()
    keys = answer_keys()
    assert "git" in keys and "env" in keys
    missing = [key for key in keys if f"| `{key}` |" not in text]
    assert not missing, f"answers not in docs/reference.md's table: {missing}"


def test_every_data_key_in_the_docs_is_an_answer() -> None:
    keys = set(answer_keys())
    found = [
        (page.name, key)
        for page in [*PAGES, REPO / "CHANGELOG.md"]
        for key in re.findall(r"(?:--data|-d)[ =]['\"]?([a-z_]+)=", page.read_text())
    ]
    assert len(found) > 5
    unknown = [(page, key) for page, key in found if key not in keys]
    assert not unknown, f"--data with a key copier.yml does not have: {unknown}"


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"": parser, **action.choices}


def test_every_cxgen_option_is_in_the_reference() -> None:
    text = reference()
    for name, parser in subparsers().items():
        assert name == "" or f"cxgen {name}" in text, f"cxgen {name} is not in the reference"
        for action in parser._actions:
            for option in action.option_strings:
                assert documented(option, text), f"cxgen {name} {option}: not in the reference"


def code_of(text: str) -> list[str]:
    """The code in a markdown page: fenced blocks' lines (without their comments) and inline
    spans."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    prose = re.sub(r"^```[a-z]*\n.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    lines = [re.sub(r"(?:^|\s)#\s.*", "", line) for block in blocks for line in block.splitlines()]
    return lines + re.findall(r"`([^`\n]+)`", prose)


def test_every_cxgen_command_in_the_docs_is_real() -> None:
    parsers = subparsers()
    seen = 0
    for page in [*PAGES, REPO / "CHANGELOG.md"]:
        for code in code_of(page.read_text()):
            for match in COMMAND_LINE.finditer(code):
                word, rest = match.groups()
                seen += 1
                if word.startswith("-"):
                    assert word in ("--version", "--help", "-h"), f"{page.name}: {code}"
                    continue
                assert word in parsers, f"{page.name}: cxgen has no command {word!r}: {code}"
                taken = {o for a in parsers[word]._actions for o in a.option_strings}
                for option in OPTION.findall(rest):
                    assert option in taken, f"{page.name}: cxgen {word} takes no {option}: {code}"
    assert seen > 10


def test_the_benchmarks_page_shows_the_measured_figures() -> None:
    page = (REPO / "docs/benchmarks.md").read_text()
    for results in ("bench/results.md", "bench/compare.md"):
        lines = (REPO / results).read_text().splitlines()
        shown = [line for line in lines if line.startswith(("|", "Measured"))]
        assert len(shown) > 5
        missing = [line for line in shown if line not in page.splitlines()]
        assert not missing, f"docs/benchmarks.md does not show {results}: {missing[:3]}"
