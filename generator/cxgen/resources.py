"""Locate the template and presets, both in an installed wheel and in a source checkout."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    # Editable install or a checkout: generator/cxgen/ sits two levels below template/, presets/.
    return _PACKAGE_DIR.parent.parent / name


def template_dir() -> Path:
    """The Copier template (holds copier.yml)."""
    return _data_dir("template")


def presets_dir() -> Path:
    """The preset data files (agents/*.toml and the schema)."""
    return _data_dir("presets")


def history_bundle() -> Path:
    """Past template releases as a git bundle (may be absent before the first release).

    CXGEN_HISTORY_BUNDLE names another bundle (a fork's releases, or tests' versions).
    """
    override = os.environ.get("CXGEN_HISTORY_BUNDLE")
    return Path(override) if override else _data_dir("history") / "template.bundle"
