"""The API relay: your keys never enter the sandbox, in either mode.

A canary key is exported on the host; as the agent, every readable file, every process's
environ and cmdline, and the agent's own environment are searched for it: nothing. The API's
stand-in (tests/e2e/mock/openai_mock.py, serving HTTPS with a certificate of the test images'
CA, as api.mock.test and llm.mock.test) receives it, added by the relay. The relay forwards to
the relayed hosts only, cannot be stopped, read or traced by the agent, and a key it cannot
carry is refused before anything starts.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    MOCK_LLM_NAME,
    MOCK_NAME,
    PROJECT_UID,
    Sandbox,
    Topology,
    build,
    generate,
    requests_seen,
)

# What the agent runs: a search of everything it can read, and requests to the relay.
PROBE = r"""
import errno, http.client, json, os, signal, socket, sys, time

# Given reversed: the probe's own command line (in /proc) must not hold them.
canaries = [c[::-1].encode() for c in sys.argv[2:]]
OWN = {"Authorization": "Bearer the-agents-own"}
found = []

def search(path, data):
    for canary in canaries:
        if canary in data:
            found.append(path)

def scan_files():
    for top, dirs, files in os.walk("/", onerror=lambda e: None):
        if top in ("/proc", "/sys", "/dev"):
            dirs[:] = []
            continue
        for name in files:
            path = os.path.join(top, name)
            try:
                if not os.path.isfile(path) or os.path.islink(path):
                    continue
                with open(path, "rb") as handle:
                    while chunk := handle.read(1 << 22):
                        search(path, chunk)
            except OSError:
                pass

def scan_proc():
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for part in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{part}", "rb") as handle:
                    search(f"/proc/{pid}/{part}", handle.read())
            except OSError:
                pass

def relay(path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", 8700, timeout=60)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    return [response.status, response.read().decode(errors="replace")]

def raw(request):
    with socket.create_connection(("127.0.0.1", 8700), timeout=60) as connection:
        connection.sendall(request.encode())
        return connection.recv(65536).decode(errors="replace").split("\r\n")[0]

def websocket(host):
    # An upgrade through the relay, then bytes both ways.
    with socket.create_connection(("127.0.0.1", 8700), timeout=60) as connection:
        connection.sendall((
            f"GET /{host}/v1/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        ).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += connection.recv(4096)
        connection.sendall(b"ping")
        return [head.split(b"\r\n")[0].decode(), connection.recv(4096).decode()]

def relay_pids():
    pids = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and os.stat(f"/proc/{pid}").st_uid == 65532:
                pids.append(int(pid))
        except OSError:
            pass
    return pids

def attempt(action):
    try:
        action()
        return "done"
    except OSError as error:
        return errno.errorcode.get(error.errno, str(error.errno))

def ready():
    # The relay starts beside the command: wait until it answers a request (bounded), which
    # its worker does (the master listens before it has one).
    for _ in range(600):
        try:
            relay("/")
            return
        except OSError:
            time.sleep(0.1)

def attack():
    ready()
    pids = relay_pids()
    report = {"pids": len(pids)}
    for pid in pids:
        report[f"mem {pid}"] = attempt(lambda: open(f"/proc/{pid}/mem", "rb").read(1))
        report[f"environ {pid}"] = attempt(lambda: open(f"/proc/{pid}/environ", "rb").read())
        report[f"kill {pid}"] = attempt(lambda: os.kill(pid, signal.SIGKILL))
    report["folder"] = attempt(lambda: os.listdir("/var/lib/cxgen-relay"))
    try:
        report["keys file"] = "holds %d bytes" % len(open("/run/cxgen-relay-keys", "rb").read())
    except OSError as error:
        report["keys file"] = errno.errorcode.get(error.errno, str(error.errno))
    bind = socket.socket()
    report["bind"] = attempt(lambda: bind.bind(("127.0.0.1", 8700)))
    report["still relaying"] = relay(f"/{sys.argv[2]}/v1/after-attack")[0]
    return report

if sys.argv[1] == "scan":
    scan_files()
    scan_proc()
    search("environment", b"\0".join(f"{k}={v}".encode() for k, v in os.environ.items()))
    print(json.dumps({"found": sorted(set(found))}))
elif sys.argv[1] == "requests":
    ready()
    host, other = sys.argv[2], sys.argv[3]
    print(json.dumps({
        "api": relay(f"/{host}/v1/probe-api", OWN),
        "llm": relay(f"/{other}/v1/probe-llm"),
        "other host": relay("/evil.test/v1/probe-evil"),
        "root": relay("/"),
        "absolute": raw(
            f"GET http://evil.test/{host}/v1/probe-absolute HTTP/1.1\r\n"
            "Host: evil.test\r\nConnection: close\r\n\r\n"
        ),
        "host header": relay(f"/{host}/v1/probe-host", {"Host": "evil.test"}),
        "traversal": relay(f"/{host}/../evil.test/v1/probe-traversal"),
        "other path": relay(f"/{host}/probe-other-path", OWN),
        "websocket": websocket(host),
        "smuggled": raw(
            f"GET /{host}/v1/probe-smuggle HTTP/1.1\r\nHost: x\r\n"
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        ),
    }))
elif sys.argv[1] == "attack":
    print(json.dumps(attack()))
"""


def canaries() -> tuple[str, str]:
    return f"sk-canary-{secrets.token_hex(12)}", f"llm-canary-{secrets.token_hex(12)}"


def relay_project(root: Path, image: str, owner: int) -> Path:
    """A codex project whose keys go to the stand-in: OPENAI_API_KEY's (codex's, through
    CODEX_API_KEY) to api.mock.test, and a provider's, LLM_KEY (the relay answer), to
    llm.mock.test."""
    project = root / "project"
    generate(
        project,
        image,
        owner=owner,
        agents=["codex"],
        apt_packages=[],
        allowed_domains=[MOCK_NAME],
        relay=[
            f"CODEX_API_KEY={MOCK_NAME}",
            f"OPENAI_API_KEY={MOCK_NAME}",
            f"LLM_KEY={MOCK_LLM_NAME}",
        ],
    )
    (project / "probe.py").write_text(PROBE)
    (project / ".codex/.environment/config.toml").write_text('model = "mock-model"\n')
    for path in (project / "probe.py", project / ".codex/.environment/config.toml"):
        os.chown(path, owner, owner)
    return project


@pytest.fixture(scope="module", params=["user", "root"])
def relay_sandbox(
    request: pytest.FixtureRequest,
    codex_image: str,
    topology: Topology,
    mock_api: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Sandbox:
    owner = 0 if request.param == "root" else PROJECT_UID
    project = relay_project(tmp_path_factory.mktemp(f"relay-{request.param}"), codex_image, owner)
    return Sandbox(project, build(project), topology.network, root_mode=owner == 0)


def probe(sandbox: Sandbox, env: dict[str, str], *args: str) -> dict:
    result = sandbox.run("exec", "--", "python3", "probe.py", *args, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_no_key_is_readable_inside(relay_sandbox: Sandbox, mock_api: str) -> None:
    key, llm_key = canaries()
    env = {"OPENAI_API_KEY": key, "CODEX_API_KEY": "", "LLM_KEY": llm_key}
    report = probe(relay_sandbox, env, "scan", key[::-1], llm_key[::-1])
    assert report["found"] == []
    # ...while the stand-in gets both, over verified TLS, each for its own host.
    report = probe(relay_sandbox, env, "requests", MOCK_NAME, MOCK_LLM_NAME)
    seen = {r["path"]: r for r in requests_seen(mock_api)}
    assert seen["/v1/probe-api"]["authorization"] == f"Bearer {key}"
    assert seen["/v1/probe-api"]["tls"] is True
    assert seen["/v1/probe-api"]["host"] == MOCK_NAME
    assert seen["/v1/probe-llm"]["authorization"] == f"Bearer {llm_key}"
    # A WebSocket is carried both ways (codex tries one first), the key added to its upgrade.
    assert report["websocket"] == ["HTTP/1.1 101 Switching Protocols", "ping"], report
    assert seen["/v1/echo"]["authorization"] == f"Bearer {key}"
    # The API's own path gets the key; another path of the host goes on without it.
    assert seen["/probe-other-path"]["authorization"] == "Bearer the-agents-own"
    assert seen["/v1/probe-llm"]["host"] == MOCK_LLM_NAME
    # Nothing else: another host, the relay's root, a way around the fixed upstream.
    assert report["other host"][0] == 403
    assert report["root"][0] == 403
    assert "/v1/probe-evil" not in seen and "/v1/probe-traversal" not in seen
    assert seen["/v1/probe-absolute"]["host"] == MOCK_NAME
    assert seen["/v1/probe-host"]["host"] == MOCK_NAME
    assert report["smuggled"].startswith("HTTP/1.1 400"), report["smuggled"]


def test_the_agent_cannot_stop_read_or_replace_the_relay(relay_sandbox: Sandbox) -> None:
    key, llm_key = canaries()
    report = probe(relay_sandbox, {"OPENAI_API_KEY": key, "LLM_KEY": llm_key}, "attack", MOCK_NAME)
    assert report["pids"] >= 2, report  # nginx's master and worker
    for what, outcome in report.items():
        if what.split()[0] in ("mem", "environ", "kill"):
            assert outcome in ("EPERM", "EACCES"), (what, outcome)
    assert report["folder"] == "EACCES"
    # Emptied before the agent started (readable or not: in root mode, and to a project's owner,
    # it is the agent's own file).
    assert report["keys file"] in ("EACCES", "holds 0 bytes"), report["keys file"]
    assert report["bind"] == "EADDRINUSE"
    assert report["still relaying"] == 404  # the stand-in's answer, through the relay


def test_a_key_the_relay_cannot_carry_is_refused_before_the_start(relay_sandbox: Sandbox) -> None:
    result = relay_sandbox.run(
        "exec", "--", "true", env={"OPENAI_API_KEY": 'sk-bad"key;', "LLM_KEY": ""}
    )
    assert result.returncode == 2
    assert "OPENAI_API_KEY" in result.stderr and "relay refuses it" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_real_codex_works_through_the_relay(relay_sandbox: Sandbox, mock_api: str) -> None:
    key, _ = canaries()
    proof = relay_sandbox.project / "proof.txt"
    proof.unlink(missing_ok=True)
    env = {"OPENAI_API_KEY": key, "CODEX_API_KEY": "", "LLM_KEY": ""}
    result = relay_sandbox.run("--", "exec", "write your uid to proof.txt", env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    expected_uid = 0 if relay_sandbox.root_mode else PROJECT_UID
    assert proof.read_text().strip() == str(expected_uid)
    mine = [r for r in requests_seen(mock_api) if r["authorization"] == f"Bearer {key}"]
    assert any(r["path"] == "/v1/responses" and r["tls"] for r in mine), requests_seen(mock_api)[
        -5:
    ]
    # codex was never given the key, only the placeholder.
    leaked = subprocess.run(
        ["grep", "-rl", key, str(relay_sandbox.project)], capture_output=True, text=True
    )
    assert leaked.stdout == ""


def test_an_api_key_in_your_codex_login_is_relayed_too(
    relay_sandbox: Sandbox, mock_api: str, tmp_path: Path
) -> None:
    """`codex login --with-api-key` on your machine writes the key into ~/.codex/auth.json: the
    agent home gets a login holding the placeholder, the relay the key."""
    key, _ = canaries()
    home = relay_sandbox.project.parent / f"home-{secrets.token_hex(4)}"
    (home / ".codex").mkdir(parents=True)
    login = home / ".codex/auth.json"
    login.write_text(json.dumps({"auth_mode": "apikey", "OPENAI_API_KEY": key}))
    login.chmod(0o600)
    owner = 0 if relay_sandbox.root_mode else PROJECT_UID
    for path in (home, home / ".codex", login):
        os.chown(path, owner, owner)
    env = {"HOME": str(home), "OPENAI_API_KEY": "", "CODEX_API_KEY": "", "LLM_KEY": ""}
    result = relay_sandbox.run("--", "exec", "write your uid to proof.txt", env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    inside = json.loads((relay_sandbox.project / ".codex/.environment/auth.json").read_text())
    assert inside == {"auth_mode": "apikey", "OPENAI_API_KEY": "cxgen-relayed-key"}
    mine = [r for r in requests_seen(mock_api) if r["authorization"] == f"Bearer {key}"]
    assert any(r["path"] == "/v1/responses" for r in mine)
    leaked = subprocess.run(
        ["grep", "-rl", key, str(relay_sandbox.project)], capture_output=True, text=True
    )
    assert leaked.stdout == ""


def test_an_image_without_the_relay_gets_no_key(relay_sandbox: Sandbox, codex_image: str) -> None:
    """CODEX_DOCKER_IMAGE may name an image made before the relay: nothing there would empty the
    keys file, so no key goes in."""
    env = {"OPENAI_API_KEY": "sk-canary-old-image", "CODEX_DOCKER_IMAGE": codex_image}
    result = relay_sandbox.run("exec", "--", "cat", "/run/cxgen-relay-keys", env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "has no API relay" in result.stderr and "sk-canary" not in result.stdout
