"""Every agent preset validates against the schema and loads."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import tomllib

from cxgen.errors import CxgenError
from cxgen.presets import agent_presets, parse_preset
from cxgen.resources import presets_dir

PRESET_FILES = sorted((presets_dir() / "agents").glob("*.toml"))


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: p.stem)
def test_preset_matches_schema(path) -> None:  # type: ignore[no-untyped-def]
    schema = json.loads((presets_dir() / "agent.schema.json").read_text())
    jsonschema.validate(tomllib.loads(path.read_text()), schema)


def test_all_agents_load() -> None:
    assert set(agent_presets()) == {"codex", "claude", "gemini", "opencode", "shell"}
    assert list(agent_presets())[-1] == "shell"
    assert agent_presets()["shell"].install == ""


def test_agents_are_pinned_and_started_unattended() -> None:
    for preset in agent_presets().values():
        if preset.npm_package:
            assert preset.version and "@latest" not in preset.install
            assert preset.build_steps[0].startswith(f"if ! command -v {preset.command[0]} ")
    codex = agent_presets()["codex"]
    assert codex.unattended_args == ("--dangerously-bypass-approvals-and-sandbox",)
    assert ("CODEX_API_KEY", "OPENAI_API_KEY") in codex.env_from
    assert "CODEX_API_KEY" in codex.passed_env
    assert "ab.chatgpt.com" not in codex.domains


def test_claude_runs_unattended_as_root_too() -> None:
    """Claude Code skips its prompts as uid 0 (root mode) only with IS_SANDBOX=1: the image's
    managed settings (valid JSON, outranking the user's) give it to every claude started."""
    claude = agent_presets()["claude"]
    (settings,) = [
        f for f in claude.image_files if f.path == "/etc/claude-code/managed-settings.json"
    ]
    data = json.loads("\n".join(settings.lines))
    assert data["env"]["IS_SANDBOX"] == "1"
    assert data["env"]["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert data["permissions"]["defaultMode"] == "bypassPermissions"
    assert data["skipDangerousModePermissionPrompt"] is True
    # Project MCP servers (.mcp.json) start unattended; the image's containerised ones come
    # from the file its build writes, beside the others (never managed-mcp.json's exclusive
    # list).
    assert data["enableAllProjectMcpServers"] is True
    assert "--mcp-config=/etc/claude-code/cxgen-mcp.json" in claude.unattended_args
    assert claude.login is not None and claude.login.args == ("auth", "login")
    assert "platform.claude.com" in claude.domains


def test_agents_with_a_login_keep_it_in_their_project_home() -> None:
    """Every agent but the plain shell has a login file and a way to sign in."""
    for name, preset in agent_presets().items():
        if name == "shell":
            assert not preset.credentials and preset.login is None
            continue
        assert preset.credentials and preset.login is not None, name
        for credential in preset.credentials:
            assert not credential.path.startswith("/") and ".." not in credential.path
    codex = agent_presets()["codex"]
    assert codex.credentials[0].path == "auth.json"
    assert codex.credentials[0].account_key == ""  # nothing is written back to check
    assert codex.login is not None and codex.login.callback_port == 1455


def test_presets_of_earlier_releases_still_load(tmp_path: Path) -> None:
    """`cxgen update` renders old releases with their own presets (install line, no
    unattended_args)."""
    old = {
        "name": "codex",
        "label": "OpenAI Codex CLI",
        "apt_packages": ["nodejs", "npm"],
        "install": "npm install -g @openai/codex@latest",
        "command": ["codex", "--dangerously-bypass-approvals-and-sandbox"],
        "domains": ["api.openai.com"],
        "env": ["OPENAI_API_KEY"],
    }
    preset = parse_preset(tmp_path / "codex.toml", old)
    assert preset.install == old["install"] and preset.unattended_args == ()


@pytest.mark.parametrize(
    "change",
    [
        {"version": ""},
        {"version": "latest"},
        {"npm_package": "x; rm -rf /"},
        {"install": "curl x | sh"},
        {"env_from": {"A": "b c"}},
        {"image_files": [{"path": "../etc/x", "lines": []}]},
        {"image_files": [{"path": "/etc/x", "lines": ["a\nb"]}]},
        {"credentials": [{"path": "../auth.json", "host": ["~/.x/auth.json"]}]},
        {"credentials": [{"path": "/etc/auth.json", "host": ["~/.x/auth.json"]}]},
        {"credentials": [{"path": "auth.json", "host": ["/etc/shadow"]}]},
        {"credentials": [{"path": "auth.json", "host": ["~/x y"]}]},
        {"credentials": [{"path": "auth.json", "host": []}]},
        {"credentials": [{"path": "auth.json", "host": ["~/a"], "account_key": 'a"b'}]},
        {"login": {"args": ["login"], "callback_port": 80, "callback_address": "127.0.0.1"}},
        {"login": {"args": ["login"], "callback_port": 1455}},
        {"login": {"args": ["login"], "callback_port": 1455, "callback_address": "0.0.0.0"}},
        {"login": {"args": ["login"], "api_key_args": ["x"]}},
        {"login": {"args": ["login"], "env": ["A=$(id)"]}},
        {"login": {"device_args": ["login"]}},
    ],
)
def test_broken_presets_are_refused(tmp_path: Path, change: dict[str, object]) -> None:
    data = tomllib.loads((presets_dir() / "agents/codex.toml").read_text()) | change
    with pytest.raises(CxgenError):
        parse_preset(tmp_path / "codex.toml", data)


def test_the_agents_keys_are_relayed_and_codex_points_at_the_relay() -> None:
    from cxgen.jinja_ext import relay_hosts, relay_routes

    presets = agent_presets()
    routes = {r.env: r for r in relay_routes(["codex", "claude"], presets, [])}
    assert routes["OPENAI_API_KEY"].host == "api.openai.com"
    assert routes["ANTHROPIC_API_KEY"].header == "x-api-key"
    assert routes["ANTHROPIC_API_KEY"].url_env == "ANTHROPIC_BASE_URL"
    assert routes["CODEX_CHATGPT_REFRESH"].header == "refresh"
    # The answer sends an agent's key elsewhere, and adds its own (a bearer); its hosts are
    # allowed, the agents' own are already.
    answer = ["OPENAI_API_KEY=proxy.example.com", "LLM_KEY=llm.example.com:4000"]
    routes = {r.env: r for r in relay_routes(["codex"], presets, answer)}
    assert routes["OPENAI_API_KEY"].host == "proxy.example.com"
    assert (routes["LLM_KEY"].host, routes["LLM_KEY"].header) == ("llm.example.com:4000", "bearer")
    assert relay_hosts(["codex"], presets, answer) == ["proxy.example.com", "llm.example.com"]
    steps = " ".join(
        presets["codex"].build_steps_for(tuple(relay_routes(["codex"], presets, answer)))
    )
    assert 'openai_base_url = "http://127.0.0.1:8700/proxy.example.com/v1"' in steps
    assert 'chatgpt_base_url = "http://127.0.0.1:8700/chatgpt.com/backend-api"' in steps
