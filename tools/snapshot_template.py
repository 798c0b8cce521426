"""Record a released template version in history/template.bundle (run once per release).

Usage: python3 tools/snapshot_template.py VERSION [GIT_REF]
Takes template/ and presets/ as they are at GIT_REF (default HEAD) of this repository and adds
them as one commit tagged vVERSION on top of the bundle's history. `cxgen update` uses the
bundle to render the version a project was made with (the base of its three-way merge).
Release steps: snapshot the version being released, then bump the version in pyproject.toml
and generator/cxgen/__init__.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUNDLE = REPO / "history" / "template.bundle"


sys.path.insert(0, str(REPO / "generator" / "cxgen"))
from git_identity import GIT_IDENTITY  # noqa: E402  (a plain module: no package import)


def run(*args: str, cwd: Path) -> str:
    return subprocess.run(
        list(args),
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_IDENTITY},
    ).stdout


def main(version: str, ref: str = "HEAD") -> None:
    tag = f"v{version}"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "history"
        if BUNDLE.is_file():
            run("git", "clone", "-q", "-b", "main", str(BUNDLE), str(work), cwd=Path(tmp))
            if tag in run("git", "tag", "--list", cwd=work).split():
                raise SystemExit(f"{tag} is already in {BUNDLE}")
            run("git", "rm", "-q", "-r", ".", cwd=work)
        else:
            work.mkdir()
            run("git", "init", "-q", "-b", "main", cwd=work)
        # template/ becomes the repo root (copier.yml at the top), presets/ beside it.
        archive = subprocess.run(
            ["git", "archive", ref, "template", "presets"],
            cwd=REPO,
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(work)], input=archive, check=True)
        for item in (work / "template").iterdir():
            item.rename(work / item.name)
        (work / "template").rmdir()
        run("git", "add", "-A", cwd=work)
        run("git", "commit", "-q", "-m", f"cxgen template {tag} (from {ref})", cwd=work)
        run("git", "tag", tag, cwd=work)
        BUNDLE.parent.mkdir(exist_ok=True)
        run("git", "bundle", "create", "-q", str(BUNDLE), "HEAD", "main", "--tags", cwd=work)
    print(f"recorded {tag} from {ref} in {BUNDLE.relative_to(REPO)}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
