"""lib/skills.sh: the project's .codex/skills/NAME folders, each mounted read-only into the image's
skills folder; a symlink there, an odd name or a name the image's skills have is refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.shell.conftest import Bash, assert_usage_error


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path.resolve() / "project"
    (root / ".codex").mkdir(parents=True)
    return root


def mounts(bash: Bash, project: Path, image_skills: str = "") -> subprocess.CompletedProcess[str]:
    """add_skill_mounts, then each docker argument on a line, then AT_RISK's."""
    code = """
DOCKER_ARGS=() AT_RISK=()
load_agent_trees
add_skill_mounts
printf '%s\\n' ${DOCKER_ARGS[@]+"${DOCKER_ARGS[@]}"} -- ${AT_RISK[@]+"${AT_RISK[@]}"}
"""
    constants = {
        "PROJECT_DIR": str(project),
        "CODEX_DIR": str(project / ".codex"),
        "STATE_DIR": str(project.parent / "state"),
        "IMAGE_SKILLS": image_skills,
    }
    return bash.run(code, libs=["paths.sh", "mounts.sh", "skills.sh"], constants=constants)


def skill(project: Path, name: str) -> Path:
    folder = project / ".codex/skills" / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {name}\n---\n")
    return folder


def test_no_skills_no_mounts(bash: Bash, project: Path) -> None:
    result = mounts(bash, project)
    assert (result.returncode, result.stdout, result.stderr) == (0, "--\n", "")


def test_each_skill_folder_is_mounted_read_only_into_the_image(bash: Bash, project: Path) -> None:
    for name in ("pdf", "my.review-2"):
        skill(project, name)
    (project / ".codex/skills/README.md").write_text("notes\n")
    skill(project, ".draft")
    result = mounts(bash, project)
    assert result.returncode == 0, result.stderr
    skills = project / ".codex/skills"
    assert result.stdout.splitlines() == [
        "--mount",
        f'type=bind,"source={skills}/my.review-2",'
        '"target=/usr/local/share/cxgen/skills/my.review-2",readonly',
        "--mount",
        f'type=bind,"source={skills}/pdf","target=/usr/local/share/cxgen/skills/pdf",readonly',
        "--",
        # .codex as a whole: no sandbox that can swap a skill for a symlink may run meanwhile.
        str(project / ".codex"),
    ]


def test_a_symlink_is_refused(bash: Bash, project: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").mkdir()
    skill(project, "ok")
    (project / ".codex/skills/keys").symlink_to(tmp_path / "secret")
    message = ": it is a symlink, which the agent may have planted; remove it"
    result = mounts(bash, project)
    assert result.returncode == 2
    assert f"refusing {project}/.codex/skills/keys{message}" in result.stderr
    (project / ".codex/skills/keys").unlink()
    (project / ".codex/skills").rename(project / ".codex/real-skills")
    (project / ".codex/skills").symlink_to(project / ".codex/real-skills")
    result = mounts(bash, project)
    assert result.returncode == 2 and f"refusing {project}/.codex/skills{message}" in result.stderr


def test_an_odd_name_or_an_image_skills_name_is_refused(bash: Bash, project: Path) -> None:
    skill(project, "pdf")
    assert_usage_error(
        mounts(bash, project, image_skills="docx pdf"),
        "the skill pdf is both in .codex/skills and in the skills answer; rename one",
    )
    (project / ".codex/skills/pdf").rename(project / ".codex/skills/p df")
    result = mounts(bash, project)
    assert result.returncode == 2, result.stderr
    assert (
        "refusing the skill" in result.stderr
        and "a skill's folder name is letters" in result.stderr
    )


def test_a_file_where_the_folder_goes_is_refused(bash: Bash, project: Path) -> None:
    (project / ".codex/skills").write_text("not a folder\n")
    result = mounts(bash, project)
    assert result.returncode == 2 and "is not a folder" in result.stderr
