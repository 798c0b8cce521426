"""The stacks answer: each stack's layer as rendered, hadolint on it, the answer's validation,
the image tag following it, and updates of projects made before stacks existed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cxgen.init import run_init
from cxgen.stacks import stack_presets
from tests.conftest import REPO, run_cxgen, snapshot
from tests.render.test_update import answers, commit_all, image_tag, sh

ALL_STACKS = list(stack_presets())


def render(dest: Path, **data: object) -> Path:
    run_init(dest, dict(data), defaults=True, interactive=False)
    return dest


def dockerfile(project: Path) -> str:
    return (project / ".codex/sandbox/Dockerfile").read_text()


def hadolint(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["hadolint", ".codex/sandbox/Dockerfile"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("name", ALL_STACKS)
def test_each_stack_renders_one_hadolint_clean_layer(tmp_path: Path, name: str) -> None:
    project = render(tmp_path / "p", stacks=[name])
    text = dockerfile(project)
    stack = stack_presets()[name]
    layers = [block for block in text.split("\n\n") if f"# Stack {name}: " in block]
    assert len(layers) == 1, text
    [layer] = layers
    assert layer.count("\nRUN ") == 1
    assert f"RUN if ! {stack.present_test} >/dev/null 2>&1; then" in layer
    for step in stack.install_steps:
        assert step in layer
    result = hadolint(project)
    assert result.returncode == 0, result.stdout
    assert "{{" not in text and "{%" not in text and "\n\n\n" not in text


def test_stack_layers_sit_between_the_base_layer_and_the_agents(tmp_path: Path) -> None:
    """An agent's version bump rebuilds its own layer only, never a stack's."""
    project = render(tmp_path / "p", agents=["codex", "claude"], stacks=ALL_STACKS)
    text = dockerfile(project)
    runs = [block for block in re.split(r"\n(?=RUN )", text) if block.startswith("RUN ")]
    kinds = []
    for block in runs:
        if "dnsmasq-base" in block:
            kinds.append("base")
        elif "npm install -g" in block:
            kinds.append("agent")
        elif any(s.present_test in block for s in stack_presets().values()):
            kinds.append("stack")
    assert kinds == ["base", *["stack"] * len(ALL_STACKS), "agent", "agent"], kinds
    assert hadolint(project).returncode == 0, hadolint(project).stdout


def test_stacks_come_in_the_choices_order_however_given(tmp_path: Path) -> None:
    """The same stacks give the same Dockerfile, so the same image, for every teammate."""
    one = dockerfile(render(tmp_path / "a", stacks="rust, go"))
    other = dockerfile(render(tmp_path / "b", stacks=["go", "rust", "go"]))
    assert one == other
    assert one.index("# Stack go:") < one.index("# Stack rust:")


def test_no_stacks_by_default(tmp_path: Path) -> None:
    project = render(tmp_path / "p")
    assert "Stack" not in dockerfile(project)
    assert answers(project)["stacks"] == []


def test_the_image_tag_follows_the_stacks(tmp_path: Path) -> None:
    tags = {}
    for name, stacks in [("none", []), ("go", ["go"]), ("go-again", ["go"]), ("two", ALL_STACKS)]:
        tags[name] = image_tag(render(tmp_path / name, agents=["shell"], stacks=stacks), tmp_path)
    assert tags["go"] == tags["go-again"]
    assert len({tags["none"], tags["go"], tags["two"]}) == 3


def test_cli_takes_stacks_as_data(tmp_path: Path) -> None:
    project = tmp_path / "p"
    result = run_cxgen(["init", "--defaults", "--data", "stacks=python,node", str(project)])
    assert result.returncode == 0, result.stderr
    assert answers(project)["stacks"] == ["node", "python"]
    assert "# Stack python: " in dockerfile(project)


@pytest.mark.parametrize(
    "item", ["stacks=ruby", "stacks=[go, cobol]", "stacks=go;id", "stacks=[[go]]", "stacks=GO"]
)
def test_cli_unknown_stack_exits_2_in_one_line_and_writes_nothing(
    tmp_path: Path, item: str
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "keep.txt").write_text("user data")
    before = snapshot(project)
    result = run_cxgen(["init", "--defaults", "--data", item, str(project)])
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("cxgen: error: invalid stacks ")
    assert snapshot(project) == before


def test_init_help_names_every_stack() -> None:
    result = run_cxgen(["init", "--help"])
    [line] = [line for line in result.stdout.splitlines() if line.strip().startswith("stacks ")]
    assert " | ".join(sorted(ALL_STACKS)) in line


def test_a_project_made_before_stacks_updates_and_can_add_one(tmp_path: Path) -> None:
    """Answers saved by the previous release have no `stacks`: the update renders none (the
    default), and a later `--data stacks=...` adds the layer and so a new image."""
    project = tmp_path / "old"
    result = run_cxgen(
        [
            "init",
            "--defaults",
            "--template-version",
            "0.2.0",
            "--data",
            "agents=[shell]",
            str(project),
        ]
    )
    assert result.returncode == 0, result.stderr
    assert "stacks" not in answers(project)
    sh("git", "init", "-q", cwd=project)
    commit_all(project, "v0.2.0")
    result = run_cxgen(["update", str(project)])
    assert result.returncode == 0, result.stderr
    assert answers(project)["stacks"] == []
    assert "Stack" not in dockerfile(project)
    commit_all(project, "updated")
    tag = image_tag(project, tmp_path)
    result = run_cxgen(["update", "--data", "stacks=[go]", str(project)])
    assert result.returncode == 0, result.stderr
    assert answers(project)["stacks"] == ["go"]
    assert "# Stack go: " in dockerfile(project)
    assert image_tag(project, tmp_path) != tag


def test_a_broken_stack_preset_is_one_line_and_nothing_is_written(tmp_path: Path) -> None:
    """A checkout whose go.toml lost its check: init, and --help, say which file, in one line."""
    checkout = tmp_path / "checkout"
    for part in ("generator", "template", "presets", "history"):
        shutil.copytree(REPO / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
    go = checkout / "presets/stacks/go.toml"
    go.write_text(go.read_text().replace('check = ["go", "version"]', "check = []"))
    env = {**os.environ, "PYTHONPATH": str(checkout / "generator")}
    project = tmp_path / "p"
    for args in (["init", "--defaults", str(project)], ["init", "--help"]):
        result = run_cxgen(args, env=env)
        assert result.returncode == 1, result.stderr
        assert result.stderr == (
            "cxgen: error: broken stack preset go.toml: commands and check must not be empty\n"
        )
    assert not project.exists()
