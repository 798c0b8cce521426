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
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from packaging.version import InvalidVersion, Version
from plumbum import local

from cxgen import __version__
from cxgen.accept import RUN_SCRIPT, carries_accept
from cxgen.project_files import ANSWERS_FILE

if TYPE_CHECKING:
    import docker

OK, WARN, FAIL, SKIP = "ok", "warn", "FAIL", "skip"
DEFAULT_SOCKET = "/var/run/docker.sock"
# Built by run_in_container.sh (docker build --label org.cxgen.version=...): they carry nft.
IMAGE_LABEL = "org.cxgen.version"
DOCTOR_LABEL = "org.cxgen.doctor"
MIN_BASH = (3, 2)
# Stands in for docker while the project's run script answers: notes what it was asked, fails.
FAKE_DOCKER = '#!/bin/sh\nprintf "%s\\n" "$*" >>"$CXGEN_DOCTOR_LOG"\nexit 1\n'


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


def policy_dir(project: Path, state_home: Path) -> Path:
    """Where run_in_container.sh keeps this user's accepted policy for `project`."""
    key = hashlib.sha256(str(project.resolve()).encode()).hexdigest()[:16]
    return state_home / "cxgen" / "projects" / key


def _state_home() -> Path:
    xdg = os.environ.get("XDG_STATE_HOME")
    return Path(xdg) if xdg else Path.home() / ".local" / "state"


def _ask_script(project: Path, work: Path, *, accept: bool) -> tuple[int, str, str | None]:
    """Run the project's `run_in_container.sh build` against `work`'s copy of the state and the
    stand-in docker: its exit code, stderr, and the image tag it went on to look for (None when
    it stopped before asking docker, i.e. at the policy)."""
    log = work / "docker.log"
    log.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PATH": f"{work / 'bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "XDG_STATE_HOME": str(work / "state"),
        "CXGEN_DOCTOR_LOG": str(log),
    }
    env.pop("CODEX_DOCKER_IMAGE", None)
    env.pop("CXGEN_ACCEPT_CHANGES", None)
    if accept:
        env["CXGEN_ACCEPT_CHANGES"] = "1"
    command = local["bash"][str(project / RUN_SCRIPT), "build"].with_cwd(project).with_env(**env)
    code, _, err = command.run(retcode=None, timeout=60, stdin=subprocess.DEVNULL)
    tag = None
    if log.is_file():
        for line in log.read_text().splitlines():
            if line.startswith("image inspect "):
                # The tag is its last word (before it: `-f FORMAT --`).
                tag = line.split()[-1]
    return code, err, tag


def _last_error(stderr: str, code: int) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1].removeprefix("cxgen: error: ") if lines else f"exit status {code}"


def _check_policy(report: Report, project: Path, version: str | None) -> str | None:
    """Whether this user accepted the project's current allowlist and build context; the tag."""
    with tempfile.TemporaryDirectory(prefix="cxgen-doctor-") as tmp:
        work = Path(tmp)
        (work / "bin").mkdir()
        fake = work / "bin" / "docker"
        fake.write_text(FAKE_DOCKER)
        fake.chmod(0o755)
        accepted = policy_dir(project, _state_home())
        copy = policy_dir(project, work / "state")
        if accepted.is_dir():
            shutil.copytree(accepted, copy, symlinks=True)
        code, err, tag = _ask_script(project, work, accept=False)
        if tag is None and "not accepted" in err:
            changes = [
                line.strip()
                for line in err.splitlines()
                if line.startswith("  ") and not line.startswith("    ")
            ]
            first = "first run on this machine" if not accepted.is_dir() else "changed"
            report.add(
                FAIL,
                "policy",
                f"not accepted ({first}: {'; '.join(changes) or 'see the run script'})",
                f"review it (`{project / RUN_SCRIPT} build` shows the changes), then "
                f"`{project / RUN_SCRIPT} accept`",
            )
            code, err, tag = _ask_script(project, work, accept=True)
        elif tag is not None:
            if version is not None and carries_accept(version):
                report.add(OK, "policy", "the allowlist and .codex/sandbox are as you accepted")
            else:
                report.add(
                    WARN,
                    "policy",
                    "this template version asks no acceptance",
                    "`cxgen update` for the policy check",
                )
        if tag is None:
            report.add(
                FAIL,
                "run script",
                f"stops before any docker call: {_last_error(err, code)}",
                "act on that message, then run doctor again",
            )
        return tag


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
