"""The real Claude Code CLI in a generated sandbox, against a stand-in for the Anthropic API.

The claude binary comes from PyPI's `claude-agent-sdk` (its wheel carries the CLI npm ships),
baked into a test base image at /usr/local/bin/claude, so the generated Dockerfile skips its npm
install. The API is tests/e2e/mock/anthropic_mock.py in a container on the tests' internal
network, reached by an allowed name over HTTPS; the host's ANTHROPIC_BASE_URL points there and
ANTHROPIC_API_KEY is a fresh canary. Neither enters the sandbox as it is: claude gets a
placeholder key and the relay's URL, and the relay adds the key and sends its requests on to the
stand-in, whose certificate it checks. The project is
owned by an unprivileged host user (the agent gets that uid), or by root (root mode: the agent
is uid 0, where Claude Code skips its permission prompts only with IS_SANDBOX=1, which the
image's managed settings give it).
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    CLAUDE_MOCK_NAME,
    LABEL,
    PROJECT_UID,
    RUN_ID,
    Sandbox,
    Topology,
    build,
    chown_tree,
    docker,
    generate,
    requests_seen,
)
from tests.e2e.waiting import wait_until

TASK = "write your uid to proof.txt"
BASE_URL = f"https://{CLAUDE_MOCK_NAME}"
HOME = ".codex/.environment/home"


def claude_project(root: Path, image: str, network: str, owner: int) -> Sandbox:
    """A git project with agents=[claude] and the stand-in's name allowed, and its owner's home
    (root/home), both `owner`'s."""
    project = root / "project"
    project.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    generate(
        project,
        image,
        owner=owner,
        agents=["claude"],
        apt_packages=[],
        allowed_domains=[CLAUDE_MOCK_NAME],
    )
    (root / "home").mkdir()
    chown_tree(root / "home", owner)
    return Sandbox(project, build(project), network, root_mode=owner == 0)


@pytest.fixture(scope="session")
def claude_sandbox(
    claude_image: str, topology: Topology, claude_mock: str, open_tmp: Path
) -> Sandbox:
    return claude_project(open_tmp / "claude-user", claude_image, topology.network, PROJECT_UID)


@pytest.fixture(scope="session")
def claude_root_sandbox(
    claude_image: str, topology: Topology, claude_mock: str, open_tmp: Path
) -> Sandbox:
    return claude_project(open_tmp / "claude-root", claude_image, topology.network, 0)


def run_claude(sandbox: Sandbox, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The script run by the project's owner (root in root mode) with the key and the stand-in's
    URL set on the host, as a user sets them."""
    env = {
        "HOME": str(sandbox.project.parent / "home"),
        "ANTHROPIC_API_KEY": key,
        "ANTHROPIC_BASE_URL": BASE_URL,
        "CXGEN_ACCEPT_CHANGES": "1",
    }
    user = None if sandbox.root_mode else (PROJECT_UID, PROJECT_UID)
    return sandbox.run(*args, user=user, env=env, timeout=240)


def new_key() -> str:
    return f"sk-ant-cxgen-test-{secrets.token_hex(8)}"


def assert_api_got_key(mock: str, key: str) -> list[dict[str, Any]]:
    """The stand-in got the run's key (the host's ANTHROPIC_API_KEY) as x-api-key on every
    request of the run, and those were the two turns of one tool call; returns them. (The one
    place that says how the key travels: a relay will change it.)"""
    mine = [r for r in requests_seen(mock) if r["x-api-key"] == key]
    assert [(r["method"], r["path"].split("?")[0]) for r in mine] == [
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages"),
    ], requests_seen(mock)
    assert all(r["authorization"] == "" for r in mine)
    return mine


def test_claude_sees_only_a_placeholder_and_the_relay(claude_sandbox: Sandbox) -> None:
    key = new_key()
    result = run_claude(
        claude_sandbox,
        key,
        "exec",
        "--",
        "bash",
        "-c",
        'echo "$ANTHROPIC_API_KEY $ANTHROPIC_BASE_URL"',
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "cxgen-relayed-key",
        f"http://127.0.0.1:8700/{CLAUDE_MOCK_NAME}",
    ]


def tool_result(request: dict[str, Any]) -> str:
    """The text of the tool result a turn carries back."""
    return json.dumps(
        [
            block
            for message in request["body"]["messages"]
            if isinstance(message.get("content"), list)
            for block in message["content"]
            if block.get("type") == "tool_result"
        ]
    )


def files_under(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file())


@pytest.mark.parametrize(
    "how",
    [
        pytest.param(("--", "-p", TASK), id="run-path"),
        # Without --dangerously-skip-permissions: the image's managed settings skip the prompts.
        pytest.param(("exec", "--", "claude", "-p", TASK), id="exec-claude-p"),
    ],
)
def test_real_claude_runs_a_tool_call_as_the_host_user(
    claude_sandbox: Sandbox, claude_mock: str, how: tuple[str, ...]
) -> None:
    project = claude_sandbox.project
    proof = project / "proof.txt"
    proof.unlink(missing_ok=True)
    key = new_key()
    result = run_claude(claude_sandbox, key, *how)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "mock: done" in result.stdout
    first, second = assert_api_got_key(claude_mock, key)
    assert "Bash" in {tool["name"] for tool in first["body"]["tools"]}
    assert "tool_result" in tool_result(second)
    # The tool call (`id -u > proof.txt`) ran in the sandbox, as the host user, in the project.
    assert proof.read_text().strip() == str(PROJECT_UID)
    assert (proof.stat().st_uid, proof.stat().st_gid) == (PROJECT_UID, PROJECT_UID)


def test_claude_keeps_its_home_in_the_agent_home_without_the_key(
    claude_sandbox: Sandbox, claude_mock: str
) -> None:
    project = claude_sandbox.project
    key = new_key()
    result = run_claude(claude_sandbox, key, "--", "-p", TASK)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    home = project / HOME
    # Its state (first start, ids) and its session transcript, in the project's agent home,
    # the host user's; the key is in none of its files.
    state = json.loads((home / ".claude.json").read_text())
    assert state["firstStartVersion"] and state["userID"]
    sessions = list((home / ".claude/projects").glob("*/*.jsonl"))
    assert sessions, files_under(home)
    written = files_under(project / ".codex/.environment")
    assert all(path.stat().st_uid == PROJECT_UID for path in files_under(home))
    assert not [path for path in written if key.encode() in path.read_bytes()]
    # Nonessential traffic is off: no telemetry queued for later either.
    assert not (home / ".claude/telemetry").exists()
    # git does not see any of it.
    status = subprocess.run(
        ["git", "-c", "safe.directory=*", "-C", str(project), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert ".codex/.environment" not in status, status


def test_claude_sandbox_still_blocks_what_is_not_allowed(
    claude_sandbox: Sandbox, claude_mock: str, topology: Topology
) -> None:
    """Claude's own tool call cannot look up or reach a name that is not allowed, but reaches
    the stand-in's."""
    project = claude_sandbox.project
    blocked = topology.hosts["blocked"]
    probe = (
        "{ getent hosts blocked.test && echo RESOLVED; "
        f"(exec 3<>/dev/tcp/{blocked.ipv4}/80) 2>/dev/null && echo CONNECTED; "
        f"(exec 3<>/dev/tcp/{CLAUDE_MOCK_NAME}/443) && echo allowed-ok; }} > probe.txt 2>&1"
    )
    (project / "probe.txt").unlink(missing_ok=True)
    key = new_key()
    result = run_claude(claude_sandbox, key, "--", "-p", f"run: {probe}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_api_got_key(claude_mock, key)
    seen = (project / "probe.txt").read_text()
    assert "RESOLVED" not in seen and "CONNECTED" not in seen, seen
    assert "allowed-ok" in seen, seen


def test_claude_login_prints_the_sign_in_link(claude_sandbox: Sandbox) -> None:
    """`login --agent claude` runs `claude auth login`: with no terminal it still prints the
    link to open and waits for the code the page gives (no callback port)."""
    name = f"cxgen-test-{RUN_ID}-claude-login-{uuid.uuid4().hex[:6]}"
    env = {"HOME": str(claude_sandbox.project.parent / "home"), "CXGEN_ACCEPT_CHANGES": "1"}
    process = claude_sandbox.start(
        "login", "--agent", "claude", env=env, name=name, user=(PROJECT_UID, PROJECT_UID)
    )
    assert process.stdout is not None
    seen: list[str] = []
    # Read beside the wait: the link comes while claude waits for the code, stdout still open.
    reader = threading.Thread(target=lambda: seen.extend(process.stdout or []), daemon=True)
    reader.start()
    try:
        wait_until(lambda: "/oauth/authorize?" in "".join(seen), "the sign-in link", watch=process)
        assert process.poll() is None  # still waiting for the code
    finally:
        ids = docker("ps", "-aq", "--filter", f"label={LABEL}", "--filter", f"name={name}").stdout
        if ids.split():
            docker("rm", "-f", *ids.split(), check=False)
        process.wait(timeout=60)


def test_real_claude_in_root_mode_skips_its_prompts_as_uid_0(
    claude_root_sandbox: Sandbox, claude_mock: str
) -> None:
    """As uid 0 Claude Code refuses --dangerously-skip-permissions unless IS_SANDBOX=1: the
    image's managed settings set it for every claude, the run script's included."""
    project = claude_root_sandbox.project
    proof = project / "proof.txt"
    proof.unlink(missing_ok=True)
    key = new_key()
    result = run_claude(claude_root_sandbox, key, "--", "-p", TASK)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "root/sudo" not in result.stderr
    assert_api_got_key(claude_mock, key)
    assert proof.read_text().strip() == "0"
    assert proof.stat().st_uid == 0
    # Not from the run script's environment: only claude's own settings carry it.
    env = claude_root_sandbox.sh('echo "IS_SANDBOX=${IS_SANDBOX:-unset}"')
    assert "IS_SANDBOX=unset" in env.stdout, env.stdout + env.stderr


def test_a_claude_sign_in_token_is_relayed_as_a_bearer(
    claude_sandbox: Sandbox, claude_mock: str
) -> None:
    """A sign-in's long-lived token (`claude setup-token`, CLAUDE_CODE_OAUTH_TOKEN) stays outside
    like the API key: claude holds the placeholder, the relay sends the token as a bearer."""
    token = f"sk-ant-oat01-cxgen-test-{secrets.token_hex(8)}"
    env = {
        "HOME": str(claude_sandbox.project.parent / "home"),
        "ANTHROPIC_API_KEY": "",
        "CLAUDE_CODE_OAUTH_TOKEN": token,
        "ANTHROPIC_BASE_URL": BASE_URL,
        "CXGEN_ACCEPT_CHANGES": "1",
    }
    user = (PROJECT_UID, PROJECT_UID)
    seen = claude_sandbox.run(
        "exec", "--", "bash", "-c", 'echo "$CLAUDE_CODE_OAUTH_TOKEN"', user=user, env=env
    )
    assert seen.stdout.strip() == "cxgen-relayed-key", seen.stderr
    result = claude_sandbox.run("--", "-p", TASK, user=user, env=env, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    mine = [r for r in requests_seen(claude_mock) if r["authorization"] == f"Bearer {token}"]
    assert [r["path"].split("?")[0] for r in mine if r["method"] == "POST"] == [
        "/v1/messages",
        "/v1/messages",
    ], requests_seen(claude_mock)[-6:]
    assert all(r["x-api-key"] == "" for r in mine)
