"""Validation of every outside value, used by the prompts (through jinja_ext) and by --data.

Each `check_*` takes the raw answer, returns the normalized value, or raises InvalidAnswer
naming the key and the value. Lists may be given as YAML lists or as comma/space-separated text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from cxgen.errors import SHORT_WIDTH, InvalidAnswer
from cxgen.skills import parse_skills

# RFC 1123 labels, lowercase ASCII only (so no unicode look-alikes), optional leading "*.",
# at least two labels, 253 characters at most.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN_RE = re.compile(rf"\A(?:\*\.)?(?:{_LABEL}\.)+{_LABEL}\Z")
# Debian package names (policy 5.6.1), optional =version (policy 5.6.12, no shell characters).
APT_RE = re.compile(r"\A[a-z0-9][a-z0-9+.-]+(?:=[A-Za-z0-9.+~:-]+)?\Z")
# Docker image references: [registry[:port]/]path[:tag][@digest], no spaces or shell characters.
IMAGE_RE = re.compile(
    r"\A(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[a-f0-9]{64})?\Z"
)
AGENT_RE = re.compile(r"\A[a-z][a-z0-9-]{0,30}\Z")
STACK_RE = AGENT_RE  # preset names, the same shape for agents and stacks
PRIVATE_DESTINATIONS = ("deny", "allowed-names")
# Answers that are lists: given as YAML lists, or typed (at a prompt or in --data) as text.
LIST_ANSWERS = (
    "allowed_domains", "apt_packages", "readonly_mounts", "env", "relay", "host_ports", "skills"
)
# Environment variable names passed into the sandbox by name (never their values).
ENV_NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,127}\Z")
GIT_ACCESS = ("readonly", "track", "off", "writable")
# start_mode: warm (a spare sandbox started ahead of each session) or cold.
START_MODES = ("warm", "cold")
# A TCP port, as a number only (no leading zero, no address): 1-65535 is checked apart.
PORT_RE = re.compile(r"\A[1-9][0-9]{0,4}\Z")


def split_list(value: Any, key: str, *, separators: str = r"[\s,]+") -> list[str]:
    """A YAML list, or text: `[a, b]` (a YAML list, as --data takes it) or items separated by
    `separators` (`a, *.b.com`); empty items dropped. Prompts and --data both come here."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            return [item for item in re.split(separators, text) if item]
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise InvalidAnswer(key, value, "not a list like [a, b]; or give a, b") from None
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            if not isinstance(item, str):
                raise InvalidAnswer(key, item, "expected text")
            items.append(item.strip())
        return [item for item in items if item]
    raise InvalidAnswer(key, value, "expected a list or comma-separated text")


def list_as_text(items: list[str]) -> str:
    """A list answer as text that split_list reads back, and YAML reads as the list: the form
    in which list answers reach Copier (releases up to 0.2.0 ask them as YAML, later as text)."""
    return yaml.safe_dump(items, default_flow_style=True, width=10_000).strip()


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def check_domain(value: str, key: str = "allowed_domains") -> str:
    """One egress domain: `example.com` or `*.example.com`, lowercase RFC 1123."""
    if not _is_domain(value):
        hint = f"not a domain; did you mean {_meant_domain(value)}?"
        # (Left out when the prompt's line could not show it.)
        if "mean ?" in hint or len(hint) > SHORT_WIDTH - 11:
            hint = "not a domain like example.com or *.example.com"
        raise InvalidAnswer(key, value, hint)
    return value


def _is_domain(value: str) -> bool:
    return bool(DOMAIN_RE.match(value)) and len(value) <= 253


def _meant_domain(value: str) -> str:
    """The domain in a URL or a host:port (`https://Example.com:443/x` -> example.com), or ""
    when there is none to suggest."""
    try:
        host = urlsplit(value if "://" in value else f"//{value}").hostname or ""
    except ValueError:  # a malformed port or IPv6 literal
        return ""
    host = host.rstrip(".")
    return host if host != value and _is_domain(host) else ""


def check_domains(value: Any, key: str = "allowed_domains") -> list[str]:
    """A list of egress domains, duplicates removed."""
    return _unique(check_domain(item, key) for item in split_list(value, key))


def check_apt_packages(value: Any, key: str = "apt_packages") -> list[str]:
    """Debian package names, optionally pinned as name=version."""
    packages = split_list(value, key)
    for package in packages:
        if not APT_RE.match(package):
            raise InvalidAnswer(key, package, "not a Debian package name like git or jq=1.6-2")
    return _unique(packages)


def check_env_names(value: Any, key: str = "env") -> list[str]:
    """Names of host variables handed to the agent (API keys, a provider's env_key)."""
    names = split_list(value, key)
    for name in names:
        if not ENV_NAME_RE.match(name):
            raise InvalidAnswer(key, name, "not a variable name like MY_API_KEY")
    return _unique(names)


# Variables the sandbox, its shell or its loader use: never a relayed key's placeholder.
_RESERVED_NAMES = frozenset(
    {
        *("PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "TERM", "LANG", "LC_ALL", "IFS"),
        *("ENV", "BASH_ENV", "TMPDIR", "CODEX_HOME", "SANDBOX_ENV_DIR", "HOSTNAME"),
        *("LD_PRELOAD", "LD_LIBRARY_PATH"),
    }
)


def check_relay(value: Any, key: str = "relay") -> list[str]:
    """Relayed keys, NAME=HOST[:PORT]: the host variable NAME's value is added by the relay to
    the agent's requests for HOST, and never enters the sandbox (one entry per NAME)."""
    routes: dict[str, str] = {}
    for item in split_list(value, key):
        name, _, target = item.partition("=")
        if not ENV_NAME_RE.match(name):
            raise InvalidAnswer(key, item, "expected NAME=HOST, like MY_API_KEY=api.example.com")
        if name.startswith("CXGEN_") or name in _RESERVED_NAMES:
            raise InvalidAnswer(key, item, "a variable the sandbox uses; name your key's own")
        host, _, port = target.partition(":")
        if (
            not _is_domain(host)
            or host.startswith("*.")
            or (port and not (port.isdigit() and 0 < int(port) < 65536))
        ):
            meant = _meant_domain(target)
            hint = f"did you mean {name}={meant}?" if meant else "expected NAME=HOST[:PORT]"
            raise InvalidAnswer(key, item, f"not a host name; {hint}")
        routes[name] = f"{name}={target}"
    return list(routes.values())


def check_host_ports(value: Any, key: str = "host_ports") -> list[str]:
    """TCP ports of the Docker host the sandbox may reach (at host.docker.internal:PORT), as
    numbers; YAML may give them as integers (`[11434, 4000]`)."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            raise InvalidAnswer(key, value, "not a list like [11434, 4000]") from None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, list | tuple):
        value = [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
    ports = split_list(value, key)
    for port in ports:
        if not PORT_RE.match(port) or int(port) > 65535:
            _, _, tail = port.rpartition(":")
            # (localhost:11434, a URL: the address is always the Docker host's.)
            meant = tail != port and PORT_RE.match(tail) and int(tail) <= 65535
            hint = f"give the port alone: {tail}" if meant else "not a port (1-65535)"
            raise InvalidAnswer(key, port, hint)
    return _unique(ports)


def check_skills(value: Any, key: str = "skills") -> list[str]:
    """Skills from git, each `https://HOST/PATH@COMMIT[#FOLDER]`, pinned to a full commit id
    (see cxgen.skills)."""
    return [source.answer for source in parse_skills(split_list(value, key), key)]


def check_mount_path(value: str, key: str = "readonly_mounts", *, must_exist: bool = True) -> str:
    """A host path to mount read-only: absolute (`~/x` and `~user/x` expanded), existing, not /,
    no control characters."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidAnswer(key, value, "paths with newlines or control characters are refused")
    path = _expand_home(value, key)
    if not path.is_absolute():
        raise InvalidAnswer(key, value, "expected an absolute path")
    if ".." in path.parts:
        raise InvalidAnswer(key, value, "'..' is not allowed; give the real path")
    if path.resolve() == Path("/"):
        raise InvalidAnswer(key, value, "mounting / would expose the whole host")
    if must_exist and not path.exists():
        raise InvalidAnswer(key, value, "no such file or directory")
    return str(path)


def _expand_home(value: str, key: str) -> Path:
    """The path with a leading `~` or `~user` made that user's home folder."""
    path = Path(value)
    if not value.startswith("~"):
        return path
    try:
        return path.expanduser()
    except RuntimeError:  # no such user, or no home folder to be found
        user = value[1:].split("/", 1)[0]
        reason = f"no user {user!r} on this machine" if user else "no home folder for ~"
        raise InvalidAnswer(key, value, reason) from None


def check_mount_paths(
    value: Any, key: str = "readonly_mounts", *, must_exist: bool = True
) -> list[str]:
    """Read-only mounts; as text they are separated by commas (paths may hold spaces)."""
    items = split_list(value, key, separators=r"\s*,\s*") if isinstance(value, str) else value
    return _unique(
        check_mount_path(item, key, must_exist=must_exist) for item in split_list(items, key)
    )


# Whether the template's validators are re-checking saved answers (`cxgen update`) rather than
# answers given now (a prompt, --data), which must hold on this machine.
_SAVED_ANSWERS: ContextVar[bool] = ContextVar("cxgen_saved_answers", default=False)


@contextmanager
def checking_saved_answers() -> Iterator[None]:
    """Within: the template's validators check saved answers' shape only (see TEMPLATE_CHECKS)."""
    token = _SAVED_ANSWERS.set(True)
    try:
        yield
    finally:
        _SAVED_ANSWERS.reset(token)


def check_template_mount_paths(value: Any, key: str = "readonly_mounts") -> list[str]:
    """Mounts as the template's validator sees them: typed at a prompt, the same check as
    --data (the paths must exist); saved answers re-rendered by an update, the shape only."""
    return check_mount_paths(value, key, must_exist=not _SAVED_ANSWERS.get())


def check_init_hook(value: Any, key: str = "init_hook") -> str:
    """Empty, or an existing regular file to install as .codex/.environment/init.sh."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise InvalidAnswer(key, value, "expected a file path")
    if any(ord(ch) < 32 for ch in value):
        raise InvalidAnswer(key, value, "paths with newlines or control characters are refused")
    if not Path(value).expanduser().is_file():
        raise InvalidAnswer(key, value, "no such file")
    return str(Path(value).expanduser().resolve())


def check_image(value: Any, key: str = "base_image") -> str:
    """A Docker image reference such as debian:bookworm-slim."""
    if not isinstance(value, str) or not IMAGE_RE.match(value) or len(value) > 255:
        raise InvalidAnswer(key, value, "expected an image reference like debian:bookworm-slim")
    return value


def check_agents(value: Any, known: Iterable[str], key: str = "agents") -> list[str]:
    """At least one agent, each with a preset."""
    known = list(known)
    agents = _unique(split_list(value, key))
    if not agents:
        raise InvalidAnswer(key, value, f"choose at least one of: {', '.join(known)}")
    for agent in agents:
        if not AGENT_RE.match(agent) or agent not in known:
            raise InvalidAnswer(key, agent, f"unknown agent; choose from: {', '.join(known)}")
    return agents


def check_stacks(value: Any, known: Iterable[str], key: str = "stacks") -> list[str]:
    """Language stacks for the image (none is fine), each with a preset."""
    known = list(known)
    stacks = _unique(split_list(value, key))
    for stack in stacks:
        if not STACK_RE.match(stack) or stack not in known:
            raise InvalidAnswer(key, stack, f"unknown stack; choose from: {', '.join(known)}")
    return stacks


def check_default_agent(value: Any, agents: list[str], key: str = "default_agent") -> str:
    """The agent `run` starts; one of the chosen agents."""
    if value in (None, ""):
        return agents[0]
    if value not in agents:
        raise InvalidAnswer(key, value, f"must be one of the chosen agents: {', '.join(agents)}")
    return str(value)


def check_private_destinations(value: Any, key: str = "private_destinations") -> str:
    """deny (default) or allowed-names."""
    if value not in PRIVATE_DESTINATIONS:
        raise InvalidAnswer(key, value, f"expected one of: {', '.join(PRIVATE_DESTINATIONS)}")
    return str(value)


def check_git(value: Any, key: str = "git") -> str:
    """readonly (default), track, off or writable: what the sandbox may do with the project's
    .git (track: readonly, and the host snapshots each session's start for diff and revert)."""
    if value is False:  # YAML 1.1 reads a bare `off` (as in --data git=off) as false
        value = "off"
    if value not in GIT_ACCESS:
        raise InvalidAnswer(key, value, f"expected one of: {', '.join(GIT_ACCESS)}")
    return str(value)


def check_start_mode(value: Any, key: str = "start_mode") -> str:
    """warm (default: a spare sandbox waits for the next session) or cold."""
    if value not in START_MODES:
        raise InvalidAnswer(key, value, f"expected one of: {', '.join(START_MODES)}")
    return str(value)


# Validators keyed by answer name, for --data (new answers: mounts must exist here).
SIMPLE_CHECKS: dict[str, Callable[[Any], Any]] = {
    "allowed_domains": check_domains,
    "apt_packages": check_apt_packages,
    "readonly_mounts": check_mount_paths,
    "init_hook": check_init_hook,
    "base_image": check_image,
    "private_destinations": check_private_destinations,
    "git": check_git,
    "env": check_env_names,
    "relay": check_relay,
    "host_ports": check_host_ports,
    "skills": check_skills,
    "start_mode": check_start_mode,
}

# The template's Jinja validators: prompts' answers (checked like --data) and, during an
# update, the saved answers, on any machine.
TEMPLATE_CHECKS: dict[str, Callable[[Any], Any]] = {
    **SIMPLE_CHECKS,
    "readonly_mounts": check_template_mount_paths,
}
