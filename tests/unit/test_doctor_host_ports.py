"""`cxgen doctor` on the host_ports answer: one line per port, saying whether something listens
where the sandbox reaches this machine (the Docker network's gateway), and when a service
listens on 127.0.0.1 alone, which the sandbox cannot reach. Loopback only here: 127.0.0.2 plays
the gateway (Linux routes all of 127/8 to lo). On real Docker: tests/e2e/test_host_ports.py."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from cxgen.doctor import FAIL, OK, SKIP, WARN, Report, _check_host_port, _check_host_ports

GATEWAY = "127.0.0.2"


@contextmanager
def listener(address: str, port: int = 0) -> Iterator[int]:
    with socket.socket() as server:
        server.bind((address, port))
        server.listen()
        yield server.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check(port: int, gateway: str | None) -> tuple[str, str]:
    report = Report()
    _check_host_port(report, port, gateway, "no daemon")
    [line] = report.checks
    return line.status, line.line()


def test_listening_at_the_gateway_is_ok() -> None:
    with listener(GATEWAY) as port:
        status, line = check(port, GATEWAY)
    assert status == OK and f"{GATEWAY}:{port}" in line


def test_loopback_alone_is_out_of_the_sandboxs_reach() -> None:
    with listener("127.0.0.1") as port:
        status, line = check(port, GATEWAY)
    assert status == WARN and "127.0.0.1 alone" in line and "OLLAMA_HOST=0.0.0.0" in line


def test_nothing_listening() -> None:
    port = free_port()
    status, line = check(port, GATEWAY)
    assert status == WARN and f"nothing listens on this machine at port {port}" in line
    status, line = check(port, None)
    assert status == WARN and f"nothing listens on 127.0.0.1:{port}" in line


def test_without_a_gateway_to_try_loopback_is_reported_as_not_tried() -> None:
    with listener("127.0.0.1") as port:
        status, line = check(port, None)
    assert status == SKIP and "not tried where the sandbox reaches it: no daemon" in line


def test_an_invalid_answer_fails_and_no_answer_says_nothing() -> None:
    report = Report()
    _check_host_ports(report, ["11434", "x"], None)
    assert [c.status for c in report.checks] == [FAIL] and "host_ports" in report.checks[0].line()
    report = Report()
    _check_host_ports(report, None, None)
    assert report.checks == []
