"""Living in the sandbox: named, parallel and kept sessions, list/stop/destroy, attach, ports,
images, and the errors users hit, against a real Docker Engine.

Scoping: every container these tests start carries the run's label (the docker shim), projects
are the tests' own (so "this project's sessions" are theirs alone), and `images --clean` runs
with a private state folder and the shim's private view of images (CXGEN_TEST_IMAGE_LABEL): it
cannot see, let alone remove, an image another test or person made.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    LABEL,
    PROJECT_UID,
    RUN_ID,
    Sandbox,
    Topology,
    docker,
)
from tests.e2e.waiting import BOUND, wait_until


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle in errors[0], result.stderr


def default_name(project: Path) -> str:
    digest = hashlib.sha256(str(project).encode()).hexdigest()[:8]
    return f"cxgen-{project.name}-{digest}"


def state(name: str) -> str:
    result = docker("container", "inspect", "-f", "{{.State.Status}}", name, check=False)
    return result.stdout.strip() if result.returncode == 0 else "gone"


def wait_for(path: Path) -> None:
    wait_until(path.exists, f"{path} to appear")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def project(make_sandbox, tmp_path: Path) -> Sandbox:  # type: ignore[no-untyped-def]
    """A project of this test alone (same build context: the shared image)."""
    return make_sandbox(tmp_path / "proj")  # type: ignore[no-any-return]


def test_two_parallel_sessions_of_one_project_and_the_name_collision(project: Sandbox) -> None:
    name = default_name(project.project)
    first = project.start("exec", "--", "bash", "-c", "touch ready-1; sleep 60", name="")
    try:
        wait_for(project.project / "ready-1")
        assert state(name) == "running"
        again = project.run("exec", "--", "true", name="")
        one_line_error(again, f"session {name} is already running", "--parallel", "attach")
        second = project.start(
            "exec", "--parallel", "--", "bash", "-c", "touch ready-2; sleep 60", name=""
        )
        wait_for(project.project / "ready-2")
        assert state(f"{name}-2") == "running" and state(name) == "running"
        listed = project.run("list")
        assert listed.returncode == 0, listed.stderr
        rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
        assert set(rows) == {name, f"{name}-2"}
        # What runs (issue 19: "exec" alone said little), the image, the state.
        image = re.escape(project.image)
        assert re.match(rf"{re.escape(name)}  +exec bash  +{image}  +running  ", rows[name])
        everything = project.run("list", "--all")
        assert name in everything.stdout and str(project.project) in everything.stdout
        stopped = project.run("stop", f"{name}-2")
        assert stopped.returncode == 0, stopped.stderr
        second.wait(timeout=60)
        assert state(f"{name}-2") == "gone"  # not kept: removed on stop
        assert state(name) == "running"
    finally:
        project.run("stop", name)
        first.wait(timeout=60)


def test_keep_then_attach_resumes_the_same_container(project: Sandbox, tmp_path: Path) -> None:
    name = f"cxgen-test-{RUN_ID}-keep-{uuid.uuid4().hex[:4]}"
    script = "if [ -f /tmp/mark ]; then echo resumed; else echo first; fi; touch /tmp/mark"
    first = project.run("exec", "--keep", "--", "bash", "-c", script, name=name)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "first"
    assert f"attach {name}" in first.stderr
    assert state(name) == "exited"
    listed = project.run("list")
    assert any(
        line.split()[:1] == [name] and "exited,kept" in line for line in listed.stdout.splitlines()
    )
    # Another session of that name while it is kept: says how to resume it.
    again = project.run("exec", "--", "true", name=name)
    one_line_error(again, f"session {name} exists", f"attach {name}")
    resumed = project.run("attach", name)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "resumed"
    assert state(name) == "exited"
    gone = project.run("destroy", "--stopped")
    assert gone.returncode == 0 and name in gone.stderr
    assert state(name) == "gone"


def test_attach_joins_a_running_session(project: Sandbox) -> None:
    name = f"cxgen-test-{RUN_ID}-join-{uuid.uuid4().hex[:4]}"
    script = "touch ready; while [ ! -f go ]; do sleep 0.2; done; echo done; exit 3"
    session = project.start("exec", "--keep", "--", "bash", "-c", script, name=name)
    try:
        wait_for(project.project / "ready")
        joined = project.start("attach", name)
        time.sleep(2)  # attached before the output comes
        (project.project / "go").touch()
        out, err = joined.communicate(timeout=60)
        assert "joining the running session" in err
        assert out.strip() == "done" and joined.returncode == 3, err
    finally:
        session.wait(timeout=60)
        project.run("destroy", name)


def test_attach_refuses_a_mount_swapped_for_a_symlink_while_stopped(
    project: Sandbox, tmp_path: Path
) -> None:
    """The read-only mount docs/ was checked at creation; a symlink put in its place while the
    session was stopped (by another sandbox's agent) would mount ~/.ssh instead: refused."""
    docs = project.project / "docs"
    docs.mkdir()
    (docs / "readme").write_text("docs\n")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_text("private\n")
    name = f"cxgen-test-{RUN_ID}-swap-{uuid.uuid4().hex[:4]}"
    first = project.run("exec", "--keep", "--read-only", str(docs), "--", "true", name=name)
    assert first.returncode == 0, first.stderr
    docs.rename(project.project / "docs.real")
    docs.symlink_to(secret)
    refused = project.run("attach", name)
    one_line_error(refused, str(docs), "symlink", f"destroy {name}")
    assert state(name) == "exited"  # never started
    destroyed = project.run("destroy", name)
    assert destroyed.returncode == 0, destroyed.stderr
    assert state(name) == "gone"


def test_a_stopped_kept_sandbox_counts_in_the_race_checks(project: Sandbox, tmp_path: Path) -> None:
    """`docker start` can wake a kept sandbox at any time, and its agent writes its work dir
    again: a new session's mount inside that tree, not pinned there, is refused meanwhile."""
    data = tmp_path / "data"
    data.mkdir()
    name = f"cxgen-test-{RUN_ID}-race-{uuid.uuid4().hex[:4]}"
    kept = project.run("exec", "--keep", "--work-dir", str(tmp_path), "--", "true", name=name)
    assert kept.returncode == 0, kept.stderr
    assert state(name) == "exited"
    refused = project.run("exec", "--read-only", str(data), "--", "true")
    one_line_error(refused, "a stopped (kept) sandbox", name, str(data))
    assert project.run("destroy", name).returncode == 0
    allowed = project.run("exec", "--read-only", str(data), "--", "true")
    assert allowed.returncode == 0, allowed.stderr


def test_stop_and_destroy_touch_only_cxgen_sessions(project: Sandbox, topology: Topology) -> None:
    name = f"cxgen-test-{RUN_ID}-stop-{uuid.uuid4().hex[:4]}"
    session = project.start(
        "exec", "--keep", "--", "bash", "-c", "touch ready; sleep 60", name=name
    )
    try:
        wait_for(project.project / "ready")
        kept_running = project.run("destroy", "--stopped")
        assert kept_running.returncode == 0 and "no stopped sessions" in kept_running.stderr
        assert state(name) == "running"
        stopped = project.run("stop", name)
        assert stopped.returncode == 0, stopped.stderr
        assert f"attach {name}" in stopped.stderr
        session.wait(timeout=60)
        assert state(name) == "exited"
    finally:
        project.run("destroy", name)
    assert state(name) == "gone"
    one_line_error(project.run("stop", f"{name}-nosuch"), "no session named")
    dns = topology.hosts["dns"].container
    one_line_error(project.run("destroy", dns), "not a cxgen sandbox")
    one_line_error(project.run("stop", dns), "not a cxgen sandbox")
    assert state(dns) == "running"


def test_port_is_published_on_loopback_and_a_used_port_is_a_clear_error(
    project: Sandbox, topology: Topology
) -> None:
    """Docker publishes no port of a container on an --internal network (the only kind the
    tests run sandboxes on), so Docker is asked for 127.0.0.1 only (checked in its config), and
    the path it would take is taken by hand: from the Docker host's end of the network (its
    gateway) to the container. Another container on that network is kept out."""
    port = free_port()
    name = f"cxgen-test-{RUN_ID}-port-{uuid.uuid4().hex[:4]}"
    command, env = project.command(
        "exec", "--port", f"{port}:8000", "--",
        "python3", "-m", "http.server", "8000", "--bind", "0.0.0.0", name=name,
    )  # fmt: skip
    (project.project / "hello.txt").write_text("hello from the sandbox\n")
    server = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + BOUND
        address = ""
        while not address:
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "the sandbox never started"
            address = docker(
                "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                name, check=False,
            ).stdout.strip()  # fmt: skip
            time.sleep(0.2)
        bindings = docker("inspect", "-f", "{{json .HostConfig.PortBindings}}", name).stdout.strip()
        assert bindings == f'{{"8000/tcp":[{{"HostIp":"127.0.0.1","HostPort":"{port}"}}]}}'
        body = ""
        while not body:
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "the port never answered from the Docker host"
            try:
                with urllib.request.urlopen(f"http://{address}:8000/hello.txt", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.5)
        assert body == "hello from the sandbox\n"
        # Another container on the sandbox's network: not the Docker host, so refused.
        lan = topology.hosts["lan"].container
        probe = docker(
            "exec", lan, "bash", "-c",
            f"timeout 3 bash -c 'exec 3<>/dev/tcp/{address}/8000' && echo OPEN",
            check=False,
        )  # fmt: skip
        assert "OPEN" not in probe.stdout
    finally:
        docker("stop", name, check=False)
        server.wait(timeout=60)
    # Issue 19: Docker's silence about the internal network, said.
    assert "--port: Docker publishes no port from network" in server.communicate()[1]
    # A port some other program on this machine listens on.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        taken = project.run("exec", "--port", str(busy), "--", "true")
    one_line_error(taken, f"127.0.0.1:{busy} is already in use")


def test_bad_session_input_is_one_line(project: Sandbox) -> None:
    script = str(project.project / "run_in_container.sh")
    unknown = subprocess.run([script, "frobnicate"], capture_output=True, text=True, check=False)
    one_line_error(unknown, "unknown command 'frobnicate'", "list")
    one_line_error(project.run("attach"), "attach needs a session name")
    one_line_error(project.run("stop", "-x"), "unknown option")
    one_line_error(project.run("destroy", "a\nb"), "invalid session name")
    one_line_error(project.run("destroy", "../x"), "invalid session name")
    one_line_error(project.run("exec", "--port", "70000", "--", "true"), "--port")
    one_line_error(project.run("exec", "--port", "1:2:3", "--", "true"), "--port")
    one_line_error(project.run("images", "--yes"), "--yes goes with --clean")


def test_docker_errors_say_what_to_do(make_sandbox, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Under /tmp directly: pytest's own tmp folders are private to root, and the permission
    # case runs as an unprivileged user.
    with tempfile.TemporaryDirectory(prefix="cxgen-test-") as tmp:
        Path(tmp).chmod(0o755)
        owned = make_sandbox(Path(tmp) / "owned")
        # A socket file nobody listens on: the daemon is down.
        dead = Path(tmp) / "dead.sock"
        with socket.socket(socket.AF_UNIX) as server:
            server.bind(str(dead))
        down = {"DOCKER_HOST": f"unix://{dead}"}
        one_line_error(owned.run("list", env=down), "Docker daemon is not running")
        one_line_error(owned.run("exec", "--", "true", env=down), "Docker daemon is not running")
        one_line_error(owned.run("images", env=down), "Docker daemon is not running")
        # A socket this user may not open (root's, mode 0600): permission denied.
        locked = Path(tmp) / "locked.sock"
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind(str(locked))
            listener.listen()
            locked.chmod(0o600)
            denied = owned.run(
                "list", env={"DOCKER_HOST": f"unix://{locked}"}, user=(PROJECT_UID, PROJECT_UID)
            )
        one_line_error(denied, "permission denied on the Docker socket", "docker group")
        # No docker at all.
        bare = tmp_path / "bin"
        bare.mkdir()
        for tool in ("bash", "dirname", "cat", "head"):
            (bare / tool).symlink_to(shutil.which(tool) or tool)
        missing = subprocess.run(
            [str(owned.project / "run_in_container.sh"), "list"],
            capture_output=True, text=True, env={"PATH": str(bare)}, check=False,
        )  # fmt: skip
        one_line_error(missing, "docker not found")


@pytest.fixture
def private_images(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private state folder and the shim's private view of images; removes what it built."""
    scope = f"org.cxgen.test-images={RUN_ID}-{uuid.uuid4().hex[:6]}"
    env = {"XDG_STATE_HOME": str(tmp_path / "state"), "CXGEN_TEST_IMAGE_LABEL": scope}
    yield env
    ids = docker("image", "ls", "-q", "--filter", f"label={scope}", check=False).stdout.split()
    containers = docker("ps", "-aq", "--filter", f"label={LABEL}", check=False).stdout.split()
    for container in containers:
        image = docker("container", "inspect", "-f", "{{.Image}}", container, check=False)
        if image.stdout.strip().removeprefix("sha256:")[:12] in ids:
            docker("rm", "-f", "-v", container, check=False)
    if ids:
        docker("rmi", "-f", *sorted(set(ids)), check=False)


def unique_copy(sandbox: Sandbox, dest: Path, env: dict[str, str]) -> tuple[Sandbox, str]:
    """A copy of the project whose build context is this test's alone (so its own tag)."""
    subprocess.run(["cp", "-a", str(sandbox.project), str(dest)], check=True)
    return rebuilt(Sandbox(dest, "", sandbox.network), env)


def rebuilt(sandbox: Sandbox, env: dict[str, str]) -> tuple[Sandbox, str]:
    dockerfile = sandbox.project / ".codex/sandbox/Dockerfile"
    dockerfile.write_text(
        dockerfile.read_text() + f"LABEL org.cxgen.test-unique={uuid.uuid4().hex}\n"
    )
    built = sandbox.run("build", "--accept-changes", env=env, timeout=900)
    assert built.returncode == 0, built.stderr[-2000:]
    return Sandbox(sandbox.project, built.stdout.strip(), sandbox.network), built.stdout.strip()


def foreign_image(base: str, env: dict[str, str], what: str, *labels: str) -> str:
    """A cxgen image that this user's run script did not build (in the test's view of images;
    LABELS override those of BASE, the builder's among them)."""
    tag = f"cxgen/test-{what}-{RUN_ID}:{uuid.uuid4().hex[:12]}"
    args = [f"--label={label}" for label in (env["CXGEN_TEST_IMAGE_LABEL"], *labels)]
    result = subprocess.run(
        ["docker", "build", "-q", "--label=org.cxgen.version=0.0.1", *args, "-t", tag, "-"],
        input=f"FROM {base}\nLABEL org.cxgen.test-unique={uuid.uuid4().hex}\n",
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tag


def test_images_clean_keeps_used_images(
    project: Sandbox, tmp_path: Path, private_images: dict[str, str]
) -> None:
    env = private_images
    kept, kept_tag = unique_copy(project, tmp_path / "kept", env)
    moved, old_tag = unique_copy(project, tmp_path / "moved", env)
    moved, new_tag = rebuilt(moved, env)  # the old tag: no project hashes to it now
    gone, gone_tag = unique_copy(project, tmp_path / "gone", env)
    name = f"cxgen-test-{RUN_ID}-img-{uuid.uuid4().hex[:4]}"
    used = gone.run("exec", "--keep", "--", "true", env=env, name=name)
    assert used.returncode == 0, used.stderr
    subprocess.run(["rm", "-rf", str(gone.project)], check=True)  # its project is gone...
    # Issue 19: images another user of this machine built, or an older run script (no builder
    # recorded): not this user's to remove.
    theirs = foreign_image(project.image, env, "theirs", "org.cxgen.builder=4242")
    unknown = foreign_image(project.image, env, "unknown", "org.cxgen.builder=")
    listed = kept.run("images", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert set(rows) == {kept_tag, old_tag, new_tag, gone_tag, theirs, unknown}
    assert " uid 4242 " in rows[theirs] and " you " in rows[old_tag]
    assert str(kept.project) in rows[kept_tag] and str(moved.project) in rows[new_tag]
    assert rows[old_tag].rstrip().endswith("-")
    # No terminal and no --yes: refused, nothing removed.
    refused = kept.run("images", "--clean", env=env)
    one_line_error(refused, "--yes")
    assert docker("image", "inspect", old_tag, check=False).returncode == 0
    cleaned = kept.run("images", "--clean", "--yes", env=env)
    assert cleaned.returncode == 0, cleaned.stderr
    assert f"removed {old_tag}" in cleaned.stderr
    assert f"keeping {gone_tag}: a container uses it" in cleaned.stderr  # ...but a container is not
    assert docker("image", "inspect", old_tag, check=False).returncode != 0
    assert (
        "keeping 1 image(s) other users of this machine built: their projects may need them"
        f" (each user cleans their own): {theirs}\n"
    ) in cleaned.stderr
    assert (
        "keeping 1 image(s) built before cxgen recorded who builds them (another user's projects"
        f" may need them); if none does, remove them with: docker rmi {unknown}\n"
    ) in cleaned.stderr
    for tag in (kept_tag, new_tag, gone_tag, theirs, unknown):
        assert docker("image", "inspect", tag, check=False).returncode == 0, tag
    docker("rm", "-f", "-v", name, check=False)


def test_sessions_under_bash_32(project: Sandbox, script_shell: list[str]) -> None:
    name = f"cxgen-test-{RUN_ID}-b32-{uuid.uuid4().hex[:4]}"
    first = project.run("exec", "--keep", "--", "echo", "hi", name=name, shell=script_shell)
    assert first.returncode == 0 and first.stdout == "hi\n", first.stderr
    listed = project.run("list", shell=script_shell)
    assert name in listed.stdout, listed.stderr
    resumed = project.run("attach", name, shell=script_shell)
    assert resumed.returncode == 0 and resumed.stdout == "hi\n", resumed.stderr
    destroyed = project.run("destroy", name, shell=script_shell)
    assert destroyed.returncode == 0, destroyed.stderr
    assert state(name) == "gone"


AGENT_QUERY = """
import os, socket, struct
sock = socket.socket(socket.AF_UNIX)
sock.connect(os.environ["SSH_AUTH_SOCK"])
sock.sendall(struct.pack(">IB", 1, 11))  # SSH_AGENTC_REQUEST_IDENTITIES
length, kind = struct.unpack(">IB", sock.recv(5))
count = struct.unpack(">I", sock.recv(4))[0]
print(kind, count, os.environ["SSH_AUTH_SOCK"])
"""


def test_ssh_agent_is_usable_by_the_agent_only_when_asked(make_sandbox) -> None:  # type: ignore[no-untyped-def]
    """The host user's ssh-agent (one key) answers inside with --ssh-agent; the key file never
    enters, and without the option nothing is forwarded."""
    uid = PROJECT_UID
    as_user = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    with tempfile.TemporaryDirectory(prefix="cxgen-test-") as tmp:
        Path(tmp).chmod(0o755)
        home = Path(tmp) / "home"
        home.mkdir()
        os.chown(home, uid, uid)
        owned = make_sandbox(Path(tmp) / "owned")
        sock = home / "agent.sock"
        agent = subprocess.Popen([*as_user, "ssh-agent", "-D", "-a", str(sock)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_for(sock)
            key = home / "id_test"
            # ssh-keygen wants a passwd entry for its user: made as root, then given away.
            keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)]
            subprocess.run(keygen, check=True, capture_output=True)
            os.chown(key, uid, uid)
            adding = {"SSH_AUTH_SOCK": str(sock), "PATH": os.environ["PATH"]}
            subprocess.run([*as_user, "ssh-add", str(key)], check=True, env=adding)
            env = {"HOME": str(home), "SSH_AUTH_SOCK": str(sock)}
            used = owned.run("exec", "--ssh-agent", "--", "python3", "-c", AGENT_QUERY,
                             user=(uid, uid), env=env)  # fmt: skip
            assert used.returncode == 0, used.stderr
            assert used.stdout.split() == ["12", "1", "/run/cxgen-ssh-agent.sock"]
            assert "WARNING: --ssh-agent" in used.stderr
            plain = owned.run("exec", "--", "bash", "-c", "echo ${SSH_AUTH_SOCK:-none}",
                              user=(uid, uid), env=env)  # fmt: skip
            assert plain.stdout.strip() == "none", plain.stderr
            # Run as root, the agent (uid 4242) cannot use a socket of root's: said at once.
            with socket.socket(socket.AF_UNIX) as roots:
                roots.bind(str(Path(tmp) / "root.sock"))
                refused = owned.run(
                    "exec", "--ssh-agent", "--", "true",
                    env={"SSH_AUTH_SOCK": str(Path(tmp) / "root.sock")},
                )  # fmt: skip
            one_line_error(refused, "cannot use uid 0's ssh-agent socket")
            missing = owned.run(
                "exec", "--ssh-agent", "--", "true", env={"SSH_AUTH_SOCK": str(home / "gone")}
            )
            one_line_error(missing, "--ssh-agent")
            unset = owned.run("exec", "--ssh-agent", "--", "true", env={"SSH_AUTH_SOCK": ""})
            one_line_error(unset, "SSH_AUTH_SOCK is not set")
        finally:
            agent.terminate()
            agent.wait(timeout=10)


def test_push_and_pull_with_a_running_session(project: Sandbox, tmp_path: Path) -> None:
    """Files go in and out as the agent's uid inside; nothing is replaced; outside the work dir
    needs a yes; the host never keeps the agent's symlinks or special files."""
    name = f"cxgen-test-{RUN_ID}-files-{uuid.uuid4().hex[:4]}"
    setup = (
        "mkdir -p /tmp/out/sub && echo result > /tmp/out/sub/data.txt"
        " && ln -s /etc/passwd /tmp/out/link && mkfifo /tmp/out/fifo"
        " && touch ready; while [ ! -f done ]; do sleep 0.2; done"
    )
    session = project.start("exec", "--", "bash", "-c", setup, name=name)
    try:
        wait_for(project.project / "ready")
        gift = tmp_path / "gift.txt"
        gift.write_text("from the host\n")
        pushed = project.run("push", "--name", name, str(gift))
        assert pushed.returncode == 0, pushed.stderr
        landed = project.project / "gift.txt"
        assert landed.read_text() == "from the host\n"
        assert landed.stat().st_uid == PROJECT_UID  # written by the agent's uid
        gift.write_text("changed\n")
        again = project.run("push", "--name", name, str(gift))
        one_line_error(again, "push:")
        assert landed.read_text() == "from the host\n"  # nothing replaced
        # Into the sandbox outside its work dir: only with a yes.
        outside = project.run("push", "--name", name, str(gift), "/tmp")
        one_line_error(outside, "outside the session's work dir", "--yes")
        # From the project itself (an agent's tree): refused.
        own = project.run("push", "--name", name, str(project.project / "gift.txt"))
        one_line_error(own, "a sandbox can write")
        # Pull into the work dir: done inside, by the agent.
        (project.project / "pulled").mkdir()
        os.chown(project.project / "pulled", PROJECT_UID, PROJECT_UID)
        into = project.run("pull", "--name", name, "/tmp/out", str(project.project / "pulled"))
        assert into.returncode == 0, into.stderr
        assert (project.project / "pulled/out/sub/data.txt").read_text() == "result\n"
        # Pull outside the work dir: refused without a yes, then only plain files arrive.
        host_dest = tmp_path / "dest"
        host_dest.mkdir()
        refused = project.run("pull", "--name", name, "/tmp/out", str(host_dest))
        one_line_error(refused, "--yes")
        assert list(host_dest.iterdir()) == []
        pulled = project.run("pull", "--name", name, "--yes", "/tmp/out", str(host_dest))
        assert pulled.returncode == 0, pulled.stderr
        assert (host_dest / "out/sub/data.txt").read_text() == "result\n"
        assert not (host_dest / "out/link").exists() and not (host_dest / "out/link").is_symlink()
        assert not (host_dest / "out/fifo").exists()
        assert "left out 2 symlink(s) or special file(s)" in pulled.stderr
        exists = project.run("pull", "--name", name, "--yes", "/tmp/out", str(host_dest))
        one_line_error(exists, "exists")
        one_line_error(project.run("pull", "--name", name, "../x"), "plain path")
        one_line_error(project.run("push"), "usage")
    finally:
        (project.project / "done").touch()
        session.wait(timeout=60)
    stopped = project.run("push", "--name", name, str(tmp_path / "gift.txt"))
    one_line_error(stopped, "no session named")


def sessions_of(project: Sandbox) -> set[str]:
    """The names of the project's running sandboxes."""
    listed = docker(
        "ps", "--filter", f"label=org.cxgen.project={project.project}", "--format", "{{.Names}}"
    )
    return set(listed.stdout.split())


def test_two_starts_at_the_same_moment_claim_a_name_each(project: Sandbox) -> None:
    """Issue 17: both starts listed the sessions before either existed, so both picked the same
    name and the second failed with Docker's raw "Conflict". Two --parallel starts at once now
    both run, under different names; of two plain starts at once one runs, the other says how
    to join it."""
    name = default_name(project.project)
    script = 'touch "started-$(hostname)"; sleep 60'
    both = [project.start("exec", "--parallel", "--", "bash", "-c", script, name="") for _ in "ab"]
    try:
        for session in both:
            wait_until(
                lambda: len(list(project.project.glob("started-*"))) >= 2,
                "the two sessions to start",
                watch=session,
            )
        assert sessions_of(project) == {name, f"{name}-2"}
    finally:
        for session_name in (name, f"{name}-2"):
            project.run("stop", session_name)
        for session in both:
            session.communicate(timeout=60)
    for started in project.project.glob("started-*"):
        started.unlink()
    plain = [project.start("exec", "--", "bash", "-c", script, name="") for _ in "ab"]
    try:
        wait_until(
            lambda: any(session.poll() is not None for session in plain),
            "one of the plain starts to be refused",
        )
        (refused,) = [session for session in plain if session.poll() is not None]
        out, err = refused.communicate(timeout=60)
        result = subprocess.CompletedProcess(refused.args, refused.returncode, out, err)
        one_line_error(result, f"session {name} is already running", "--parallel", "attach")
        assert "Conflict" not in err
        (running,) = [session for session in plain if session is not refused]
        wait_until(
            lambda: list(project.project.glob("started-*")),
            "the other plain start to run",
            watch=running,
        )
        assert sessions_of(project) == {name}
    finally:
        project.run("stop", name)
        for session in plain:
            session.communicate(timeout=60)


def test_an_image_gone_since_the_last_start_is_built_again(project: Sandbox) -> None:
    """A start takes an image an earlier start found as there (no docker call before its docker
    run); one removed since (docker rmi, a prune) is built again, and the start goes on."""
    # A context of this test's own (an extra file): its own tag, on the shared image's layers.
    (project.project / ".codex/sandbox/marker.txt").write_text(uuid.uuid4().hex)
    built = project.run("build", "--accept-changes")
    assert built.returncode == 0, built.stderr
    tag = built.stdout.split()[-1]
    try:
        first = project.run("exec", "--", "true")
        assert first.returncode == 0, first.stderr
        docker("rmi", tag)
        again = project.run("exec", "--", "echo", "started")
        assert again.returncode == 0, again.stderr
        assert again.stdout.split() == ["started"], again.stdout
        gone = f"the image {tag} is gone from Docker since the last start; building it again"
        assert gone in again.stderr, again.stderr
        assert docker("image", "inspect", tag, check=False).returncode == 0
    finally:
        docker("rmi", tag, check=False)
