"""`cxgen init` at a real terminal (a pseudo-terminal, 80 columns): the questions as a user
answers them, checked by the same validators as --data."""

from __future__ import annotations

import fcntl
import os
import re
import select
import shlex
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import yaml

from cxgen.prompts import QUESTION_KEYS, TYPES
from cxgen.template_repo import git, template_repo

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]")
ENTER = "\r"
CLEAR_LINE = "\x15"  # ^U
DOWN = "\x1b[B"
SPACE = " "


class Terminal:
    """cxgen init on an 80x24 pseudo-terminal; `expect` waits for text on the screen."""

    def __init__(self, *args: str) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cxgen", "init", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            env={**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"},
        )
        os.close(slave)
        self.output = ""

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # the other side closed
            return False
        self.output += ANSI.sub("", data.decode(errors="replace"))
        return bool(data)

    def expect(self, text: str, timeout: float = 30) -> None:
        start = len(self.output) - len(text)
        deadline = time.monotonic() + timeout
        while text not in self.output[max(start, 0) :]:
            if time.monotonic() > deadline or (
                not self._read(0.2) and self.process.poll() is not None
            ):
                raise AssertionError(f"{text!r} not shown; the terminal showed:\n{self.output}")

    def send(self, keys: str) -> None:
        time.sleep(0.2)  # let the prompt take its input
        os.write(self.master, keys.encode())

    def finish(self, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        while self._read(0.1):
            pass
        os.close(self.master)
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait()


def answer_rest(term: Terminal, after: str) -> int:
    """Accept the defaults of the questions after `after`."""
    questions = [
        "A script to run",
        "Base image",
        "private addresses",
        "project's .git",
        "Host variables",
        "Other API keys",
        "Ports of this machine",
        "Skills from git",
        "started ahead",
    ]
    for question in questions[questions.index(after) + 1 :] if after in questions else questions:
        term.expect(question)
        term.send(ENTER)
    return term.finish()


def test_typed_lists_parse_like_data_and_errors_name_the_item(tmp_path: Path) -> None:
    project = tmp_path / "p"
    term = Terminal(str(project))
    term.expect("Which agents")
    term.send(ENTER)
    term.expect("Language stacks")
    term.send(ENTER)  # none, the default
    term.expect("Extra domains")
    # A leading *. is not a YAML alias; a comma typed for a dot names the bad item.
    term.send("*.pythonhosted.org, files.pythonhosted,org" + ENTER)
    term.expect("'org': not a domain like example.com or *.example.com")
    term.send(CLEAR_LINE + "*.pythonhosted.org, pypi.org" + ENTER)
    term.expect("Extra Debian packages")
    term.send("git, jq=1.6 && id" + ENTER)
    term.expect("'&&': not a Debian package name")
    term.send(CLEAR_LINE + "[git, jq]" + ENTER)  # a YAML list, as --data takes it
    term.expect("Host paths")
    term.send(ENTER)
    assert answer_rest(term, "Host paths") == 0, term.output
    saved = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert saved["allowed_domains"] == ["*.pythonhosted.org", "pypi.org"]
    assert saved["apt_packages"] == ["git", "jq"]
    # No line of the questions or their errors is wider than the terminal.
    assert "Validation error for question" not in term.output


def test_a_url_a_home_path_and_mixed_separators_are_answered_as_meant(tmp_path: Path) -> None:
    """(Issue 19.) A URL where a domain goes gets the domain to type; ~/ in a mount path is
    the user's home; `jq, ripgrep tree` is three packages, and the terminal says so."""
    project = tmp_path / "p"
    notes = Path.home() / "notes"  # this test's own HOME
    notes.mkdir()
    term = Terminal("--data", "agents=[shell]", "--data", "stacks=", str(project))
    term.expect("Extra domains")
    term.send("https://example.com/docs" + ENTER)
    term.expect("'https://example.com/docs': not a domain; did you mean example.com?")
    term.send(CLEAR_LINE + "example.com" + ENTER)
    term.expect("Extra Debian packages")
    term.send("jq, ripgrep tree" + ENTER)
    term.expect("read as: jq, ripgrep, tree")
    term.expect("Host paths")
    term.send("~/notes" + ENTER)
    term.expect(f"read as: {notes}")
    assert answer_rest(term, "Host paths") == 0, term.output
    saved = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert saved["allowed_domains"] == ["example.com"]
    assert saved["apt_packages"] == ["jq", "ripgrep", "tree"]
    assert saved["readonly_mounts"] == [str(notes)]
    settings = (project / ".codex/run/settings.sh").read_text()
    assert f"DEFAULT_READONLY_MOUNTS=({shlex.quote(str(notes))})" in settings
    # A list typed as it is read is not repeated.
    assert "read as: example.com" not in term.output


def test_a_missing_mount_is_refused_at_the_prompt_as_with_data(tmp_path: Path) -> None:
    project = tmp_path / "p"
    missing = tmp_path / "missing"
    there = tmp_path / "there"
    there.mkdir()
    term = Terminal(
        "--data", "agents=[shell]", "--data", "stacks=", "--data", "allowed_domains=", str(project)
    )
    term.expect("Extra Debian packages")
    term.send(ENTER)
    term.expect("Host paths")
    term.send(f"{missing}" + ENTER)
    # One line that fits the terminal: a long path loses its middle, never the reason.
    term.expect("/missing': no such file or directory")
    [shown] = [line for line in term.output.splitlines() if "no such file" in line]
    assert shown.startswith("'/") and len(shown.strip()) <= 78
    term.send(CLEAR_LINE + f"{there}" + ENTER)
    assert answer_rest(term, "Host paths") == 0, term.output
    saved = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert saved["readonly_mounts"] == [str(there)]


def test_stacks_are_picked_from_a_list(tmp_path: Path) -> None:
    project = tmp_path / "p"
    term = Terminal("--data", "agents=[shell]", str(project))
    term.expect("Language stacks")
    # The choices in file-name order: build-essential, go, java, node, python, rust.
    term.send(DOWN + SPACE)  # go
    term.send(DOWN * 3 + SPACE)  # python
    term.send(ENTER)
    term.expect("Extra domains")
    term.send(ENTER)
    term.expect("Extra Debian packages")
    term.send(ENTER)
    term.expect("Host paths")
    term.send(ENTER)
    assert answer_rest(term, "Host paths") == 0, term.output
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["stacks"] == [
        "go",
        "python",
    ]
    dockerfile = (project / ".codex/sandbox/Dockerfile").read_text()
    assert "# Stack go: " in dockerfile and "# Stack python: " in dockerfile


def test_an_earlier_release_asks_its_own_questions(tmp_path: Path) -> None:
    # 0.1.0 asked the lists as YAML: a bare *.x.com is a YAML alias, refused as Copier refused it.
    project = tmp_path / "p"
    term = Terminal("--template-version", "0.1.0", "--data", "agents=[shell]", str(project))
    term.expect("Extra domains the sandbox may reach")
    term.send(CLEAR_LINE + "*.x.com" + ENTER)
    term.expect("Invalid input")
    term.send(CLEAR_LINE + "[pypi.org, files.pythonhosted,org]" + ENTER)
    term.expect("'org': not a domain")
    term.send(CLEAR_LINE + "[pypi.org, '*.b.com']" + ENTER)
    for question in ("Extra Debian", "Host paths", "A script to run", "Base image"):
        term.expect(question)
        term.send(ENTER)
    term.expect("private addresses")
    term.send(ENTER)
    assert term.finish() == 0, term.output
    assert "Language stacks" not in term.output and "Host variables" not in term.output
    saved = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert saved["_commit"] == "v0.1.0"
    assert saved["allowed_domains"] == ["pypi.org", "*.b.com"]


def test_prompts_offer_the_users_copier_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "copier-settings.yml"
    settings.write_text("defaults:\n  base_image: debian:trixie-slim\n")
    monkeypatch.setenv("COPIER_SETTINGS_PATH", str(settings))
    project = tmp_path / "p"
    term = Terminal(
        "--data", "agents=[shell]", "--data", "stacks=", "--data", "allowed_domains=", str(project)
    )
    for question in ("Extra Debian", "Host paths", "A script to run"):
        term.expect(question)
        term.send(ENTER)
    term.expect("debian:trixie-slim")
    term.send(ENTER)
    assert answer_rest(term, "Base image") == 0, term.output
    saved = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert saved["base_image"] == "debian:trixie-slim"


def test_ctrl_d_at_a_prompt_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    project = tmp_path / "p"
    term = Terminal("--data", "agents=[shell]", "--data", "stacks=", str(project))
    term.expect("Extra domains")
    term.send("\x04")
    assert term.finish() == 2, term.output
    assert "cxgen: error: Interactive session required: Use `--defaults`" in term.output
    assert not project.exists()


def test_every_release_asks_only_what_cxgens_prompts_understand() -> None:
    # cxgen asks the questions itself (prompts.py): every recorded release, and this one, may
    # use only the copier.yml question keys, types and variables it implements as Copier does.
    repo = template_repo()
    tags = git("tag", "--list", cwd=repo).split()
    assert "v0.1.0" in tags
    for tag in tags:
        config = yaml.safe_load(git("show", f"{tag}:copier.yml", cwd=repo))
        for name, spec in config.items():
            if name.startswith("_"):
                continue
            assert set(spec) <= QUESTION_KEYS, (tag, name, set(spec) - QUESTION_KEYS)
            assert spec["type"] in TYPES, (tag, name)
            assert "_copier" not in str(spec) and "_folder_name" not in str(spec), (tag, name)
            if spec.get("multiselect"):
                assert isinstance(spec["default"], list), (tag, name)
