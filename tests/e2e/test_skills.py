"""Skills, on real Docker with the real agents: a skill of the project's .codex/skills/ and one
from git (the skills answer) are where Claude Code and codex look, and each sees both (their
first request to the API stand-ins lists them); the agent cannot change either, nor plant what
would move their mounts; the git skill is in the image at its pinned commit, and a commit the
repository lacks fails the build with one clear line.

The git repository is served over HTTPS (git's smart protocol, tests/e2e/mock/git_server.py)
by a test container on Docker's default bridge, addressed by its IP: a `docker build` runs its
steps on that bridge, where the test network's names do not resolve, and reaches nothing else
of the tests'. Its certificate is signed by the test images' CA, which the project's image
(built from them) trusts, so the answer is the https:// URL a user gives, with no test-only
override.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import (
    CLAUDE_MOCK_NAME,
    LABEL,
    MOCK_NAME,
    PROJECT_UID,
    RUN_ID,
    Sandbox,
    Topology,
    build,
    chown_tree,
    docker,
    generate,
    requests_seen,
)
from tests.e2e.waiting import wait_until

GIT_SERVER = Path(__file__).resolve().parent / "mock/git_server.py"
USER = (PROJECT_UID, PROJECT_UID)
SKILLS_INSIDE = "/usr/local/share/cxgen/skills"
TOKEN = secrets.token_hex(4)
# What each skill's description carries, so a request that lists it can be found.
PROJECT_MARK = f"PROJECT-SKILL-{TOKEN}"
GIT_MARK = f"GIT-SKILL-{TOKEN}"
NEWER_MARK = f"NEWER-SKILL-{TOKEN}"
PLANTED_MARK = f"PLANTED-SKILL-{TOKEN}"


def skill_text(name: str, mark: str) -> str:
    return (
        f"---\nname: {name}\ndescription: Use for {name} work ({mark}).\n---\n\nSteps for {name}.\n"
    )


def git(folder: Path, *args: str) -> str:
    identity = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "safe.directory=*"]
    return subprocess.run(
        ["git", *identity, "-C", str(folder), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def skills_project(
    folder: Path, image: str, network: str, owner: int = PROJECT_UID, **data: object
) -> Sandbox:
    """A git project with claude and codex, both pointed at the API stand-ins, owned by `owner`,
    with a home for the user beside it; its image is not built here."""
    project = folder / "project"
    project.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    generate(
        project,
        image,
        owner=owner,
        agents=["claude", "codex"],
        apt_packages=[],
        allowed_domains=[CLAUDE_MOCK_NAME, MOCK_NAME],
        relay=[f"CODEX_API_KEY={MOCK_NAME}", f"OPENAI_API_KEY={MOCK_NAME}"],
        **data,
    )
    (project / ".codex/.environment/config.toml").write_text('model = "mock-model"\n')
    (folder / "home").mkdir()
    chown_tree(folder, owner)
    return Sandbox(project, "", network, root_mode=owner == 0)


def add_project_skill(sandbox: Sandbox, owner: int = PROJECT_UID) -> Path:
    folder = sandbox.project / ".codex/skills/reviewer"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(skill_text("reviewer", PROJECT_MARK))
    (sandbox.project / ".codex/skills/README.md").write_text("The project's skills.\n")
    chown_tree(sandbox.project / ".codex/skills", owner)
    return folder / "SKILL.md"


def as_owner(sandbox: Sandbox, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The run script as the project's owner, with API keys set as a user sets them."""
    full_env = {
        "HOME": str(sandbox.project.parent / "home"),
        "CXGEN_ACCEPT_CHANGES": "1",
        "OPENAI_API_KEY": "sk-unused",
        "CODEX_API_KEY": "",
        "ANTHROPIC_API_KEY": "sk-ant-unused",
        "ANTHROPIC_BASE_URL": f"https://{CLAUDE_MOCK_NAME}",
        **env,
    }
    return sandbox.run(*args, env=full_env, user=None if sandbox.root_mode else USER, timeout=300)


def build_result(sandbox: Sandbox) -> subprocess.CompletedProcess[str]:
    command, env = sandbox.command("build")
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)


@dataclass
class GitSkills:
    """The served repository: its URL, the pinned commit and a newer one, the server."""

    url: str
    commit: str
    newer: str
    container: str

    def answer(self, commit: str = "", folder: str = "skills/greeter") -> str:
        return f"{self.url}@{commit or self.commit}#{folder}"

    def requests(self) -> list[dict[str, object]]:
        lines = docker("logs", self.container).stdout.splitlines()
        return [json.loads(line) for line in lines if line.startswith('{"method"')]


@pytest.fixture(scope="module")
def plain(claude_image: str, topology: Topology, open_tmp: Path) -> Sandbox:
    """The project without git skills, built: its image (git, python3, openssl, the test CA)
    serves the repository, and shares every layer but the skills' with the next one's."""
    sandbox = skills_project(open_tmp / f"skills-plain-{TOKEN}", claude_image, topology.network)
    sandbox.image = build(sandbox.project)
    return sandbox


@pytest.fixture(scope="module")
def git_skills(plain: Sandbox, open_tmp: Path) -> Iterator[GitSkills]:
    """skills.git: skills/greeter at a first commit (pinned) and a newer one, served by a test
    container on the default bridge."""
    root = open_tmp / f"skills-git-{TOKEN}"
    work = root / "work"
    (work / "skills/greeter").mkdir(parents=True)
    git(work, "init", "-q", "-b", "main")
    (work / "skills/greeter/SKILL.md").write_text(skill_text("greeter", GIT_MARK))
    (work / "README.md").write_text("Skills.\n")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "greeter")
    commit = git(work, "rev-parse", "HEAD")
    (work / "skills/greeter/SKILL.md").write_text(skill_text("greeter", NEWER_MARK))
    git(work, "commit", "-qam", "newer")
    newer = git(work, "rev-parse", "HEAD")
    served = root / "served"
    served.mkdir()
    git(root, "clone", "-q", "--bare", str(work), str(served / "skills.git"))
    name = f"cxgen-test-{RUN_ID}-git-{uuid.uuid4().hex[:6]}"
    docker(
        "run", "-d", "--rm", "--label", LABEL, "--name", name,
        "-v", f"{served}:/srv/git:ro", "-v", f"{GIT_SERVER}:/usr/local/bin/git-server:ro",
        "--entrypoint", "python3", plain.image, "/usr/local/bin/git-server",
    )  # fmt: skip
    try:
        wait_until(lambda: '"listening"' in docker("logs", name).stdout, "the git server")
        address = json.loads(docker("logs", name).stdout.splitlines()[0])["listening"]
        yield GitSkills(f"https://{address}/skills.git", commit, newer, name)
    finally:
        docker("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def skilled(
    claude_image: str, topology: Topology, open_tmp: Path, git_skills: GitSkills
) -> Sandbox:
    """The project with the git skill (the skills answer) and a skill of its own, built."""
    sandbox = skills_project(
        open_tmp / f"skills-{TOKEN}",
        claude_image,
        topology.network,
        skills=[git_skills.answer()],
    )
    add_project_skill(sandbox)
    sandbox.image = build(sandbox.project)
    return sandbox


def test_the_git_skill_is_in_the_image_at_its_pinned_commit(
    skilled: Sandbox, plain: Sandbox, git_skills: GitSkills
) -> None:
    script = (
        f'cat {SKILLS_INSIDE}/greeter/SKILL.md; stat -c "%U %a" {SKILLS_INSIDE}/greeter/SKILL.md'
    )
    result = as_owner(skilled, "exec", "--", "bash", "-c", script)
    assert result.returncode == 0, result.stderr
    assert GIT_MARK in result.stdout and NEWER_MARK not in result.stdout
    assert result.stdout.splitlines()[-1] == "root 644"
    # Fetched by the build, from the server, by git's smart protocol.
    paths = [(r["method"], r["path"]) for r in git_skills.requests()]
    assert ("POST", "/skills.git/git-upload-pack") in paths, paths
    # The answer is in the Dockerfile, so in the image's tag (and the approval).
    dockerfile = (skilled.project / ".codex/sandbox/Dockerfile").read_text()
    assert f"{git_skills.url} {git_skills.commit} 'skills/greeter' greeter" in dockerfile
    assert skilled.image != plain.image


def test_a_commit_the_repository_lacks_fails_the_build_with_one_clear_line(
    claude_image: str, topology: Topology, open_tmp: Path, git_skills: GitSkills
) -> None:
    missing = "f" * 40
    cases = {
        git_skills.answer(missing): f"cxgen: skills: {git_skills.url} has no commit {missing}",
        git_skills.answer(folder="skills/nosuch"): (
            f"cxgen: skills: {git_skills.url} at {git_skills.commit} has no SKILL.md in"
            " skills/nosuch"
        ),
    }
    for answer, message in cases.items():
        sandbox = skills_project(
            open_tmp / f"skills-bad-{uuid.uuid4().hex[:6]}",
            claude_image,
            topology.network,
            skills=[answer],
        )
        result = build_result(sandbox)
        assert result.returncode == 1, result.stderr[-3000:]
        # (The legacy builder colours the build's stderr: the line is found, not compared.)
        ours = [line for line in result.stderr.splitlines() if "cxgen: skills:" in line]
        assert len(ours) == 1 and message in ours[0], result.stderr[-3000:]
        assert "fix the skills answer" in ours[0]
        last = result.stderr.splitlines()[-1]
        assert last.startswith("cxgen: error: image build failed"), last


def mine(requests: list[dict[str, object]], header: str, key: str) -> str:
    """The bodies of the requests that carried KEY (this test's), as one text."""
    return json.dumps([r["body"] for r in requests if r[header] in (key, f"Bearer {key}")])


def test_both_agents_see_the_projects_skill_and_the_git_skill(
    skilled: Sandbox, mock_api: str, claude_mock: str
) -> None:
    # An agent can write its own home, and so plant a skill of the project's name there: Claude
    # Code keeps the managed one (the project's).
    plant = (
        'mkdir -p "$HOME/.claude/skills/reviewer" && printf "%s" "$1"'
        ' > "$HOME/.claude/skills/reviewer/SKILL.md"'
    )
    planted = as_owner(
        skilled, "exec", "--", "bash", "-c", plant, "bash", skill_text("reviewer", PLANTED_MARK)
    )
    assert planted.returncode == 0, planted.stderr
    key = f"sk-cxgen-test-{secrets.token_hex(8)}"
    result = as_owner(skilled, "--agent", "codex", "--", "exec", "say hello", OPENAI_API_KEY=key)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    seen = mine(requests_seen(mock_api), "authorization", key)
    assert PROJECT_MARK in seen and GIT_MARK in seen, seen[:3000]
    key = f"sk-ant-cxgen-test-{secrets.token_hex(8)}"
    result = as_owner(skilled, "--agent", "claude", "--", "-p", "say hello", ANTHROPIC_API_KEY=key)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    seen = mine(requests_seen(claude_mock), "x-api-key", key)
    assert PROJECT_MARK in seen and GIT_MARK in seen, seen[:3000]
    assert PLANTED_MARK not in seen


# What an agent would try, each a shell command that must fail: change a skill, add or replace
# one, move the folder away, or repoint the agents' links to it.
ATTEMPTS = [
    f"echo x >> {SKILLS_INSIDE}/reviewer/SKILL.md",
    f"echo x >> {SKILLS_INSIDE}/greeter/SKILL.md",
    f"mkdir {SKILLS_INSIDE}/planted",
    f"ln -s / {SKILLS_INSIDE}/planted",
    f"rm -rf {SKILLS_INSIDE}/greeter",
    f"mv {SKILLS_INSIDE}/reviewer {SKILLS_INSIDE}/moved",
    f"mv {SKILLS_INSIDE} /tmp/skills",
    'echo x >> "$1/.codex/skills/reviewer/SKILL.md"',
    'mkdir "$1/.codex/skills/planted"',
    'mv "$1/.codex/skills" "$1/.codex/gone"',
    "ln -sfn / /etc/claude-code/.claude/skills",
    "rm /etc/codex/skills",
]
PROBE = """
for attempt in "${@:2}"; do
  if (eval "$attempt") 2>/dev/null; then echo "DID: $attempt"; fi
done
echo tried
"""


@pytest.mark.parametrize("mode", ["user", "root"])
def test_the_agent_cannot_change_the_skills(
    skilled: Sandbox, claude_image: str, topology: Topology, open_tmp: Path, mode: str
) -> None:
    sandbox = skilled
    if mode == "root":
        # Root mode: the same image, a project of root's (the agent is uid 0, no capabilities).
        sandbox = skills_project(
            open_tmp / f"skills-root-{uuid.uuid4().hex[:6]}",
            claude_image,
            topology.network,
            owner=0,
            skills=yaml.safe_load((skilled.project / ".copier-answers.yml").read_text())["skills"],
        )
        add_project_skill(sandbox, owner=0)
        sandbox.image = build(sandbox.project)
        assert sandbox.image == skilled.image
    skill = sandbox.project / ".codex/skills/reviewer/SKILL.md"
    before = skill.read_text()
    inside = f"/app{sandbox.project}"
    result = as_owner(sandbox, "exec", "--", "bash", "-c", PROBE, "probe", inside, *ATTEMPTS)
    assert (result.returncode, result.stdout) == (0, "tried\n"), result.stdout + result.stderr
    assert skill.read_text() == before
    # The next session sees them as they were.
    check = (
        "cat /etc/claude-code/.claude/skills/reviewer/SKILL.md /etc/codex/skills/greeter/SKILL.md"
    )
    result = as_owner(sandbox, "exec", "--", "bash", "-c", check)
    assert result.returncode == 0, result.stderr
    assert PROJECT_MARK in result.stdout and GIT_MARK in result.stdout


def test_a_symlink_in_the_skills_folder_is_refused_before_anything_starts(
    skilled: Sandbox, open_tmp: Path
) -> None:
    secret = open_tmp / f"skills-secret-{TOKEN}"
    secret.mkdir(exist_ok=True)
    (secret / "SKILL.md").write_text(skill_text("keys", "SECRET"))
    link = skilled.project / ".codex/skills/keys"
    link.symlink_to(secret)
    try:
        result = as_owner(skilled, "exec", "--", "touch", "started")
        assert result.returncode == 2, result.stderr
        assert f"cxgen: error: refusing {link}: it is a symlink" in result.stderr
        assert not (skilled.project / "started").exists()
    finally:
        link.unlink()


def test_a_kept_session_resumes_with_its_skills_checked_again(skilled: Sandbox) -> None:
    """attach mounts the skills again: fine as they were, refused once one was swapped for a
    symlink while the session was stopped (Docker would mount what it points to)."""
    name = f"cxgen-test-{RUN_ID}-keepskill-{uuid.uuid4().hex[:6]}"
    script = f"cat {SKILLS_INSIDE}/reviewer/SKILL.md"
    env = {
        "HOME": str(skilled.project.parent / "home"),
        # The user's own state (the worker's shared one may hold root's folders from other tests).
        "XDG_STATE_HOME": str(skilled.project.parent / "home" / ".local" / "state"),
        "CXGEN_ACCEPT_CHANGES": "1",
    }
    first = skilled.run("exec", "--keep", "--", "bash", "-c", script, env=env, user=USER, name=name)
    try:
        assert first.returncode == 0 and PROJECT_MARK in first.stdout, first.stderr
        resumed = skilled.run("attach", name, env=env, user=USER)
        assert resumed.returncode == 0 and PROJECT_MARK in resumed.stdout, resumed.stderr
        folder = skilled.project / ".codex/skills/reviewer"
        folder.rename(folder.with_name("reviewer.real"))
        try:
            folder.symlink_to(skilled.project.parent / "home")
            refused = skilled.run("attach", name, env=env, user=USER)
            assert refused.returncode == 2, refused.stderr
            assert str(folder) in refused.stderr and "symlink" in refused.stderr
        finally:
            folder.unlink(missing_ok=True)
            folder.with_name("reviewer.real").rename(folder)
    finally:
        docker("rm", "-f", "-v", name, check=False)
