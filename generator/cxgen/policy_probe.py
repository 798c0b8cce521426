"""Ask a project's own run script, without Docker and without touching this user's state,
whether its sandbox policy is the one this user accepted, and which image tag it would use.

The run script is the one authority on what its policy is (the allowlist as it parses it, the
build context's hash, the init hook, the host ports), so nothing here re-implements it: its
`build` runs against a copy of this user's accepted policy and a stand-in docker that fails
every call and logs it. A start refused at the policy asks docker nothing; one that went on
looked for its image's tag.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from plumbum import local

from cxgen.accept import RUN_SCRIPT

STAND_IN_DOCKER = '#!/bin/sh\nprintf "%s\\n" "$*" >>"$CXGEN_DOCTOR_LOG"\nexit 1\n'


def policy_dir(project: Path, state_home: Path) -> Path:
    """Where run_in_container.sh keeps this user's accepted policy for `project`."""
    key = hashlib.sha256(str(project.resolve()).encode()).hexdigest()[:16]
    return state_home / "cxgen" / "projects" / key


def state_home() -> Path:
    """This user's XDG state folder, as the run script finds it."""
    xdg = os.environ.get("XDG_STATE_HOME")
    return Path(xdg) if xdg else Path.home() / ".local" / "state"


@dataclass
class Answer:
    """What the run script's `build` said: exit code, stderr, and the image tag it went on to
    look for (None when it stopped before asking docker)."""

    code: int
    stderr: str
    tag: str | None

    @property
    def refused(self) -> bool:
        """Stopped at the policy: not the one accepted (or none accepted yet)."""
        return self.tag is None and "not accepted" in self.stderr

    def changes(self) -> list[str]:
        """The refusal's summary lines (what changed), without the diffs."""
        lines = self.stderr.splitlines()
        return [s.strip() for s in lines if s.startswith("  ") and not s.startswith("    ")]

    def last_error(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1].removeprefix("cxgen: error: ") if lines else f"exit status {self.code}"


class Probe:
    """A project's run script against a private copy of this user's accepted policy."""

    def __init__(self, project: Path, work: Path) -> None:
        self.project = project
        self.work = work
        self.accepted = policy_dir(project, state_home())
        (work / "bin").mkdir()
        docker = work / "bin" / "docker"
        docker.write_text(STAND_IN_DOCKER)
        docker.chmod(0o755)
        if self.accepted.is_dir():
            shutil.copytree(self.accepted, policy_dir(project, work / "state"), symlinks=True)

    def build(self, *, accept: bool = False) -> Answer:
        """`run_in_container.sh build` (with `accept`: accepting what it shows, in the copy)."""
        log = self.work / "docker.log"
        log.unlink(missing_ok=True)
        env = {
            **os.environ,
            "PATH": f"{self.work / 'bin'}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "XDG_STATE_HOME": str(self.work / "state"),
            "CXGEN_DOCTOR_LOG": str(log),
        }
        env.pop("CODEX_DOCKER_IMAGE", None)
        env.pop("CXGEN_ACCEPT_CHANGES", None)
        if accept:
            env["CXGEN_ACCEPT_CHANGES"] = "1"
        script = local["bash"][str(self.project / RUN_SCRIPT), "build"]
        command = script.with_cwd(self.project).with_env(**env)
        code, _, err = command.run(retcode=None, timeout=60, stdin=subprocess.DEVNULL)
        tag = None
        if log.is_file():
            for line in log.read_text().splitlines():
                # ("image inspect [-f FORMAT --] TAG": the tag is the last word.)
                if line.startswith("image inspect "):
                    tag = line.split()[-1]
        return Answer(code, err, tag)


@contextmanager
def probe(project: Path) -> Iterator[Probe]:
    """A Probe of `project` in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="cxgen-policy-") as tmp:
        yield Probe(project, Path(tmp))


def policy_accepted(project: Path) -> bool:
    """Whether the project's run script, as it is now, starts without asking: its policy is the
    one this user accepted (or its template version asks none)."""
    with probe(project) as run:
        return run.build().tag is not None


def widening(project: Path) -> dict[str, list[str]]:
    """How the project's policy now reaches further than the one this user accepted: the
    domains added, the host ports opened, and "init" when the init hook changed (a changed
    build context is not counted: every release changes it). Empty when nothing reaches
    further."""
    found: dict[str, list[str]] = {}
    with probe(project) as run:
        answer = run.build()
    if not answer.refused:
        return found
    for line in answer.changes():
        words = line.split(":", 1)[1].split() if ":" in line else []
        if line.startswith("allowed domains added:"):
            found["domains"] = words
        elif line.startswith("ports of this machine opened"):
            found["ports"] = words
        elif line.startswith("init hook"):
            found["init"] = ["changed"]
    return found
