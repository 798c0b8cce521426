"""Waiting for conditions, never for times: a user's machine is often loaded, and so is CI.

The bound only stops a hang (a test that would otherwise wait for ever); it is far above what a
start takes even at a load of 40 on 2 cores. A wait that depends on a process fails at once,
with that process's error output, when the process ends first.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

# Seconds; CXGEN_TEST_WAIT changes it (a slower machine, or a quicker verdict while developing).
BOUND = float(os.environ.get("CXGEN_TEST_WAIT", "600"))


def wait_until(
    condition: Callable[[], object],
    what: str,
    *,
    watch: subprocess.Popen[str] | subprocess.Popen[bytes] | None = None,
    interval: float = 0.1,
    seconds: float = BOUND,
) -> None:
    """Until `condition()` is true; fails when `watch` ends first, or after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if watch is not None and watch.poll() is not None:
            _, err = watch.communicate()
            raise AssertionError(
                f"{what}: the process ended first (exit {watch.returncode}): {err!r:.3000}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {seconds:.0f} s")
        time.sleep(interval)
