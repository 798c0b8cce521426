"""Skills from git, the `skills` answer: `https://HOST/PATH@COMMIT[#FOLDER]`, one skill each.

The image's build fetches each at its commit (a full 40-hex id, checked after the fetch) and
copies FOLDER (default: the repository's top) into /usr/local/share/cxgen/skills/NAME, NAME being
FOLDER's last part (or the repository's name). The answer is in the Dockerfile, so in the image's
content hash and in the policy you accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cxgen.errors import InvalidAnswer

# https only, no user, password, query or fragment in the URL; plain path characters, so the
# value is safe in the Dockerfile and in a shell word as it is.
_URL = r"https://(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?(?P<path>(?:/[A-Za-z0-9._~-]+)+)"
_FOLDER = r"[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*/?"
SKILL_RE = re.compile(rf"\A{_URL}@(?P<commit>[0-9a-f]{{40}})(?:#(?P<folder>{_FOLDER}))?\Z")
# A skill's folder name: what the run script accepts in .codex/skills too (settings' check).
SKILL_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
EXAMPLE = "https://github.com/OWNER/REPO@<40-hex commit>#path/to/skill"


@dataclass(frozen=True)
class SkillSource:
    """One skill of the answer: where it comes from and the folder it becomes in the image."""

    url: str
    commit: str
    folder: str
    name: str

    @property
    def answer(self) -> str:
        """The answer's form, normalized."""
        return f"{self.url}@{self.commit}" + (f"#{self.folder}" if self.folder else "")


def parse_skill(value: str, key: str = "skills") -> SkillSource:
    """One `URL@COMMIT[#FOLDER]`, or InvalidAnswer saying what is wrong with it."""
    match = SKILL_RE.match(value)
    if match is None:
        raise InvalidAnswer(key, value, _why(value))
    port, folder = match["port"], (match["folder"] or "").rstrip("/")
    if port and not 0 < int(port) < 65536:
        raise InvalidAnswer(key, value, "not a port number")
    if any(part in (".", "..") for part in folder.split("/")):
        raise InvalidAnswer(key, value, "'.' and '..' are not allowed in the folder")
    url = value.split("@", 1)[0]
    name = (folder.rsplit("/", 1)[-1] if folder else url.rsplit("/", 1)[-1]).removesuffix(".git")
    if not SKILL_NAME_RE.match(name):
        raise InvalidAnswer(
            key, value, f"the skill's name {name!r} must start with a letter or digit"
        )
    return SkillSource(url, match["commit"], folder, name)


def _why(value: str) -> str:
    """The reason a value is not `URL@COMMIT[#FOLDER]`, short enough for a prompt's line."""
    url, _, rest = value.rpartition("@")
    if not value.startswith("https://"):
        return "https:// only (a git URL, then @COMMIT)"
    if "@" in url:
        return "no user name or password in the URL"
    if not url:
        return "expected URL@COMMIT, pinned to a full commit id"
    if not re.match(r"[0-9a-f]{40}(?:#|\Z)", rest):
        return "the commit must be a full 40-hex id (git rev-parse HEAD)"
    return f"expected {EXAMPLE}"


def parse_skills(items: list[str], key: str = "skills") -> list[SkillSource]:
    """Every skill of the answer; two that would become the same folder are refused."""
    sources: dict[str, SkillSource] = {}
    for item in items:
        source = parse_skill(item, key)
        seen = sources.get(source.name)
        if seen is not None and seen != source:
            raise InvalidAnswer(key, item, f"another skill is named {source.name!r} too")
        sources[source.name] = source
    return list(sources.values())
