"""The template's version history as a local git repository, so init and update work offline.

Past releases ship inside the package as a git bundle (one tagged commit per release holding
that release's template and presets); the installed version's template is committed on top.
The repository is built once per content into the user's cache and reused.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from plumbum import CommandNotFound, local

from cxgen import __version__
from cxgen.errors import CxgenError
from cxgen.git_identity import GIT_IDENTITY
from cxgen.resources import history_bundle, presets_dir, template_dir

# Settings with which a repository's own config (or a submodule's, or a `commondir`'s) would
# make git run a command. A project's .git may hold what an agent wrote there: git run by cxgen
# in a project overrides them (as `git -c` does, inherited by nested gits).
NO_REPO_COMMANDS = {"core.fsmonitor": "false", "core.hooksPath": os.devnull}


def _config_env(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Git config given through the environment (as `git -c` would), after any already set."""
    given = os.environ.get("GIT_CONFIG_COUNT", "0")
    start = int(given) if given.isdigit() else 0
    env = {"GIT_CONFIG_COUNT": str(start + len(pairs))}
    for index, (key, value) in enumerate(pairs, start=start):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def untrusted_repo_env() -> dict[str, str]:
    """Environment for git in a project: NO_REPO_COMMANDS after any GIT_CONFIG_* already set."""
    return _config_env(list(NO_REPO_COMMANDS.items()))


@functools.cache
def _global_config(*_config_location: str | None) -> str:
    """The global git config for cxgen's git: only the user's safe.directory entries, from their
    system and global config (cached per location), or no config at all.

    cxgen's git reads none of the user's config, so no setting of theirs changes its output;
    but it trusts the folders they told git to trust, or git's own advice for "dubious
    ownership" would not help with cxgen. A file, not `-c`: `git clone` of a local repository
    checks ownership in a git that gets no `-c` settings.
    """
    try:
        command = local["git"].with_cwd("/")
    except CommandNotFound:
        return os.devnull
    args = ["config", "--show-scope", "--get-all", "safe.directory"]
    _, out, _ = command[args].run(retcode=None)  # exit 1: none set
    scopes = (line.partition("\t") for line in str(out).splitlines())
    trusted = [value for scope, _, value in scopes if scope in ("system", "global") and value]
    if not trusted:
        return os.devnull
    lines = ["[safe]"]
    for value in trusted:
        # A trusted work tree's .git too: that is the path `git clone` checks.
        for path in [value] if value == "*" else [value, value.rstrip("/") + "/.git"]:
            quoted = path.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            lines.append(f'\tdirectory = "{quoted}"')
    fd, name = tempfile.mkstemp(prefix="cxgen-", suffix=".gitconfig")
    with os.fdopen(fd, "w", encoding="utf-8") as config:
        config.write("\n".join(lines) + "\n")
    atexit.register(Path(name).unlink, missing_ok=True)
    return name


def _git_env() -> dict[str, str]:
    config = _global_config(
        *(os.environ.get(name) for name in ("HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_GLOBAL"))
    )
    return {
        **GIT_IDENTITY,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": config,
        **untrusted_repo_env(),
    }


def version_tag(version: str = __version__) -> str:
    """The git tag of a release."""
    return f"v{version}"


def git_bytes(*args: str, cwd: Path) -> bytes:
    """Run git in `cwd` and return its output; a failure is a CxgenError with git's words."""
    try:
        command = local["git"].with_env(**_git_env()).with_cwd(cwd)
    except CommandNotFound as error:
        raise CxgenError(
            "git not found: install git (cxgen keeps template versions in git)"
        ) from error
    code, out, err = command[args].run(retcode=None, encoding=None)
    if code != 0:
        # git's own words, on one line (its hints span several).
        message = " ".join(_as_bytes(err or out).decode(errors="replace").split())
        raise CxgenError(f"git {args[0]} failed: {message}")
    return _as_bytes(out)


def _as_bytes(output: object) -> bytes:
    # plumbum returns bytes with encoding=None, though its type hints say str.
    return output if isinstance(output, bytes) else str(output).encode()


def git(*args: str, cwd: Path) -> str:
    """Run git in `cwd` and return its output as text."""
    return git_bytes(*args, cwd=cwd).decode(errors="replace")


def _tree_digest(*roots: Path) -> str:
    digest = hashlib.sha256(__version__.encode())
    bundle = history_bundle()
    if bundle.is_file():
        digest.update(bundle.read_bytes())
    for root in roots:
        for path in sorted(
            p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
        ):
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def copy_release_tree(dest: Path) -> None:
    """The installed release's template and presets, laid out as one template repo commit."""
    shutil.copytree(
        template_dir(), dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(presets_dir(), dest / "presets", dirs_exist_ok=True)


def _build(repo: Path) -> None:
    bundle = history_bundle()
    if bundle.is_file():
        git("clone", "-q", "-b", "main", str(bundle), str(repo), cwd=repo.parent)
        git("remote", "remove", "origin", cwd=repo)
    else:
        repo.mkdir()
        git("init", "-q", "-b", "main", cwd=repo)
    tags = git("tag", "--list", cwd=repo).split()
    if version_tag() in tags:
        return  # a release whose own snapshot is already in the history
    for item in repo.iterdir():
        if item.name != ".git":
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    copy_release_tree(repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", f"cxgen template {version_tag()}", cwd=repo)
    git("tag", version_tag(), cwd=repo)


def cache_dir() -> Path:
    """Where cxgen keeps its cache (XDG_CACHE_HOME or ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cxgen"


def template_repo() -> Path:
    """A git repository with a tag per template release; built on first use, then reused."""
    repo = cache_dir() / f"template-{_tree_digest(template_dir(), presets_dir())}"
    if (repo / ".git").is_dir():
        return repo
    repo.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=repo.parent, prefix=".building-") as tmp:
        staging = Path(tmp) / "repo"
        _build(staging)
        try:
            staging.rename(repo)
        except OSError:
            if not (repo / ".git").is_dir():  # not another process that won the race
                raise
    return repo
