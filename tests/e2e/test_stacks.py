"""Every stack preset built on the real Docker Engine, and its tools used inside the sandbox.

All stacks go into one image (one build: CI time) of a project generated with `stacks=[...]`;
each tool then runs through the generated `./run_in_container.sh exec`, as the agent would:
the preset's own check (`go version`, `mvn -v`, ...) and a small program compiled and run.
The build is not under docker_lock: its base image is its own (no layer to share with the other
tests' builds), and holding the lock for minutes would stall the other worker.
"""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

import pytest

from cxgen.stacks import stack_presets
from tests.e2e.conftest import Sandbox, Topology, docker, docker_lock, generate

# Where Debian's update-ca-certificates takes local CAs from.
LOCAL_CAS = Path("/usr/local/share/ca-certificates")

# Beyond the presets' checks: each toolchain compiles and runs something, offline.
PROGRAMS = r"""
set -eu
cd "$(mktemp -d)"
printf '#include <stdio.h>\nint main(void) { puts("c-ok"); return 0; }\n' >hello.c
gcc -o hello-c hello.c && ./hello-c
printf 'fn main() { println!("rust-ok"); }\n' >hello.rs
rustc -o hello-rs hello.rs && ./hello-rs
printf 'package main\nimport "fmt"\nfunc main() { fmt.Println("go-ok") }\n' >hello.go
GOCACHE="$PWD/go-cache" go run hello.go
printf 'class Hello { public static void main(String[] a) { System.out.println("java-ok"); } }\n' \
  >Hello.java
javac Hello.java && java Hello
node -e 'console.log("node-ok")'
uv venv --quiet --no-python-downloads venv && venv/bin/python -c 'print("uv-ok")'
"""


@pytest.fixture
def stacks_base_image(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test base image trusting this machine's local CAs, as a company's base image trusts
    its TLS proxy: the python stack fetches uv from PyPI over https during the build, and this
    machine's egress goes through such a proxy. Without local CAs, the base image itself."""
    cas = sorted(path for path in LOCAL_CAS.rglob("*.crt") if path.is_file())
    if not cas:
        return base_image
    digest = hashlib.sha256(base_image.encode())
    for path in cas:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    tag = f"cxgen-test/bookworm:local-ca-{digest.hexdigest()[:12]}"
    with docker_lock():
        if docker("image", "inspect", tag, check=False).returncode != 0:
            context = tmp_path_factory.mktemp("stacks-base")
            (context / "cas").mkdir()
            for index, path in enumerate(cas):
                (context / "cas" / f"{index}-{path.name}").write_bytes(path.read_bytes())
            (context / "Dockerfile").write_text(
                f"FROM {base_image}\nCOPY cas/ /usr/local/share/ca-certificates/\n"
            )
            docker("build", "-q", "-t", tag, "--label", "org.cxgen.test=image", str(context))
    return tag


def build_stacks_sandbox(base: str, topology: Topology, dest: Path) -> Sandbox:
    project = generate(dest, base, stacks=list(stack_presets()), apt_packages=[])
    sandbox = Sandbox(project, "", topology.network)
    built = sandbox.run("build", timeout=1800)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    sandbox.image = built.stdout.strip()
    return sandbox


def assert_one_layer_per_stack(image: str) -> None:
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    for stack in stack_presets().values():
        layers = [line for line in history.splitlines() if stack.present_test in line]
        assert len(layers) == 1, stack.name


def assert_checks_pass(sandbox: Sandbox) -> None:
    checks = [shlex.join(stack.check) for stack in stack_presets().values()]
    script = "set -e\n" + "\n".join(f"echo '== {check}'; {check}" for check in checks)
    result = sandbox.sh(script, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for check in checks:
        assert f"== {check}\n" in result.stdout
    uv = stack_presets()["python"].pip
    assert uv and f"uv {uv.version}" in result.stdout  # the version the preset pins
    assert "Apache Maven" in result.stdout and "go version go" in result.stdout


def assert_programs_run(sandbox: Sandbox) -> None:
    result = sandbox.sh(PROGRAMS, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for marker in ("c-ok", "rust-ok", "go-ok", "java-ok", "node-ok", "uv-ok"):
        assert f"{marker}\n" in result.stdout, marker


@pytest.mark.long_build
def test_every_stack_builds_and_works_in_the_sandbox(
    stacks_base_image: str, topology: Topology, tmp_path: Path
) -> None:
    """One test (and scheduled first, long_build), so one xdist worker builds the image while
    the other runs the rest."""
    sandbox = build_stacks_sandbox(stacks_base_image, topology, tmp_path / "project")
    assert_one_layer_per_stack(sandbox.image)
    assert_checks_pass(sandbox)
    assert_programs_run(sandbox)
