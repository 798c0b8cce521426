"""What a containerised MCP server costs (measured figures, not a test). From a checkout:

    python3 bench/mcp.py [--runs N]

Two projects on the tests' base image (the shell agent, python3): one declares no server, the
other one server, the tests' stand-in (tests/e2e/mock/mcp_stub.py). Each figure is the median of
N runs (default 5) with min and max, printed as a Markdown table:

1. `run_in_container.sh exec -- date` without and with the declared server (its wall starts in
   the background, and is removed as the session ends): when the command starts (the clock it
   prints, against the run script's start), and the whole run;
2. inside a session with the server, measured by the agent's side from the command's start: the
   first answer (a `ping` through `cxgen-mcp`: the wall's start, the listener, the server's
   container), a second request on that connection, and a new connection's first answer (a new
   server container).

Everything runs on an --internal network created here; nothing is pulled. Docker objects are
labelled org.cxgen.bench=<run> and removed. Policy acceptance goes to a temporary XDG_STATE_HOME.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cxgen.init import run_init  # noqa: E402
from tests.e2e.conftest import BASE_IMAGE, chown_tree, docker  # noqa: E402
from tests.e2e.test_mcp import STUB, STUB_DOCKERFILE, stub_tag  # noqa: E402

LABEL = f"org.cxgen.bench={uuid.uuid4().hex[:6]}"
# The agent's side: times (ms, from the command's start) of the first answer, a second request
# on that connection, and a new connection's first answer.
CLIENT = r"""
import json, subprocess, sys, time
start = float(sys.argv[1])
def connection():
    pipe = subprocess.PIPE
    return subprocess.Popen(["cxgen-mcp", "probe"], stdin=pipe, stdout=pipe, text=True)
def ping(server, number):
    server.stdin.write(json.dumps({"jsonrpc": "2.0", "id": number, "method": "ping"}) + "\n")
    server.stdin.flush()
    assert "result" in json.loads(server.stdout.readline())
    return time.time()
server = connection()
first = ping(server, 1)
before = time.time()
second = ping(server, 2)
server.stdin.close(); server.wait()
before_new = time.time()
server = connection()
new = ping(server, 1)
server.stdin.close(); server.wait()
print(json.dumps({"first": (first - start) * 1000, "same": (second - before) * 1000,
                  "new": (new - before_new) * 1000}))
"""


def project(work: Path, name: str, declaration: str, env: dict[str, str]) -> Path:
    dest = work / name
    answers = {"base_image": BASE_IMAGE, "agents": ["shell"], "apt_packages": ["python3"]}
    run_init(dest, answers, defaults=True, interactive=False)
    (dest / ".codex/sandbox/mcp-servers.txt").write_text(declaration)
    (dest / "client.py").write_text(CLIENT)
    # An unprivileged user's project (run as root, the agent gets its uid, as for most users).
    chown_tree(dest)
    script = str(dest / "run_in_container.sh")
    subprocess.run([script, "build", "--accept-changes"], env=env, check=True, capture_output=True)
    return dest


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """ms from the run script's start to its command's (which prints the clock), and in all."""
    began = time.time()
    out = subprocess.run(
        command, env=env, check=True, capture_output=True, stdin=subprocess.DEVNULL, text=True
    ).stdout
    return (float(out) - began) * 1000, (time.time() - began) * 1000


def row(name: str, values: list[float]) -> str:
    return f"| {name} | {statistics.median(values):.0f} | {min(values):.0f} | {max(values):.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    tag = stub_tag()
    work = Path(tempfile.mkdtemp(prefix="cxgen-bench-mcp-"))
    network = f"cxgen-bench-mcp-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "XDG_STATE_HOME": str(work / "state")}
    try:
        if docker("image", "inspect", tag, check=False).returncode != 0:
            shutil.copy(STUB, work / "mcp-stub")
            (work / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\n{STUB_DOCKERFILE}")
            docker("build", "-q", "-t", tag, "--label", "org.cxgen.test=image", str(work))
        docker("network", "create", "--internal", "--label", LABEL, network)
        none = project(work, "none", "", env)
        one = project(work, "one", f"server probe {tag}\n", env)
        options = ["--network", network]
        starts: dict[str, list[float]] = {"none": [], "one": []}
        totals: dict[str, list[float]] = {"none": [], "one": []}
        calls: dict[str, list[float]] = {"first": [], "same": [], "new": []}
        for _ in range(runs):
            for name, path in (("none", none), ("one", one)):
                script = str(path / "run_in_container.sh")
                command = [script, "exec", *options, "--", "date", "+%s.%N"]
                start, total = timed(command, env)
                starts[name].append(start)
                totals[name].append(total)
            client = f"/app{one}/client.py"
            script = f'python3 {client} "$(date +%s.%N)"'
            command = [str(one / "run_in_container.sh"), "exec", *options, "--", "bash", "-c"]
            done = subprocess.run([*command, script], env=env, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"bench: a session failed: {done.stderr[-2000:]}")
            for key, value in json.loads(done.stdout).items():
                calls[key].append(value)
        print(f"Measured on {os.cpu_count()} cores, {runs} runs, ms: median, min, max.\n")
        print("| figure | median | min | max |\n|---|---|---|---|")
        print(row("the command starts, no server declared", starts["none"]))
        print(row("the command starts, one server declared", starts["one"]))
        print(row("exec -- date in all, no server declared", totals["none"]))
        print(row("exec -- date in all, one server declared", totals["one"]))
        print(row("first answer, from the command's start", calls["first"]))
        print(row("a second request, same connection", calls["same"]))
        print(row("a new connection's first answer", calls["new"]))
    finally:
        ids = docker("ps", "-aq", "--filter", f"label={LABEL}", check=False).stdout.split()
        if ids:
            docker("rm", "-f", *ids, check=False)
        docker("network", "rm", network, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
