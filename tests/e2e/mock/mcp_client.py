"""The agent's side of an MCP server, for the tests: run in the sandbox, it starts `cxgen-mcp
NAME` as an agent's MCP client does, initializes, asks the server who it is, calls the tools
given and prints what came back as JSON, with the sandbox's own network namespace, hostname and
address.

    mcp_client.py NAME '[[TOOL, ARGUMENTS], ...]'

"sandbox-connect" is a TCP connection of the client's own; "{server}" and "{sandbox}" in an
argument are their addresses. The client listens on port 8080 (every address) meanwhile, for the
server to try.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any


class Client:
    def __init__(self, name: str) -> None:
        self.process = subprocess.Popen(
            ["cxgen-mcp", name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin: IO[str] = self.process.stdin
        self.stdout: IO[str] = self.process.stdout
        self.number = 0

    def send(self, message: dict[str, Any]) -> None:
        self.stdin.write(json.dumps({"jsonrpc": "2.0", **message}) + "\n")
        self.stdin.flush()

    def rpc(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.number += 1
        self.send({"id": self.number, "method": method, "params": params})
        answer: dict[str, Any] = json.loads(self.stdout.readline())
        assert answer["id"] == self.number, answer
        result: dict[str, Any] = answer["result"]
        return result

    def tool(self, name: str, arguments: dict[str, Any]) -> str:
        text: str = self.rpc("tools/call", {"name": name, "arguments": arguments})["content"][0][
            "text"
        ]
        return text


def connect(host: str, port: int) -> str:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as error:
        return f"failed {error}"
    return "connected"


def serve(listener: socket.socket) -> None:
    while True:
        listener.accept()[0].close()


def main() -> None:
    name, calls = sys.argv[1], json.loads(sys.argv[2])
    threading.Thread(target=serve, args=(socket.create_server(("", 8080)),), daemon=True).start()
    client = Client(name)
    init = client.rpc(
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    )
    client.send({"method": "notifications/initialized"})
    tools = client.rpc("tools/list", {})
    whoami = json.loads(client.tool("whoami", {}))
    facts = {"server": whoami["address"], "sandbox": socket.gethostbyname(socket.gethostname())}
    results = []
    for tool, arguments in calls:
        given = {k: v.format(**facts) if isinstance(v, str) else v for k, v in arguments.items()}
        if tool == "sandbox-connect":
            results.append(connect(given["host"], int(given["port"])))
        else:
            results.append(client.tool(tool, given))
    client.stdin.close()
    answer = {
        "server": init["serverInfo"]["name"],
        "tools": [tool["name"] for tool in tools["tools"]],
        "whoami": whoami,
        "results": results,
        "status": client.process.wait(timeout=120),
        "netns": str(Path("/proc/self/ns/net").readlink()),
        "hostname": socket.gethostname(),
        "address": facts["sandbox"],
    }
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
