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
_HOME_PATH_RE = re.compile(r"\A[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*\Z")
_HOST_PATH_RE = re.compile(r"\A(?:~|\$[A-Z_][A-Z0-9_]*)(?:/[A-Za-z0-9._-]+)+\Z")
_KEY_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
_LOGIN_ENV_RE = re.compile(r"\A[A-Z_][A-Z0-9_]*=[A-Za-z0-9._/:-]*\Z")
_LIST_KEYS = ("apt_packages", "command", "unattended_args", "domains", "env")
_REQUIRED = {"name", "label", "apt_packages", "command", "unattended_args", "domains", "env"}
_OPTIONAL = {
    "npm_package",
    "version",
    "install",
    "env_from",
    "relay",
    "image_files",
    "credentials",
    "login",
}
_RELAY_HOST_RE = re.compile(r"\A[a-z0-9.-]+(?::[0-9]{1,5})?\Z")
RELAY_HEADERS = ("bearer", "x-api-key", "openai", "chatgpt", "refresh")
# Where the relay listens inside every sandbox (entrypoint's relay.sh says the same).
RELAY_ADDRESS = "http://127.0.0.1:8700"
# image_files lines may name a relayed key's URL: {relay:NAME} is the relay's address for the
# host NAME's key goes to (the preset's, or the relay answer's).
_RELAY_URL_RE = re.compile(r"\{relay:([A-Z_][A-Z0-9_]*)\}")
_LOGIN_KEYS = {
    "args",
    "callback_port",
    "callback_address",
    "device_args",
    "api_key_args",
    "api_key_env",
    "env",
}
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
class RelayRoute:
    """An API key the relay adds to the agent's requests for `host`; the sandbox never has it."""

    env: str
    host: str
    header: str = "bearer"
    url_env: str = ""

    @property
    def url(self) -> str:
        """The relay's address for this host, as the agent uses it."""
        return f"{RELAY_ADDRESS}/{self.host}"


@dataclass(frozen=True)
class Credential:
    """A file holding the agent's login: kept in its project home, imported from the host's."""

    path: str
    host: tuple[str, ...]
    # Ignored: logins are never written back, so no account check is made (still read, so
    # presets that name it load, and templates that read it render).
    account_key: str = ""


@dataclass(frozen=True)
class Login:
    """How `./run_in_container.sh login` signs the agent in."""

    args: tuple[str, ...]
    callback_port: int = 0
    callback_address: str = ""
    device_args: tuple[str, ...] = ()
    api_key_args: tuple[str, ...] = ()
    api_key_env: str = ""
    env: tuple[str, ...] = ()


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
    relay: tuple[RelayRoute, ...] = ()
    image_files: tuple[ImageFile, ...] = ()
    credentials: tuple[Credential, ...] = ()
    login: Login | None = None

    @property
    def build_steps(self) -> tuple[str, ...]:
        """The agent layer's shell steps, with the preset's own relay hosts."""
        return self.build_steps_for(self.relay)

    def build_steps_for(self, routes: tuple[RelayRoute, ...]) -> tuple[str, ...]:
        """The agent layer's shell steps: install (an npm package only when the base image
        lacks the command, so a mirror or offline base image works), then its files, where
        {relay:NAME} is the relay's URL for the host of NAME's route among `routes`."""
        urls = {route.env: route.url for route in routes}
        files = [
            ImageFile(
                file.path,
                tuple(
                    _RELAY_URL_RE.sub(lambda m: urls.get(m[1], m[0]), line) for line in file.lines
                ),
            )
            for file in self.image_files
        ]
        steps = []
        if self.npm_package:
            steps.append(
                f"if ! command -v {shlex.quote(self.command[0])} >/dev/null 2>&1; "
                f"then npm install -g {self.npm_package}@{self.version}; fi"
            )
        elif self.install:
            steps.append(self.install)
        return (*steps, *(file.write_step for file in files))

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


def _relay(path: Path, value: Any, image_files: tuple[ImageFile, ...]) -> tuple[RelayRoute, ...]:
    routes = []
    if not isinstance(value, list):
        raise _fail(path, "relay must be a list of tables")
    for item in value:
        if not isinstance(item, dict) or not {"env", "host"} <= set(item) <= {
            "env",
            "host",
            "header",
            "url_env",
        }:
            raise _fail(path, "each relay entry needs env and host, optionally header and url_env")
        route = RelayRoute(**item)
        if not all(
            isinstance(v, str) for v in (route.env, route.host, route.header, route.url_env)
        ):
            raise _fail(path, "relay entries hold text")
        if not _ENV_RE.match(route.env) or (route.url_env and not _ENV_RE.match(route.url_env)):
            raise _fail(path, "relay env and url_env must be variable names")
        if not _RELAY_HOST_RE.match(route.host) or not DOMAIN_RE.match(route.host.split(":")[0]):
            raise _fail(path, "relay host must be a host name, optionally with :port")
        if route.header not in RELAY_HEADERS:
            raise _fail(path, f"relay header must be one of {', '.join(RELAY_HEADERS)}")
        routes.append(route)
    named = {route.env for route in routes}
    for file in image_files:
        for line in file.lines:
            for match in _RELAY_URL_RE.finditer(line):
                if match[1] not in named:
                    raise _fail(path, f"image_files names {{relay:{match[1]}}}, which relay lacks")
    return tuple(routes)


def _credentials(path: Path, value: Any) -> tuple[Credential, ...]:
    found = []
    for item in value:
        if not isinstance(item, dict) or not {"path", "host"} <= set(item) <= {
            "path",
            "host",
            "account_key",
        }:
            raise _fail(path, "each credentials entry needs path and host, optionally account_key")
        hosts, key = item["host"], item.get("account_key", "")
        if not isinstance(item["path"], str) or not _HOME_PATH_RE.match(item["path"]):
            raise _fail(path, "credentials path must be relative, like auth.json")
        if ".." in item["path"].split("/"):
            raise _fail(path, "credentials path must stay inside the agent home")
        if (
            not isinstance(hosts, list)
            or not hosts
            or not all(isinstance(h, str) and _HOST_PATH_RE.match(h) for h in hosts)
        ):
            raise _fail(path, "credentials host must list paths like ~/.agent/file or $VAR/file")
        if not isinstance(key, str) or (key and not _KEY_RE.match(key)):
            raise _fail(path, "credentials account_key must be a JSON key name")
        found.append(Credential(item["path"], tuple(hosts), key))
    return tuple(found)


def _words(path: Path, value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(path, f"{what} must be a list of words")
    return tuple(value)


def _login(path: Path, value: Any) -> Login | None:
    if value is None:
        return None
    if not isinstance(value, dict) or "args" not in value or not set(value) <= _LOGIN_KEYS:
        raise _fail(path, f"login needs args, optionally {sorted(_LOGIN_KEYS - {'args'})}")
    port, address = value.get("callback_port", 0), value.get("callback_address", "")
    if bool(port) != bool(address) or (
        port and not (isinstance(port, int) and 1024 <= port <= 65535)
    ):
        raise _fail(path, "login callback_port (1024-65535) and callback_address go together")
    if address not in ("", "127.0.0.1", "::1"):
        raise _fail(path, "login callback_address must be 127.0.0.1 or ::1")
    key_args = _words(path, value.get("api_key_args", []), "login api_key_args")
    key_env = value.get("api_key_env", "")
    if bool(key_args) != bool(key_env) or (key_env and not _ENV_RE.match(str(key_env))):
        raise _fail(path, "login api_key_args and api_key_env (a variable name) go together")
    env = _words(path, value.get("env", []), "login env")
    if not all(_LOGIN_ENV_RE.match(item) for item in env):
        raise _fail(path, "login env entries must be NAME=plain-value")
    return Login(
        args=_words(path, value["args"], "login args"),
        callback_port=port,
        callback_address=address,
        device_args=_words(path, value.get("device_args", []), "login device_args"),
        api_key_args=key_args,
        api_key_env=key_env,
        env=env,
    )


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
    image_files = _image_files(path, data.get("image_files", []))
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
        relay=_relay(path, data.get("relay", []), image_files),
        image_files=image_files,
        credentials=_credentials(path, data.get("credentials", [])),
        login=_login(path, data.get("login")),
    )


@cache
def agent_presets(directory: Path | None = None) -> dict[str, AgentPreset]:
    """All agent presets by name (the shell agent last), from `directory` or the installed ones."""
    presets = {}
    for path in sorted(((directory or presets_dir()) / "agents").glob("*.toml")):
        with path.open("rb") as handle:
            presets[path.stem] = parse_preset(path, tomllib.load(handle))
    return dict(sorted(presets.items(), key=lambda item: (item[0] == "shell", item[0])))
