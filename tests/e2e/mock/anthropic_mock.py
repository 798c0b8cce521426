#!/usr/bin/env python3
"""A stand-in for the Anthropic Messages API, enough for the real Claude Code CLI: the first turn
asks for one call of the Bash tool Claude Code offers (the command in MOCK_COMMAND, or the task's
own when a line of it reads "run: COMMAND"), the turn that carries the tool's result gets a final
text; requests without that tool (Claude Code's own
side questions) get the final text at once. Answers both streaming (server-sent events) and
plain JSON requests. Its other start-up calls (the connectivity check HEAD /api/hello, token
counting, the model list) get a harmless answer, anything else an empty 404. Every request is
logged as one JSON line (method, path, the x-api-key, Authorization and anthropic-beta headers,
body) to stdout and kept for GET /requests. Serves TLS when MOCK_TLS_CERT and MOCK_TLS_KEY name a
certificate and its key, plain HTTP otherwise. Standard library only: it runs in a test
container with nothing but python3.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

COMMAND = os.environ.get("MOCK_COMMAND", "id -u > proof.txt")
FINAL_TEXT = "mock: done"
MODEL = "claude-mock"
REQUESTS: list[dict[str, Any]] = []


def bash_tool(tools: list[dict[str, Any]]) -> str | None:
    """The name of the shell tool among those offered (Claude Code calls it Bash)."""
    names = [str(tool.get("name", "")) for tool in tools if isinstance(tool, dict)]
    for name in names:
        if name == "Bash":
            return name
    return next((n for n in names if "bash" in n.lower() or "shell" in n.lower()), None)


def has_tool_result(messages: list[Any]) -> bool:
    return any(
        isinstance(block, dict) and block.get("type") == "tool_result"
        for message in messages
        if isinstance(message, dict) and isinstance(message.get("content"), list)
        for block in message["content"]
    )


def texts(messages: list[Any]) -> list[str]:
    """The text of the user's messages (a string, or text blocks)."""
    found = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        found += [b["text"] for b in blocks or [] if isinstance(b, dict) and "text" in b]
    return found


def command(messages: list[Any]) -> str:
    """The task's own command ("run: COMMAND" on a line of its own), else MOCK_COMMAND."""
    for text in texts(messages):
        for line in str(text).splitlines():
            if line.startswith("run: "):
                return line.removeprefix("run: ")
    return COMMAND


def answer(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The reply's content blocks and stop reason."""
    tool = bash_tool(body.get("tools") or [])
    messages = body.get("messages") or []
    if tool is None or has_tool_result(messages):
        return [{"type": "text", "text": FINAL_TEXT}], "end_turn"
    call = {
        "type": "tool_use",
        "id": "toolu_mock_1",
        "name": tool,
        "input": {"command": command(messages), "description": "mock tool call"},
    }
    return [call], "tool_use"


def usage() -> dict[str, int]:
    return {
        "input_tokens": 1,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def message(content: list[dict[str, Any]], stop: str | None) -> dict[str, Any]:
    return {
        "id": "msg_mock_1",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage(),
    }


def block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    """One content block as a stream: start (empty), one delta, stop."""
    if block["type"] == "tool_use":
        start = {**block, "input": {}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
    else:
        start = {"type": "text", "text": ""}
        delta = {"type": "text_delta", "text": block["text"]}
    return [
        {"type": "content_block_start", "index": index, "content_block": start},
        {"type": "content_block_delta", "index": index, "delta": delta},
        {"type": "content_block_stop", "index": index},
    ]


def stream(content: list[dict[str, Any]], stop: str) -> bytes:
    events = [{"type": "message_start", "message": message([], None)}]
    for index, block in enumerate(content):
        events += block_events(index, block)
    events += [
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": 1},
        },
        {"type": "message_stop"},
    ]
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def record(self, body: Any) -> None:
        entry = {
            "method": self.command,
            "path": self.path,
            "x-api-key": self.headers.get("x-api-key", ""),
            "authorization": self.headers.get("Authorization", ""),
            "anthropic-beta": self.headers.get("anthropic-beta", ""),
            "user-agent": self.headers.get("User-Agent", ""),
            "body": body,
        }
        REQUESTS.append(entry)
        print(json.dumps(entry), flush=True)

    def reply(self, status: int, payload: bytes = b"", kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def read_body(self) -> Any:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            return json.loads(raw or b"null")
        except ValueError:  # not JSON, or not text (a compressed body)
            return {"unparsed": raw.decode(errors="replace")}

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/requests":
            self.reply(200, json.dumps(REQUESTS).encode())
            return
        self.record(None)
        if path == "/api/hello":
            self.reply(200, b'{"message":"hello"}')
        elif path == "/v1/models":
            model = {"type": "model", "id": MODEL, "display_name": "Mock"}
            self.reply(200, json.dumps({"data": [model], "has_more": False}).encode())
        else:
            self.reply(404, b"{}")

    def do_POST(self) -> None:
        body = self.read_body()
        self.record(body)
        path = self.path.split("?")[0]
        if not isinstance(body, dict):
            self.reply(400, b"{}")
        elif path == "/v1/messages/count_tokens":
            self.reply(200, b'{"input_tokens":1}')
        elif path == "/v1/messages":
            content, stop = answer(body)
            if body.get("stream"):
                self.reply(200, stream(content, stop), "text/event-stream")
            else:
                self.reply(200, json.dumps(message(content, stop)).encode())
        else:
            self.reply(404, b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"mock: {format % args}\n")


def tls_context() -> ssl.SSLContext | None:
    """Server TLS from MOCK_TLS_CERT and MOCK_TLS_KEY (None: both unset, plain HTTP)."""
    cert, key = os.environ.get("MOCK_TLS_CERT"), os.environ.get("MOCK_TLS_KEY")
    if not cert and not key:
        return None
    if not (cert and key):
        sys.exit("mock: MOCK_TLS_CERT and MOCK_TLS_KEY go together")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def main() -> None:
    context = tls_context()
    port = int(os.environ.get("MOCK_PORT") or (443 if context else 80))
    ThreadingHTTPServer.address_family = socket.AF_INET6
    server = ThreadingHTTPServer(("::", port), Handler)
    if context:
        # The handshake happens in each request's thread, on its first read.
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    server.serve_forever()


if __name__ == "__main__":
    main()
