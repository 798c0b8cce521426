"""`cxgen doctor [PATH]`: can this machine run cxgen sandboxes, and is this project ready?

Every check gives one line: ok, warn (runs, but know this) or FAIL (blocks running), and a
failing check says how to fix it. The daemon is reached through the docker SDK; nothing is ever
pulled: the firewall's kernel support is tried in a throwaway container from a local image.
A project's policy and image tag are what its own run script says: doctor runs
`run_in_container.sh build` against a copy of the accepted policy and a stand-in `docker` that
records the tag it is asked for and fails, so nothing is built, started or accepted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from packaging.version import InvalidVersion, Version
from plumbum import local

from cxgen import __version__
from cxgen.accept import RUN_SCRIPT, carries_accept
from cxgen.errors import InvalidAnswer
from cxgen.policy_probe import probe
from cxgen.project_files import ANSWERS_FILE
from cxgen.validators import check_host_ports

if TYPE_CHECKING:
    import docker

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
DEFAULT_SOCKET = "/var/run/docker.sock"
# Built by run_in_container.sh (docker build --label org.cxgen.version=...): they carry nft.
IMAGE_LABEL = "org.cxgen.version"
DOCTOR_LABEL = "org.cxgen.doctor"
MIN_BASH = (3, 2)
# Linux's ioctl asking a network interface's IPv4 address (linux/sockios.h).
SIOCGIFADDR = 0x8915


@dataclass
class Check:
    """One line of the report."""

    status: str
    name: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        """`status  name: detail; fix: ...` on one line."""
        fix = f"; fix: {self.fix}" if self.fix and self.status in (FAIL, WARN) else ""
        return f"{self.status:<5} {self.name}: {self.detail}{fix}"


@dataclass
class Report:
    """Every check, in order; blocking when any failed."""

    checks: list[Check] = field(default_factory=list)

    def add(self, status: str, name: str, detail: str, fix: str = "") -> Check:
        """Record one check and return it."""
        check = Check(status, name, detail, fix)
        self.checks.append(check)
        return check

    @property
    def blocking(self) -> bool:
        """Whether anything failed that keeps a sandbox from running."""
        return any(check.status == FAIL for check in self.checks)


def run_doctor(path: Path | None, report_line: Callable[[str], None] = print) -> Report:
    """Check the machine, then the project at `path` (or the current folder when it is one)."""
    report = Report()
    reported = 0

    def flush() -> None:
        nonlocal reported
        for check in report.checks[reported:]:
            report_line(check.line())
        reported = len(report.checks)

    client = _check_docker(report)
    flush()
    _check_bash(report)
    flush()
    project = path if path is not None else Path.cwd()
    if path is not None or (project / ANSWERS_FILE).is_file():
        image = _check_project(report, project.expanduser(), client)
        flush()
    else:
        image = None
        report.add(SKIP, "project", f"{project} is not a cxgen project (give PATH to check one)")
    _check_firewall_kernel(report, client, image)
    flush()
    return report


# --- Docker -------------------------------------------------------------------------------------


def _socket_path() -> str | None:
    """The unix socket the SDK will use (DOCKER_HOST or the default), None for tcp/ssh hosts."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return DEFAULT_SOCKET
    if host.startswith("unix://"):
        return host.removeprefix("unix://")
    return None


def _check_docker(report: Report) -> docker.DockerClient | None:
    """CLI, socket, daemon and builder; the SDK client when the daemon answers."""
    cli = shutil.which("docker")
    if cli:
        report.add(OK, "docker CLI", cli)
    else:
        report.add(
            FAIL,
            "docker CLI",
            "not found on PATH (the run script calls it)",
            "install Docker (https://docs.docker.com/get-docker/) and put `docker` on PATH",
        )
    socket = _socket_path()
    if socket is not None:
        sock = Path(socket)
        if not sock.exists():
            report.add(
                FAIL,
                "docker socket",
                f"{socket} does not exist: the Docker daemon is not running"
                + (" (DOCKER_HOST)" if os.environ.get("DOCKER_HOST") else ""),
                "start Docker (e.g. `sudo systemctl start docker`), or point DOCKER_HOST at "
                "its socket",
            )
            return None
        if not stat.S_ISSOCK(sock.stat().st_mode):
            report.add(FAIL, "docker socket", f"{socket} is not a socket", "fix DOCKER_HOST")
            return None
        if not os.access(sock, os.R_OK | os.W_OK):
            report.add(
                FAIL,
                "docker socket",
                f"no permission to use {socket}",
                "add yourself to its group (`sudo usermod -aG docker $USER`), then log in again",
            )
            return None
        report.add(OK, "docker socket", f"{socket} (read and write)")
    client = _connect(report)
    if client is not None:
        _check_builder(report, cli)
    return client


def _connect(report: Report) -> docker.DockerClient | None:
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env(timeout=20)
        version: dict[str, Any] = client.version()
    except DockerException as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        report.add(
            FAIL,
            "Docker daemon",
            f"not reachable: {reason}",
            "start Docker and check DOCKER_HOST (`docker version` must show a Server)",
        )
        return None
    report.add(
        OK,
        "Docker daemon",
        f"Engine {version.get('Version', '?')} (API {version.get('ApiVersion', '?')}), "
        f"{version.get('Os', '?')}/{version.get('Arch', '?')}",
    )
    return client


def _check_builder(report: Report, cli: str | None) -> None:
    """BuildKit (buildx) or the legacy builder: both build the generated Dockerfile. Asked of
    the docker CLI at `cli` (None: not on PATH, which its own check reported)."""
    if cli is None:
        report.add(SKIP, "builder", "needs the docker CLI (see its line above)")
        return
    if os.environ.get("DOCKER_BUILDKIT") == "0":
        report.add(OK, "builder", "legacy (DOCKER_BUILDKIT=0); the Dockerfile needs no BuildKit")
        return
    code, out, _ = local[cli]["buildx", "version"].run(retcode=None, timeout=20)
    if code == 0:
        report.add(OK, "builder", f"BuildKit ({out.strip() or 'buildx'})")
    else:
        report.add(
            OK,
            "builder",
            "legacy (no buildx plugin); the Dockerfile needs no BuildKit, builds work",
        )


def _check_firewall_kernel(
    report: Report, client: docker.DockerClient | None, image: str | None
) -> None:
    """Load an nftables table in a throwaway container (no network, NET_ADMIN only), with the
    sysctl the run script sets. Local images only: the project's, else any cxgen-built one."""
    name = "firewall (nf_tables)"
    if client is None:
        report.add(SKIP, name, "needs the Docker daemon")
        return
    from docker.errors import DockerException, ImageNotFound

    candidates = [image] if image else []
    try:
        candidates += [
            tag
            for found in client.images.list(filters={"label": IMAGE_LABEL})
            for tag in found.tags[:1]
        ]
    except DockerException as error:
        report.add(FAIL, name, f"cannot list images: {error}", "check the Docker daemon")
        return
    for candidate in candidates:
        try:
            client.images.get(candidate)
        except ImageNotFound:
            continue
        _try_nft(report, client, candidate, name)
        return
    report.add(
        WARN,
        name,
        "not tested: no local cxgen image to test with (doctor never pulls one)",
        "build one (`./run_in_container.sh build` in a project), then run doctor again",
    )


def _try_nft(report: Report, client: docker.DockerClient, image: str, name: str) -> None:
    from docker.errors import DockerException

    container = None
    try:
        container = client.containers.create(
            image,
            entrypoint=["nft"],
            command=["add", "table", "inet", "cxgen_doctor"],
            user="0",
            network_mode="none",
            cap_drop=["ALL"],
            cap_add=["NET_ADMIN"],
            sysctls={"net.ipv4.ip_unprivileged_port_start": "1024"},
            labels={DOCTOR_LABEL: "1"},
        )
        container.start()
        status = int(container.wait(timeout=60).get("StatusCode", 1))
        output = container.logs().decode(errors="replace").strip()
    except DockerException as error:
        status, output = 1, str(error).splitlines()[0] if str(error) else type(error).__name__
    finally:
        if container is not None:
            with contextlib.suppress(DockerException):
                container.remove(force=True)
    if status == 0:
        report.add(OK, name, f"a table loads in a container of {image}")
    else:
        last = output.splitlines()[-1] if output else f"exit status {status}"
        report.add(
            FAIL,
            name,
            f"nft failed in a container of {image}: {last}",
            "the sandbox needs a kernel with nf_tables (CONFIG_NF_TABLES, `modprobe nf_tables`) "
            "and Docker allowing NET_ADMIN and net.* sysctls",
        )


# --- bash ---------------------------------------------------------------------------------------


def _check_bash(report: Report) -> None:
    bash = shutil.which("bash")
    if bash is None:
        report.add(FAIL, "bash", "not found on PATH", "install bash 3.2 or newer")
        return
    script = 'printf "%s.%s.%s" "${BASH_VERSINFO[0]}" "${BASH_VERSINFO[1]}" "${BASH_VERSINFO[2]}"'
    code, out, err = local[bash]["-c", script].run(retcode=None, timeout=20)
    parts = out.split(".")
    if code != 0 or len(parts) != 3 or not all(part.isdigit() for part in parts):
        report.add(FAIL, "bash", f"{bash} did not say its version ({err.strip()})", "reinstall")
        return
    if (int(parts[0]), int(parts[1])) < MIN_BASH:
        report.add(FAIL, "bash", f"{bash} is {out}; the run script needs 3.2+", "upgrade bash")
    else:
        report.add(OK, "bash", f"{bash} {out}")


# --- The project --------------------------------------------------------------------------------


def _check_project(report: Report, project: Path, client: docker.DockerClient | None) -> str | None:
    """Answers, template version, policy and image of one project; its image tag when known."""
    answers_path = project / ANSWERS_FILE
    if not answers_path.is_file():
        report.add(
            FAIL,
            "project",
            f"{project} is not a cxgen project (no {ANSWERS_FILE})",
            f"`cxgen init {project}`",
        )
        return None
    try:
        answers = yaml.safe_load(answers_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = str(error).splitlines()[0]
        report.add(FAIL, "answers", f"{answers_path}: {reason}", "restore it with git")
        return None
    if not isinstance(answers, dict):
        report.add(FAIL, "answers", f"{answers_path} holds no answers", "restore it with git")
        return None
    report.add(OK, "answers", str(answers_path))
    _check_host_ports(report, answers.get("host_ports"), client)
    version = _check_version(report, str(answers.get("_commit") or ""))
    if not (project / RUN_SCRIPT).is_file():
        report.add(FAIL, "run script", f"{project / RUN_SCRIPT} is missing", "restore it with git")
        return None
    if shutil.which("bash") is None:
        report.add(SKIP, "policy", "needs bash to ask the run script (see its line above)")
        return None
    tag = _check_policy(report, project, version)
    if tag is None:
        return None
    _check_image(report, client, tag)
    return tag


def _check_host_ports(report: Report, answer: Any, client: docker.DockerClient | None) -> None:
    """Whether something listens at each port of the host_ports answer where a sandbox reaches
    this machine: the Docker network's gateway (the default bridge's, checked here), which a
    service listening on 127.0.0.1 alone does not answer on. Connections to this machine only."""
    try:
        ports = [int(port) for port in check_host_ports(answer)]
    except InvalidAnswer as error:
        report.add(FAIL, "host ports", error.message, "`cxgen update --data host_ports=PORT,...`")
        return
    if not ports:
        return
    gateway, why_not = _local_bridge_gateway(client)
    for port in ports:
        _check_host_port(report, port, gateway, why_not)


def _local_bridge_gateway(client: docker.DockerClient | None) -> tuple[str | None, str]:
    """The default bridge's IPv4 gateway when it is an address of this machine; else None and
    why not (no daemon, or Docker's host is a VM or another machine)."""
    if client is None:
        return None, "needs the Docker daemon to know the network's gateway"
    from docker.errors import DockerException

    try:
        attrs = client.networks.get("bridge").attrs
    except DockerException as error:
        return None, f"cannot ask Docker for the bridge network: {error}"
    configs = attrs.get("IPAM", {}).get("Config") or []
    gateways = [c.get("Gateway", "") for c in configs if "." in str(c.get("Gateway", ""))]
    # Docker may name no gateway for its default bridge: it is the bridge's own address.
    bridge = (attrs.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
    gateways = gateways or [address for address in [_interface_address(bridge)] if address]
    if not gateways:
        return None, "Docker's bridge network has no IPv4 gateway"
    # Only this machine's own addresses can be bound: the gateway is here, or Docker runs in a
    # VM (Docker Desktop) or on another machine, whose ports doctor does not try.
    with socket.socket() as probe:
        try:
            probe.bind((gateways[0], 0))
        except OSError:
            return None, f"the Docker host's gateway {gateways[0]} is not on this machine"
    return gateways[0], ""


def _interface_address(name: str) -> str | None:
    """The IPv4 address of this machine's network interface `name` (Linux), else None."""
    try:
        import fcntl

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            request = struct.pack("256s", name.encode()[:15])
            answer = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
    except (ImportError, OSError):
        return None
    return socket.inet_ntoa(answer[20:24])


def _listening(address: str, port: int) -> bool:
    """Whether a TCP connection to address:port (this machine's) is accepted."""
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def _check_host_port(report: Report, port: int, gateway: str | None, why_not: str) -> None:
    name = f"host port {port}"
    loopback = _listening("127.0.0.1", port)
    if gateway is None:
        if loopback:
            report.add(
                SKIP,
                name,
                f"listens on 127.0.0.1; not tried where the sandbox reaches it: {why_not}",
            )
        else:
            report.add(
                WARN,
                name,
                f"nothing listens on 127.0.0.1:{port}",
                "start the service, listening on 0.0.0.0 (e.g. OLLAMA_HOST=0.0.0.0)",
            )
        return
    if _listening(gateway, port):
        report.add(OK, name, f"listening at {gateway}:{port} (host.docker.internal inside)")
    elif loopback:
        report.add(
            WARN,
            name,
            f"listens on 127.0.0.1 alone, out of the sandbox's reach (it reaches this machine "
            f"at {gateway}, host.docker.internal)",
            f"have it listen on 0.0.0.0 or {gateway} (Ollama: OLLAMA_HOST=0.0.0.0)",
        )
    else:
        report.add(
            WARN,
            name,
            f"nothing listens on this machine at port {port}",
            f"start the service, listening on 0.0.0.0 or {gateway}",
        )


def _check_version(report: Report, commit: str) -> str | None:
    try:
        version = Version(commit.removeprefix("v"))
    except InvalidVersion:
        report.add(
            WARN,
            "template version",
            f"unknown ({ANSWERS_FILE} has no version)",
            "regenerate the project with `cxgen init` into a clean folder",
        )
        return None
    installed = Version(__version__)
    if version < installed:
        report.add(
            WARN,
            "template version",
            f"{version}, older than this cxgen ({installed})",
            "`cxgen update` (commit first; it merges your edits)",
        )
    elif version > installed:
        report.add(
            WARN,
            "template version",
            f"{version}, newer than this cxgen ({installed})",
            "upgrade cxgen before `cxgen update`",
        )
    else:
        report.add(OK, "template version", f"{version} (this cxgen's)")
    return str(version)


def _check_policy(report: Report, project: Path, version: str | None) -> str | None:
    """Whether this user accepted the project's current allowlist and build context; the tag."""
    with probe(project) as run:
        answer = run.build()
        if answer.refused:
            first = "first run on this machine" if not run.accepted.is_dir() else "changed"
            report.add(
                FAIL,
                "policy",
                f"not accepted ({first}: {'; '.join(answer.changes()) or 'see the run script'})",
                f"review it (`{project / RUN_SCRIPT} build` shows the changes), then "
                f"`{project / RUN_SCRIPT} accept`",
            )
            answer = run.build(accept=True)
        elif answer.tag is not None:
            if version is not None and carries_accept(version):
                report.add(OK, "policy", "the allowlist and .codex/sandbox are as you accepted")
            else:
                report.add(
                    WARN,
                    "policy",
                    "this template version asks no acceptance",
                    "`cxgen update` for the policy check",
                )
        if answer.tag is None:
            report.add(
                FAIL,
                "run script",
                f"stops before any docker call: {answer.last_error()}",
                "act on that message, then run doctor again",
            )
        return answer.tag


def _check_image(report: Report, client: docker.DockerClient | None, tag: str) -> None:
    if client is None:
        report.add(SKIP, "image", f"{tag} (needs the Docker daemon to tell whether it exists)")
        return
    from docker.errors import DockerException, ImageNotFound

    try:
        image = client.images.get(tag)
    except ImageNotFound:
        report.add(
            WARN,
            "image",
            f"{tag} is not built yet (the first run builds it: minutes)",
            "`./run_in_container.sh build` now, to start faster later",
        )
        return
    except DockerException as error:
        report.add(FAIL, "image", f"cannot ask for {tag}: {error}", "check the Docker daemon")
        return
    size = int(image.attrs.get("Size", 0)) / 1e6
    report.add(OK, "image", f"{tag} present ({size:.0f} MB)")
