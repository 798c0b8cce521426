"""Every agent preset validates against the schema and loads."""

from __future__ import annotations

import json

import jsonschema
import pytest
import tomllib

from cxgen.presets import agent_presets
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
