#!/usr/bin/env bash
# The test command from the README: install cxgen with its test extras into .venv/ (never into
# the system Python: Debian and Ubuntu refuse that, PEP 668), make sure the local base image
# exists (built from Debian packages: no registry needed), run the suite on 2 cores.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
readonly VENV=.venv

as_root_on_debian() { [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

make_venv() {
  [ -x "$VENV/bin/python" ] && return 0
  # Debian and Ubuntu ship venv (ensurepip) separately, as python3-venv.
  if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    if as_root_on_debian; then
      apt_install python3-venv
      python3 -m venv "$VENV"
    else
      echo "tests: python3 -m venv failed; on Debian/Ubuntu: sudo apt install python3-venv" >&2
      exit 1
    fi
  fi
}

if ! command -v debootstrap >/dev/null 2>&1 && as_root_on_debian; then
  apt_install debootstrap
fi
make_venv
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check ".[test]"
# The venv's tools (shellcheck, hadolint, cxgen) come first on PATH.
PATH="$PWD/$VENV/bin:$PATH"
export PATH
if command -v docker >/dev/null 2>&1 && docker version >/dev/null 2>&1; then
  tests/make_base_image.sh >/dev/null
fi
# The wall's batteries, run a second time with every session they start in a spare (warm
# starts, .codex/run/lib/warm.sh): what holds cold must hold warm.
readonly WARM_MODULES=(tests/e2e/test_attacks.py tests/e2e/test_wall_network.py
  tests/e2e/test_wall_host.py tests/e2e/test_root_mode.py tests/e2e/test_fwctl.py
  tests/e2e/test_lockdown_saved.py tests/e2e/test_relay.py tests/e2e/test_host_ports.py
  tests/e2e/test_host_actions.py tests/e2e/test_mounts.py tests/e2e/test_skills.py
  tests/e2e/test_agent_git.py tests/e2e/test_credentials.py tests/e2e/test_trusted_runs.py
  tests/e2e/test_mcp.py)

# From the tests folder's parent, but importing the installed cxgen (not generator/).
# worksteal: while one worker is in a long image build (tests marked long_build run first), the
# other takes over the tests queued behind it instead of leaving them waiting. With arguments
# (a test, -k ...), only the first pass, as given.
status=0
"$VENV/bin/python" -m pytest -n 2 --dist worksteal "$@" || status=$?
if [ "$#" -eq 0 ] && [ "$status" -eq 0 ] && docker version >/dev/null 2>&1; then
  echo "tests: the wall's batteries again, every session in a warm spare (CXGEN_TEST_START=warm)" >&2
  CXGEN_TEST_START=warm "$VENV/bin/python" -m pytest -n 2 --dist worksteal "${WARM_MODULES[@]}" || status=$?
fi
exit "$status"
