#!/usr/bin/env python3
"""A stand-in for the OpenAI Responses API (POST /v1/responses, server-sent events), enough for
the real Codex CLI: the first turn asks for one shell tool call (the command in MOCK_COMMAND),
the turn that carries the tool's output gets a final message. Every request is logged as one
JSON line (path, Authorization header, body) to stdout and kept for GET /requests.
Standard library only: it runs in a test container with nothing but python3.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMAND = os.environ.get("MOCK_COMMAND", "id -u > proof.txt")
FINAL_TEXT = "mock: done"
REQUESTS: list[dict[str, Any]] = []


def shell_call(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """A function call for whichever shell tool this codex offers."""
    names = {tool.get("name") or tool.get("type") for tool in tools}
    arguments: dict[str, Any]
    if "shell_command" in names:
        name, arguments = "shell_command", {"command": COMMAND}
    elif "exec_command" in names:
        name, arguments = "exec_command", {"cmd": COMMAND}
    else:
        name, arguments = "shell", {"command": ["bash", "-lc", COMMAND]}
    return {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": name,
        "arguments": json.dumps(arguments),
    }


def message(text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "role": "assistant",
        "id": "msg_1",
        "content": [{"type": "output_text", "text": text}],
    }


def events(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    items = body.get("input") or []
    answered = any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in items)
    item = message(FINAL_TEXT) if answered else shell_call(body.get("tools") or [])
    usage = {
        "input_tokens": 1,
        "input_tokens_details": None,
        "output_tokens": 1,
        "output_tokens_details": None,
        "total_tokens": 2,
    }
    return [
        ("response.created", {"type": "response.created", "response": {"id": "resp_1"}}),
        ("response.output_item.done", {"type": "response.output_item.done", "item": item}),
        (
            "response.completed",
            {"type": "response.completed", "response": {"id": "resp_1", "usage": usage}},
        ),
    ]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket":
            status = int(os.environ.get("MOCK_WS_STATUS", "426"))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = json.dumps(REQUESTS).encode() if self.path == "/requests" else b"{}"
        self.send_response(200 if self.path == "/requests" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"unparsed": raw.decode(errors="replace")}
        record = {
            "path": self.path,
            "authorization": self.headers.get("Authorization", ""),
            "body": body,
        }
        REQUESTS.append(record)
        print(json.dumps(record), flush=True)
        if not self.path.endswith("/responses"):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = "".join(
            f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events(body)
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"mock: {format % args}\n")


def main() -> None:
    port = int(os.environ.get("MOCK_PORT", "80"))
    ThreadingHTTPServer.address_family = __import__("socket").AF_INET6
    server = ThreadingHTTPServer(("::", port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
