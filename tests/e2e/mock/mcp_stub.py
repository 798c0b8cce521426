"""A tiny MCP server for the tests: JSON-RPC 2.0 over stdio, one message per line.

It answers initialize, tools/list and tools/call (and ping); its tools say where it runs
(`whoami`: uid, gid, hostname, network namespace, address) and probe the network from there
(`http`: a GET, `dns`: a query sent straight to a DNS server, `connect`: a TCP connection,
`listen`: a port to connect to), so a test learns what the server can reach and what reaches
it. Python's standard library only.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

TOOLS = {
    "whoami": "uid, gid, hostname and network namespace of the server",
    "http": "GET the url argument; the body or the error",
    "dns": "send a query for name straight to server (an address) on port 53",
    "connect": "open a TCP connection to host:port",
    "listen": "accept TCP connections on port (every address), for as long as the server runs",
}


def whoami(_: dict[str, Any]) -> str:
    return json.dumps(
        {
            "uid": os.getuid(),
            "gid": os.getgid(),
            "hostname": socket.gethostname(),
            "netns": str(Path("/proc/self/ns/net").readlink()),
            "address": socket.gethostbyname(socket.gethostname()),
            "pid": os.getpid(),
        }
    )


def http(args: dict[str, Any]) -> str:
    try:
        with urllib.request.urlopen(args["url"], timeout=10) as response:
            body: bytes = response.read(200)
            return "ok " + body.decode(errors="replace").strip()
    except Exception as error:
        return f"failed {type(error).__name__}: {error}"


def dns(args: dict[str, Any]) -> str:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in args["name"].split(".")) + b"\0"
    query = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + labels + b"\0\1\0\1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        try:
            sock.sendto(query, (args["server"], 53))
            answer, _ = sock.recvfrom(512)
        except OSError as error:
            return f"failed {type(error).__name__}: {error}"
    return f"answered {len(answer)} bytes"


def connect(args: dict[str, Any]) -> str:
    try:
        with socket.create_connection((args["host"], int(args["port"])), timeout=5):
            return "connected"
    except OSError as error:
        return f"failed {type(error).__name__}: {error}"


def listen(args: dict[str, Any]) -> str:
    server = socket.create_server(("", int(args["port"])))

    def accept() -> None:
        while True:
            connection, _ = server.accept()
            connection.close()

    threading.Thread(target=accept, daemon=True).start()
    return "listening"


def answer(message: dict[str, Any]) -> dict[str, Any] | None:
    method, params = message.get("method"), message.get("params") or {}
    if "id" not in message:
        return None
    result: dict[str, Any]
    if method == "initialize":
        result = {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "cxgen-mcp-stub", "version": "1.0.0"},
        }
    elif method == "ping":
        result = {}
    elif method == "tools/list":
        result = {
            "tools": [
                {
                    "name": name,
                    "description": text,
                    "inputSchema": {"type": "object", "additionalProperties": True},
                }
                for name, text in TOOLS.items()
            ]
        }
    elif method == "tools/call" and params.get("name") in TOOLS:
        text = globals()[params["name"]](params.get("arguments") or {})
        result = {"content": [{"type": "text", "text": text}], "isError": False}
    else:
        return {
            "jsonrpc": "2.0",
            "id": message["id"],
            "error": {"code": -32601, "message": f"no method {method}"},
        }
    return {"jsonrpc": "2.0", "id": message["id"], "result": result}


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = answer(json.loads(line))
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
