"""The run-script contract against a real Docker Engine: build, exec, paths, cleanup."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cxgen
from tests.e2e.conftest import RUN_ID, Sandbox, docker


def test_init_defaults_then_exec_runs_as_the_owner_without_capabilities(
    base_image: str, topology, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The foundation's promise, through the CLI as a user types it: the agent is the project's
    owner (root here, so root mode), with no capabilities."""
    project = tmp_path / "demo"
    result = run_cxgen(
        [
            "init",
            "--defaults",
            "--data",
            f"base_image={base_image}",
            "--data",
            "agents=[shell]",
            str(project),
        ]
    )
    assert result.returncode == 0, result.stderr
    sandbox = Sandbox(project, "", topology.network)
    built = sandbox.run("build", timeout=1200)
    assert built.returncode == 0, built.stderr[-2000:]
    result = sandbox.run("exec", "--", "bash", "-c", "id -u; grep ^CapEff /proc/self/status")
    assert result.returncode == 0, result.stderr
    uid, caps = result.stdout.splitlines()
    assert int(uid) == project.stat().st_uid and caps.split()[1] == "0" * 16


def test_second_build_does_not_rebuild(sandbox: Sandbox) -> None:
    created = docker("image", "inspect", "-f", "{{.Created}}", sandbox.image).stdout
    again = sandbox.run("build")
    assert again.returncode == 0
    assert again.stdout.strip() == sandbox.image
    assert "building" not in again.stderr
    assert docker("image", "inspect", "-f", "{{.Created}}", sandbox.image).stdout == created


def test_tag_is_a_content_hash_shared_between_projects(sandbox: Sandbox, make_sandbox) -> None:  # type: ignore[no-untyped-def]
    other = make_sandbox(private_destinations="deny")  # another project, same build context
    assert other.image == sandbox.image
    assert sandbox.image.startswith("cxgen/shell:") and len(sandbox.image.split(":")[1]) == 64


def test_editing_the_build_context_changes_the_tag(sandbox: Sandbox, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(sandbox.project), str(copy)], check=True)
    dockerfile = copy / ".codex/sandbox/Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + "LABEL edited=1\n")
    script = copy / "run_in_container.sh"
    tag = subprocess.run(
        [str(script), "build", "--accept-changes"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    assert tag.stdout.strip() != sandbox.image
    docker("rmi", tag.stdout.strip(), check=False)


def test_exec_exit_status_is_the_commands(sandbox: Sandbox) -> None:
    assert sandbox.sh("exit 7").returncode == 7
    result = sandbox.sh("echo out; echo err >&2")
    assert result.stdout == "out\n" and "err" in result.stderr


@pytest.mark.parametrize("stdin", ["/dev/null", "closed", "a pipe"])
def test_exec_without_a_terminal_passes_only_a_stdin_to_read(sandbox: Sandbox, stdin: str) -> None:
    """Issue 19: stdin was always attached (-i), so a command inside read a pipe of docker's
    even when the caller's stdin was /dev/null or closed. Now those leave the command its own
    /dev/null, as outside; a pipe still goes in."""
    script = "if [ -p /dev/stdin ]; then echo piped; else echo not-piped; fi; cat"
    command, env = sandbox.command("exec", "-T", "--", "sh", "-c", script)
    if stdin == "closed":
        command = ["bash", "-c", 'exec "$@" <&-', "bash", *command]
    # (With /dev/null, cat ends at once: the timeout is only a guard.)
    result = subprocess.run(
        command,
        env=env,
        input="data from the pipe\n" if stdin == "a pipe" else None,
        stdin=None if stdin == "a pipe" else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    if stdin == "a pipe":
        assert result.stdout == "piped\ndata from the pipe\n"
    else:
        assert result.stdout == "not-piped\n"


def test_workdir_is_app_plus_absolute_path(sandbox: Sandbox) -> None:
    result = sandbox.sh("pwd; test -f run_in_container.sh && echo seen")
    assert result.stdout.split() == [f"/app{sandbox.project}", "seen"]


def test_root_workdir_is_refused(sandbox: Sandbox) -> None:
    result = sandbox.run("exec", "--work-dir", "/", "--", "true")
    assert result.returncode == 2 and "refusing to mount /" in result.stderr


def test_workspace_root_confines_the_workdir(sandbox: Sandbox, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    result = sandbox.run(
        "exec",
        "--work-dir",
        str(outside),
        "--",
        "true",
        env={"WORKSPACE_ROOT_DIR": str(sandbox.project)},
    )
    assert result.returncode == 2 and "outside WORKSPACE_ROOT_DIR" in result.stderr
    inside = sandbox.run("exec", "--", "pwd", env={"WORKSPACE_ROOT_DIR": str(sandbox.project)})
    assert inside.returncode == 0 and inside.stdout.strip() == f"/app{sandbox.project}"


def test_container_is_gone_after_exit(sandbox: Sandbox) -> None:
    result = sandbox.run("exec", "--name", f"cxgen-test-{RUN_ID}-gone", "--", "true")
    assert result.returncode == 0
    assert docker("ps", "-aq", "--filter", f"name=cxgen-test-{RUN_ID}-gone").stdout.strip() == ""


def test_project_path_with_spaces(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spaced = make_sandbox(tmp_path / "my project, with spaces")
    result = spaced.sh('pwd; echo hi > "made here.txt"')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"/app{spaced.project}"
    assert (spaced.project / "made here.txt").read_text() == "hi\n"


def test_readonly_mount_cannot_be_written(sandbox: Sandbox, tmp_path: Path) -> None:
    data = tmp_path / "data dir"
    data.mkdir()
    (data / "f").write_text("orig")
    script = f'cat "/app{data}/f"; echo; echo x > "/app{data}/f" || echo refused'
    result = sandbox.run("exec", "--read-only", str(data), "--", "bash", "-c", script)
    assert result.stdout.split() == ["orig", "refused"]
    assert (data / "f").read_text() == "orig"


def test_control_files_are_read_only_inside(sandbox: Sandbox) -> None:
    """The agent cannot widen its next sandbox: script, image context and allowlist are ro."""
    result = sandbox.sh(
        "for f in run_in_container.sh .codex/allowed-domains.txt .codex/sandbox/Dockerfile; do"
        ' echo evil >> "$f" 2>/dev/null && echo "wrote $f"; done; echo done'
    )
    assert result.stdout.strip() == "done"


def test_writable_mount_outside_workdir_needs_a_terminal(sandbox: Sandbox, tmp_path: Path) -> None:
    result = sandbox.run("exec", "--sessions-path", str(tmp_path), "--", "true")
    assert result.returncode == 2 and "without a terminal to confirm" in result.stderr


def test_init_hook_runs_before_the_command(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hook = tmp_path / "hook.sh"
    hook.write_text('echo "hook ran as $(id -u) in $PWD with $SANDBOX_ENV_DIR" > hook-marker\n')
    hooked = make_sandbox(init_hook=str(hook))
    result = hooked.sh("cat hook-marker")
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.startswith("hook ran as ")
        and f"in /app{hooked.project} with /app" in result.stdout
    )
    assert " 0 " not in result.stdout


def test_failing_init_hook_stops_the_start(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    hook = tmp_path / "hook.sh"
    hook.write_text("exit 3\n")
    hooked = make_sandbox(init_hook=str(hook))
    result = hooked.sh("echo agent-started")
    assert result.returncode == 78 and "agent-started" not in result.stdout
    assert "init hook" in result.stderr


def test_missing_docker_is_a_clear_error(sandbox: Sandbox, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("bash", "dirname", "id", "stat", "tr", "cut", "basename"):
        (bindir / tool).symlink_to(subprocess.check_output(["which", tool], text=True).strip())
    result = sandbox.run("exec", "--", "true", env={"PATH": str(bindir)})
    assert result.returncode == 1 and result.stderr.strip().startswith(
        "cxgen: error: docker not found"
    )


def test_failed_build_is_loud_and_has_no_fallback(sandbox: Sandbox, tmp_path: Path) -> None:
    copy = tmp_path / "broken"
    subprocess.run(["cp", "-a", str(sandbox.project), str(copy)], check=True)
    dockerfile = copy / ".codex/sandbox/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("CMD [", "RUN false\nCMD ["))
    result = subprocess.run(
        [
            str(copy / "run_in_container.sh"),
            "exec",
            "--network",
            sandbox.network,
            "--",
            "echo",
            "started",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        # A copy is another project: its first run would ask to accept the policy.
        env={**os.environ, "CXGEN_ACCEPT_CHANGES": "1"},
    )
    assert result.returncode == 1 and "started" not in result.stdout
    assert "image build failed" in result.stderr


def test_unknown_agent_is_refused_before_anything_runs(sandbox: Sandbox) -> None:
    result = sandbox.run("run", "--agent", "codex")
    assert result.returncode == 2 and "this sandbox has: shell" in result.stderr


def test_init_hook_output_goes_to_stderr(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """stdout is the command's alone: `exec -- cat x | jq` must not get the hook's lines."""
    hook = tmp_path / "hook.sh"
    hook.write_text("echo hook-says-hi\n")
    hooked = make_sandbox(init_hook=str(hook))
    result = hooked.run("exec", "--", "echo", "out")
    assert result.returncode == 0 and result.stdout == "out\n"
    assert "hook-says-hi" in result.stderr


def test_unknown_network_is_a_usage_error(sandbox: Sandbox) -> None:
    script = str(sandbox.project / "run_in_container.sh")
    result = subprocess.run(
        [script, "exec", "--network", f"cxgen-test-{RUN_ID}-nope", "--", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"cxgen: error: --network: no Docker network named 'cxgen-test-{RUN_ID}-nope'"
        " (docker network ls lists them)"
    )


def test_build_and_exec_under_each_bash(
    make_sandbox, tmp_path: Path, script_shell: list[str]
) -> None:  # type: ignore[no-untyped-def]
    """The whole start path with bash 3.2 (macOS) as with this machine's bash: build, the mount
    layout, a read-only mount, the policy check and the after-session git report."""
    sandbox = make_sandbox()
    data = tmp_path / "data dir"
    data.mkdir()
    (data / "f").write_text("ro\n")
    tag = sandbox.run("build", shell=script_shell)
    assert tag.returncode == 0 and tag.stdout.strip() == sandbox.image, tag.stderr
    result = sandbox.run(
        "exec",
        "--read-only",
        str(data),
        "--",
        "bash",
        "-c",
        f"cat '/app{data}/f'; mv .codex c 2>/dev/null || echo pinned; mkdir -p x/.git",
        shell=script_shell,
    )
    assert result.stdout.split() == ["ro", "pinned"], result.stderr
    assert f"{sandbox.project}/x/.git" in result.stderr
    with (sandbox.project / ".codex/allowed-domains.txt").open("a") as f:
        f.write("blocked.test\n")
    refused = sandbox.run("exec", "--", "true", shell=script_shell)
    assert refused.returncode == 2 and "added: blocked.test" in refused.stderr
