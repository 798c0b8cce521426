"""Locate the template and presets, both in an installed wheel and in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    # Editable install or tests from a checkout: generator/ sits beside template/ and presets/.
    return _PACKAGE_DIR.parent / name


def template_dir() -> Path:
    """The Copier template (holds copier.yml)."""
    return _data_dir("template")


def presets_dir() -> Path:
    """The preset data files (agents/*.toml and the schema)."""
    return _data_dir("presets")
