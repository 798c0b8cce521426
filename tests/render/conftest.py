"""Fixtures shared by the render tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cxgen.init import run_init


def render_default_once(factory: pytest.TempPathFactory, name: str) -> Path:
    """The default project rendered in a home of its own (for a module's tests to read or copy)."""
    dest = factory.mktemp(name) / "proj"
    home = factory.mktemp("home")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HOME", str(home))
        env.setenv("XDG_CONFIG_HOME", str(home / ".config"))
        env.setenv("XDG_CACHE_HOME", str(home / ".cache"))
        run_init(dest, {}, defaults=True, interactive=False)
    return dest


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own XDG_STATE_HOME; returns cxgen's folder in it."""
    home = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home / "cxgen"
