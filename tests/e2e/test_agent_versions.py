"""Agent versions on real Docker: `build --agent-update` moves a pin visibly in
.codex/sandbox/Dockerfile, accepts its own change and builds; other projects then hear that a
newer version is known. The codex test image has codex already, so no npm is needed."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import PROJECT_UID, Sandbox

USER = (PROJECT_UID, PROJECT_UID)


def run(sandbox: Sandbox, home: Path, *args: str, accept: bool = False):
    env = {
        "HOME": str(home),
        "XDG_STATE_HOME": str(home / ".local/state"),
        "CXGEN_ACCEPT_CHANGES": "1" if accept else "0",
    }
    return sandbox.run(*args, user=USER, env=env, timeout=600)


def test_agent_update_moves_the_pin_and_others_hear_of_it(codex_project, tmp_path: Path) -> None:
    sandbox, home = codex_project
    dockerfile = sandbox.project / ".codex/sandbox/Dockerfile"
    assert "@openai/codex@0.147.0" in dockerfile.read_text()
    # First start accepts the generated policy.
    assert run(sandbox, home, "exec", "--", "true", accept=True).returncode == 0
    result = run(sandbox, home, "build", "--agent-update", "codex@0.148.1")
    assert result.returncode == 0, result.stderr
    text = dockerfile.read_text()
    assert "@openai/codex@0.148.1" in text and "@openai/codex@0.147.0" not in text
    assert "codex: 0.147.0 -> 0.148.1" in result.stderr
    assert "+" in result.stderr and "@openai/codex@0.148.1" in result.stderr
    new_image = result.stdout.strip()
    assert new_image != sandbox.image
    # Accepted by the update itself: the next start does not ask.
    result = run(sandbox, home, "exec", "--", "true")
    assert result.returncode == 0, result.stderr
    # Same version again: nothing to do.
    result = run(sandbox, home, "build", "--agent-update", "codex@0.148.1")
    assert result.returncode == 0 and "already at 0.148.1" in result.stderr
    # Undo for the other tests' sake is not needed: each project is its own. A second project
    # of this user, still on 0.147.0, is told that 0.148.1 is known.
    dockerfile.write_text(text.replace("0.148.1", "0.147.0"))
    result = run(sandbox, home, "exec", "--", "true", accept=True)
    assert "codex 0.148.1 is known (this project pins 0.147.0)" in result.stderr


def test_agent_update_refuses_bad_input(codex_project) -> None:
    sandbox, home = codex_project
    before = (sandbox.project / ".codex/sandbox/Dockerfile").read_text()
    assert run(sandbox, home, "exec", "--", "true", accept=True).returncode == 0
    for spec, message in [
        ("codex@latest", "invalid version"),
        ("codex@1.2.3;id", "invalid version"),
        ("shell", "not an npm agent"),
        # The codex test image has no npm to ask for the latest version.
        ("codex", "give it: --agent-update codex@X.Y.Z"),
    ]:
        result = run(sandbox, home, "build", "--agent-update", spec)
        assert result.returncode != 0, result.stderr
        assert message in result.stderr.strip().splitlines()[-1], (spec, result.stderr)
    assert (sandbox.project / ".codex/sandbox/Dockerfile").read_text() == before
    result = run(sandbox, home, "exec", "--agent-update", "codex", "--", "true")
    assert result.returncode == 2 and "goes with build" in result.stderr
