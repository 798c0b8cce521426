"""Record what cxgen just wrote as this user's accepted sandbox policy on this machine.

The run script refuses to build or start when the allowlist or the build context changed since
the user last accepted them; `run_in_container.sh accept` records the current ones (under
XDG_STATE_HOME, outside the project). init and update call it with CXGEN_ACCEPT_CHANGES=1 (no
question, no earlier refusal needed): the user chose those files.
"""

from __future__ import annotations

from pathlib import Path

from packaging.version import Version
from plumbum import CommandNotFound, local

from cxgen import __version__
from cxgen.errors import CxgenError

RUN_SCRIPT = Path("run_in_container.sh")
# The first release whose run script has `accept`; earlier ones have no approval to record.
ACCEPT_SINCE = Version("0.3.0")


def carries_accept(version: str) -> bool:
    """Whether template release `version` has `accept` (this cxgen's own template always does)."""
    return version == __version__ or Version(version) >= ACCEPT_SINCE


def accept_policy(project: Path, version: str) -> None:
    """Run `run_in_container.sh accept` in a project rendered by template release `version`.

    Its one line of stderr is not shown; when it fails, its last line becomes a CxgenError.
    """
    script = project / RUN_SCRIPT
    if not carries_accept(version) or not script.is_file():
        return
    try:
        bash = local["bash"]
    except CommandNotFound as error:
        raise CxgenError("bash not found: it runs run_in_container.sh") from error
    accept = bash[str(script), "accept"].with_cwd(project).with_env(CXGEN_ACCEPT_CHANGES="1")
    code, out, err = accept.run(retcode=None)
    if code != 0:
        lines = [line for line in f"{out}\n{err}".splitlines() if line.strip()]
        reason = lines[-1].removeprefix("cxgen: error: ") if lines else f"exit status {code}"
        raise CxgenError(
            f"the files are written, but `{RUN_SCRIPT} accept` failed: {reason}; "
            f"run it yourself in {project}"
        )
