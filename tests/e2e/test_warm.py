"""Warm starts: a spare sandbox, started ahead (after a session, at build), that the next start
with the same configuration claims with docker exec instead of docker run. Each spare serves one
session; a spare whose inputs differ is removed and the start is cold."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Sandbox, docker
from tests.e2e.waiting import wait_until

pytestmark = pytest.mark.e2e


def warm_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "CXGEN_WARM": "1",
        "CXGEN_WARM_WAIT": "1",
        "CXGEN_START_LOG": str(tmp_path / "starts.log"),
        **extra,
    }


def starts(tmp_path: Path) -> list[str]:
    log = tmp_path / "starts.log"
    return [line.split()[0] for line in log.read_text().splitlines()] if log.exists() else []


def spares(box: Sandbox) -> list[str]:
    out = docker(
        "ps", "-a", "--filter", "label=org.cxgen.spare",
        "--filter", f"label=org.cxgen.project={box.project}", "--format", "{{.Names}}",
    ).stdout
    return [name for name in out.split() if ".spare-" in name]


def test_second_start_claims_the_spare(make_sandbox, tmp_path: Path) -> None:
    box = make_sandbox()
    env = warm_env(tmp_path)
    first = box.run("exec", "--", "sh", "-c", "echo first > /tmp/left-by-first; id -u", env=env)
    assert first.returncode == 0, first.stderr
    assert starts(tmp_path) == ["cold"]
    assert len(spares(box)) == 1
    listing = box.run("list", env=env)
    assert "spare,ready" in listing.stdout, listing.stdout
    second = box.run("exec", "--", "sh", "-c", "cat /tmp/left-by-first 2>&1; id -u; exit 3", env=env)
    assert second.returncode == 3, second.stderr
    assert starts(tmp_path) == ["cold", "warm"]
    assert "No such file" in second.stdout
    assert second.stdout.split()[-1] == first.stdout.split()[-1]
