#!/usr/bin/env python3
"""A git server over HTTPS for the skills tests: git's smart HTTP protocol, `git http-backend`
run as a CGI program for each request, serving the repositories under GIT_PROJECT_ROOT
(read-only). Its certificate names the container's own IPv4 address and is signed by the test
images' CA (/usr/local/share/cxgen-test-ca, which every image built from them trusts): a docker
build reaches this container by address on the default bridge, where test names do not resolve.
Any commit may be asked for by id (uploadpack.allowAnySHA1InWant), as GitHub allows. Every
request is logged as one JSON line on stdout. Needs python3, git and openssl (a sandbox image
built from the test images has all three).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

CA = Path("/usr/local/share/cxgen-test-ca")
ROOT = os.environ.get("GIT_PROJECT_ROOT", "/srv/git")
# git's own settings for the backend, as environment (no config file to write).
GIT_CONFIG = {
    "GIT_CONFIG_COUNT": "2",
    "GIT_CONFIG_KEY_0": "safe.directory",
    "GIT_CONFIG_VALUE_0": "*",
    "GIT_CONFIG_KEY_1": "uploadpack.allowAnySHA1InWant",
    "GIT_CONFIG_VALUE_1": "true",
}


def own_address() -> str:
    """This container's IPv4 address, as Docker wrote it in its /etc/hosts for its name."""
    return socket.gethostbyname(socket.gethostname())


def certificate(address: str, folder: Path) -> tuple[Path, Path]:
    """A server certificate for IP:address, signed by the test CA, and its key."""
    key, request, cert, ext = (folder / name for name in ("key.pem", "req.pem", "cert.pem", "ext"))
    new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    files = ["-keyout", str(key), "-out", str(request)]
    subprocess.run(
        ["openssl", "req", "-new", *new_key, "-subj", "/CN=cxgen test git", *files],
        check=True,
        capture_output=True,
    )
    ext.write_text(f"subjectAltName=IP:{address}\nextendedKeyUsage=serverAuth\n")
    signer = ["-CA", str(CA / "ca.pem"), "-CAkey", str(CA / "ca.key"), "-CAcreateserial"]
    files = ["-in", str(request), "-extfile", str(ext), "-out", str(cert)]
    subprocess.run(
        ["openssl", "x509", "-req", *signer, "-days", "2", *files], check=True, capture_output=True
    )
    return cert, key


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.backend()

    def do_POST(self) -> None:
        self.backend()

    def body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = b""
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            data += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        return data

    def backend(self) -> None:
        path, _, query = self.path.partition("?")
        body = self.body()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": ROOT,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            **GIT_CONFIG,
        }
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode(errors="replace").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        if result.returncode != 0 and not result.stdout:
            status, payload = 500, result.stderr
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        print(json.dumps({"method": self.command, "path": path, "status": status}), flush=True)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"git-server: {format % args}\n")


def main() -> None:
    address = own_address()
    cert, key = certificate(address, Path(tempfile.mkdtemp()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("0.0.0.0", 443), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(json.dumps({"listening": address}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
