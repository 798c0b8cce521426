"""The import path is a real path: every module of the installed cxgen is generator/cxgen/<name>."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cxgen
from tests.conftest import REPO

SOURCE = REPO / "generator" / "cxgen"


def test_installed_modules_are_files_under_generator_cxgen() -> None:
    installed = Path(cxgen.__file__).parent
    modules = sorted(p.name for p in installed.glob("*.py"))
    assert modules, installed
    assert modules == sorted(p.name for p in SOURCE.glob("*.py"))


def test_wheel_packages_the_folder_without_a_rename() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'packages = ["generator/cxgen"]' in pyproject
    assert "[tool.hatch.build.targets.wheel.sources]" not in pyproject


def test_checkout_import_finds_template_and_presets(tmp_path: Path) -> None:
    # Without the installed wheel's _data/: generator/ on the path, data beside it in the repo.
    code = (
        "import cxgen.resources as r;"
        "print(r.template_dir()); print(r.presets_dir()); print(r.history_bundle())"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "generator")}
    env.pop("CXGEN_HISTORY_BUNDLE", None)
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [
        str(REPO / "template"),
        str(REPO / "presets"),
        str(REPO / "history" / "template.bundle"),
    ]
