"""Stack presets: one TOML file per language stack under presets/stacks, loaded into dataclasses.

A stack is what the image adds for a kind of project (compilers, a runtime, its package tool),
installed in a layer of its own. presets/stack.schema.json says the same as the checks here,
for editors and tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import tomllib

from cxgen.errors import CxgenError
from cxgen.resources import presets_dir
from cxgen.validators import APT_RE, STACK_RE

_COMMAND_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._+-]*\Z")
_ARG_RE = re.compile(r"\A[A-Za-z0-9._+=/-]+\Z")
_PYPI_RE = re.compile(r"\A[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\Z")
_PIN_RE = re.compile(r"\A[0-9]+(?:\.[0-9]+)*\Z")
_REQUIRED = {"name", "label", "apt_packages", "commands", "check"}
_OPTIONAL = {"pip"}
_PIP_KEYS = {"package", "version", "commands"}


@dataclass(frozen=True)
class PipTool:
    """A tool from PyPI at a pinned version, in its own virtual environment under /opt."""

    package: str
    version: str
    commands: tuple[str, ...]

    @property
    def install_steps(self) -> tuple[str, ...]:
        venv = f"/opt/{self.package}"
        links = " ".join(f"{venv}/bin/{command}" for command in self.commands)
        return (
            f"python3 -m venv {venv}",
            f"{venv}/bin/pip install --no-cache-dir {self.package}=={self.version}",
            f"ln -s {links} /usr/local/bin/",
        )


@dataclass(frozen=True)
class StackPreset:
    """What the template needs to install one stack and what proves that it works."""

    name: str
    label: str
    apt_packages: tuple[str, ...]
    commands: tuple[str, ...]
    check: tuple[str, ...]
    pip: PipTool | None = None

    @property
    def present_test(self) -> str:
        """A shell test that the base image already has the stack (a mirror or offline image):
        then its layer installs nothing."""
        tests = [f"command -v {command}" for command in self.commands]
        return tests[0] if len(tests) == 1 else "{ " + " && ".join(tests) + "; }"

    @property
    def install_steps(self) -> tuple[str, ...]:
        """The layer's shell steps: Debian's packages (lists removed in the same layer), then
        the pinned tool from PyPI."""
        steps: tuple[str, ...] = ()
        if self.apt_packages:
            steps = (
                "apt-get update",
                "apt-get install -y --no-install-recommends " + " ".join(self.apt_packages),
                "rm -rf /var/lib/apt/lists/*",
            )
        return steps + (self.pip.install_steps if self.pip else ())


def _fail(path: Path, message: str) -> CxgenError:
    return CxgenError(f"broken stack preset {path.name}: {message}")


def _words(path: Path, data: dict[str, Any], key: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, f"{key} must be a list of strings")
    bad = [item for item in value if not pattern.match(item)]
    if bad:
        raise _fail(path, f"{key} has an invalid entry {bad[0]!r}")
    return tuple(value)


def _pip_tool(path: Path, value: Any) -> PipTool:
    if not isinstance(value, dict) or set(value) != _PIP_KEYS:
        raise _fail(path, f"pip needs exactly {sorted(_PIP_KEYS)}")
    package, version = value["package"], value["version"]
    if not isinstance(package, str) or not _PYPI_RE.match(package):
        raise _fail(path, "pip.package is not a PyPI project name")
    if not isinstance(version, str) or not _PIN_RE.match(version):
        raise _fail(path, "pip.version must be a pinned release like 0.13.9")
    commands = _words(path, value, "commands", _COMMAND_RE)
    if not commands:
        raise _fail(path, "pip.commands must name at least one command")
    return PipTool(package, version, commands)


def parse_stack(path: Path, data: dict[str, Any]) -> StackPreset:
    """Check one stack preset's data; a broken one is a one-line CxgenError naming the file."""
    keys = set(data)
    if not (_REQUIRED <= keys <= _REQUIRED | _OPTIONAL):
        raise _fail(path, f"keys must be {sorted(_REQUIRED)}, optionally {sorted(_OPTIONAL)}")
    if not isinstance(data["name"], str) or not STACK_RE.match(data["name"]):
        raise _fail(path, "name must be lowercase letters, digits and dashes")
    if data["name"] != path.stem:
        raise _fail(path, "name must match the file name")
    if not isinstance(data["label"], str) or not data["label"].strip():
        raise _fail(path, "label must be non-empty text")
    commands = _words(path, data, "commands", _COMMAND_RE)
    check = _words(path, data, "check", _ARG_RE)
    if not commands or not check:
        raise _fail(path, "commands and check must not be empty")
    pip = _pip_tool(path, data["pip"]) if "pip" in data else None
    apt_packages = _words(path, data, "apt_packages", APT_RE)
    if pip and "python3-venv" not in apt_packages:
        raise _fail(path, "a pip tool needs python3-venv in apt_packages")
    if not apt_packages and not pip:
        raise _fail(path, "installs nothing: give apt_packages or pip")
    return StackPreset(
        name=data["name"],
        label=data["label"],
        apt_packages=apt_packages,
        commands=commands,
        check=check,
        pip=pip,
    )


def load_stack(path: Path) -> StackPreset:
    """One stack preset file."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise _fail(path, f"not valid TOML ({error})") from None
    return parse_stack(path, data)


@cache
def stack_presets(directory: Path | None = None) -> dict[str, StackPreset]:
    """All stack presets by name, from `directory` or the installed ones (none in releases
    before stacks existed)."""
    folder = (directory or presets_dir()) / "stacks"
    return {path.stem: load_stack(path) for path in sorted(folder.glob("*.toml"))}
