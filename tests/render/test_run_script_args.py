"""What run_in_container.sh hands to `docker run`, read from a recording stand-in for docker.

The real containers are the e2e suite's job; this pins the contract cheaply: capabilities,
mounts, environment, domain merging, the agent home's seeding. The stand-in records its argv
and answers `image inspect` with success (the image "exists"), so nothing is built or run.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from cxgen.init import run_init

RECORDER = """#!/bin/sh
for arg in "$@"; do printf '%s\\n' "$arg"; done > "$CXGEN_TEST_ARGV.$1"
# The default bridge's gateway, for --port's firewall rule.
[ "$1 $2" != "network inspect" ] || echo "172.17.0.1 fd00::1 "
exit 0
"""


@pytest.fixture(autouse=True)
def _every_test_under_both_bashes(script_shell: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test here runs the script with this machine's bash and with bash 3.2 (macOS's)."""
    monkeypatch.setattr(f"{__name__}.SHELL", script_shell)


SHELL = ["bash"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    dest = tmp_path / "proj"
    run_init(
        dest,
        {"agents": ["codex", "shell"], "allowed_domains": ["pypi.org"]},
        defaults=True,
        interactive=False,
    )
    return dest


def stand_ins(tmp_path: Path, **tools: str) -> dict[str, str]:
    """An environment whose PATH finds these scripts (name=text) first; docker's records its
    argv to CXGEN_TEST_ARGV.<subcommand>."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for name, text in tools.items():
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bindir}:{os.environ['PATH']}",
        "CXGEN_TEST_ARGV": str(tmp_path / "argv"),
    }


def run_script(
    project: Path, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    result = subprocess.run(
        [*SHELL, str(project / "run_in_container.sh"), *args],
        env={**stand_ins(tmp_path, docker=RECORDER), **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    run_file = tmp_path / "argv.run"
    return result, run_file.read_text().splitlines() if run_file.exists() else []


def env_of(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-e"]
    return dict(p.split("=", 1) if "=" in p else (p, "<host>") for p in pairs)


def test_capabilities_and_isolation_flags(project: Path, tmp_path: Path) -> None:
    result, argv = run_script(project, tmp_path, "exec", "--", "true")
    assert result.returncode == 0, result.stderr
    assert argv[:2] == ["run", "--init"] and "--rm" in argv
    assert "--cap-drop" in argv and argv[argv.index("--cap-drop") + 1] == "ALL"
    assert "no-new-privileges" in argv and "--privileged" not in argv
    assert not any("docker.sock" in arg for arg in argv)
    assert argv[-2:] == ["true"] or argv[-1] == "true"


def test_mounts_workdir_at_app_path_and_protects_control_files(
    project: Path, tmp_path: Path
) -> None:
    _, argv = run_script(project, tmp_path, "exec", "--", "true")
    mounts = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--mount"]
    assert f'type=bind,"source={project}","target=/app{project}"' in mounts
    # Whole trees, each a mount point (which the agent cannot rename): .codex read-only with the
    # agent home writable inside it.
    for path in (
        "run_in_container.sh",
        ".codex",
        ".copier-answers.yml",
        ".codex/.environment/.gitignore",
    ):
        assert (
            f'type=bind,"source={project}/{path}","target=/app{project}/{path}",readonly' in mounts
        )
    for path in (".codex/.environment", ".codex/.environment/sessions"):
        assert f'type=bind,"source={project}/{path}","target=/app{project}/{path}"' in mounts
    assert argv[argv.index("-w") + 1] == f"/app{project}"


def test_domains_merge_file_env_and_flags_without_duplicates(project: Path, tmp_path: Path) -> None:
    _, argv = run_script(
        project,
        tmp_path,
        "exec",
        "--allow",
        "*.example.org",
        "--allow",
        "pypi.org",
        "--",
        "true",
        env={"OPENAI_ALLOWED_DOMAINS": "a.example.com,api.openai.com"},
    )
    domains = env_of(argv)["CXGEN_ALLOWED_DOMAINS"].split()
    assert domains == [
        "api.openai.com",
        "auth.openai.com",
        "chatgpt.com",
        "pypi.org",
        "a.example.com",
        "*.example.org",
    ]


def test_a_hostile_line_in_the_domains_file_is_refused_with_its_place(
    project: Path, tmp_path: Path
) -> None:
    with (project / ".codex/allowed-domains.txt").open("a") as handle:
        handle.write("ok.example.com\nevil.com;id\n")
    result, argv = run_script(project, tmp_path, "exec", "--", "true")
    lines = len((project / ".codex/allowed-domains.txt").read_text().splitlines())
    assert result.returncode == 2 and argv == []
    assert f"allowed-domains.txt:{lines}: invalid domain 'evil.com;id'" in result.stderr


def test_api_keys_are_relayed_never_passed(project: Path, tmp_path: Path) -> None:
    _, argv = run_script(
        project, tmp_path, "exec", "--", "true", env={"OPENAI_API_KEY": "sk-secret"}
    )
    assert "OPENAI_API_KEY=cxgen-relayed-key" in argv
    assert "OPENAI_API_KEY" not in argv and not any("sk-secret" in arg for arg in argv)


def test_agent_run_uses_the_preset_command(project: Path, tmp_path: Path) -> None:
    _, argv = run_script(project, tmp_path, "--", "--model", "o3")
    assert argv[-4:] == ["codex", "--dangerously-bypass-approvals-and-sandbox", "--model", "o3"]
    _, argv = run_script(project, tmp_path, "run", "--agent", "shell")
    assert argv[-2:] == ["bash", "-l"]


def test_codex_docker_image_skips_the_build(project: Path, tmp_path: Path) -> None:
    _, argv = run_script(
        project, tmp_path, "exec", "--", "true", env={"CODEX_DOCKER_IMAGE": "my/image:1"}
    )
    assert argv[-2:] == ["my/image:1", "true"]
    assert not Path(f"{tmp_path}/argv.build").exists()


def test_agent_home_is_seeded_without_overwriting(project: Path, tmp_path: Path) -> None:
    config = tmp_path / "codex-config"
    (config / "prompts").mkdir(parents=True)
    (config / "config.toml").write_text("model = 'theirs'\n")
    (config / "prompts/review.md").write_text("theirs")
    (config / "prompts/new.md").write_text("new")
    (config / "auth.json").write_text("{}")
    env_dir = project / ".codex/.environment"
    (env_dir / "prompts").mkdir(parents=True)
    (env_dir / "prompts/review.md").write_text("mine")
    (env_dir / "config.toml").write_text("model = 'mine'\n")
    result, _ = run_script(
        project, tmp_path, "exec", "--", "true", env={"CODEX_CONFIG_DIR": str(config)}
    )
    assert result.returncode == 0, result.stderr
    assert (env_dir / "config.toml").read_text() == "model = 'mine'\n"
    assert (env_dir / "prompts/review.md").read_text() == "mine"
    assert (env_dir / "prompts/new.md").read_text() == "new"
    assert (env_dir / "auth.json").stat().st_mode & 0o077 == 0
    assert (env_dir / "sessions").is_dir()


NO_WRITE_BACK = "no longer written back"


@pytest.mark.parametrize("earlier", ["sync-asked", "marks-of-an-earlier-script", "fresh"])
def test_sync_works_as_copy_and_is_said_once(project: Path, tmp_path: Path, earlier: str) -> None:
    """Logins are never written back; whoever may have relied on it (sync asked for, or import
    marks an earlier run script left, when sync was the default) is told once per machine."""
    home, state = tmp_path / "home", tmp_path / "state"
    (home / ".codex").mkdir(parents=True)
    (home / ".codex/auth.json").write_text('{"tokens":{"account_id":"a"}}')
    env = {"HOME": str(home), "XDG_STATE_HOME": str(state), "CXGEN_ACCEPT_CHANGES": "1"}
    if earlier == "sync-asked":
        env["CXGEN_CREDENTIALS"] = "sync"
    elif earlier == "marks-of-an-earlier-script":
        (state / "cxgen/credentials").mkdir(parents=True)
    first, _ = run_script(project, tmp_path, "exec", "--", "true", env=env)
    assert first.returncode == 0, first.stderr
    assert (NO_WRITE_BACK in first.stderr) == (earlier != "fresh"), first.stderr
    assert "copied" in first.stderr
    again, _ = run_script(project, tmp_path, "exec", "--credentials", "sync", "--", "true", env=env)
    assert again.returncode == 0 and NO_WRITE_BACK not in again.stderr, again.stderr
    assert (home / ".codex/auth.json").read_text() == '{"tokens":{"account_id":"a"}}'


def test_env_home_and_codex_home_point_into_the_project(project: Path, tmp_path: Path) -> None:
    _, argv = run_script(project, tmp_path, "exec", "--", "true")
    env = env_of(argv)
    assert env["SANDBOX_ENV_DIR"] == env["CODEX_HOME"] == f"/app{project}/.codex/.environment"
    assert env["CXGEN_FIREWALL"] == "on" and env["CXGEN_PRIVATE_DESTINATIONS"] == "deny"


def test_a_command_without_dashes_gets_a_hint(project: Path, tmp_path: Path) -> None:
    result, argv = run_script(project, tmp_path, "exec", "id")
    assert result.returncode == 2 and not argv
    assert result.stderr.strip() == (
        "cxgen: error: unexpected 'id': the command goes after --, as in "
        "./run_in_container.sh exec -- id"
    )


def test_a_missing_saved_mount_names_the_answer_and_the_fix(tmp_path: Path) -> None:
    dest = tmp_path / "proj"
    mount = tmp_path / "data"
    mount.mkdir()
    run_init(
        dest,
        {"agents": ["shell"], "readonly_mounts": [str(mount)]},
        defaults=True,
        interactive=False,
    )
    mount.rmdir()  # a teammate's machine, or a folder moved since
    result, argv = run_script(dest, tmp_path, "exec", "--", "true")
    assert result.returncode == 2 and not argv
    line = result.stderr.strip().splitlines()[-1]
    assert "readonly_mounts" in line and "cxgen update --data readonly_mounts=" in line
    assert str(mount) in line


NO_IMAGE_RECORDER = """#!/bin/sh
for arg in "$@"; do printf '%s\\n' "$arg"; done > "$CXGEN_TEST_ARGV.$1"
[ "$1 $2" = "image inspect" ] && exit 1
[ "$1" = build ] && cp -R "$(eval echo \\${$#})" "$CXGEN_TEST_ARGV.context"
exit 0
"""
# Stands in for cp: an agent of another sandbox rewriting the build context mid-read.
RACING_CP = """#!/bin/sh
case "$2" in */.codex/sandbox) echo '# agent' >> "$2/entrypoint.sh" ;; esac
exec /bin/cp "$@"
"""


def build_with(tmp_path: Path, project: Path, *, racing: bool) -> subprocess.CompletedProcess[str]:
    tools = {"docker": NO_IMAGE_RECORDER, **({"cp": RACING_CP} if racing else {})}
    return subprocess.run(
        [*SHELL, str(project / "run_in_container.sh"), "build"],
        env=stand_ins(tmp_path, **tools),
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_the_image_is_built_from_a_private_copy_of_what_was_hashed(
    project: Path, tmp_path: Path
) -> None:
    result = build_with(tmp_path, project, racing=False)
    assert result.returncode == 0, result.stderr
    build_argv = (tmp_path / "argv.build").read_text().splitlines()
    assert build_argv[-1] != str(project / ".codex/sandbox")
    built = tmp_path / "argv.context"
    for name in ("Dockerfile", "entrypoint.sh", "firewall.sh"):
        assert (built / name).read_bytes() == (project / ".codex/sandbox" / name).read_bytes()


def test_a_build_context_changed_while_read_is_never_built(project: Path, tmp_path: Path) -> None:
    """Another sandbox's agent rewriting .codex/sandbox between hashing and the build would
    get its files built under the approved tag: the copy is re-hashed, and the build refused."""
    result = build_with(tmp_path, project, racing=True)
    assert result.returncode == 2 and "changed while it was being read" in result.stderr
    assert not (tmp_path / "argv.build").exists()


def test_a_path_with_a_double_quote_stops_the_start(project: Path, tmp_path: Path) -> None:
    """A --mount value cannot carry a double quote: refused in one line, nothing started."""
    odd = tmp_path / 'say "hi"'
    odd.mkdir()
    result, argv = run_script(project, tmp_path, "exec", "--read-only", str(odd), "--", "true")
    assert result.returncode == 2 and not argv
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("cxgen: error: paths with double quotes are refused")
    )


def labels_of(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--label"]
    return dict(p.split("=", 1) for p in pairs)


def test_session_is_named_after_the_project_and_labelled(project: Path, tmp_path: Path) -> None:
    result, argv = run_script(project, tmp_path, "exec", "--", "true")
    assert result.returncode == 0, result.stderr
    digest = hashlib.sha256(str(project).encode()).hexdigest()[:8]
    name = argv[argv.index("--name") + 1]
    assert name == f"cxgen-proj-{digest}"
    labels = labels_of(argv)
    assert labels["org.cxgen.session"] == name
    assert labels["org.cxgen.project"] == str(project)
    assert labels["org.cxgen.agent"] == "exec"
    assert labels["org.cxgen.version"] and len(labels["org.cxgen.hash"]) == 64
    assert "org.cxgen.keep" not in labels and "-p" not in argv


def test_a_claimed_session_name_is_left_to_its_start(project: Path, tmp_path: Path) -> None:
    """Issue 17: a start claims its session name (a file holding its pid) before Docker creates
    the container, so a start at the same moment does not pick it too. A claim whose start is
    gone is taken over; the claim ends with the run."""
    digest = hashlib.sha256(str(project).encode()).hexdigest()[:8]
    name = f"cxgen-proj-{digest}"
    claims = Path(os.environ["XDG_STATE_HOME"]) / "cxgen/session-names"
    claims.mkdir(parents=True, exist_ok=True)
    run_file = tmp_path / "argv.run"
    (claims / name).write_text(f"{os.getpid()}\n")  # a start that still runs
    result, argv = run_script(project, tmp_path, "exec", "--", "true")
    assert result.returncode == 2 and argv == [], result.stderr
    assert f"session {name} is already running" in result.stderr and "--parallel" in result.stderr
    result, argv = run_script(project, tmp_path, "exec", "--parallel", "--", "true")
    assert result.returncode == 0, result.stderr
    assert argv[argv.index("--name") + 1] == f"{name}-2"
    assert not (claims / f"{name}-2").exists()
    run_file.unlink()
    (claims / name).write_text("999999999\n")  # no such process: its start was killed
    result, argv = run_script(project, tmp_path, "exec", "--", "true")
    assert result.returncode == 0, result.stderr
    assert argv[argv.index("--name") + 1] == name
    assert not (claims / name).exists()


def test_keep_and_ports(project: Path, tmp_path: Path) -> None:
    result, argv = run_script(
        project, tmp_path, "run", "--keep", "--port", "8080", "--port", "18000:3000"
    )
    assert result.returncode == 0, result.stderr
    assert "--rm" not in argv and labels_of(argv)["org.cxgen.keep"] == "1"
    assert labels_of(argv)["org.cxgen.agent"] == "codex"
    published = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-p"]
    assert published == ["127.0.0.1:8080:8080", "127.0.0.1:18000:3000"]
    assert env_of(argv)["CXGEN_PORTS"] == "8080 3000"
    assert env_of(argv)["CXGEN_DOCKER_GATEWAY"] == "172.17.0.1"


@pytest.mark.parametrize(
    "port", ["0", "65536", "1:2:3", "-1", "80 81", "80\n81", "0x50", "8080:", ":8080"]
)
def test_bad_ports_are_refused(project: Path, tmp_path: Path, port: str) -> None:
    result, argv = run_script(project, tmp_path, "exec", "--port", port, "--", "true")
    assert result.returncode == 2 and argv == []
    assert result.stderr.count("\n") == 1 and "--port" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["frobnicate"],
        ["attach"],
        ["attach", "a", "b"],
        ["stop", "--all"],
        ["destroy"],
        ["destroy", "x", "--stopped"],
        ["destroy", "-rf"],
        ["destroy", "x;rm"],
        ["list", "extra"],
        ["images", "--yes"],
        ["push"],
        ["push", "a", "b", "c"],
        ["pull", "--name"],
        ["pull", "--name", "-x", "a"],
        ["push", "--all", "a"],
    ],
)
def test_bad_session_commands_are_one_line_usage_errors(
    project: Path, tmp_path: Path, args: list[str]
) -> None:
    result, _ = run_script(project, tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("cxgen: error: ")
    assert not (tmp_path / "argv.rm").exists() and not (tmp_path / "argv.stop").exists()


def test_help_names_every_subcommand(project: Path, tmp_path: Path) -> None:
    result, _ = run_script(project, tmp_path, "--help")
    for word in (
        "list [--all]",
        "attach NAME",
        "stop NAME",
        "destroy NAME",
        "images [--clean",
        "push [--name NAME] SRC",
        "pull [--name NAME] SRC",
        "--keep",
        "--parallel",
        "--port",
        "--name NAME",
    ):
        assert word in result.stdout, word


def test_login_publishes_the_callback_on_loopback_only(project: Path, tmp_path: Path) -> None:
    result, argv = run_script(project, tmp_path, "login")
    assert result.returncode == 0, result.stderr
    published = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-p"]
    assert published == ["127.0.0.1:1455:1455"]
    env = env_of(argv)
    assert env["CXGEN_LOGIN_BRIDGE"] == "1455 127.0.0.1" and env["CXGEN_PORTS"] == "1455"
    assert argv[-2:] == ["codex", "login"]
    result, argv = run_script(project, tmp_path, "login", "--device")
    assert argv[-3:] == ["codex", "login", "--device-auth"] and "-p" not in argv
    result, argv = run_script(project, tmp_path, "login", "--agent", "shell")
    assert result.returncode == 2 and "no browser sign-in" in result.stderr


def test_the_agent_gets_your_uid_and_gid(project: Path, tmp_path: Path) -> None:
    _, argv = run_script(project, tmp_path, "exec", "--", "true")
    env = env_of(argv)
    if os.geteuid() != 0:
        assert (env["CXGEN_UID"], env["CXGEN_GID"]) == (str(os.geteuid()), str(os.getgid()))
    elif project.stat().st_uid != 0:  # as root: the work dir's owner
        owner = project.stat()
        assert (env["CXGEN_UID"], env["CXGEN_GID"]) == (str(owner.st_uid), str(owner.st_gid))
        assert "--read-only" not in argv
    else:  # root mode: uid 0 in nogroup, on a read-only image
        assert (env["CXGEN_UID"], env["CXGEN_GID"]) == ("0", "65534")
        assert "--read-only" in argv and "type=volume,dst=/var/lib/cxgen" in argv


def test_root_mode_only_for_a_root_owned_work_dir(project: Path, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: root mode is for root on a root-owned project")
    os.chown(project, 4321, 4321)
    try:
        _, argv = run_script(project, tmp_path, "exec", "--", "true")
    finally:
        os.chown(project, 0, 0)
    env = env_of(argv)
    assert (env["CXGEN_UID"], env["CXGEN_GID"]) == ("4321", "4321") and "--read-only" not in argv


def test_the_image_is_never_pulled(project: Path, tmp_path: Path) -> None:
    """A registry's image under the cxgen/ name is not what was hashed: if the tag went missing
    between the check and the start, the start must fail, not pull."""
    _, argv = run_script(project, tmp_path, "exec", "--", "true")
    image = next(arg for arg in argv if arg.startswith("cxgen/"))
    assert argv[argv.index(image) - 2 : argv.index(image)] == ["--pull", "never"]
    _, argv = run_script(
        project, tmp_path, "exec", "--", "true", env={"CODEX_DOCKER_IMAGE": "my/image:1"}
    )
    assert "--pull" not in argv


# --- The start cache: .codex/sandbox is hashed only when it changed ------------------------------


def build_tag(project: Path, tmp_path: Path, **tools: str) -> str:
    result = subprocess.run(
        [*SHELL, str(project / "run_in_container.sh"), "build"],
        env={**stand_ins(tmp_path, docker=RECORDER, **tools), "CXGEN_ACCEPT_CHANGES": "1"},
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def start_cache(project: Path) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", str(project.resolve()))[:200]
    return Path(os.environ["XDG_STATE_HOME"]) / "cxgen" / "start-cache" / name


def cached_tag(project: Path, tmp_path: Path) -> str:
    """The tag, once the start cache holds it: lines are cached only a whole second after the
    last change (a change in the same clock tick could otherwise hide)."""
    tag = build_tag(project, tmp_path)
    time.sleep(1.1)
    assert build_tag(project, tmp_path) == tag
    assert tag.split(":")[1] in start_cache(project).read_text().splitlines()
    return tag


def uncached_tag(project: Path, tmp_path: Path) -> str:
    start_cache(project).unlink(missing_ok=True)
    return build_tag(project, tmp_path)


def test_an_unchanged_context_is_not_hashed_again(tmp_path: Path) -> None:
    """The no-change path runs no hash at all (here: with sha256sum and shasum failing), also
    in a folder whose name holds what bash's pattern replacement treats specially."""
    project = tmp_path / "R&D \\ x" / "proj"
    run_init(project, {"agents": ["shell"]}, defaults=True, interactive=False)
    tag = cached_tag(project, tmp_path)
    failing = "#!/bin/sh\nexit 1\n"
    assert build_tag(project, tmp_path, sha256sum=failing, shasum=failing) == tag
    (project / ".codex/sandbox/Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(AssertionError):
        build_tag(project, tmp_path, sha256sum=failing, shasum=failing)


def test_a_change_with_the_old_size_and_mtime_still_changes_the_tag(
    project: Path, tmp_path: Path
) -> None:
    """mtime can be set back (touch -r); the cache compares ctime, which cannot."""
    before = cached_tag(project, tmp_path)
    dockerfile = project / ".codex/sandbox/Dockerfile"
    old = dockerfile.stat()
    text = dockerfile.read_text()
    dockerfile.write_text(text.replace("Sandbox image", "Sandbox imagE", 1))
    os.utime(dockerfile, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert dockerfile.stat().st_size == old.st_size
    assert dockerfile.stat().st_mtime_ns == old.st_mtime_ns
    after = build_tag(project, tmp_path)
    assert after != before
    assert after == uncached_tag(project, tmp_path)


@pytest.mark.parametrize("change", ["new file", "new folder", "chmod", "removed", "renamed"])
def test_every_change_to_the_build_context_changes_the_tag(
    project: Path, tmp_path: Path, change: str
) -> None:
    before = cached_tag(project, tmp_path)
    sandbox = project / ".codex/sandbox"
    if change == "new file":
        (sandbox / "extra.txt").write_text("x")
    elif change == "new folder":
        (sandbox / "files").mkdir()
        (sandbox / "files/extra.txt").write_text("x")
    elif change == "chmod":
        (sandbox / "Dockerfile").chmod(0o755)
    elif change == "removed":
        (sandbox / "firewall.sh").unlink()
    else:
        (sandbox / "firewall.sh").rename(sandbox / "firewall2.sh")
    after = build_tag(project, tmp_path)
    assert after != before
    assert after == uncached_tag(project, tmp_path)


def test_a_file_changed_in_a_cached_subfolder_changes_the_tag(
    project: Path, tmp_path: Path
) -> None:
    sub = project / ".codex/sandbox/files"
    sub.mkdir()
    (sub / "a.txt").write_text("one")
    before = cached_tag(project, tmp_path)
    (sub / "b.txt").write_text("two")
    assert build_tag(project, tmp_path) != before


def forged(project: Path, tmp_path: Path) -> tuple[str, str]:
    """The true tag, and a copy of this project's valid cache that names another hash."""
    tag = cached_tag(project, tmp_path)
    lines = start_cache(project).read_text().splitlines()
    lines[lines.index(tag.split(":")[1])] = "0123456789ab"
    return tag, "\n".join(lines) + "\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file of another user needs root")
def test_a_start_cache_of_another_user_is_ignored(project: Path, tmp_path: Path) -> None:
    tag, text = forged(project, tmp_path)
    cache = start_cache(project)
    cache.write_text(text)
    os.chown(cache, 12345, 12345)
    assert build_tag(project, tmp_path) == tag


def test_a_symlinked_or_foreign_start_cache_is_ignored(project: Path, tmp_path: Path) -> None:
    tag, text = forged(project, tmp_path)
    cache = start_cache(project)
    # A symlink to a file with the right lines and the wrong hash.
    elsewhere = tmp_path / "planted"
    elsewhere.write_text(text)
    cache.unlink()
    cache.symlink_to(elsewhere)
    assert build_tag(project, tmp_path) == tag
    # Another project's cache copied over this one's (the paths differ in its second line).
    cache.unlink()
    cache.write_text(text.replace(str(project.resolve()), str(project.resolve()) + "2", 1))
    assert build_tag(project, tmp_path) == tag
    # Nothing of the cache is in the project, where the agent writes.
    assert not any("start-cache" in str(path) for path in project.rglob("*"))


def test_messages_never_carry_control_characters(project: Path, tmp_path: Path) -> None:
    """What goes to the terminal in an error (here a network name) loses its control codes."""
    result, _ = run_script(
        project, tmp_path, "exec", "--network", "x\x1b]0;PWNED\x07\x1b[2J", "--", "true"
    )
    assert result.returncode == 2 and "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "PWNED" in result.stderr


@pytest.mark.parametrize("work_dir", ["the project", "a folder of it", "the project, moved"])
def test_a_symlink_planted_in_a_project_is_not_followed_by_another_projects_mount(
    project: Path, tmp_path: Path, work_dir: str
) -> None:
    """A run makes its project (or its work dir and agent home) an agent tree for every project:
    a symlink its agent plants there is not followed by another project's --mount, even with
    --yes (which asks nothing)."""
    (project / "src").mkdir()
    args = ["--work-dir", str(project / "src")] if work_dir == "a folder of it" else []
    result, _ = run_script(project, tmp_path, "exec", *args, "--", "true")
    assert result.returncode == 0, result.stderr
    secret = tmp_path / "secret"
    secret.mkdir()
    # (With a folder of it as work dir, the agent still writes its home in the project.)
    planted = project / (".codex/.environment" if args else "") / "data"
    planted.symlink_to(secret)  # the agent's
    if work_dir.endswith("moved"):  # a tree is known by its device and inode too
        project = project.rename(tmp_path / "moved")
        planted = project / "data"
    other = tmp_path / "other"
    run_init(other, {"agents": ["shell"]}, defaults=True, interactive=False)
    mount = ["--mount", str(planted), "--yes"]
    result, argv = run_script(other, tmp_path, "exec", *mount, "--", "true")
    assert result.returncode == 2, f"mounted {argv}"
    assert f"refusing {planted}: {planted} is a symlink" in result.stderr, result.stderr
