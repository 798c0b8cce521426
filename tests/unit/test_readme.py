"""The README's two commands for a fresh machine work with a system Python that refuses
`pip install` (PEP 668: Debian, Ubuntu, Homebrew): they install into a virtual environment."""

from __future__ import annotations

import re
from pathlib import Path

from cxgen.init import run_init
from tests.conftest import REPO

# pip run by the system's python3 (or a bare pip on PATH), not by a virtual environment's.
SYSTEM_PIP = re.compile(r"(?:^|[;&|]\s*)(?:python3?\s+-m\s+pip|pip3?)\s+install", re.MULTILINE)


def fresh_machine_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Two commands for a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


def test_exactly_two_commands_and_neither_pip_installs_into_the_system_python() -> None:
    main, tests = fresh_machine_commands()
    assert "python3 -m venv" in main and "/bin/pip install ." in main
    assert not SYSTEM_PIP.search(main), main
    assert tests == "bash tests/run.sh"


def test_the_test_command_installs_into_a_venv() -> None:
    script = (REPO / "tests/run.sh").read_text()
    assert "python3 -m venv" in script
    assert not SYSTEM_PIP.search(script), "tests/run.sh pip-installs into the system Python"
    assert "/.venv/" in (REPO / ".gitignore").read_text().splitlines()


# The pages a user reads, and where the history goes instead.
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 250


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but - and _ dropped, spaces to -."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    body = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", body, re.MULTILINE)}


def test_the_readme_is_a_front_door() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    for page in ("reference", "security", "agents", "benchmarks"):
        assert f"(docs/{page}.md)" in readme


def test_each_docs_page_opens_with_its_table_of_contents() -> None:
    pages = sorted((REPO / "docs").glob("*.md"))
    assert {p.stem for p in pages} >= {"reference", "security", "agents", "benchmarks"}
    for page in pages:
        text = page.read_text()
        first_section = text.split("\n## ", 1)[0]
        listed = re.findall(r"^\s*- \[[^\]]+\]\(#([^)]+)\)", first_section, re.MULTILINE)
        sections = re.findall(r"^## (.+)$", text, re.MULTILINE)
        assert [slug(s) for s in sections] == [a for a in listed if a in map(slug, sections)], (
            f"{page.name}: its contents must list every section, in order"
        )


def test_every_link_between_the_pages_leads_somewhere() -> None:
    for page in [*PAGES, REPO / "CHANGELOG.md"]:
        text = page.read_text()
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", text):
            if target.startswith(("http://", "https://")):
                continue
            linked = (page.parent / target).resolve() if target else page
            assert linked.is_file(), f"{page.name}: no file {target}"
            if anchor:
                found = anchors(linked.read_text())
                assert anchor in found, f"{page.name}: no #{anchor} in {target}"


def test_no_changelog_text_outside_the_changelog() -> None:
    """Release notes ("issue 12", "(#18)", "README of 00:37") belong in CHANGELOG.md."""
    history = re.compile(r"\bissues? #?\d+|\(#\d+\)|\bREADME of \d|\bat \d\d:\d\d\b", re.IGNORECASE)
    for page in PAGES:
        found = history.findall(page.read_text())
        assert not found, f"{page.name}: {found}"
    assert (REPO / "CHANGELOG.md").is_file()


# The five-minute tutorial, step by step: where each line is typed (the host, or the bash that
# `./run_in_container.sh shell` opened) and the line as the README shows it. tests/e2e/
# test_readme_tutorial.py runs these on real Docker; this list and the README must agree.
HOST, SANDBOX = "host", "sandbox"
TUTORIAL = [
    (HOST, "mkdir ~/cxgen-tutorial && cd ~/cxgen-tutorial && git init -q"),
    (HOST, "cxgen init"),
    (
        HOST,
        "git add run_in_container.sh .copier-answers.yml .gitattributes .codex"
        ' && git commit -qm "Add cxgen sandbox"',
    ),
    (HOST, "git status --short"),
    (HOST, "./run_in_container.sh exec -- sh -c 'id; pwd; ls -A'"),
    (HOST, "./run_in_container.sh shell"),
    (SANDBOX, "getent hosts pypi.org || echo blocked"),
    (HOST, "./run_in_container.sh denied"),
    (HOST, "./run_in_container.sh allow pypi.org"),
    (SANDBOX, "getent hosts pypi.org"),
    (SANDBOX, "exit"),
    (HOST, "./run_in_container.sh allow pypi.org --save"),
    (HOST, 'git commit -qam "Allow pypi.org"'),
]


def tutorial_lines() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Five-minute tutorial", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_tutorial_is_what_its_end_to_end_test_runs() -> None:
    assert tutorial_lines() == [line for _, line in TUTORIAL]


def test_the_tutorial_commits_every_file_init_writes(tmp_path: Path) -> None:
    """`.gitattributes` included: `cxgen update` refuses a project with files left out."""
    add = next(line for _, line in TUTORIAL if line.startswith("git add"))
    paths = add.split("&&")[0].split()[2:]
    result = run_init(tmp_path / "p", {}, defaults=True, interactive=False)
    written = [path.as_posix() for path in result.written]
    assert ".gitattributes" in written and ".codex/run/settings.sh" in written
    left_out = [name for name in written if name.split("/")[0] not in paths]
    assert not left_out, f"the tutorial's git add leaves out {left_out}"
