#!/usr/bin/env python3
"""A stand-in for the OpenAI Responses API (POST /v1/responses, server-sent events), enough for
the real Codex CLI: the first turn asks for one shell tool call (the command in MOCK_COMMAND),
the turn that carries the tool's output gets a final message. It also stands in for OpenAI's
OAuth token endpoint (POST /oauth/token, where codex sends a ChatGPT sign-in's refresh token when
CODEX_REFRESH_TOKEN_URL_OVERRIDE points it here): each refresh token REFRESH gets REFRESH+
as the new one, an access token good for an hour and an id token for MOCK_ACCOUNT_ID. Every
request is logged as one JSON line (path, Authorization and ChatGPT-Account-ID headers, body)
to stdout and kept for GET /requests. Standard library only: it runs in a test container with
nothing but python3.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

COMMAND = os.environ.get("MOCK_COMMAND", "id -u > proof.txt")
FINAL_TEXT = "mock: done"
ACCOUNT_ID = os.environ.get("MOCK_ACCOUNT_ID", "acct-mock")
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


def jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT (codex reads a ChatGPT token's claims, it does not verify them)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.sig"


def refreshed_tokens(body: dict[str, Any]) -> dict[str, Any] | None:
    """The OAuth token endpoint's answer to a refresh grant (None: not one)."""
    old = body.get("refresh_token")
    if body.get("grant_type") != "refresh_token" or not isinstance(old, str) or not old:
        return None
    new = f"{old}+"
    expires = int(time.time()) + 3600
    auth = {"chatgpt_account_id": ACCOUNT_ID, "chatgpt_plan_type": "plus"}
    return {
        "id_token": jwt(
            {
                "email": "user@mock.test",
                "exp": expires,
                "https://api.openai.com/auth": auth,
            }
        ),
        "access_token": jwt({"exp": expires, "jti": new}),
        "refresh_token": new,
        "token_type": "Bearer",
        "expires_in": 3600,
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket" and self.path.endswith("/echo"):
            self.echo()
            return
        if self.headers.get("Upgrade", "").lower() == "websocket":
            status = int(os.environ.get("MOCK_WS_STATUS", "426"))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path != "/requests":
            self.record({})
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
        except ValueError:  # not JSON, or not text (a compressed body)
            body = {"unparsed": raw.decode(errors="replace")}
        if "x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            body = {key: values[-1] for key, values in parse_qs(raw.decode()).items()}
        self.record(body)
        if self.path.split("?")[0] == "/oauth/token":
            tokens = refreshed_tokens(body)
            answer = json.dumps(tokens or {"error": "invalid_grant"}).encode()
            self.send_response(200 if tokens else 400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            return
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

    def echo(self) -> None:
        """An upgraded connection that sends back what it gets (enough to prove a relay carries
        a WebSocket's both ways; no framing)."""
        self.record({})
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.end_headers()
        self.wfile.flush()
        while data := self.connection.recv(4096):
            self.connection.sendall(data)
        self.close_connection = True

    def record(self, body: dict[str, Any]) -> None:
        """One request, logged (stdout, read by the tests) and kept for GET /requests."""
        record = {
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host", ""),
            "tls": isinstance(self.connection, ssl.SSLSocket),
            "authorization": self.headers.get("Authorization", ""),
            "x-api-key": self.headers.get("x-api-key", ""),
            "account": self.headers.get("ChatGPT-Account-ID", ""),
            "body": body,
        }
        REQUESTS.append(record)
        print(json.dumps(record), flush=True)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"mock: {format % args}\n")


def main() -> None:
    """Plain HTTP on MOCK_PORT (80); with MOCK_TLS_CERT and MOCK_TLS_KEY (tests/e2e/mock/tls
    makes them, signed by the test images' CA) HTTPS on 443 as well, as an API host serves."""
    port = int(os.environ.get("MOCK_PORT", "80"))
    ThreadingHTTPServer.address_family = socket.AF_INET6
    cert, key = os.environ.get("MOCK_TLS_CERT"), os.environ.get("MOCK_TLS_KEY")
    if cert and key:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        secure = ThreadingHTTPServer(("::", 443), Handler)
        secure.socket = context.wrap_socket(secure.socket, server_side=True)
        threading.Thread(target=secure.serve_forever, daemon=True).start()
    server = ThreadingHTTPServer(("::", port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
