"""Benchmarks (measured figures, not tests). Run from a checkout:

    python3 bench/bench.py [--runs N]

(re-runs itself with .venv/bin/python when cxgen is not importable: the README's test command
makes that venv). Builds what it needs when missing (the local base image from Debian packages,
the test server image, the generated project's image); pulls nothing. Each figure is the median
of N runs with min and max, written to bench/results.json and bench/results.md:

1. start overhead, side by side in one run, alternately, as ratios to a bare `docker run --rm
   IMAGE true` of the same image: a cold `run_in_container.sh exec -- true` (CXGEN_WARM=0), a warm
   one (it claims the project's spare; each is checked in CXGEN_START_LOG, and a start that was
   not warm is said and left out of the warm figure), and `docker exec` into a running container
   of the image (the limit); then an idle spare's memory and CPU (`docker stats`); cold starts
   with 30 allowed domains and in root mode (ratio and ms added);
2. firewall setup + self-check inside the container (what runs before the command), 0/10/30/
   100/300 domains; and the allowed names' diagnostic, which runs beside the command;
3. the no-change path on the host: `run_in_container.sh build` with the image present;
4. `cxgen init --defaults` and a no-op `cxgen update`;
5. inside a sandbox: a blocked connection's time to fail and a blocked name's;
6. the minimal generated image's size over its base image.

With `--before CXGEN` (the `cxgen` of an earlier version, e.g. a checkout's .venv/bin/cxgen), it
measures instead (CXGEN_BENCH_RELAY=1: this version's project with a relayed key set, so the
API relay starts each time), side by side in one run, the earlier version's generated script and
this one's: start overhead (bare `docker run`, before, after, alternately; cold: CXGEN_WARM=0) and
the host no-change path (`build`, image present); written to bench/compare.json and
bench/compare.md.

Everything runs on an --internal network created here; the allowed domains are aliases of one of
our own containers, and blocked names are answered by the sandbox's own resolver, so no query
leaves the machine. Docker objects are labelled org.cxgen.bench=<run> and removed. Policy
acceptance goes to a temporary XDG_STATE_HOME, never the real ~/.local/state.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV_PYTHON = REPO / ".venv" / "bin" / "python"


def _in_a_python_with_cxgen() -> None:
    """Re-run with the README's venv when this Python lacks cxgen or the test extras."""
    try:
        import pytest  # noqa: F401

        import cxgen  # noqa: F401
    except ImportError:
        if VENV_PYTHON.exists() and Path(sys.executable) != VENV_PYTHON:
            os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
        raise SystemExit(
            "bench: cxgen is not installed here; run `bash tests/run.sh` once (it makes .venv)"
        ) from None


_in_a_python_with_cxgen()
sys.path.insert(0, str(REPO))

from tests.e2e.conftest import (  # noqa: E402
    BASE_IMAGE,
    REPLY_SCRIPT,
    SERVER_CMD,
    SERVER_IMAGE,
    docker,
)

RUN = uuid.uuid4().hex[:6]
# The projects made here, whose spares cleanup() removes.
PROJECTS: list[Path] = []
LABEL = f"org.cxgen.bench={RUN}"
# Run as root, the main project belongs to this uid (the agent's, as for most users).
BENCH_UID = 4242
RESULTS_JSON = REPO / "bench" / "results.json"
RESULTS_MD = REPO / "bench" / "results.md"
COMPARE_JSON = REPO / "bench" / "compare.json"
COMPARE_MD = REPO / "bench" / "compare.md"
DOMAIN_COUNTS = (0, 10, 30, 100, 300)
# Firewall setup and self-check as the entrypoint runs them before the command, then the allowed
# names' diagnostic (beside the command in a real start), each timed inside the container.
TIMED_SETUP = r"""
. /usr/local/lib/cxgen/firewall.sh
fw_fail() { echo "FAIL $*" >&2; exit 1; }
fw_warn() { echo "WARN $*" >&2; }
us() { echo "${EPOCHREALTIME/./}"; }
read -r -a domains <<<"$CXGEN_ALLOWED_DOMAINS"
start=$(us)
fw_setup deny ${domains[@]+"${domains[@]}"}
fw_setup_wait
mid=$(us)
fw_selfcheck
fw_log_reader_start
end=$(us)
fw_diagnose ${domains[@]+"${domains[@]}"}
diag=$(us)
learned=$(nft list set inet cxgen allow4 | grep -c 'elements' || true)
echo "$((mid - start)) $((end - mid)) $((diag - end)) $learned"
"""
# As the agent, in a running sandbox: N connections to a live host's open port that the firewall
# blocks, N lookups of names outside the allowlist; bash's /dev/tcp, no fork per attempt.
TIMED_BLOCKED = r"""
ip=$1 n=$2
for ((i = 0; i < n; i++)); do
  s=${EPOCHREALTIME/./}
  if { : 3<>"/dev/tcp/$ip/80"; } 2>/dev/null; then echo OPEN; exit 1; fi
  e=${EPOCHREALTIME/./}
  echo "conn $((e - s))"
done
for ((i = 0; i < n; i++)); do
  s=${EPOCHREALTIME/./}
  if { : 3<>"/dev/tcp/blocked-$i.bench.test/80"; } 2>/dev/null; then echo OPEN; exit 1; fi
  e=${EPOCHREALTIME/./}
  echo "name $((e - s))"
done
"""
PROBE_OPEN = 'exec 3<>"/dev/tcp/$1/80" && echo open'
# Spares off: what a start costs without one (the run script's switch; older ones ignore it).
COLD = {"CXGEN_WARM": "0"}
# How long a spare may take to be ready before a warm run (polled, not slept).
SPARE_TIMEOUT = 60.0
# docker stats samples of an idle spare.
SPARE_SAMPLES = 3


@dataclass
class Figure:
    """One measured figure: samples, and the target it is held to (None: none)."""

    key: str
    what: str
    samples: list[float]
    unit: str = "ms"
    target: float | None = None
    aim: float | None = None

    def as_dict(self) -> dict[str, object]:
        """The figure as results.json holds it."""
        median = statistics.median(self.samples)
        return {
            "key": self.key,
            "what": self.what,
            "unit": self.unit,
            "runs": len(self.samples),
            "median": round(median, 3),
            "min": round(min(self.samples), 3),
            "max": round(max(self.samples), 3),
            "target": self.target,
            "aim": self.aim,
            "met": None if self.target is None else median <= self.target,
        }


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time of one command in ms; it must succeed."""
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return elapsed


def repeat(runs: int, action: Callable[[], float]) -> list[float]:
    """One warm-up, then `runs` samples."""
    action()
    return [action() for _ in range(runs)]


# --- Setup --------------------------------------------------------------------------------------


def ensure_images(work: Path) -> None:
    """The local base image and the server image, built here when missing (nothing pulled)."""
    subprocess.run([str(REPO / "tests/make_base_image.sh"), BASE_IMAGE], check=True)
    if docker("image", "inspect", SERVER_IMAGE, check=False).returncode == 0:
        return
    context = work / "server"
    context.mkdir()
    (context / "reply").write_text(REPLY_SCRIPT)
    (context / "reply").chmod(0o755)
    (context / "Dockerfile").write_text(
        f"FROM {BASE_IMAGE}\n"
        "RUN apt-get update && apt-get install -y --no-install-recommends socat dnsmasq-base "
        "&& rm -rf /var/lib/apt/lists/*\n"
        "COPY reply /usr/local/bin/reply\n"
    )
    docker("build", "-q", "-t", SERVER_IMAGE, "--label", "org.cxgen.test=image", str(context))


def cxgen(*args: str) -> list[str]:
    return [sys.executable, "-m", "cxgen", *args]


def init_args(dest: Path) -> list[str]:
    """The minimal project: the shell agent, no packages, no domains, the local base image."""
    return cxgen(
        "init",
        "--defaults",
        "--data",
        f"base_image={BASE_IMAGE}",
        "--data",
        "agents=[shell]",
        str(dest),
    )


def start_server(network: str, names: list[str]) -> str:
    """Our own server on the network, answering to every allowed name; its IPv4 address."""
    server = f"cxgen-bench-{RUN}-srv"
    aliases = [arg for name in names for arg in ("--network-alias", name)]
    docker(
        "run", "-d", "--rm", "--label", LABEL, "--name", server, "--network", network,
        *aliases, SERVER_IMAGE, "sh", "-c", SERVER_CMD,
    )  # fmt: skip
    fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    return docker("inspect", "-f", fmt, server).stdout.strip()


def cleanup() -> None:
    ids = docker("ps", "-aq", "--filter", f"label={LABEL}", check=False).stdout.split()
    # The spares the run script started for our projects (they carry its labels, not ours).
    for project in PROJECTS:
        ids += spare_containers(project, every=True)
    if ids:
        docker("rm", "-f", "-v", *ids, check=False)
    for network in docker("network", "ls", "-q", "--filter", f"label={LABEL}").stdout.split():
        docker("network", "rm", network, check=False)


# --- The figures --------------------------------------------------------------------------------


def start_overhead(
    runs: int, script: Path, image: str, network: str, domains: list[str], mode: str = ""
) -> list[Figure]:
    """Bare `docker run` and the run script, alternately, on the same image and network.
    mode "root": the project is root's and this runs as root (root mode)."""
    env = {**os.environ, "OPENAI_ALLOWED_DOMAINS": ",".join(domains), **COLD}
    bare_cmd = ["docker", "run", "--rm", "--network", network, "--entrypoint", "true", image]
    bare_cmd[2:2] = ["--label", LABEL]
    script_cmd = [str(script), "exec", "--network", network, "--", "true"]
    timed(bare_cmd)
    timed(script_cmd, env)
    bare, wrapped = [], []
    for _ in range(runs):
        bare.append(timed(bare_cmd))
        wrapped.append(timed(script_cmd, env))
    n = len(domains)
    ratios = [w / b for w, b in zip(wrapped, bare, strict=True)]
    added = [w - b for w, b in zip(wrapped, bare, strict=True)]
    key = f"{n}_{mode}" if mode else f"{n}"
    what = f"{n} domains, {mode} mode" if mode else f"{n} domains"
    return [
        Figure(f"bare_{key}", f"bare `docker run --rm IMAGE true` ({what})", bare),
        Figure(f"exec_{key}", f"cold `run_in_container.sh exec -- true`, {what}", wrapped),
        Figure(f"ratio_{key}", f"start overhead ratio, {what}", ratios, "x", target=1.3, aim=1.15),
        Figure(f"added_{key}", f"start overhead added, {what}", added, aim=50),
    ]


# --- Warm spares ---------------------------------------------------------------------------------


@dataclass
class StartLog:
    """The run script's CXGEN_START_LOG: each session start appends `warm NAME` or `cold NAME`."""

    path: Path

    def mark(self) -> int:
        """How many starts are logged so far."""
        return len(self.lines())

    def since(self, mark: int) -> list[str]:
        """The kinds (warm, cold) of the starts logged after `mark`."""
        return [line.split()[0] for line in self.lines()[mark:] if line.split()]

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []


def spare_containers(project: Path, every: bool = False) -> list[str]:
    """The ids of the project's spares: the running ones, or (every) all of them."""
    args = ["ps", "-q", "--filter", "label=org.cxgen.spare"]
    args += ["--filter", f"label=org.cxgen.project={project.resolve()}"]
    if every:
        args.insert(1, "-a")
    return docker(*args, check=False).stdout.split()


def spare_ready(script: Path, env: dict[str, str]) -> bool:
    """`list` shows a claimable spare of the project (STATE spare,ready)."""
    listing = subprocess.run(
        [str(script), "list"], capture_output=True, text=True, env=env, check=False
    ).stdout
    return any("spare,ready" in line.split() for line in listing.splitlines())


def wait_for_spare(script: Path, env: dict[str, str], timeout: float = SPARE_TIMEOUT) -> bool:
    """Polls `list` until the project has a ready spare; False after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not spare_ready(script, env):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@contextlib.contextmanager
def running_container(image: str, network: str) -> Iterator[str]:
    """A container of the image that idles, for `docker exec` (the limit of a warm start)."""
    name = f"cxgen-bench-{RUN}-limit"
    docker(
        "run", "-d", "--rm", "--label", LABEL, "--name", name, "--network", network,
        "--entrypoint", "sleep", image, "infinity",
    )  # fmt: skip
    try:
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def side_by_side(runs: int, script: Path, image: str, network: str, log: StartLog) -> list[Figure]:
    """Bare `docker run`, a cold start, `docker exec` into a running container and a warm start,
    alternately, on the same image and network; each warm start waits (bounded) for a ready
    spare and is checked in the start log, and after it the next spare is let be ready, so its
    start does not compete with the next runs. Then an idle spare's memory and CPU."""
    env = {**os.environ, "OPENAI_ALLOWED_DOMAINS": "", "CXGEN_START_LOG": str(log.path)}
    cold, warm = {**env, **COLD}, {**env, "CXGEN_WARM": "1"}
    bare_cmd = ["docker", "run", "--rm", "--label", LABEL, "--network", network,
                "--entrypoint", "true", image]  # fmt: skip
    exec_cmd = [str(script), "exec", "--network", network, "--", "true"]
    samples: dict[str, list[float]] = {"bare": [], "cold": [], "dexec": [], "warm": []}
    was_warm: list[bool] = []
    with running_container(image, network) as limit:
        dexec_cmd = ["docker", "exec", limit, "true"]
        for command, command_env in ((bare_cmd, None), (exec_cmd, cold), (dexec_cmd, None)):
            timed(command, command_env)
        # Primed once: this session's end starts the spare in the foreground. A run script
        # that logs no start has no spares: nothing to wait for.
        mark = log.mark()
        timed(exec_cmd, {**warm, "CXGEN_WARM_WAIT": "1"})
        spares = bool(log.since(mark)) and wait_for_spare(script, warm)
        if not spares:
            print("bench: no spare became ready: the warm runs below are NOT warm", file=sys.stderr)
        for _ in range(runs):
            samples["bare"].append(timed(bare_cmd))
            samples["cold"].append(timed(exec_cmd, cold))
            samples["dexec"].append(timed(dexec_cmd))
            spares = spares and wait_for_spare(script, warm)
            mark = log.mark()
            samples["warm"].append(timed(exec_cmd, warm))
            was_warm.append(log.since(mark) == ["warm"])
            if spares:
                wait_for_spare(script, warm)
    figures = start_figures(samples, was_warm)
    return figures + idle_spare(script, warm)


def start_figures(samples: dict[str, list[float]], was_warm: list[bool]) -> list[Figure]:
    """The side-by-side figures: each start's time and its ratio to the bare `docker run` of the
    same round. Warm figures hold the warm runs only; none warm: said in the figure's name."""
    bare = samples["bare"]

    def ratios(key: str, keep: list[bool]) -> list[float]:
        return [s / b for s, b, k in zip(samples[key], bare, keep, strict=True) if k]

    every = [True] * len(bare)
    warm_count = sum(was_warm)
    warm_keep = was_warm if warm_count else every
    if warm_count == len(was_warm):
        warm_what = "warm `exec -- true` (claims the spare)"
    elif warm_count:
        warm_what = (f"warm `exec -- true` ({warm_count} of {len(was_warm)} runs warm; "
                     "the others left out)")  # fmt: skip
    else:
        warm_what = (f"`exec -- true` with spares on: NOT warm (0 of {len(was_warm)} runs found "
                     "a spare: cold starts)")  # fmt: skip
    print(f"bench: {warm_count} of {len(was_warm)} warm runs were warm", file=sys.stderr)
    warm = [w for w, k in zip(samples["warm"], warm_keep, strict=True) if k]
    target, aim = (0.5, 0.3) if warm_count else (None, None)
    return [
        Figure("bare_0", "bare `docker run --rm IMAGE true` (0 domains)", bare),
        Figure("exec_0", "cold `run_in_container.sh exec -- true` (CXGEN_WARM=0), 0 domains",
               samples["cold"]),
        Figure("ratio_0", "start overhead ratio, cold, 0 domains", ratios("cold", every), "x",
               target=1.3, aim=1.15),
        Figure("added_0", "start overhead added, cold, 0 domains",
               [c - b for c, b in zip(samples["cold"], bare, strict=True)], aim=50),
        Figure("warm_0", f"{warm_what}, 0 domains", warm),
        Figure("ratio_warm_0", f"start ratio, {warm_what}", ratios("warm", warm_keep), "x",
               target=target, aim=aim),
        Figure("dexec_0", "`docker exec` into a running container of the image (the limit)",
               samples["dexec"]),
        Figure("ratio_dexec_0", "start ratio, `docker exec` (the limit)",
               ratios("dexec", every), "x"),
    ]  # fmt: skip


def idle_spare(script: Path, env: dict[str, str]) -> list[Figure]:
    """An idle spare's memory and CPU, from `docker stats` (a few samples); none: no figure."""
    project = script.parent
    if not spare_containers(project) or not wait_for_spare(script, env, timeout=10):
        print("bench: no ready spare: no idle spare figures", file=sys.stderr)
        return []
    spare = spare_containers(project)[0]
    memory, cpu = [], []
    for _ in range(SPARE_SAMPLES):
        out = docker("stats", "--no-stream", "--format", "{{.MemUsage}}|{{.CPUPerc}}", spare)
        usage, percent = out.stdout.strip().split("|")
        memory.append(mebibytes(usage.split("/")[0].strip()))
        cpu.append(float(percent.strip().rstrip("%")))
    return [
        Figure("spare_memory", "an idle spare's memory (`docker stats`)", memory, "MiB"),
        Figure("spare_cpu", "an idle spare's CPU (`docker stats`)", cpu, "%"),
    ]


def mebibytes(text: str) -> float:
    """docker stats' "3.4MiB" (B, KiB, MiB, GiB) in MiB."""
    for unit, scale in (("GiB", 1024.0), ("MiB", 1.0), ("KiB", 1 / 1024), ("B", 1 / 1024**2)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * scale
    raise SystemExit(f"bench: unexpected docker stats memory figure {text!r}")


def before_and_after(
    runs: int, scripts: dict[str, Path], images: dict[str, str], network: str
) -> list[Figure]:
    """Two versions' scripts and bare `docker run`, alternately, on the same network; then each
    version's no-change `build`, alternately."""
    bare_cmd = ["docker", "run", "--rm", "--label", LABEL, "--network", network,
                "--entrypoint", "true", images["after"]]  # fmt: skip
    commands = {
        version: [str(script), "exec", "--network", network, "--", "true"]
        for version, script in scripts.items()
    }
    samples: dict[str, list[float]] = {"bare": [], "before": [], "after": []}
    builds: dict[str, list[float]] = {"before": [], "after": []}
    cold = {**os.environ, **COLD}
    for command in [bare_cmd, *commands.values()]:
        timed(command, cold)
    for _ in range(runs):
        samples["bare"].append(timed(bare_cmd))
        for version, command in commands.items():
            samples[version].append(timed(command, cold))
    for _ in range(runs):
        for version, script in scripts.items():
            builds[version].append(timed([str(script), "build"]))
    figures = [Figure("bare", "bare `docker run --rm IMAGE true`", samples["bare"])]
    for version in ("before", "after"):
        ratios = [w / b for w, b in zip(samples[version], samples["bare"], strict=True)]
        figures += [
            Figure(f"exec_{version}", f"{version}: `run_in_container.sh exec -- true`",
                   samples[version]),
            Figure(f"ratio_{version}", f"{version}: start overhead ratio", ratios, "x"),
            Figure(f"build_noop_{version}", f"{version}: host no-change path (`build`, image "
                   "present)", builds[version]),
        ]  # fmt: skip
    return figures


def compare(runs: int, work: Path, before_cxgen: str) -> None:
    """--before: the earlier version's project and this one's, measured side by side."""
    scripts, images = {}, {}
    for version, command in (("before", [before_cxgen]), ("after", cxgen())):
        project = work / version
        PROJECTS.append(project)
        extra = []
        if version == "after" and os.environ.get("CXGEN_BENCH_RELAY") == "1":
            # The relay's cost: a relayed key, set (BENCH_KEY), so the relay starts every time.
            extra = ["--data", "relay=BENCH_KEY=api.bench.test"]
            os.environ["BENCH_KEY"] = "sk-bench-key"
        subprocess.run([*command, *init_args(project)[len(cxgen()):-1], *extra, str(project)],
                       check=True, capture_output=True)  # fmt: skip
        scripts[version] = project / "run_in_container.sh"
        images[version] = subprocess.run(
            [str(scripts[version]), "build"], check=True, stdout=subprocess.PIPE, text=True
        ).stdout.strip()
    network = f"cxgen-bench-{RUN}"
    info = machine()
    docker("network", "create", "--internal", "--label", LABEL, network)
    try:
        figures = before_and_after(runs, scripts, images, network)
    finally:
        cleanup()
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    versions = {
        version: subprocess.run([*command, "--version"], capture_output=True, text=True,
                                check=False).stdout.strip()
        for version, command in (("before", [before_cxgen]), ("after", cxgen()))
    }  # fmt: skip
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": info,
        "runs": runs,
        "versions": versions,
        "figures": [figure.as_dict() for figure in figures],
    }
    COMPARE_JSON.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    table = f"Before: {versions['before']}; after: {versions['after']}.\n\n" + markdown(results)
    COMPARE_MD.write_text(table)
    print(table)


def root_mode_copy(project: Path) -> Path | None:
    """Run as root: the project becomes an unprivileged user's (the agent gets that uid, as for
    most users), and a copy stays root's for root mode's figure. None when not root."""
    if os.geteuid() != 0:
        return None
    root_project = project.parent / "root-project"
    shutil.copytree(project, root_project, symlinks=True)
    for path in [project, *project.rglob("*")]:
        os.lchown(path, BENCH_UID, BENCH_UID)
    # The copy's policy (its own path) is accepted as init accepted the original's.
    subprocess.run(
        [str(root_project / "run_in_container.sh"), "accept", "--accept-changes"],
        check=True,
        capture_output=True,
    )
    return root_project


def firewall(runs: int, image: str, network: str, names: list[str]) -> list[Figure]:
    figures = []
    targets = {30: 150.0, 300: 400.0}
    for count in DOMAIN_COUNTS:
        domains = names[:count]

        def once(domains: list[str] = domains, count: int = count) -> tuple[float, float, float]:
            out = docker(
                "run", "--rm", "--label", LABEL, "--network", network,
                "--cap-add", "NET_ADMIN",
                # As run_in_container.sh does; the self-check refuses to pass without it.
                "--sysctl", "net.ipv4.ip_unprivileged_port_start=1024",
                "-e", "CXGEN_ALLOWED_DOMAINS=" + " ".join(domains),
                "--entrypoint", "bash", image, "-c", TIMED_SETUP,
            ).stdout.split()  # fmt: skip
            if domains and out[3] != "1":
                raise SystemExit(f"bench: the firewall learned no address for {count}: {out}")
            return float(out[0]) / 1000, float(out[1]) / 1000, float(out[2]) / 1000

        once()
        triples = [once() for _ in range(runs)]
        figures.append(
            Figure(
                f"firewall_{count}",
                f"firewall setup + self-check (before the command), {count} domains",
                [setup + check for setup, check, _ in triples],
                target=targets.get(count),
            )
        )
        figures.append(
            Figure(
                f"firewall_setup_{count}",
                f"  of which setup (rules + resolver), {count} domains",
                [setup for setup, _, _ in triples],
            )
        )
        if count:
            figures.append(
                Figure(
                    f"firewall_diagnostic_{count}",
                    f"  allowed-name diagnostic (beside the command), {count} domains",
                    [diagnostic for _, _, diagnostic in triples],
                )
            )
    return figures


def blocked(runs: int, script: Path, image: str, network: str, address: str) -> list[Figure]:
    """Time to fail inside a sandbox; first proof that, without the firewall, it would connect."""
    probe = docker(
        "run", "--rm", "--label", LABEL, "--network", network, "--entrypoint", "bash",
        image, "-c", PROBE_OPEN, "probe", address,
    )  # fmt: skip
    if "open" not in probe.stdout:
        raise SystemExit(f"bench: {address}:80 is not open without the firewall: {probe.stderr}")
    result = subprocess.run(
        [str(script), "exec", "--network", network, "--", "bash", "-c", TIMED_BLOCKED, "bench",
         address, str(runs + 1)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"bench: blocked probes: {result.stdout}{result.stderr[-2000:]}")
    samples: dict[str, list[float]] = {"conn": [], "name": []}
    for line in result.stdout.splitlines():
        kind, micros = line.split()
        samples[kind].append(int(micros) / 1000)
    return [
        Figure(
            "blocked_connection",
            "blocked connection, time to fail (in the sandbox)",
            samples["conn"][1:],
            target=50,
        ),
        Figure(
            "blocked_name",
            "blocked name, time to fail (in the sandbox)",
            samples["name"][1:],
            target=50,
        ),
    ]


def generator_times(runs: int, work: Path) -> list[Figure]:
    counter = iter(range(10**6))

    def init_once() -> float:
        return timed(init_args(work / "init" / str(next(counter))))

    init = repeat(runs, init_once)
    project = work / "init" / "0"
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "add", "-A"], check=True)
    subprocess.run(
        ["git", "-C", str(project), "-c", "user.name=bench", "-c", "user.email=bench@invalid",
         "commit", "-qm", "init"],
        check=True,
    )  # fmt: skip
    update = repeat(runs, lambda: timed(cxgen("update", str(project))))
    return [
        Figure("init", "`cxgen init --defaults`", init, target=1000),
        Figure("update_noop", "no-op `cxgen update`", update, target=2000),
    ]


def image_size(image: str) -> list[Figure]:
    def size(name: str) -> float:
        return int(docker("image", "inspect", "-f", "{{.Size}}", name).stdout) / 1e6

    over = size(image) - size(BASE_IMAGE)
    return [Figure("image_over_base", "minimal generated image over its base image", [over], "MB")]


# --- Report -------------------------------------------------------------------------------------


def machine() -> dict[str, object]:
    cpu = "?"
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "docker": docker("version", "--format", "{{.Server.Version}}").stdout.strip(),
        "python": platform.python_version(),
        "bash": subprocess.run(
            ["bash", "-c", "echo $BASH_VERSION"], capture_output=True, text=True, check=True
        ).stdout.strip(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def number(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"


def markdown(results: dict[str, object]) -> str:
    info = results["machine"]
    assert isinstance(info, dict)
    lines = [
        f"Measured {results['date']} on {info['cpu']} ({info['cores']} cores), {info['os']}, "
        f"Docker {info['docker']}, bash {info['bash']}; load average at start "
        f"{', '.join(map(str, info['load_avg_at_start']))}, at the end "
        f"{', '.join(map(str, info.get('load_avg_at_end', [])))}. Median of {results['runs']} runs "
        "(min-max); `python3 bench/bench.py`.",
        "",
        "| figure | median | min-max | target | met |",
        "|---|---|---|---|---|",
    ]
    figures = results["figures"]
    assert isinstance(figures, list)
    for fig in figures:
        unit = fig["unit"]
        target = "" if fig["target"] is None else f"<= {number(fig['target'], unit)}"
        if fig["aim"] is not None:
            aim = f"aim <= {number(fig['aim'], unit)}"
            target = f"{target} ({aim})" if target else aim
        met = {None: "", True: "yes", False: "**no**"}[fig["met"]]
        spread = f"{number(fig['min'], unit)} - {number(fig['max'], unit)}"
        lines.append(
            f"| {fig['what']} | {number(fig['median'], unit)} | {spread} | {target} | {met} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="samples per figure (default 10)")
    parser.add_argument(
        "--before", metavar="CXGEN", help="an earlier version's cxgen: compare its script and ours"
    )
    options = parser.parse_args()
    runs = options.runs
    with tempfile.TemporaryDirectory(prefix="cxgen-bench-") as tmp:
        work = Path(tmp)
        # Policy acceptance (cxgen init records it) stays in this temporary folder.
        os.environ["XDG_STATE_HOME"] = str(work / "state")
        for var in ("OPENAI_ALLOWED_DOMAINS", "CODEX_DOCKER_IMAGE", "CXGEN_ACCEPT_CHANGES"):
            os.environ.pop(var, None)
        ensure_images(work)
        if options.before:
            compare(runs, work, options.before)
            return
        project = work / "project"
        PROJECTS.append(project)
        subprocess.run(init_args(project), check=True, capture_output=True)
        script = project / "run_in_container.sh"
        print("bench: building the project's image when missing...", file=sys.stderr)
        image = subprocess.run(
            [str(script), "build"], check=True, stdout=subprocess.PIPE, text=True
        ).stdout.strip()
        root_project = root_mode_copy(project)
        if root_project:
            PROJECTS.append(root_project)
        info = machine()
        network = f"cxgen-bench-{RUN}"
        names = [f"d{i}.bench.test" for i in range(max(DOMAIN_COUNTS))]
        figures: list[Figure] = []
        docker("network", "create", "--internal", "--label", LABEL, network)
        try:
            address = start_server(network, names)
            log = StartLog(work / "start.log")
            steps: list[tuple[str, Callable[[], list[Figure]]]] = [
                ("starts side by side: bare, cold, docker exec, warm; an idle spare",
                 lambda: side_by_side(runs, script, image, network, log)),
                ("start overhead, 30 domains",
                 lambda: start_overhead(runs, script, image, network, names[:30])),
                *(
                    [("start overhead, root mode", lambda: start_overhead(
                        runs, root_project / "run_in_container.sh", image, network, [], "root"))]
                    if root_project else []
                ),
                ("firewall", lambda: firewall(runs, image, network, names)),
                ("no-change path",
                 lambda: [Figure("build_noop", "host no-change path: `run_in_container.sh "
                                 "build`, image present", repeat(runs, lambda: timed(
                                     [str(script), "build"])), target=20)]),
                ("init and update", lambda: generator_times(runs, work)),
                ("blocked", lambda: blocked(runs, script, image, network, address)),
                ("image size", lambda: image_size(image)),
            ]  # fmt: skip
            for title, step in steps:
                print(f"bench: {title}...", file=sys.stderr)
                figures += step()
        finally:
            cleanup()
    info["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": info,
        "runs": runs,
        "image": image,
        "figures": [figure.as_dict() for figure in figures],
    }
    RESULTS_JSON.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    table = markdown(results)
    RESULTS_MD.write_text(table)
    print(table)


if __name__ == "__main__":
    main()
