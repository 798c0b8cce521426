"""Every stack preset validates against the schema and loads; broken ones are refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import tomllib

from cxgen.errors import CxgenError, InvalidAnswer
from cxgen.resources import presets_dir
from cxgen.stacks import load_stack, parse_stack, stack_presets
from cxgen.validators import check_stacks
from tests.conftest import REPO

STACK_FILES = sorted((presets_dir() / "stacks").glob("*.toml"))
SCHEMA = json.loads((presets_dir() / "stack.schema.json").read_text())


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.stem)
def test_stack_matches_schema(path: Path) -> None:
    jsonschema.validate(tomllib.loads(path.read_text()), SCHEMA)


def test_all_stacks_load() -> None:
    assert set(stack_presets()) == {"build-essential", "python", "node", "java", "rust", "go"}


def test_tools_from_outside_debian_are_pinned() -> None:
    uv = stack_presets()["python"].pip
    assert uv is not None and uv.package == "uv"
    steps = stack_presets()["python"].install_steps
    assert f"/opt/uv/bin/pip install --no-cache-dir uv=={uv.version}" in steps
    assert steps[-1] == "ln -s /opt/uv/bin/uv /opt/uv/bin/uvx /usr/local/bin/"


def test_a_stack_is_skipped_when_the_base_image_has_its_commands() -> None:
    assert stack_presets()["go"].present_test == "command -v go"
    assert stack_presets()["rust"].present_test == "{ command -v rustc && command -v cargo; }"


BROKEN = [
    {"label": ""},
    {"apt_packages": ["git; id"]},
    {"apt_packages": "golang-go"},
    {"apt_packages": []},
    {"commands": []},
    {"commands": ["go version"]},
    {"check": ["go", "$(id)"]},
    {"extra": 1},
    {"pip": {"package": "uv", "version": "latest", "commands": ["uv"]}},
    {"pip": {"package": "uv; id", "version": "1.0", "commands": ["uv"]}},
    {"pip": {"package": "uv", "version": "1.0", "commands": ["uv"]}},  # no python3-venv
    {"pip": {"package": "uv", "version": "1.0"}},
]


@pytest.mark.parametrize("change", BROKEN, ids=lambda change: json.dumps(change))
def test_broken_stacks_are_refused_in_one_line(change: dict[str, object]) -> None:
    path = presets_dir() / "stacks/go.toml"
    data = tomllib.loads(path.read_text()) | change
    with pytest.raises(CxgenError) as error:
        parse_stack(path, data)
    assert error.value.message.startswith("broken stack preset go.toml: ")
    assert "\n" not in error.value.message
    # The schema, the editors' copy of these rules, refuses the same data.
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)


def test_name_must_match_the_file() -> None:
    path = presets_dir() / "stacks/go.toml"
    with pytest.raises(CxgenError, match="name must match the file name"):
        parse_stack(path, tomllib.loads(path.read_text()) | {"name": "other"})


def test_invalid_toml_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "go.toml"
    path.write_text('name = "go"\nlabel = \n')
    with pytest.raises(CxgenError) as error:
        load_stack(path)
    assert error.value.message.startswith("broken stack preset go.toml: not valid TOML")
    assert "\n" not in error.value.message


def test_no_stacks_folder_means_no_stacks(tmp_path: Path) -> None:
    """Releases before stacks render with their own presets folder, which has none."""
    (tmp_path / "agents").mkdir()
    assert stack_presets(tmp_path) == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        (None, []),
        ([], []),
        ("go", ["go"]),
        ("go, rust go", ["go", "rust"]),
        ("[python, node]", ["python", "node"]),
        (["java"], ["java"]),
    ],
)
def test_check_stacks_reads_lists_like_every_list_answer(
    value: object, expected: list[str]
) -> None:
    assert check_stacks(value, stack_presets()) == expected


@pytest.mark.parametrize("value", ["ruby", "[go, cobol]", "go; id", "Go", [1]])
def test_check_stacks_names_the_unknown_stack(value: object) -> None:
    with pytest.raises(InvalidAnswer) as error:
        check_stacks(value, stack_presets())
    assert error.value.key == "stacks"
    assert "\n" not in error.value.message


def test_reference_describes_every_stack() -> None:
    reference = (REPO / "docs/reference.md").read_text()
    table = reference.split("### Stacks", 1)[1].split("\n## ", 1)[0]
    assert sorted(re.findall(r"^\| `([a-z-]+)` \|", table, re.MULTILINE)) == sorted(stack_presets())
