"""Shared fixtures: every test gets its own HOME and caches; nothing touches the real home."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Policy approvals (run_in_container.sh accept) for the whole run, in one folder outside the real
# home: session fixtures generate projects before any test's own HOME exists. Readable by the
# unprivileged host user that some e2e tests run as.
STATE_HOME = Path(tempfile.mkdtemp(prefix="cxgen-test-state-"))
STATE_HOME.chmod(0o755)
# The run script appends every work dir to agent-trees: shared by root and that user here.
(STATE_HOME / "cxgen").mkdir(mode=0o777)
(STATE_HOME / "cxgen").chmod(0o777)
for registry in ("agent-trees", "agent-tree-ids"):
    (STATE_HOME / "cxgen" / registry).touch(mode=0o666)
    (STATE_HOME / "cxgen" / registry).chmod(0o666)
# And the spares' records (warm starts), for starts as root and as that user.
(STATE_HOME / "cxgen/spares").mkdir(mode=0o777)
(STATE_HOME / "cxgen/spares").chmod(0o777)
# The images a start found (lib/imageseen.sh) are recorded in a folder of the user's own: made
# here as root's, the tests' usual user, or whichever test ran first as another user would own
# it, and root's starts would record nothing (seen as an image rebuilt without the "gone" line).
(STATE_HOME / "cxgen/images-seen").mkdir(mode=0o755)
os.environ["XDG_STATE_HOME"] = str(STATE_HOME)
# No spare sandboxes (warm starts) where a test does not ask for them: the e2e harness turns
# them on for its warm pass (CXGEN_TEST_START=warm), test_warm.py for its own tests.
os.environ["CXGEN_WARM"] = "0"
# GNU bash 3.2 (the generation macOS ships), beside the project in CI and on developer machines.
BASH_32 = Path(os.environ.get("CXGEN_BASH32", REPO.parent / "shared/tools/bash-3.2"))


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for var in (
        "OPENAI_ALLOWED_DOMAINS",
        "CODEX_DOCKER_IMAGE",
        "WORKSPACE_ROOT_DIR",
        "CODEX_CONFIG_DIR",
        "CODEX_AUTH_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    return home


def run_cxgen(args: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a user would (no TTY on stdin)."""
    return subprocess.run(
        [sys.executable, "-m", "cxgen", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under path with its bytes (to prove nothing was written or lost)."""
    if not path.exists():
        return {}
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


@pytest.fixture(params=["bash", "bash-3.2"])
def script_shell(request: pytest.FixtureRequest) -> list[str]:
    """How to start the generated run script: with this machine's bash, and with bash 3.2."""
    if request.param == "bash":
        return ["bash"]
    if not BASH_32.is_file():
        reason = f"bash 3.2 not found at {BASH_32} (set CXGEN_BASH32)"
        if os.environ.get("CXGEN_REQUIRE_BASH32"):  # CI: the bash 3.2 run is required
            pytest.fail(reason)
        pytest.skip(reason)
    return [str(BASH_32)]
