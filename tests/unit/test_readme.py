"""The README's two commands for a fresh machine work with a system Python that refuses
`pip install` (PEP 668: Debian, Ubuntu, Homebrew): they install into a virtual environment."""

from __future__ import annotations

import re

from tests.conftest import REPO

# pip run by the system's python3 (or a bare pip on PATH), not by a virtual environment's.
SYSTEM_PIP = re.compile(r"(?:^|[;&|]\s*)(?:python3?\s+-m\s+pip|pip3?)\s+install", re.MULTILINE)


def fresh_machine_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Two commands for a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


def test_exactly_two_commands_and_neither_pip_installs_into_the_system_python() -> None:
    main, tests = fresh_machine_commands()
    assert "python3 -m venv" in main and "/bin/pip install ." in main
    assert not SYSTEM_PIP.search(main), main
    assert tests == "bash tests/run.sh"


def test_the_test_command_installs_into_a_venv() -> None:
    script = (REPO / "tests/run.sh").read_text()
    assert "python3 -m venv" in script
    assert not SYSTEM_PIP.search(script), "tests/run.sh pip-installs into the system Python"
    assert "/.venv/" in (REPO / ".gitignore").read_text().splitlines()
