"""Answers from --data / --data-file: parsed as YAML like Copier does, validated once, here."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from cxgen.errors import UsageError
from cxgen.presets import agent_presets
from cxgen.resources import template_dir
from cxgen.stacks import stack_presets
from cxgen.validators import (
    LIST_ANSWERS,
    SIMPLE_CHECKS,
    check_agents,
    check_default_agent,
    check_stacks,
)


def _questions() -> dict[str, dict[str, Any]]:
    """The template's questions, in order, read from its copier.yml (settings start with _)."""
    config = yaml.safe_load((template_dir() / "copier.yml").read_text(encoding="utf-8"))
    return {key: value for key, value in config.items() if not key.startswith("_")}


_QUESTIONS = _questions()
QUESTIONS = tuple(_QUESTIONS)


def answer_help() -> list[tuple[str, str]]:
    """(key, one-line meaning) for every answer, from copier.yml's help (as the prompts show
    it), with the values a choice question takes."""
    lines = []
    for key, question in _QUESTIONS.items():
        meaning = str(question.get("help", "")).strip()
        choices = question.get("choices")
        if key == "agents":
            values = list(agent_presets())
        elif key == "stacks":
            values = list(stack_presets())
        elif isinstance(choices, dict):
            values = [str(value) for value in choices.values()]
        else:
            values = []
        if values:
            meaning += f" ({' | '.join(values)})"
        lines.append((key, meaning))
    return lines


def parse_data_items(items: Iterable[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs; VALUE is YAML, so lists can be given as [a, b].

    List answers stay text, read by the validators exactly as a prompt's answer is: `[a, b]`
    as YAML, anything else split at commas (so a leading `*.` is not a YAML alias).
    """
    data: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--data expects KEY=VALUE, got {item!r}")
        if key in LIST_ANSWERS:
            data[key] = raw.strip()
            continue
        try:
            data[key] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            data[key] = raw
    return data


def load_data_file(path: Path) -> dict[str, Any]:
    """A YAML mapping of answers."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"cannot read --data-file {path}: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise UsageError(f"--data-file {path} is not valid YAML: {error}") from error
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UsageError(f"--data-file {path} must hold a mapping of answers")
    return {str(key): value for key, value in loaded.items()}


def validate_answers(data: dict[str, Any]) -> dict[str, Any]:
    """Check and normalize every given answer; unknown keys are errors."""
    unknown = sorted(set(data) - set(QUESTIONS))
    if unknown:
        raise UsageError(f"unknown answer {unknown[0]!r}; known: {', '.join(QUESTIONS)}")
    answers: dict[str, Any] = {}
    presets = agent_presets()
    if "agents" in data:
        answers["agents"] = check_agents(data["agents"], presets)
    if "stacks" in data:
        answers["stacks"] = check_stacks(data["stacks"], stack_presets())
    for key, check in SIMPLE_CHECKS.items():
        if key in data:
            answers[key] = check(data[key])
    if "default_agent" in data:
        agents = answers.get("agents", ["codex"])
        answers["default_agent"] = check_default_agent(data["default_agent"], agents)
    elif "agents" in answers:
        answers["default_agent"] = answers["agents"][0]
    return answers
