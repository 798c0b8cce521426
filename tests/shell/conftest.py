"""The shell tests: one file of the run script's library (.codex/run/lib/NAME.sh), sourced into a
bash process with lib/core.sh (say, die, the checks' regexes) and the few constants it reads,
its functions called directly. No project is rendered (lib/ is copied as it is: these tests read
the checkout's template/), no Docker.
Each test runs under this machine's bash and under bash 3.2 (the `script_shell` fixture)."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

LIB = REPO / "template" / "project" / ".codex" / "run" / "lib"


@dataclass(frozen=True)
class Bash:
    """A bash (5 or 3.2) that runs code with some of the library loaded, as the entry loads it:
    under `set -Eeuo pipefail`, after the constants it would have set."""

    shell: list[str]
    tmp: Path

    def run(
        self,
        code: str,
        *args: str,
        libs: Sequence[str] = (),
        constants: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 30,
    ) -> subprocess.CompletedProcess[str]:
        """Run CODE after lib/core.sh and LIBS (names in lib/), with ARGS as "$@"; CONSTANTS are
        set (quoted) before anything is sourced."""
        lines = ["set -Eeuo pipefail"]
        lines += [f"{name}={shlex.quote(value)}" for name, value in (constants or {}).items()]
        # (paths.sh's lookups of identities are identity.sh's.)
        names = [n for lib in libs for n in ((lib, "identity.sh") if lib == "paths.sh" else (lib,))]
        lines += [f". {shlex.quote(str(LIB / name))}" for name in ("core.sh", *names)]
        lines.append(code)
        return subprocess.run(
            [*self.shell, "-c", "\n".join(lines) + "\n", "bash", *args],
            cwd=cwd or self.tmp,
            env={**os.environ, "TMPDIR": str(self.tmp), **(env or {})},
            capture_output=True,
            encoding="utf-8",
            errors="surrogateescape",
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def bash(script_shell: list[str], tmp_path: Path) -> Bash:
    """Runs library code with this machine's bash, and (a second test) with bash 3.2."""
    return Bash(script_shell, tmp_path)


def assert_usage_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    """The run script's usage error: MESSAGE as one line on stderr, nothing on stdout, exit 2."""
    assert (result.returncode, result.stdout, result.stderr) == (
        2,
        "",
        f"cxgen: error: {message}\n",
    )
