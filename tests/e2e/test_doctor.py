"""`cxgen doctor` on real Docker: a ready project passes every check (nf_tables tried in a
throwaway container from a local image), a changed policy and an unbuilt image are reported
without accepting, building or leaving anything behind."""

from __future__ import annotations

import os
from pathlib import Path

from cxgen.policy_probe import policy_dir
from tests.conftest import run_cxgen
from tests.e2e.conftest import Sandbox, docker
from tests.e2e.waiting import wait_until


def lines(output: str) -> dict[str, str]:
    """Report lines by check name: {"policy": "ok    policy: ...", ...}."""
    found = {}
    for line in output.splitlines()[1:]:
        name = line[6:].split(":", 1)[0]
        found[name] = line
    return found


def no_doctor_containers() -> bool:
    """No doctor's throwaway container is left: the other test worker's doctor may have one for
    a moment, so its end is waited for (one this doctor leaked never goes)."""
    wait_until(
        lambda: not docker("ps", "-aq", "--filter", "label=org.cxgen.doctor").stdout.split(),
        "doctor containers removed",
        interval=0.5,
    )
    return True


def test_ready_project_passes(sandbox: Sandbox) -> None:
    result = run_cxgen(["doctor", str(sandbox.project)])
    assert result.returncode == 0, result.stdout + result.stderr
    report = lines(result.stdout)
    assert all(line.startswith("ok ") for line in report.values()), result.stdout
    assert report["image"].startswith(f"ok    image: {sandbox.image} present")
    assert "as you accepted" in report["policy"]
    assert report["firewall (nf_tables)"].startswith("ok ")
    assert report["builder"] and report["Docker daemon"] and report["bash"]
    assert no_doctor_containers()


def test_changed_policy_and_unbuilt_image(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    box = make_sandbox(tmp_path / "p")
    record = policy_dir(box.project, Path(os.environ["XDG_STATE_HOME"])) / "policy"
    accepted = record.read_bytes()
    with (box.project / ".codex/allowed-domains.txt").open("a") as handle:
        handle.write("extra.test\n")
    with (box.project / ".codex/sandbox/Dockerfile").open("a") as handle:
        handle.write("# changed\n")
    result = run_cxgen(["doctor", str(box.project)])
    assert result.returncode == 1, result.stdout
    report = lines(result.stdout)
    assert report["policy"].startswith("FAIL  policy: not accepted (changed: ")
    assert "allowed domains added: extra.test" in report["policy"]
    assert "run_in_container.sh accept" in report["policy"]
    image = report["image"]
    assert image.startswith("warn  image: cxgen/shell:") and "not built yet" in image
    assert box.image not in image
    # Nothing accepted, nothing built.
    assert record.read_bytes() == accepted
    tag = image.split()[2]
    assert docker("image", "inspect", tag, check=False).returncode != 0
    assert no_doctor_containers()
