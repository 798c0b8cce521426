"""The template's questions, asked at the terminal by cxgen itself (questionary), not by Copier.

Copier puts "Validation error for question 'KEY': " before a validator's message, and a prompt
shows that message on one line of the terminal: the part naming the bad item was cut off. So
cxgen asks each question of the release's copier.yml the way Copier 9 does (the same message,
default, choices, validator and re-asking, rendered with the template's own Jinja extensions),
shows the validator's message as it is, and hands the answers to Copier as `data`, which renders
with `defaults=True` and validates them once more.

Only the question keys cxgen's releases use are understood (QUESTION_KEYS, TYPES), and their
Jinja sees the answers and the extension's globals, not Copier's own variables (_copier_conf,
_folder_name, ...); a test holds every release's copier.yml to that.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import questionary
import yaml
from jinja2 import FileSystemLoader, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from prompt_toolkit.lexers import PygmentsLexer

from cxgen.errors import InvalidAnswer, UsageError
from cxgen.template_repo import git, template_repo
from cxgen.validators import LIST_ANSWERS, TEMPLATE_CHECKS

QUESTION_KEYS = frozenset(
    {"type", "multiselect", "help", "choices", "default", "when", "validator"}
)
TYPES = ("str", "yaml")
# Copier reads a `when` of these words (any case) as false.
FALSE_WORDS = ("n", "no", "f", "false", "off", "~", "null", "none")
QMARK = "\N{MICROPHONE}"  # Copier's mark before a question
# What Copier says when a prompt's answer cannot be read as the question's type (or choice).
INVALID_INPUT = "Invalid input"
# Copier's words when the terminal closes (^D) at a prompt.
NO_TERMINAL = "Interactive session required: Use `--defaults` and/or `--data`/`--data-file`"


class _Missing:
    """No default: the question has none."""


MISSING = _Missing()


def ask_questions(
    tag: str, given: Mapping[str, Any], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """Ask each question of template release `tag` that `given` does not answer, in order, and
    return the answers as typed (text, or a list for a multiselect): Copier reads them as it
    reads its own prompts' answers. `defaults` are the user's Copier settings' defaults."""
    repo = template_repo()
    config = yaml.safe_load(git("show", f"{tag}:copier.yml", cwd=repo))
    if all(name in given for name in config if not name.startswith("_")):
        return {}
    # The release's files: its Jinja extension renders with that release's presets.
    with tempfile.TemporaryDirectory(prefix="cxgen-questions-") as tmp:
        release = Path(tmp) / "release"
        git("clone", "-q", "-b", tag, str(repo), str(release), cwd=Path(tmp))
        env = SandboxedEnvironment(
            loader=FileSystemLoader(str(release)),
            extensions=config.get("_jinja_extensions", []),
            **config.get("_envops", {}),
        )
        context = dict(given)
        asked: dict[str, Any] = {}
        for name, spec in config.items():
            if name.startswith("_") or name in given:
                continue
            question = Question(name, spec, env, dict(context), defaults)
            if not question.when():
                continue  # Copier computes it from its default and does not record it
            asked[name] = question.ask()
            context[name] = question.parse(asked[name])
        return asked


@dataclass
class Question:
    """One question of copier.yml, with the answers before it (`context`), as Copier asks it."""

    name: str
    spec: Mapping[str, Any]
    env: SandboxedEnvironment
    context: dict[str, Any]
    user_defaults: Mapping[str, Any]

    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        """A Jinja value of copier.yml rendered with the answers so far (lists item by item)."""
        if isinstance(value, list):
            return [self.render(item) for item in value]
        if not isinstance(value, str):
            return value
        try:
            return self.env.from_string(value).render({**self.context, **(extra or {})})
        except UndefinedError as error:
            raise UsageError(str(error)) from error

    @cached_property
    def type(self) -> str:
        name = self.render(self.spec.get("type", ""))
        if name not in TYPES:
            raise UsageError(f'Unsupported type "{name}" in question "{self.name}"')
        return str(name)

    @property
    def multiselect(self) -> bool:
        return bool(self.spec.get("multiselect", False))

    @cached_property
    def choices(self) -> list[questionary.Choice]:
        raw = self.spec.get("choices") or []
        if isinstance(raw, str):
            raw = yaml.safe_load(self.render(raw))
        if isinstance(raw, dict):
            raw = list(raw.items())
        pairs = (item if isinstance(item, list | tuple) else (item, item) for item in raw)
        return [
            questionary.Choice(str(self.render(title)), self.render(value))
            for title, value in pairs
        ]

    def when(self) -> bool:
        """Whether to ask: copier.yml's `when`, read as Copier reads it (a number, a YAML bool)."""
        value = self.render(self.spec.get("when", True))
        try:
            return bool(float(value))
        except (TypeError, ValueError):
            pass
        if isinstance(value, str):
            lower = value.strip().lower()
            return bool(lower) and lower not in FALSE_WORDS
        return bool(value)

    def cast(self, answer: Any) -> Any:
        """The answer as the question's type: text as it is (str) or read as YAML (yaml)."""
        if answer is None and self.type != "yaml":
            raise ValueError(f"no answer to {self.name}")
        if self.multiselect and isinstance(answer, list):
            return [self._cast_one(item) for item in answer]
        return self._cast_one(answer)

    def _cast_one(self, answer: Any) -> Any:
        if self.type == "str":
            return str(answer)
        if not isinstance(answer, str):
            return answer
        try:
            return yaml.safe_load(answer)
        except yaml.YAMLError as error:
            raise ValueError(str(error)) from None

    def parse(self, answer: Any) -> Any:
        """The answer cast, and one of the choices (a multiselect's in the choices' order)."""
        if not self.multiselect:
            return self._parse_one(answer)
        if not isinstance(answer, list):
            raise ValueError(f"not a list: {answer!r}")
        items = [self._parse_one(item) for item in answer]
        return [value for value in (self.cast(c.value) for c in self.choices) if value in items]

    def _parse_one(self, answer: Any) -> Any:
        value = self.cast(answer)
        valid = [self.cast(choice.value) for choice in self.choices]
        if valid and value not in valid:
            raise ValueError(f"Invalid choice for '{self.name}': {value!r} is not in {valid}")
        return value

    def invalid(self, answer: Any) -> str:
        """copier.yml's validator on a parsed answer: its message, or "" for a valid answer."""
        try:
            return str(self.render(self.spec.get("validator", ""), {self.name: answer})).strip()
        except Exception as error:  # Copier shows a failing validator's error as its message
            return str(error)

    def validate(self, typed: Any) -> str | bool:
        """questionary's check of what was typed: True, or the message to show (and re-ask)."""
        try:
            answer = self.parse(typed)
        except Exception:
            return INVALID_INPUT
        return self.invalid(answer) or True

    @cached_property
    def default(self) -> Any:
        """The parsed default (the user's Copier settings first), checked like an answer."""
        value = self.user_defaults.get(self.name, self.spec.get("default", MISSING))
        if value is MISSING:
            return MISSING
        default = self.parse(self.render(value))
        if message := self.invalid(default):
            # Inside copier_errors, as Copier's own error was: one line naming the question.
            raise ValueError(f"Validation error for question '{self.name}': {message}")
        return default

    def _shown_default(self) -> Any:
        """The default as the prompt shows it (a choice, or text)."""
        default = self.default
        if self.choices:
            matches = [choice for choice in self.choices if choice.value == default]
            return matches[0] if matches and not self.multiselect else None
        if default is None:
            return ""
        if self.type == "yaml":
            return yaml.safe_dump(default, default_flow_style=True, width=2147483647).strip()
        return str(default)

    def message(self) -> str:
        """copier.yml's help, on a line of its own; the answer goes below it."""
        text = str(self.render(self.spec["help"])) if self.spec.get("help") else ""
        if not text:
            text = self.name + ("" if self.type == "str" else f" ({self.type})")
        return text if text.endswith("\n") else text + "\n"

    def ask(self) -> Any:
        """Ask at the terminal until the answer passes the validator; return it as typed."""
        options: dict[str, Any] = {
            "message": self.message() + "  ",
            "qmark": QMARK,
            "mouse_support": True,
        }
        if self.default is not MISSING:
            options["default"] = self._shown_default()
        if self.choices and self.multiselect:
            checked = self.default if isinstance(self.default, list) else []
            choices = [
                questionary.Choice(c.title, c.value, checked=self.cast(c.value) in checked)
                for c in self.choices
            ]
            question = questionary.checkbox(choices=choices, validate=self.validate, **options)
        elif self.choices:
            question = questionary.select(choices=self.choices, **options)
        else:
            if self.type == "yaml":
                options["lexer"] = PygmentsLexer.from_filename("answer.yaml")
            question = questionary.text(validate=self.validate, multiline=False, **options)
        try:
            answer = question.unsafe_ask()
        except EOFError:
            raise UsageError(NO_TERMINAL) from None
        answer = self.default if answer is None else answer
        if read_as := self.read_as(answer):
            questionary.print(f"  read as: {read_as}", style="italic")
        return answer

    def read_as(self, answer: Any) -> str:
        """A typed list as it will be used, when that is not what the terminal shows already:
        commas and spaces both separate packages and domains (`jq, rg tree` is three), a mount
        path's ~ is expanded. "" when there is nothing to add."""
        if self.name not in LIST_ANSWERS or self.type != "str" or not isinstance(answer, str):
            return ""
        try:
            items = TEMPLATE_CHECKS[self.name](answer)
        except InvalidAnswer:  # (the validator passed it: not expected)
            return ""
        shown = ", ".join(items)
        return shown if shown != answer.strip() else ""
