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
import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    PROJECT_UID,
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
from tests.e2e.waiting import wait_until

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


def mcp_project(
    root: Path, base_image: str, network: str, declaration: str, owner: int = PROJECT_UID
) -> Sandbox:
    """A shell project with the probing tools, the sandbox's allowlist allowed.test and
    *.wild.test (private_destinations=allowed-names, as the test network is private), and
    DECLARATION's servers; `owner`'s (0: root mode)."""
    project = generate(root / "project", base_image, owner=owner)
    (project / ".codex/sandbox/mcp-servers.txt").write_text(declaration)
    shutil.copy(CLIENT, project / "mcp_client.py")
    chown_tree(project, owner)
    accept(project)
    return Sandbox(project, build(project), network, root_mode=owner == 0)


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


@pytest.fixture(scope="session")
def mcp_root_sandbox(
    base_image: str,
    topology: Topology,
    stub_images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Sandbox:
    """The same project, root's (root mode: the agent is uid 0 without capabilities, on a
    read-only root with /run a tmpfs); the same build context, so the same image."""
    declaration = DECLARATION.format(**stub_images)
    root = tmp_path_factory.mktemp("mcp-root")
    return mcp_project(root, base_image, topology.network, declaration, owner=0)


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
    """The MCP containers (walls and servers) whose org.cxgen.mcp.KEY label is VALUE: their names
    and states. (One whose removal Docker has begun is gone: a wall's `docker run --rm` may have
    begun it when the run script's `docker rm -f` came, which then returns at once; nothing
    runs in it, and Docker finishes on its own.)"""
    found = docker(
        "ps",
        "-a",
        "--filter",
        f"label=org.cxgen.mcp.{key}={value}",
        "--format",
        "{{.Names}} {{.Status}}",
    )
    return [line for line in found.stdout.splitlines() if not line.endswith("Removal In Progress")]


def session_name(tag: str) -> str:
    return f"cxgen-test-{RUN_ID}-mcp-{tag}-{uuid.uuid4().hex[:4]}"


@pytest.mark.parametrize("mode", ["user", "root"])
def test_the_agent_speaks_to_its_server_in_another_container(
    mcp_sandbox: Sandbox, mcp_root_sandbox: Sandbox, mode: str
) -> None:
    answer = call(mcp_root_sandbox if mode == "root" else mcp_sandbox, "probe")
    assert answer["tools"] == ["whoami", "http", "dns", "connect", "listen"]
    server = answer["whoami"]
    # Another container (its own network namespace, host name and address), as uid 65533
    # although its image says USER root.
    assert server["netns"] != answer["netns"]
    assert server["hostname"] != answer["hostname"]
    assert server["address"] != answer["address"]
    assert (server["uid"], server["gid"]) == (65533, 65533)


def test_one_connection_after_another(mcp_sandbox: Sandbox) -> None:
    """Connections one after another in a session, each a one-shot client that sends its request
    and closes its input at once (the answer still comes), each to a fresh server container."""
    script = (
        "for i in 1 2 3 4 5; do"
        ' echo "{\\"jsonrpc\\": \\"2.0\\", \\"id\\": $i, \\"method\\": \\"ping\\"}"'
        " | cxgen-mcp probe; done"
    )
    result = mcp_sandbox.sh(script, timeout=300)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [answer["id"] for answer in answers] == [1, 2, 3, 4, 5], result.stdout


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


# A session that has used its server (so its wall is up, and a server container was started),
# says so in the work dir, and waits (exec: ^C reaches sleep, as a terminal's ^C reaches the
# agent).
WAITING = (
    'echo \'{{"jsonrpc": "2.0", "id": 1, "method": "ping"}}\' | cxgen-mcp probe'
    " | grep -q result && touch {marker} && exec sleep 600"
)


def start_waiting(sandbox: Sandbox, name: str, *options: str) -> subprocess.Popen[str]:
    """The run script with WAITING, in a process group of its own (where a terminal's ^C goes);
    returns once the session has used its server."""
    marker = f"ready-{name}"
    command, env = sandbox.command(
        "exec", *options, "--", "bash", "-c", WAITING.format(marker=marker), name=name
    )
    # Its output in a file: once it is killed, the session's orphaned docker client holds it.
    with (sandbox.project.parent / f"{name}.err").open("w") as errors:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=errors,
            stderr=errors,
            text=True,
            start_new_session=True,
        )
    wait_until((sandbox.project / marker).exists, "the session to use its server", watch=process)
    assert containers("session", name)
    return process


def test_the_servers_end_with_the_session(mcp_sandbox: Sandbox) -> None:
    name = session_name("end")
    call(mcp_sandbox, "probe", name=name)
    # Removed by the run script before it exits; but a wall whose `docker run` was still under
    # way then (the other server's, never used here: CI saw one "Up 1 second") is made by Docker
    # after that, and ends by itself as its input does.
    wait_until(lambda: containers("session", name) == [], "the session's servers to go")
    # A session over before its servers' walls are up (one may still be being made as the run
    # script ends: it ends by itself, as its input does).
    shorts = [session_name("short") for _ in range(3)]
    for short in shorts:
        assert mcp_sandbox.run("exec", "--", "true", name=short).returncode == 0
    wait_until(
        lambda: all(containers("session", short) == [] for short in shorts),
        "short sessions' walls to go",
    )
    # ^C: the session ends, and its servers with it.
    name = session_name("int")
    process = start_waiting(mcp_sandbox, name)
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=120)
    assert containers("session", name) == []
    assert docker("ps", "-aq", "--filter", f"name=^{name}$").stdout.strip() == ""


def test_a_killed_run_script_leaves_nothing_once_its_session_ends(mcp_sandbox: Sandbox) -> None:
    """kill -9 of the run script: the session goes on, served; when it ends, its servers' jobs
    remove their containers themselves. A kept one's, left behind, go with destroy."""
    name = session_name("kill")
    process = start_waiting(mcp_sandbox, name)
    process.kill()
    process.wait(timeout=60)
    assert containers("session", name)
    docker("stop", name)
    wait_until(lambda: containers("session", name) == [], "the servers to end with the session")
    # Kept: after a kill -9, and the session stopped by hand, destroy removes what is left.
    name = session_name("keep")
    process = start_waiting(mcp_sandbox, name, "--keep")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    docker("stop", name)
    destroyed = mcp_sandbox.run("destroy", name)
    assert destroyed.returncode == 0, destroyed.stderr
    wait_until(lambda: containers("session", name) == [], "destroy to remove the servers")


def test_a_kept_session_gets_its_servers_again_on_attach(mcp_sandbox: Sandbox) -> None:
    name = session_name("attach")
    first = call(mcp_sandbox, "probe", ("whoami", {}), name=name)
    assert first["results"]  # (and the session is not kept: gone)
    kept = mcp_sandbox.run(
        "exec",
        "--keep",
        "--",
        "python3",
        f"/app{mcp_sandbox.project}/mcp_client.py",
        "probe",
        "[]",
        name=f"{name}-k",
    )
    assert kept.returncode == 0, kept.stderr
    assert containers("session", f"{name}-k") == []
    resumed = mcp_sandbox.run("attach", f"{name}-k", timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    again = json.loads(resumed.stdout)
    assert again["server"] == "cxgen-mcp-stub" and again["whoami"]["uid"] == 65533
    assert containers("session", f"{name}-k") == []
    destroyed = mcp_sandbox.run("destroy", f"{name}-k")
    assert destroyed.returncode == 0, destroyed.stderr


@pytest.mark.parametrize(
    "line",
    [
        "server evil --privileged",
        "server evil -v/:/host",
        "server evil mcp/x;touch${IFS}/tmp/pwned",
        "server evil mcp/x $(touch /tmp/pwned)",
        "server ../evil mcp/x",
        "server e\x1b]0;pwned\x07 mcp/x",
        "allow fine evil.example/path",
        "allow fine *",
        "allow nobody example.com",
    ],
)
def test_a_hostile_declaration_is_refused_before_anything_starts(
    base_image: str, topology: Topology, tmp_path: Path, line: str
) -> None:
    project = generate(tmp_path / "project", base_image)
    (project / ".codex/sandbox/mcp-servers.txt").write_text(f"server fine mcp/fine\n{line}\n")
    chown_tree(project)
    sandbox = Sandbox(project, "", topology.network)
    name = session_name("hostile")
    result = sandbox.run("exec", "--", "true", name=name, env={"CXGEN_ACCEPT_CHANGES": "1"})
    assert result.returncode == 2, result.stderr
    errors = [text for text in result.stderr.splitlines() if "error:" in text]
    assert len(errors) == 1 and result.stderr.endswith(errors[0] + "\n"), result.stderr
    assert errors[0].startswith("cxgen: error: .codex/sandbox/mcp-servers.txt:2: "), errors
    assert "\x1b" not in result.stderr
    # Nothing was built or started.
    assert "building" not in result.stderr
    assert docker("ps", "-aq", "--filter", f"label=org.cxgen.project={project}").stdout == ""
    assert containers("session", name) == []


@pytest.fixture(scope="session")
def agents_sandbox(
    claude_image: str,
    topology: Topology,
    stub_images: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Sandbox:
    """Real codex and claude, with both kinds of MCP server: the stand-in as a stdio server in
    the project (claude's .mcp.json, codex's config.toml in the agent home), and two
    containerised ones, `probe` and `mirror` (in .mcp.json too, as `sibling`, for claude mcp
    list, which reads no --mcp-config)."""
    project = tmp_path_factory.mktemp("mcp-agents") / "project"
    project.mkdir()
    generate(
        project,
        claude_image,
        agents=["codex", "claude"],
        default_agent="claude",
        apt_packages=[],
        allowed_domains=[],
    )
    stub = f"/app{project}/mcp_stub.py"
    shutil.copy(STUB, project / "mcp_stub.py")
    servers = {
        "stub": {"command": "python3", "args": [stub]},
        "sibling": {"command": "cxgen-mcp", "args": ["mirror"]},
    }
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": servers}))
    (project / ".codex/.environment/config.toml").write_text(
        f'[mcp_servers.stub]\ncommand = "python3"\nargs = ["{stub}"]\n'
    )
    image = stub_images["plain"]
    (project / ".codex/sandbox/mcp-servers.txt").write_text(
        f"server probe {image}\nserver mirror {image}\n"
    )
    chown_tree(project)
    accept(project)
    return Sandbox(project, build(project), topology.network)


def test_real_claude_and_codex_list_both_kinds(agents_sandbox: Sandbox) -> None:
    """claude mcp list starts each server and says whether it connected: the project's stdio
    server, and a containerised one through cxgen-mcp. codex mcp list shows the agent home's
    server and the image's (its system config), as codex starts them."""
    listed = agents_sandbox.run("exec", "--", "claude", "mcp", "list", timeout=300)
    assert listed.returncode == 0, listed.stderr
    lines = {line.split(":")[0]: line for line in listed.stdout.splitlines() if ": " in line}
    assert lines["stub"].endswith("- ✔ Connected"), listed.stdout
    assert lines["sibling"] == "sibling: cxgen-mcp mirror - ✔ Connected", listed.stdout
    listed = agents_sandbox.run("exec", "--", "codex", "mcp", "list", "--json", timeout=300)
    assert listed.returncode == 0, listed.stderr
    transports = {server["name"]: server["transport"] for server in json.loads(listed.stdout)}
    assert transports["stub"]["command"] == "python3"
    for name in ("probe", "mirror"):
        assert (transports[name]["command"], transports[name]["args"]) == ("cxgen-mcp", [name])


def test_claude_started_by_the_run_script_connects_the_image_servers(
    agents_sandbox: Sandbox,
) -> None:
    """The run command's --mcp-config= adds the image's servers to claude's own (the project's
    stdio server connects too), and the words after it stay claude's (-p and the prompt).
    Without a login, claude stops after its servers' start; the session is stopped once its
    debug log says they connected. (`mirror` is left out: .mcp.json's `sibling` is a second
    client of it, and a server takes one client at a time.)"""
    name = session_name("claude")
    debug = agents_sandbox.project / f"{name}.log"
    command, env = agents_sandbox.command(
        "run", "--", "-p", "hello", f"--debug-file=/app{debug}", name=name
    )
    with (agents_sandbox.project.parent / f"{name}.err").open("w") as errors:
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=errors, stderr=errors, text=True
        )

    def connected() -> bool:
        text = debug.read_text() if debug.exists() else ""
        return all(
            f'MCP server "{server}": Successfully connected' in text for server in ("probe", "stub")
        )

    try:
        wait_until(connected, "claude to connect its MCP servers", watch=process)
    finally:
        agents_sandbox.run("stop", name)
        process.wait(timeout=120)
    # (A server's wall Docker was still making as the session ended ends by itself.)
    wait_until(lambda: containers("session", name) == [], "the session's servers to go")
