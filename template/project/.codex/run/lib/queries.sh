# shellcheck shell=bash
# Docker queries started early: the image check, the network's facts and the list of sandboxes.
# Each docker CLI call costs tens of milliseconds, so each one whose answer is needed later runs
# side by side with this script's own work; the listing even before the rest of .codex/run is
# read (queries_early, which the entry calls).

# start_image_query [seen]: the image's check, in the background (IMAGE_PID); with seen, none for
# a tag a start found before (image_seen).
start_image_query() {
  IMAGE_PID="" IMAGE_SEEN=no IMAGE_SEEN_FILE=""
  if [ -z "${CODEX_DOCKER_IMAGE:-}" ] && [ "$REBUILD" = no ]; then
    [ "${1:-}" != seen ] || ! image_seen || return 0
    # (Its file opened here: see start_listing.) Its output: the image's MCP servers.
    make_run_tmp
    exec 3>"$RUN_TMP/image-mcp"
    docker image inspect -f "$MCP_LABEL_FORMAT" -- "$IMAGE_REPO:$CONTEXT_HASH" >&3 2>/dev/null &
    IMAGE_PID=$!
    exec 3>&-
  fi
}

# start_sandbox_queries [again]: again: after the first ones are over (their files are reused).
# The listing started as this script began (queries_early) is taken, unless asked again.
start_sandbox_queries() {
  # (A plain wait, with neither, would wait for every job: the MCP servers'.)
  if [ "${1:-}" = again ] && [ -n "${LISTING_PID:-}${NETWORK_PID:-}" ]; then
    wait ${LISTING_PID:+"$LISTING_PID"} ${NETWORK_PID:+"$NETWORK_PID"} 2>/dev/null || true
    LISTING_EARLY=no
  fi
  NETWORK_PID="" NETWORK_STATUS=""
  make_run_tmp
  # (attach has no --network.) Its facts, for docker_gateway (--port, host ports). Only then:
  # that a --network exists, docker run finds out itself (no call of ours, ~15 ms of CPU a start),
  # and start_failed says so.
  if gateway_wanted; then
    docker network inspect "${NETWORK:-bridge}" --format "$NETWORK_FACTS" >"$RUN_TMP/network" 2>/dev/null &
    NETWORK_PID=$!
  fi
  if [ "${LISTING_EARLY:-no}" = yes ]; then LISTING_EARLY=no; else start_listing; fi
}

# queries_early ARGS...: what a command's CMD_NEEDS asks of Docker that needs no option, started
# before the rest of .codex/run is read: the docker CLI's listing of sandboxes takes longer than
# that. Not for --help (which asks Docker nothing), nor without docker (need_docker says so).
LISTING_EARLY=no LISTING_PID=""
queries_early() {
  case " $* " in *" --help "* | *" -h "*) return 0 ;; esac
  command -v docker >/dev/null 2>&1 || return 0
  case " ${CMD_NEEDS:-} " in *" sandbox-queries "*) start_listing; LISTING_EARLY=yes ;; esac
}

# start_listing: every sandbox, stopped ones too (a kept one can be started again at any time,
# also with plain docker start), in the background (LISTING_PID): name, state, its spare label,
# work dir, project, sessions folder, its --mount folders, "-", its pinned paths, then ".".
# The files are opened here, so an early exit that removes RUN_TMP cannot break the query's
# output (or its error message) before the background job opens them.
start_listing() {
  make_run_tmp
  exec 3>"$RUN_TMP/sandboxes" 4>"$RUN_TMP/sandboxes.err"
  docker ps -a --filter label=org.cxgen.sandbox=1 --format '{{.Names}}'$'\n''{{.State}}'$'\n''{{.Label "org.cxgen.spare"}} {{.ID}}'$'\n''{{.Label "org.cxgen.workdir"}}'$'\n''{{.Label "org.cxgen.project"}}'$'\n''{{.Label "org.cxgen.sessions"}}'$'\n''{{.Label "org.cxgen.mounts"}}'$'\n''-'$'\n''{{.Label "org.cxgen.pinned"}}'$'\n''.' \
    >&3 2>&4 &
  LISTING_PID=$!
  exec 3>&- 4>&-
}

# network_waited: the early network query's status (start_sandbox_queries), waited for once;
# true when none was asked (docker run checks the network).
network_waited() {
  [ -n "${NETWORK_PID:-}" ] || return 0
  if [ -z "${NETWORK_STATUS:-}" ]; then
    NETWORK_STATUS=0
    wait "$NETWORK_PID" || NETWORK_STATUS=$?
  fi
  return "$NETWORK_STATUS"
}

# The image is there (the early check, when it was started; image_seen).
image_present() {
  [ "$IMAGE_SEEN" = no ] || return 0
  if [ -n "$IMAGE_PID" ]; then
    wait "$IMAGE_PID"
  else
    make_run_tmp
    docker image inspect -f "$MCP_LABEL_FORMAT" -- "$IMAGE" >"$RUN_TMP/image-mcp" 2>/dev/null
  fi
}
