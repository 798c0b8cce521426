# shellcheck shell=bash
# The core: messages and errors, the checks every value passes, small helpers. The project's
# paths (PROJECT_DIR, CODEX_DIR, SANDBOX_DIR, ENV_DIR, STATE_DIR...) come from run_in_container.sh.
readonly EXIT_USAGE=2
readonly NAME_RE='^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'
readonly ENV_NAME_RE='^[A-Za-z_][A-Za-z0-9_]{0,127}$'
readonly DOMAIN_RE='^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
# [registry[:port]/]path[:tag][@digest]; never starts with "-", so it cannot become an option.
readonly IMAGE_RE='^([A-Za-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$'
readonly VERSION_RE='^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$'
readonly MEMORY_RE='^([1-9][0-9]*[kmgKMG]?|none)$'
readonly PIDS_RE='^([1-9][0-9]*|none)$'
readonly PORT_RE='^([1-9][0-9]{0,4}:)?[1-9][0-9]{0,4}$'

# Control characters (but tab and newline) removed: nothing the agent named or wrote reaches
# your terminal as a command to it. say and die drop them (all) from every message themselves.
# Text from the sandbox reaches your terminal without control characters: C0, DEL and the C1
# range (bytes 0x80-0x9f: raw, or in UTF-8's two-byte form, whose second byte this drops; some
# other non-ASCII letters show damaged).
printable() { LC_ALL=C tr -d '\000-\010\013-\037\177-\237'; }
# say and die do printable's work in bash itself (they must work with a bare PATH, and fork not).
say() {
  local LC_ALL=C message="cxgen: $*"
  printf '%s\n' "${message//[$'\001'-$'\037'$'\177'-$'\237']/}" >&2
}
die() {
  local LC_ALL=C message="cxgen: error: $1"
  printf '%s\n' "${message//[$'\001'-$'\037'$'\177'-$'\237']/}" >&2
  exit "${2:-1}"
}

# within SECONDS COMMAND...: COMMAND in a subshell of its own, stopped after SECONDS (status 137);
# stdin is /dev/null, its errors are dropped. (A plain timeout: macOS has no timeout(1).) Both
# subshells are stopped with SIGKILL: a subshell that gets SIGTERM before it has reset the traps
# it was forked with runs this script's EXIT trap, which removes RUN_TMP (seen on a busy machine).
within() {
  local seconds="$1" pid watch status=0
  shift
  ("$@") 2>/dev/null </dev/null &
  pid=$!
  (sleep "$seconds" && kill -KILL "$pid") >/dev/null 2>&1 </dev/null &
  watch=$!
  # (bash 3.2 reports a killed job on stderr as it is reaped.)
  { wait "$pid" || status=$?; } 2>/dev/null
  { kill -KILL "$watch" && wait "$watch"; } 2>/dev/null || true
  return "$status"
}

# file_id PATH [-L]: device and inode of PATH itself (with -L: of what it points to, as for the
# open file behind /dev/fd/N).
file_id() { stat ${2:+"$2"} -c %d:%i "$1" 2>/dev/null || stat ${2:+"$2"} -f %d:%i "$1"; }

RUN_TMP=""
# Sets RUN_TMP: this run's private folder, removed on exit (made only when needed: a build with
# its image present needs none).
make_run_tmp() {
  [ -z "${RUN_TMP:-}" ] || return 0
  RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/cxgen.XXXXXX") || die "cannot create a temporary folder"
  trap run_files_removed EXIT
}

# At exit: this run's folder, and the session name released when the session ended (one rm for
# both: a fork fewer after every session).
RELEASED_AT_EXIT=""
run_files_removed() { rm -rf -- "$RUN_TMP" ${RELEASED_AT_EXIT:+"$RELEASED_AT_EXIT"}; }

need_docker() {
  command -v docker >/dev/null 2>&1 \
    || die "docker not found: install Docker (https://docs.docker.com/get-docker/) and retry"
}

# docker_failed OUTPUT: a docker call failed; say why in one line, and what to do. OUTPUT is
# what docker said (its text, never the name of a file that holds it: docker_query).
docker_failed() {
  case "$1" in
    *"ermission denied"*)
      die "permission denied on the Docker socket: add yourself to the docker group (sudo usermod -aG docker \$USER, then log in again) or use rootless Docker" ;;
    *"Cannot connect to the Docker daemon"* | *"Is the docker daemon running"* | *"error during connect"* | *"onnection refused"* | *"no such file or directory"*)
      die "the Docker daemon is not running (or DOCKER_HOST points nowhere): start Docker and retry" ;;
    "") die "docker failed and said nothing: check that Docker runs (docker version) and retry" ;;
    *) die "docker failed: $(printf '%s' "$1" | head -n 1)" ;;
  esac
}

# docker_failed_with FILE: docker_failed for what docker wrote to FILE (its first 4 KB).
docker_failed_with() { docker_failed "$(head -c 4096 "$1" 2>/dev/null || true)"; }

# docker_query VAR ARGS...: sets VAR to what docker ARGS prints, its stderr kept apart (a warning
# there would read as data); when docker fails, dies with docker_failed's line for its stderr.
docker_query() {
  local query_var="$1" query_out
  shift
  make_run_tmp
  query_out=$(docker "$@" 2>"$RUN_TMP/docker.err") || docker_failed_with "$RUN_TMP/docker.err"
  printf -v "$query_var" '%s' "$query_out"
}

# Dies with docker_failed's line when the Docker daemon does not answer.
need_daemon() {
  local out
  out=$(docker version --format '{{.Server.Version}}' 2>&1) || docker_failed "$out"
}
