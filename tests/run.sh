#!/usr/bin/env bash
# The test command from the README: install cxgen with its test extras, make sure the local
# base image exists (built from Debian packages: no registry needed), run the suite on 2 cores.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
if ! command -v debootstrap >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
python3 -m pip install --quiet --disable-pip-version-check ".[test]"
if command -v docker >/dev/null 2>&1 && docker version >/dev/null 2>&1; then
  tests/make_base_image.sh >/dev/null
fi
# From the tests folder's parent, but importing the installed cxgen (not generator/).
exec python3 -m pytest -n 2 "$@"
