"""Agent presets: one TOML file per agent under presets/agents, loaded into dataclasses."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import tomllib

from cxgen.errors import CxgenError
from cxgen.resources import presets_dir
from cxgen.validators import APT_RE, DOMAIN_RE

_ENV_RE = re.compile(r"\A[A-Z_][A-Z0-9_]*\Z")
_NPM_RE = re.compile(r"\A(?:@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*\Z")
_VERSION_RE = re.compile(r"\A[0-9]+\.[0-9]+\.[0-9]+(?:[-+][0-9A-Za-z.-]+)?\Z")
_FILE_RE = re.compile(r"\A(?:/[A-Za-z0-9._-]+)+\Z")
_LIST_KEYS = ("apt_packages", "command", "unattended_args", "domains", "env")
_REQUIRED = {"name", "label", "apt_packages", "command", "unattended_args", "domains", "env"}
_OPTIONAL = {"npm_package", "version", "install", "env_from", "image_files"}
# Releases up to 0.3 (rendered again by `cxgen update`): exactly these keys, `install` a shell
# line, the unattended arguments inside `command`.
_LEGACY = {"name", "label", "apt_packages", "install", "command", "domains", "env"}


@dataclass(frozen=True)
class ImageFile:
    """A small text file the agent's image layer writes (system-wide agent config)."""

    path: str
    lines: tuple[str, ...]

    @property
    def write_step(self) -> str:
        """The shell step of an image build that writes this file."""
        parent = self.path.rsplit("/", 1)[0] or "/"
        lines = " ".join(shlex.quote(line) for line in self.lines)
        return f"mkdir -p {parent} && printf '%s\\n' {lines} >{self.path}"


@dataclass(frozen=True)
class AgentPreset:
    """What the template needs to install and start one agent."""

    name: str
    label: str
    apt_packages: tuple[str, ...]
    install: str
    command: tuple[str, ...]
    domains: tuple[str, ...]
    env: tuple[str, ...]
    unattended_args: tuple[str, ...] = ()
    npm_package: str = ""
    version: str = ""
    env_from: tuple[tuple[str, str], ...] = ()
    image_files: tuple[ImageFile, ...] = ()

    @property
    def build_steps(self) -> tuple[str, ...]:
        """The agent layer's shell steps: install (an npm package only when the base image
        lacks the command, so a mirror or offline base image works), then its files."""
        steps = []
        if self.npm_package:
            steps.append(
                f"if ! command -v {shlex.quote(self.command[0])} >/dev/null 2>&1; "
                f"then npm install -g {self.npm_package}@{self.version}; fi"
            )
        elif self.install:
            steps.append(self.install)
        return (*steps, *(file.write_step for file in self.image_files))

    @property
    def passed_env(self) -> tuple[str, ...]:
        """Every host variable the agent gets: env, and env_from's targets."""
        return tuple(dict.fromkeys([*self.env, *(name for name, _ in self.env_from)]))


def _fail(path: Path, message: str) -> CxgenError:
    return CxgenError(f"broken preset {path.name}: {message}")


def _image_files(path: Path, value: Any) -> tuple[ImageFile, ...]:
    files = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"path", "lines"}:
            raise _fail(path, "each image_files entry needs exactly path and lines")
        lines = item["lines"]
        if not isinstance(item["path"], str) or not _FILE_RE.match(item["path"]):
            raise _fail(path, "image_files has an invalid path")
        if not isinstance(lines, list) or not all(
            isinstance(line, str) and "\n" not in line and "\r" not in line for line in lines
        ):
            raise _fail(path, "image_files lines must be single lines of text")
        files.append(ImageFile(item["path"], tuple(lines)))
    return tuple(files)


def parse_preset(path: Path, data: dict[str, Any]) -> AgentPreset:
    """Check one preset's data (the JSON schema says the same, for editors and tests)."""
    keys = set(data)
    legacy = keys == _LEGACY
    if not legacy and not (_REQUIRED <= keys <= _REQUIRED | _OPTIONAL):
        raise _fail(path, f"keys must be {sorted(_REQUIRED)}, optionally {sorted(_OPTIONAL)}")
    if data["name"] != path.stem:
        raise _fail(path, "name must match the file name")
    for key in _LIST_KEYS:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _fail(path, f"{key} must be a list of strings")
    if not all(APT_RE.match(p) for p in data["apt_packages"]):
        raise _fail(path, "apt_packages has an invalid package name")
    if not all(DOMAIN_RE.match(d) for d in data["domains"]):
        raise _fail(path, "domains has an invalid domain")
    env_from = data.get("env_from", {})
    if not isinstance(env_from, dict) or not all(
        isinstance(v, str) and _ENV_RE.match(k) and _ENV_RE.match(v) for k, v in env_from.items()
    ):
        raise _fail(path, "env_from must map variable names to variable names")
    if not all(_ENV_RE.match(e) for e in data["env"]):
        raise _fail(path, "env has an invalid variable name")
    install = data.get("install", "")
    if not data["command"] or not isinstance(install, str) or "\n" in install:
        raise _fail(path, "command must be non-empty and install a single line")
    npm_package, version = data.get("npm_package", ""), data.get("version", "")
    if bool(npm_package) != bool(version) or (npm_package and install):
        raise _fail(path, "npm_package and version go together, and not with install")
    if npm_package and not (_NPM_RE.match(npm_package) and _VERSION_RE.match(version)):
        raise _fail(path, "npm_package or version is invalid (a version is x.y.z)")
    return AgentPreset(
        name=data["name"],
        label=data["label"],
        apt_packages=tuple(data["apt_packages"]),
        install=install or (f"npm install -g {npm_package}@{version}" if npm_package else ""),
        command=tuple(data["command"]),
        domains=tuple(data["domains"]),
        env=tuple(data["env"]),
        unattended_args=tuple(data.get("unattended_args", [])),
        npm_package=npm_package,
        version=version,
        env_from=tuple(sorted(env_from.items())),
        image_files=_image_files(path, data.get("image_files", [])),
    )


@cache
def agent_presets(directory: Path | None = None) -> dict[str, AgentPreset]:
    """All agent presets by name (the shell agent last), from `directory` or the installed ones."""
    presets = {}
    for path in sorted(((directory or presets_dir()) / "agents").glob("*.toml")):
        with path.open("rb") as handle:
            presets[path.stem] = parse_preset(path, tomllib.load(handle))
    return dict(sorted(presets.items(), key=lambda item: (item[0] == "shell", item[0])))
