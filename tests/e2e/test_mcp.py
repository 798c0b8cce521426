"""MCP servers on real Docker: containerised ones (.codex/sandbox/mcp-servers.txt), each beside
the session behind a wall of its own, and stdio ones the agents start in the sandbox.

The stand-in server is tests/e2e/mock/mcp_stub.py (JSON-RPC over stdio) in an image built from
the tests' base image, and in two more that declare USER root and USER 65531 (the resolver's
uid, which the firewall lets reach the upstream resolver): the run script runs every server as
uid 65533 all the same. The agent's side is a small Python client in the sandbox that starts
`cxgen-mcp NAME`, as an agent does. The servers' allowlists: `probe` may reach allowed.test
only, `other` ext.test only; the sandbox's own allowlist is allowed.test and *.wild.test.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    RUN_ID,
    Sandbox,
    Topology,
    build,
    build_test_image,
    chown_tree,
    docker,
    docker_lock,
    generate,
)

STUB = Path(__file__).resolve().parent / "mock/mcp_stub.py"
# The agent's side, copied into each project (see its docstring).
CLIENT = STUB.parent / "mcp_client.py"
STUB_DOCKERFILE = """\
RUN apt-get update && apt-get install -y --no-install-recommends python3 \\
 && rm -rf /var/lib/apt/lists/*
COPY mcp-stub /usr/local/bin/
ENTRYPOINT ["python3", "/usr/local/bin/mcp-stub"]
"""
DECLARATION = """\
# The tests' servers (a comment, as a user writes them).
server probe {root}
allow probe allowed.test
server other {resolver}
allow other ext.test
"""


def stub_tag() -> str:
    digest = hashlib.sha256(STUB.read_bytes() + STUB_DOCKERFILE.encode()).hexdigest()[:10]
    return f"cxgen-test/mcp-stub:{digest}"


@pytest.fixture(scope="session")
def stub_images(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The stand-in server's image, and two of it that declare USER root and USER 65531."""
    tag = stub_tag()
    images = {"plain": tag, "root": f"{tag}-root", "resolver": f"{tag}-65531"}
    with docker_lock():
        if docker("image", "inspect", tag, check=False).returncode != 0:
            context = tmp_path_factory.mktemp("mcp-stub")
            shutil.copy(STUB, context / "mcp-stub")
            (context / "Dockerfile").write_text(f"FROM {base_image}\n{STUB_DOCKERFILE}")
            build_test_image(tag, context)
        for kind, user in (("root", "root"), ("resolver", "65531")):
            if docker("image", "inspect", images[kind], check=False).returncode != 0:
                context = tmp_path_factory.mktemp(f"mcp-stub-{kind}")
                (context / "Dockerfile").write_text(f"FROM {tag}\nUSER {user}\n")
                build_test_image(images[kind], context)
    return images


def mcp_project(root: Path, base_image: str, network: str, declaration: str) -> Sandbox:
    """A shell project with the probing tools, the sandbox's allowlist allowed.test and
    *.wild.test (private_destinations=allowed-names, as the test network is private), and
    DECLARATION's servers."""
    project = generate(root / "project", base_image)
    (project / ".codex/sandbox/mcp-servers.txt").write_text(declaration)
    shutil.copy(CLIENT, project / "mcp_client.py")
    chown_tree(project)
    accept(project)
    return Sandbox(project, build(project), network)


def accept(project: Path) -> None:
    """The project's changed build context accepted, as its user would (the declaration is in
    it)."""
    result = subprocess.run(
        [str(project / "run_in_container.sh"), "accept", "--accept-changes"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
def mcp_sandbox(
    base_image: str,
    topology: Topology,
    stub_images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Sandbox:
    declaration = DECLARATION.format(**stub_images)
    return mcp_project(tmp_path_factory.mktemp("mcp"), base_image, topology.network, declaration)


def call(
    sandbox: Sandbox, server: str, *calls: tuple[str, dict[str, Any]], name: str | None = None
) -> dict[str, Any]:
    """The client in a session of `sandbox`: the server's answers to `calls`, and the sandbox's
    facts."""
    result = sandbox.run(
        "exec",
        "--",
        "python3",
        f"/app{sandbox.project}/mcp_client.py",
        server,
        json.dumps([list(c) for c in calls]),
        name=name,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer: dict[str, Any] = json.loads(result.stdout)
    assert answer["server"] == "cxgen-mcp-stub" and answer["status"] == 0, answer
    return answer


def containers(key: str, value: str) -> list[str]:
    """The MCP containers (walls and servers) whose org.cxgen.mcp.KEY label is VALUE."""
    return docker("ps", "-aq", "--filter", f"label=org.cxgen.mcp.{key}={value}").stdout.split()


def session_name(tag: str) -> str:
    return f"cxgen-test-{RUN_ID}-mcp-{tag}-{uuid.uuid4().hex[:4]}"


def test_the_agent_speaks_to_its_server_in_another_container(mcp_sandbox: Sandbox) -> None:
    answer = call(mcp_sandbox, "probe")
    assert answer["tools"] == ["whoami", "http", "dns", "connect", "listen"]
    server = answer["whoami"]
    # Another container (its own network namespace, host name and address), as uid 65533
    # although its image says USER root.
    assert server["netns"] != answer["netns"]
    assert server["hostname"] != answer["hostname"]
    assert server["address"] != answer["address"]
    assert (server["uid"], server["gid"]) == (65533, 65533)


def test_a_server_reaches_its_allowlist_and_nothing_else(
    mcp_sandbox: Sandbox, topology: Topology
) -> None:
    dns = topology.hosts["dns"].ipv4
    blocked = topology.hosts["blocked"].ipv4
    answer = call(
        mcp_sandbox,
        "probe",
        ("http", {"url": "http://allowed.test/"}),
        # Allowed in the sandbox (the agent's), not for this server.
        ("http", {"url": "http://sub.wild.test/"}),
        ("http", {"url": "http://blocked.test/"}),
        ("http", {"url": f"http://{blocked}/"}),
        # DNS straight to the tests' DNS server and to Docker's (only the wall's resolver may).
        ("dns", {"server": dns, "name": "ext.test"}),
        ("dns", {"server": "127.0.0.11", "name": "ext.test"}),
    )
    reached, *refused = answer["results"]
    assert reached == "ok hello-from-allowed", answer
    assert all(result.startswith("failed ") for result in refused), answer
    # The other server, whose image says USER 65531 (the resolver's uid inside its wall): its
    # own allowlist alone, and no DNS of its own either.
    answer = call(
        mcp_sandbox,
        "other",
        ("http", {"url": "http://ext.test/"}),
        ("http", {"url": "http://allowed.test/"}),
        ("dns", {"server": dns, "name": "ext.test"}),
        ("dns", {"server": "127.0.0.11", "name": "ext.test"}),
    )
    reached, *refused = answer["results"]
    assert reached == "ok hello-from-ext", answer
    assert all(result.startswith("failed ") for result in refused), answer
    assert (answer["whoami"]["uid"], answer["whoami"]["gid"]) == (65533, 65533)


def test_the_sandbox_and_its_server_cannot_reach_each_other(mcp_sandbox: Sandbox) -> None:
    """The server cannot reach the sandbox's address (where CLIENT listens), nor the agent the
    server's (where it listens once asked; in its own namespace it answers); the agent has no
    docker."""
    answer = call(
        mcp_sandbox,
        "probe",
        ("listen", {"port": 8081}),
        ("connect", {"host": "{server}", "port": "8081"}),
        ("sandbox-connect", {"host": "{server}", "port": "8081"}),
        ("connect", {"host": "{sandbox}", "port": "8080"}),
        ("sandbox-connect", {"host": "{sandbox}", "port": "8080"}),
    )
    _, server_itself, agent_to_server, server_to_agent, agent_itself = answer["results"]
    assert (server_itself, agent_itself) == ("connected", "connected"), answer
    assert agent_to_server.startswith("failed "), answer
    assert server_to_agent.startswith("failed "), answer
    result = mcp_sandbox.sh(
        "test ! -e /var/run/docker.sock && test ! -e /run/docker.sock"
        " && ! command -v docker && echo no-docker"
    )
    assert result.stdout.strip() == "no-docker", result.stdout + result.stderr
