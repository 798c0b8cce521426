"""Render tests: no Docker, no network. The template's output for each answer that changes it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from cxgen.init import run_init
from cxgen.presets import agent_presets
from tests.conftest import REPO, run_cxgen, snapshot

GOLDEN = Path(__file__).parent / "golden" / "default"
SHELL_FILES = [
    ".codex/sandbox/entrypoint.sh",
    ".codex/sandbox/warm.sh",
    ".codex/sandbox/firewall.sh",
    ".codex/sandbox/relay.sh",
    ".codex/sandbox/cxgen-ctl",
    ".codex/sandbox/agent-git",
    ".codex/sandbox/fetch-skill",
    ".codex/sandbox/cxgen-mcp",
]


def render(dest: Path, **data: object) -> Path:
    run_init(dest, dict(data), defaults=True, interactive=False)
    return dest


def static_files() -> dict[str, bytes]:
    """The template's files that are copied as they are (no .jinja suffix): no golden needed."""
    source = REPO / "template/project"
    return {
        str(p.relative_to(source)): p.read_bytes()
        for p in sorted(source.rglob("*"))
        if p.is_file() and not p.name.endswith(".jinja")
    }


def test_default_render_matches_golden(tmp_path: Path) -> None:
    """The golden holds only what is generated (from .jinja files, or written by init); the
    static files are checked to be the template's, byte for byte."""
    project = render(tmp_path / "p")
    static = static_files()
    everything = snapshot(project)
    got = {rel: content for rel, content in everything.items() if rel not in static}
    if os.environ.get("CXGEN_UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for rel, content in got.items():
            (GOLDEN / rel).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / rel).write_bytes(content)
    assert got == snapshot(GOLDEN), "re-run with CXGEN_UPDATE_GOLDEN=1 after a deliberate change"
    assert {rel: everything.get(rel) for rel in static} == static
    assert os.access(project / "run_in_container.sh", os.X_OK)
    assert os.access(project / ".codex/sandbox/entrypoint.sh", os.X_OK)


ANSWER_SETS = {
    "default": {},
    "all-agents": {
        "agents": ["codex", "claude", "gemini", "opencode", "shell"],
        "default_agent": "claude",
    },
    "shell-only": {"agents": ["shell"]},
    "extras": {
        "agents": ["shell"],
        "allowed_domains": ["pypi.org", "*.github.com"],
        "apt_packages": ["git", "jq"],
        "base_image": "debian:bookworm",
        "private_destinations": "allowed-names",
        "git": "off",
        "host_ports": ["11434", "4000"],
        "skills": ["https://github.com/anthropics/skills@" + "0123456789" * 4 + "#skills/pdf"],
    },
}


def run_script_bundle(project: Path) -> Path:
    """The run script as shellcheck should see it: one program, its entry with every file it
    sources in place (so a variable set in one file and read in another is checked)."""
    entry = (project / "run_in_container.sh").read_text()
    run = project / ".codex/run"
    parts = [entry.replace('\nmain "$@"\n', "\n")]
    for path in [run / "settings.sh", *sorted((run / "lib").glob("*.sh"))]:
        parts.append(path.read_text())
    parts += [path.read_text() for path in sorted((run / "cmd").glob("*.sh"))]
    bundle = project.parent / "run-script-bundle.sh"
    bundle.write_text("".join(parts) + 'main "$@"\n')
    return bundle


def test_static_shell_passes_shellcheck_once(tmp_path: Path) -> None:
    """The static files (the same whatever the answers) are checked once: the run script as one
    program, and the sandbox's scripts."""
    project = render(tmp_path / "p", **ANSWER_SETS["all-agents"])
    bundle = run_script_bundle(project)
    for args in (["shellcheck", "-s", "bash", str(bundle)], ["shellcheck", *SHELL_FILES]):
        result = subprocess.run(args, cwd=project, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout


def test_the_setuid_guard_passes_perls_strict_and_warnings() -> None:
    """no-setuid.pl loads no module (each costs root mode's start); strict and warnings are
    applied here instead."""
    guard = REPO / "template/project/.codex/sandbox/no-setuid.pl"
    assert not re.search(r"^\s*(use|require)\s", guard.read_text(), re.MULTILINE)
    result = subprocess.run(
        ["perl", "-Mstrict", "-Mwarnings", "-c", str(guard)], capture_output=True, text=True
    )
    assert result.returncode == 0 and "syntax OK" in result.stderr, result.stderr
    assert "warning" not in result.stderr.lower().replace("syntax ok", "")


@pytest.mark.parametrize("answers", ANSWER_SETS.values(), ids=ANSWER_SETS.keys())
def test_rendered_settings_pass_shellcheck(tmp_path: Path, answers: dict[str, object]) -> None:
    project = render(tmp_path / "p", **answers)
    result = subprocess.run(
        ["shellcheck", ".codex/run/settings.sh"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
    for path in [project / "run_in_container.sh", *(project / ".codex/run").rglob("*.sh")]:
        # No Jinja left over ("{{." is docker's own --format syntax).
        text = path.read_text()
        assert "{{ " not in text and "{%" not in text, path


@pytest.mark.parametrize("answers", ANSWER_SETS.values(), ids=ANSWER_SETS.keys())
def test_rendered_dockerfile_passes_hadolint(tmp_path: Path, answers: dict[str, object]) -> None:
    project = render(tmp_path / "p", **answers)
    result = subprocess.run(
        ["hadolint", ".codex/sandbox/Dockerfile"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_answers_change_the_output(tmp_path: Path) -> None:
    project = render(tmp_path / "p", **ANSWER_SETS["extras"])  # type: ignore[arg-type]
    dockerfile = (project / ".codex/sandbox/Dockerfile").read_text()
    assert "ARG BASE_IMAGE=debian:bookworm\n" in dockerfile
    assert "install -y --no-install-recommends git jq" in dockerfile
    assert "npm" not in dockerfile
    domains = (project / ".codex/allowed-domains.txt").read_text().split()
    assert "pypi.org" in domains and "*.github.com" in domains and "api.openai.com" not in domains
    script = (project / ".codex/run/settings.sh").read_text()
    assert "readonly PRIVATE_DESTINATIONS=allowed-names" in script
    assert "readonly IMAGE_REPO=cxgen/shell" in script


def test_all_agents_render_one_layer_each(tmp_path: Path) -> None:
    project = render(tmp_path / "p", **ANSWER_SETS["all-agents"])  # type: ignore[arg-type]
    dockerfile = (project / ".codex/sandbox/Dockerfile").read_text()
    # Pinned, and skipped when the base image already has the command (a mirror image).
    for command, package in [
        ("claude", "@anthropic-ai/claude-code@"),
        ("codex", "@openai/codex@"),
        ("gemini", "@google/gemini-cli@"),
        ("opencode", "opencode-ai@"),
    ]:
        assert re.search(
            rf"\nRUN if ! command -v {command} >/dev/null 2>&1; "
            rf"then npm install -g {re.escape(package)}[0-9]+\.[0-9]+\.[0-9]+; fi",
            dockerfile,
        ), command
    assert "@latest" not in dockerfile
    assert dockerfile.count("nodejs npm") == 1
    assert "command -v claude && command -v codex && command -v gemini" in dockerfile
    script = (project / ".codex/run/settings.sh").read_text()
    assert "readonly DEFAULT_AGENT=claude" in script
    assert (
        "\nAGENT_RUN_claude=(claude --dangerously-skip-permissions"
        " --mcp-config=/etc/claude-code/cxgen-mcp.json)\n"
    ) in script
    assert "\nAGENT_RUN_codex=(codex --dangerously-bypass-approvals-and-sandbox)\n" in script
    assert "\nAGENT_LOGIN_browser_claude=(claude auth login)\n" in script
    # Every claude in the sandbox skips its prompts, as uid 0 too (root mode).
    assert ">/etc/claude-code/managed-settings.json" in dockerfile
    assert '"IS_SANDBOX": "1"' in dockerfile


def test_agent_version_is_in_the_build_context(tmp_path: Path) -> None:
    """A version change is a Dockerfile change, so a new image tag; only that layer differs."""
    dockerfile = (render(tmp_path / "p") / ".codex/sandbox/Dockerfile").read_text()
    version = agent_presets()["codex"].version
    assert f"npm install -g @openai/codex@{version}" in dockerfile
    # codex started any way in the sandbox runs tool calls without its own sandbox.
    assert "/etc/codex/managed_config.toml" in dockerfile
    assert 'sandbox_mode = "danger-full-access"' in dockerfile


def test_env_answer_is_passed_by_name(tmp_path: Path) -> None:
    script = (render(tmp_path / "p", env=["MY_KEY"]) / ".codex/run/settings.sh").read_text()
    passed = script.split("PASSTHROUGH_ENV=(", 1)[1].split(")", 1)[0].split()
    assert passed == ["OPENAI_API_KEY", "CODEX_API_KEY", "MY_KEY"]
    assert "CODEX_API_KEY=OPENAI_API_KEY" in script


def test_readonly_mounts_and_init_hook(tmp_path: Path) -> None:
    mount = tmp_path / "data with space"
    mount.mkdir()
    hook = tmp_path / "hook.sh"
    hook.write_text("echo hooked\n")
    project = render(tmp_path / "p", readonly_mounts=[str(mount)], init_hook=str(hook))
    assert f"'{mount}'" in (project / ".codex/run/settings.sh").read_text()
    installed = project / ".codex/.environment/init.sh"
    assert installed.read_text() == "echo hooked\n" and os.access(installed, os.X_OK)
    answers = (project / ".copier-answers.yml").read_text()
    assert "init_hook: ''" in answers and str(tmp_path) not in answers.replace(str(mount), "")


def test_environment_gitignore_keeps_secrets_out(tmp_path: Path) -> None:
    project = render(tmp_path / "p")
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    env = project / ".codex/.environment"
    # config.toml too: the agent rewrites it with this machine's paths, and a tracked file that
    # changes blocks `cxgen update` ("uncommitted changes").
    secret = ["auth.json", "sessions/s.jsonl", "home/.claude.json", "history.jsonl", "config.toml"]
    shared = ["prompts/p.md", "init.sh"]
    for name in secret + shared:
        (env / name).parent.mkdir(parents=True, exist_ok=True)
        (env / name).write_text("x")
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *secret, *shared],
        cwd=env,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert ignored == secret


HOSTILE_DATA = [
    "allowed_domains=evil.com; rm -rf /",
    "allowed_domains=$(id)",
    "allowed_domains=[http://x.example.com]",
    'allowed_domains=["a.com\\nb.com"]',
    "allowed_domains=[ex\u0430mple.com]",
    "apt_packages=[git; id]",
    "apt_packages=[../x]",
    "readonly_mounts=[/]",
    "readonly_mounts=[relative]",
    "base_image=debian;id",
    "agents=[codex, rootkit]",
    "agents=[]",
    "default_agent=shell",
    "private_destinations=open",
    "git=open",
    "git=on",
    "git=[readonly]",
    "init_hook=/nonexistent/hook.sh",
    "host_ports=[80; id]",
    "host_ports=localhost:11434",
    "nonsense_key=1",
]


@pytest.mark.parametrize("item", HOSTILE_DATA)
def test_cli_hostile_input_exits_2_and_writes_nothing(tmp_path: Path, item: str) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "keep.txt").write_text("user data")
    before = snapshot(project)
    result = run_cxgen(["init", "--defaults", "--data", item, str(project)])
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("cxgen: error: ")
    assert snapshot(project) == before


def test_cli_writes_nothing_into_a_missing_folder_on_error(tmp_path: Path) -> None:
    result = run_cxgen(
        ["init", "--defaults", "--data", "allowed_domains=[bad domain]", str(tmp_path / "new")]
    )
    assert result.returncode == 2
    assert not (tmp_path / "new").exists()


def test_cli_refuses_root_and_files(tmp_path: Path) -> None:
    assert run_cxgen(["init", "--defaults", "/"]).returncode == 2
    a_file = tmp_path / "f"
    a_file.write_text("x")
    result = run_cxgen(["init", "--defaults", str(a_file)])
    assert result.returncode == 2 and "not a folder" in result.stderr
    assert run_cxgen(["init", "--defaults", f"{tmp_path}/bad\nname"]).returncode == 2


def test_cli_without_tty_and_missing_answers_errors_instead_of_hanging(tmp_path: Path) -> None:
    result = run_cxgen(["init", str(tmp_path / "p")])
    assert result.returncode == 2
    assert "--defaults" in result.stderr and not (tmp_path / "p").exists()


def test_cli_all_answers_given_needs_no_tty(tmp_path: Path) -> None:
    data = [
        "agents=[shell]",
        "default_agent=shell",
        "stacks=[]",
        "allowed_domains=[]",
        "apt_packages=[]",
        "readonly_mounts=[]",
        "init_hook=",
        "base_image=debian:bookworm-slim",
        "private_destinations=deny",
        "git=off",
        "env=[]",
        "relay=",
        "host_ports=",
        "skills=",
        "start_mode=cold",
    ]
    args = ["init", str(tmp_path / "p")]
    for item in data:
        args += ["--data", item]
    result = run_cxgen(args)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "p/run_in_container.sh").exists()
    assert "git: 'off'\n" in (tmp_path / "p/.copier-answers.yml").read_text()


def test_cli_data_file(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yml"
    answers.write_text("agents: [shell]\nallowed_domains: [pypi.org]\n")
    result = run_cxgen(["init", "--defaults", "--data-file", str(answers), str(tmp_path / "p")])
    assert result.returncode == 0, result.stderr
    assert "pypi.org" in (tmp_path / "p/.codex/allowed-domains.txt").read_text()


def test_init_never_overwrites_a_users_file(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "run_in_container.sh").write_text("#!/bin/sh\necho mine\n")
    before = snapshot(project)
    result = run_cxgen(["init", "--defaults", str(project)])
    assert result.returncode == 2 and "would overwrite" in result.stderr
    assert snapshot(project) == before


def test_init_twice_points_to_update(tmp_path: Path) -> None:
    project = tmp_path / "p"
    assert run_cxgen(["init", "--defaults", str(project)]).returncode == 0
    before = snapshot(project)
    result = run_cxgen(["init", "--defaults", str(project)])
    assert result.returncode == 2 and "cxgen update" in result.stderr
    assert snapshot(project) == before


def test_help_everywhere() -> None:
    for args in (["--help"], ["init", "--help"]):
        result = run_cxgen(args)
        assert result.returncode == 0 and "usage: cxgen" in result.stdout


def test_run_script_help_and_usage_errors(tmp_path: Path) -> None:
    project = render(tmp_path / "p")
    script = str(project / "run_in_container.sh")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "exec [OPTIONS] -- CMD" in result.stdout
    for args in (["--bogus"], ["exec"], ["--network", "bad name"], ["--agent"]):
        result = subprocess.run([script, *args], capture_output=True, text=True, check=False)
        assert result.returncode == 2, args
        assert result.stderr.startswith("cxgen: error: ") and result.stderr.count("\n") == 1


def test_the_next_hint_runs_as_written_and_says_commit_only_in_git(tmp_path: Path) -> None:
    # Another folder, not in git: a `cd` that works from here, and no "commit".
    result = run_cxgen(["init", "--defaults", "--data", "agents=[shell]", "my demo"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [hint] = [line for line in result.stderr.splitlines() if line.startswith("next:")]
    assert "`cd 'my demo' && ./run_in_container.sh --help`" in hint
    assert "commit" not in hint
    command = hint.split("`")[1]
    ran = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True)
    assert ran.returncode == 0 and "exec [OPTIONS] -- CMD" in ran.stdout, ran.stderr
    # Here, in a git repository: commit them, then the script from here.
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    result = run_cxgen(["init", "--defaults", "--data", "agents=[shell]", "."], cwd=repo)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "next: commit them, then `./run_in_container.sh --help`"
    )


def test_init_help_lists_every_answer_with_its_meaning() -> None:
    questions = {
        key: value
        for key, value in yaml.safe_load((REPO / "template/copier.yml").read_text()).items()
        if not key.startswith("_")
    }
    result = run_cxgen(["init", "--help"])
    assert result.returncode == 0
    listed = result.stdout.split("answers (--data KEY=VALUE", 1)[1].splitlines()[1:]
    assert [line.split()[0] for line in listed] == list(questions)
    for line, question in zip(listed, questions.values(), strict=True):
        assert question["help"] in line
    assert "claude | codex" in result.stdout and "deny | allowed-names" in result.stdout
