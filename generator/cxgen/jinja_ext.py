"""Jinja extension loaded by the Copier template: presets and validators for copier.yml.

Keeps logic out of the template: copier.yml validators call `cxgen_invalid`, which runs the
same Python validators as `--data`; rendered files read normalized lists through `cxgen_list`.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any

from jinja2 import Environment
from jinja2.ext import Extension

from cxgen import __version__
from cxgen.errors import InvalidAnswer
from cxgen.presets import AgentPreset, RelayRoute, agent_presets
from cxgen.skills import parse_skills
from cxgen.stacks import StackPreset, stack_presets
from cxgen.validators import TEMPLATE_CHECKS, check_agents, check_default_agent, check_stacks


def invalid(value: Any, key: str, agents: Any = None) -> str:
    """The validation error for one answer, or "" when it is valid (Copier's validator contract).

    The message names the bad item and stays short: prompts show one line of the terminal.
    """
    try:
        if key == "agents":
            check_agents(value, agent_presets())
        elif key == "default_agent":
            check_default_agent(value, check_agents(agents, agent_presets()))
        elif key == "stacks":
            check_stacks(value, stack_presets())
        else:
            TEMPLATE_CHECKS[key](value)
    except InvalidAnswer as error:
        return error.short
    return ""


def normalized(value: Any, key: str) -> Any:
    """The answer as the generated files use it (lists split, duplicates removed)."""
    if key == "agents":
        return check_agents(value, agent_presets())
    if key == "stacks":
        return check_stacks(value, stack_presets())
    return TEMPLATE_CHECKS[key](value)


def shell_quote(value: Any) -> str:
    """Quote one value for bash (values are validated too; this is belt and braces)."""
    return shlex.quote(str(value))


def bash_array(words: Any) -> str:
    """A bash array literal of `words`, each quoted: `('codex' 'login')`."""
    return "(" + " ".join(shlex.quote(str(word)) for word in words) + ")"


def bash_name(name: Any) -> str:
    """An agent's name as part of a bash variable name (settings.sh's tables)."""
    text = str(name)
    if not text.isidentifier() or not text.isascii():
        raise ValueError(f"agent name {text!r} cannot name a bash variable")
    return text


def passed_env(agents: list[str], presets: dict[str, AgentPreset], extra: list[str]) -> list[str]:
    """The host variables handed to the agent: each agent's, then the `env` answer's, once."""
    names = [var for name in agents for var in presets[name].passed_env]
    return list(dict.fromkeys([*names, *extra]))


def env_from(agents: list[str], presets: dict[str, AgentPreset]) -> list[str]:
    """NAME=OTHER pairs of the agents' env_from, once each."""
    pairs = [f"{a}={b}" for name in agents for a, b in presets[name].env_from]
    return list(dict.fromkeys(pairs))


def relay_routes(
    agents: list[str], presets: dict[str, AgentPreset], answer: list[str]
) -> list[RelayRoute]:
    """The relayed keys: each agent's (the relay answer may send one to another host), then the
    answer's own, as bearer tokens."""
    hosts = dict(item.split("=", 1) for item in answer)
    routes: dict[str, RelayRoute] = {}
    for name in agents:
        # An API moved moves whole: codex's CODEX_API_KEY goes where OPENAI_API_KEY was sent.
        moved = {r.host: hosts[r.env] for r in presets[name].relay if r.env in hosts}
        for route in presets[name].relay:
            host = hosts.get(route.env, moved.get(route.host, route.host))
            routes.setdefault(route.env, dataclasses.replace(route, host=host))
    for env, host in hosts.items():
        routes.setdefault(env, RelayRoute(env, host))
    return list(routes.values())


def relay_hosts(agents: list[str], presets: dict[str, AgentPreset], answer: list[str]) -> list[str]:
    """The relay answer's hosts the agents' domains do not already allow (the relay reaches
    them through the firewall like anything else)."""
    allowed = {domain for name in agents for domain in presets[name].domains}
    hosts = [route.host.split(":")[0] for route in relay_routes(agents, presets, answer)]
    return [host for host in dict.fromkeys(hosts) if host not in allowed]


def agent_runtimes(agents: list[str], presets: dict[str, AgentPreset]) -> dict[str, list[str]]:
    """The Dockerfile's runtime layer: `commands` that tell the base image has every agent
    needing one, and the apt `packages` that install them (once each)."""
    needing = [presets[name] for name in agents if presets[name].apt_packages]
    return {
        "commands": [f"command -v {shlex.quote(p.command[0])}" for p in needing],
        "packages": list(dict.fromkeys(pkg for p in needing for pkg in p.apt_packages)),
    }


def _template_presets_dir(environment: Environment) -> Path | None:
    """The presets of the template version being rendered: an old release renders with its own
    presets, so an update's base is exactly what that release generated."""
    for root in getattr(environment.loader, "searchpath", []):
        candidate = Path(root) / "presets"
        if (candidate / "agents").is_dir():
            return candidate
    return None


def _template_presets(environment: Environment) -> dict[str, AgentPreset]:
    return agent_presets(_template_presets_dir(environment))


def _template_stacks(environment: Environment) -> dict[str, StackPreset]:
    """The rendered version's stacks (releases before stacks have none, and never ask)."""
    return stack_presets(_template_presets_dir(environment))


class CxgenExtension(Extension):
    """Registers cxgen's globals and filters in Copier's Jinja environment.

    Its filters and globals are an API for every released template: only ever add to them.
    """

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        presets = _template_presets(environment)
        environment.globals["cxgen_version"] = __version__
        environment.globals["agent_presets"] = presets
        environment.globals["agent_choices"] = [[p.label, p.name] for p in presets.values()]
        stacks = _template_stacks(environment)
        environment.globals["stack_presets"] = stacks
        environment.globals["stack_choices"] = [[s.label, s.name] for s in stacks.values()]
        environment.filters["cxgen_invalid"] = invalid
        environment.filters["cxgen_list"] = normalized
        environment.filters["shquote"] = shell_quote
        environment.filters["cxgen_bash_array"] = bash_array
        environment.filters["cxgen_bash_name"] = bash_name
        environment.globals["cxgen_passed_env"] = lambda agents, extra: passed_env(
            agents, presets, extra
        )
        environment.globals["cxgen_env_from"] = lambda agents: env_from(agents, presets)
        environment.globals["cxgen_relay_routes"] = lambda agents, answer: relay_routes(
            agents, presets, answer
        )
        environment.globals["cxgen_relay_hosts"] = lambda agents, answer: relay_hosts(
            agents, presets, answer
        )
        environment.globals["cxgen_agent_runtimes"] = lambda agents: agent_runtimes(agents, presets)
        environment.globals["cxgen_skill_sources"] = parse_skills
