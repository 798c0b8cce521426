"""Host ports (--host-port, the host_ports answer) as the run script hands them to `docker run`,
against the stand-in for docker of test_run_script_edges.py: the name host.docker.internal at
the sandbox network's gateway, the ports for the firewall, values refused, and the answer's
ports in the accepted policy. What the firewall makes of them: tests/e2e/test_host_ports.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import tests.render.test_run_script_edges as edges
from cxgen.init import run_init
from cxgen.policy_probe import policy_dir
from tests.render.test_run_script_args import env_of
from tests.render.test_run_script_edges import run


@pytest.fixture(autouse=True)
def _every_test_under_both_bashes(script_shell: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test here runs the script with this machine's bash and with bash 3.2 (macOS's)."""
    monkeypatch.setattr(edges, "SHELL", script_shell)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose host_ports answer opens 11434 (Ollama's port)."""
    dest = tmp_path / "proj"
    answers = {"agents": ["shell"], "host_ports": "11434"}
    run_init(dest, answers, defaults=True, interactive=False)
    return dest


def argv_of(tmp_path: Path) -> list[str]:
    run_file = tmp_path / "argv.run"
    return run_file.read_text().splitlines() if run_file.exists() else []


def add_hosts(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == "--add-host"]


@pytest.mark.parametrize("internal", [True, False])
def test_the_name_is_the_networks_gateway_and_only_those_ports_open(
    project: Path, tmp_path: Path, internal: bool
) -> None:
    (tmp_path / "network").write_text(f"{str(internal).lower()} 10.89.0.1 fd00:89::1 \n")
    result = run(
        project, tmp_path, "exec", "--network", "lan", "--host-port", "4000",
        "--host-port", "11434", "--host-port", "4000", "--", "true",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    argv = argv_of(tmp_path)
    assert add_hosts(argv) == ["host.docker.internal:10.89.0.1"]
    env = env_of(argv)
    # The answer's port, then the option's, once each.
    assert env["CXGEN_HOST_PORTS"] == "11434 4000"
    assert env["CXGEN_DOCKER_GATEWAY"] == "10.89.0.1"
    # Nothing published, and no warning about internal networks: the sandbox reaches its
    # network's gateway on an internal network too.
    assert "CXGEN_PORTS" not in env and "-p" not in argv
    assert "warning" not in result.stderr, result.stderr


def test_no_host_ports_no_name_and_no_network_query(tmp_path: Path) -> None:
    project = tmp_path / "plain"
    run_init(project, {"agents": ["shell"]}, defaults=True, interactive=False)
    result = run(project, tmp_path, "exec", "--", "true")
    assert result.returncode == 0, result.stderr
    argv = argv_of(tmp_path)
    assert add_hosts(argv) == [] and "CXGEN_HOST_PORTS" not in env_of(argv)
    assert "network inspect" not in (tmp_path / "calls").read_text()


def test_a_default_bridge_naming_no_gateway_gets_dockers_host_gateway(
    project: Path, tmp_path: Path
) -> None:
    """Docker's default bridge may have no Gateway in its IPAM (seen here, Docker 20.10): its
    address is docker0's, which is Docker's host-gateway; the firewall finds it as its default
    route. Another network without an IPv4 gateway is an error."""
    result = run(project, tmp_path, "exec", "--", "true")
    assert result.returncode == 0, result.stderr
    argv = argv_of(tmp_path)
    assert add_hosts(argv) == ["host.docker.internal:host-gateway"]
    assert "CXGEN_DOCKER_GATEWAY" not in env_of(argv)
    assert env_of(argv)["CXGEN_HOST_PORTS"] == "11434"
    (tmp_path / "argv.run").unlink()
    result = run(project, tmp_path, "exec", "--network", "lan", "--", "true")
    assert result.returncode == 2 and argv_of(tmp_path) == []
    assert "Docker network lan has no IPv4 gateway" in result.stderr


@pytest.mark.parametrize(
    "port",
    ["0", "65536", "80:81", "1.2.3.4:80", "localhost:11434", "-1", "80 81", "80\n81", "0x50",
     "080", "11434/tcp"],
)  # fmt: skip
def test_bad_host_ports_are_refused(project: Path, tmp_path: Path, port: str) -> None:
    result = run(project, tmp_path, "exec", "--host-port", port, "--", "true")
    assert result.returncode == 2 and argv_of(tmp_path) == []
    assert result.stderr.count("\n") == 1 and "--host-port" in result.stderr, result.stderr


def test_the_answers_ports_are_accepted_like_domains_and_the_options_need_no_approval(
    project: Path, tmp_path: Path
) -> None:
    """A git pull that adds a host port to settings.sh is shown and needs a yes; --host-port,
    your own choice on the command line, does not."""
    state = tmp_path / "state"
    assert run(project, tmp_path, "accept").returncode == 0
    record = policy_dir(project, state) / "policy"
    assert "host-port 11434\n" in record.read_text()
    # --host-port: no approval asked.
    refuse = {"CXGEN_ACCEPT_CHANGES": "0"}
    result = run(project, tmp_path, "exec", "--host-port", "9999", "--", "true", env=refuse)
    assert result.returncode == 0, result.stderr
    settings = project / ".codex/run/settings.sh"
    text = settings.read_text()
    settings.write_text(text.replace("DEFAULT_HOST_PORTS=(11434)", "DEFAULT_HOST_PORTS=(22)"))
    (tmp_path / "argv.run").unlink()
    result = run(project, tmp_path, "exec", "--", "true", env=refuse)
    assert result.returncode == 2 and argv_of(tmp_path) == []
    assert "ports of this machine opened to it at host.docker.internal (host_ports): 22\n" in (
        result.stderr
    )
    assert "ports of this machine closed to it (host_ports): 11434\n" in result.stderr
    # The refusal is what `accept` records, as shown.
    result = run(project, tmp_path, "accept", env=refuse)
    assert result.returncode == 0, result.stderr
    assert "host-port 22\n" in record.read_text() and "11434" not in record.read_text()


def test_a_domain_saved_beside_host_ports_needs_no_approval(project: Path, tmp_path: Path) -> None:
    """allow --save records the domain where a start's policy has it (before the host ports):
    the next start asks nothing (it asked about an empty list of changes)."""
    assert run(project, tmp_path, "accept").returncode == 0
    result = run(project, tmp_path, "allow", "files.example", "--save")
    assert "saved to .codex/allowed-domains.txt" in result.stderr, result.stderr
    refuse = {"CXGEN_ACCEPT_CHANGES": "0"}
    result = run(project, tmp_path, "exec", "--", "true", env=refuse)
    assert result.returncode == 0, result.stderr


def test_a_project_lockdown_warns_that_host_ports_stay_closed(
    project: Path, tmp_path: Path
) -> None:
    lockdown = policy_dir(project, tmp_path / "state") / "lockdown"
    lockdown.parent.mkdir(parents=True)
    lockdown.write_text("on\n")
    result = run(project, tmp_path, "exec", "--host-port", "4000", "--", "true")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("--host-port's ports stay closed") == 1, result.stderr
    assert env_of(argv_of(tmp_path))["CXGEN_LOCKDOWN"] == "on"


def test_help_names_the_option(project: Path) -> None:
    result = subprocess.run(
        ["bash", str(project / "run_in_container.sh"), "help", "run"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "--host-port PORT" in result.stdout and "host.docker.internal:PORT" in result.stdout


@pytest.mark.parametrize("driver", ["macvlan", "ipvlan", "overlay"])
def test_host_ports_are_refused_on_a_network_whose_gateway_is_not_this_machine(
    project: Path, tmp_path: Path, driver: str
) -> None:
    """On a macvlan or ipvlan network the gateway is the LAN's router: a host port would open
    that port of the router. Refused before anything starts."""
    (tmp_path / "network").write_text(f"false 192.168.1.1 {driver}\n")
    result = run(project, tmp_path, "exec", "--network", "lan", "--", "true")
    assert result.returncode == 2, result.stderr
    assert f"network lan has the driver {driver}" in result.stderr
    assert argv_of(tmp_path) == []
    # A bridge, named so by Docker: as before.
    (tmp_path / "network").write_text("false 10.89.0.1 bridge\n")
    result = run(project, tmp_path, "exec", "--network", "lan", "--", "true")
    assert result.returncode == 0, result.stderr
    assert add_hosts(argv_of(tmp_path)) == ["host.docker.internal:10.89.0.1"]
