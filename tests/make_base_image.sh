#!/usr/bin/env bash
# Build the local test base image (a stand-in for debian:bookworm-slim) from Debian packages,
# because this machine, and CI, cannot pull from any container registry.
# Usage: tests/make_base_image.sh [IMAGE]   (default cxgen-test/bookworm:base)
# Does nothing when the image already exists.
set -Eeuo pipefail

readonly LABEL="org.cxgen.test=1"

err() { printf 'make_base_image: %s\n' "$*" >&2; exit 1; }

main() {
  local image="${1:-cxgen-test/bookworm:base}"
  local mirror="${CXGEN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  if docker image inspect "$image" >/dev/null 2>&1; then
    printf '%s\n' "$image"
    return 0
  fi
  command -v debootstrap >/dev/null 2>&1 || err "debootstrap not found: apt-get install debootstrap"
  local root
  root=$(mktemp -d /tmp/cxgen-base.XXXXXX)
  # shellcheck disable=SC2064  # expand $root now: it is local to main
  trap "rm -rf '$root'" EXIT
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -n 20 "$root.log" >&2; err "debootstrap failed (log: $root.log)"; }
  # Like the official slim image: no apt lists, no docs.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
  tar -C "$root" -c . | docker import \
    --change "LABEL $LABEL" --change 'CMD ["bash"]' - "$image" >/dev/null
  rm -f "$root.log"
  printf '%s\n' "$image"
}

main "$@"
