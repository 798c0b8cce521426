"""Agent presets: one TOML file per agent under presets/agents, loaded into dataclasses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import tomllib

from cxgen.errors import CxgenError
from cxgen.resources import presets_dir
from cxgen.validators import APT_RE, DOMAIN_RE

_ENV_RE = re.compile(r"\A[A-Z_][A-Z0-9_]*\Z")


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


def _fail(path: Path, message: str) -> CxgenError:
    return CxgenError(f"broken preset {path.name}: {message}")


def parse_preset(path: Path, data: dict[str, Any]) -> AgentPreset:
    """Check one preset's data (the JSON schema says the same, for editors and tests)."""
    expected = {"name", "label", "apt_packages", "install", "command", "domains", "env"}
    if set(data) != expected:
        raise _fail(path, f"keys must be exactly {sorted(expected)}")
    if data["name"] != path.stem:
        raise _fail(path, "name must match the file name")
    for key in ("apt_packages", "command", "domains", "env"):
        if not isinstance(data[key], list) or not all(isinstance(v, str) for v in data[key]):
            raise _fail(path, f"{key} must be a list of strings")
    if not all(APT_RE.match(p) for p in data["apt_packages"]):
        raise _fail(path, "apt_packages has an invalid package name")
    if not all(DOMAIN_RE.match(d) for d in data["domains"]):
        raise _fail(path, "domains has an invalid domain")
    if not all(_ENV_RE.match(e) for e in data["env"]):
        raise _fail(path, "env has an invalid variable name")
    if not data["command"] or "\n" in data["install"]:
        raise _fail(path, "command must be non-empty and install a single line")
    return AgentPreset(
        name=data["name"],
        label=data["label"],
        apt_packages=tuple(data["apt_packages"]),
        install=data["install"],
        command=tuple(data["command"]),
        domains=tuple(data["domains"]),
        env=tuple(data["env"]),
    )


@cache
def agent_presets(directory: Path | None = None) -> dict[str, AgentPreset]:
    """All agent presets by name (the shell agent last), from `directory` or the installed ones."""
    presets = {}
    for path in sorted(((directory or presets_dir()) / "agents").glob("*.toml")):
        with path.open("rb") as handle:
            presets[path.stem] = parse_preset(path, tomllib.load(handle))
    return dict(sorted(presets.items(), key=lambda item: (item[0] == "shell", item[0])))
