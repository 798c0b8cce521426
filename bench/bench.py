"""Benchmarks (measured figures, not tests): firewall setup + self-check time, start overhead.

Run: python3 bench/bench.py  (needs Docker and the test base image; see tests/run.sh).
Everything runs on an --internal network; the allowed domains are aliases of one of our own
containers, so no DNS query leaves the machine. Prints a table; writes nothing else.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.conftest import SERVER_CMD, SERVER_IMAGE, docker  # noqa: E402

BASE = "cxgen-test/bookworm:base"
SERVER = SERVER_IMAGE
RUNS = 7
TIMED_SETUP = r"""
. /usr/local/lib/cxgen/firewall.sh
fw_fail() { echo "FAIL $*" >&2; exit 1; }
fw_warn() { echo "WARN $*" >&2; }
ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
read -r -a domains <<<"$CXGEN_ALLOWED_DOMAINS"
start=$(ms)
fw_setup deny ${domains[@]+"${domains[@]}"}
mid=$(ms)
fw_selfcheck ${domains[@]+"${domains[@]}"}
end=$(ms)
learned=$(nft list set inet cxgen allow4 | grep -c 'elements' || true)
echo "$((mid - start)) $((end - mid)) $learned"
"""


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples):7.0f}"


def firewall_times(image: str, network: str, domains: list[str]) -> tuple[list[float], list[float]]:
    setup, check = [], []
    for _ in range(RUNS):
        out = docker(
            "run",
            "--rm",
            "--label",
            "org.cxgen.bench=1",
            "--network",
            network,
            "--cap-add",
            "NET_ADMIN",
            # As run_in_container.sh does; the self-check refuses to pass without it.
            "--sysctl",
            "net.ipv4.ip_unprivileged_port_start=1024",
            "-e",
            "CXGEN_ALLOWED_DOMAINS=" + " ".join(domains),
            "--entrypoint",
            "bash",
            image,
            "-c",
            TIMED_SETUP,
        ).stdout.split()
        if len(domains) and out[2] != "1":
            raise SystemExit(f"the firewall learned no address for {len(domains)} domains: {out}")
        setup.append(float(out[0]))
        check.append(float(out[1]))
    return setup, check


def wall(command: list[str]) -> list[float]:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    run = uuid.uuid4().hex[:6]
    network = f"cxgen-bench-{run}"
    names = [f"d{i}.bench.test" for i in range(300)]
    docker("network", "create", "--internal", "--label", "org.cxgen.bench=1", network)
    server = f"cxgen-bench-{run}-srv"
    try:
        aliases = [arg for name in names for arg in ("--network-alias", name)]
        docker(
            "run",
            "-d",
            "--rm",
            "--label",
            "org.cxgen.bench=1",
            "--name",
            server,
            "--network",
            network,
            *aliases,
            SERVER,
            "sh",
            "-c",
            SERVER_CMD,
        )
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp) / "p"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cxgen",
                    "init",
                    "--defaults",
                    "--data",
                    f"base_image={BASE}",
                    "--data",
                    "agents=[shell]",
                    str(project),
                ],
                check=True,
                capture_output=True,
            )
            image = subprocess.run(
                [str(project / "run_in_container.sh"), "build"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            print(f"image {image}; {RUNS} runs each, medians in ms\n")
            print("| what | setup (rules+resolver) | self-check | total | target |")
            print("|---|---|---|---|---|")
            for count, target in ((0, "-"), (30, "150"), (300, "400")):
                setup, check = firewall_times(image, network, names[:count])
                total = [a + b for a, b in zip(setup, check, strict=True)]
                print(
                    f"| firewall, {count} domains | {median_ms(setup)} | {median_ms(check)} "
                    f"| {median_ms(total)} | {target} |"
                )
            bare = wall(
                ["docker", "run", "--rm", "--network", network, "--entrypoint", "true", image]
            )
            script = wall(
                [str(project / "run_in_container.sh"), "exec", "--network", network, "--", "true"]
            )
            print("\n| start to exit of `true` | median ms |\n|---|---|")
            print(f"| bare `docker run --rm IMAGE true` | {median_ms(bare)} |")
            print(
                "| `run_in_container.sh exec -- true` (hash, firewall, privilege drop) "
                f"| {median_ms(script)} |"
            )
            print(f"| ratio | {statistics.median(script) / statistics.median(bare):7.2f} |")
    finally:
        docker("rm", "-f", server, check=False)
        docker("network", "rm", network, check=False)


if __name__ == "__main__":
    main()
