# shellcheck shell=bash
# Options: the one parser every command uses. A command's file declares CMD_OPTIONS, the options
# it takes (@start: those of a session, listed in cmd/run.sh's header), CMD_WORDS, the most
# words it takes besides them, and CMD_DASHES, what follows -- (args: CMD_ARGS, the command
# to run; words: more WORDS; empty: -- is refused).

# The options that take a session's settings (run, shell, exec, login; and, as in cxgen 0.3,
# the commands that act on the project: build, accept, diff, revert, fetch, denied, allow,
# lockdown).
readonly START_OPTIONS="--agent --work-dir --work_dir --read-only --network --name --allow --env
  --init_script --init-script --sessions-path --config --auth_file --auth-file --git --memory
  --pids-limit --credentials --port --host-port --no-firewall -T --accept-changes --keep --parallel
  --ssh-agent --mount"

# Sets every option's variable to its default (the project's, or the environment's).
options_defaults() {
  AGENT="$DEFAULT_AGENT"
  # The project, even with WORKSPACE_ROOT_DIR set: that only confines the work dir.
  WORK_DIR="$PROJECT_DIR"
  READONLY_MOUNTS=() MOUNTS=() EXTRA_DOMAINS=() EXTRA_ENV=() CMD_ARGS=() WORDS=() PORTS=()
  HOST_PORTS=()
  TTY=auto NETWORK="" CONTAINER_NAME="" INIT_SCRIPT="" SESSIONS_PATH="" FIREWALL=on
  REBUILD=no AGENT_UPDATE="" KEEP=no PARALLEL=no SSH_AGENT=no LEARN=no SAVE=no LOGIN=no
  GIT_MODE="$DEFAULT_GIT_MODE" MEMORY="$DEFAULT_MEMORY" PIDS_LIMIT="$DEFAULT_PIDS_LIMIT"
  ACCEPT_CHANGES="${CXGEN_ACCEPT_CHANGES:-0}"
  CONFIG_DIR="${CODEX_CONFIG_DIR:-${HOME:-}/.codex}"
  CONFIG_GIVEN="${CODEX_CONFIG_DIR:+yes}"
  AUTH_FILE="${CODEX_AUTH_FILE:-}"
  CREDENTIALS_MODE="${CXGEN_CREDENTIALS:-copy}"
  LOGIN_MODE=browser DIFF_STAT=no YES=no ALL=no STOPPED=no CLEAN=no TARGET="" WARM_BUILD=no
  # (LISTING_PID: lib/queries.sh's, whose listing may have started before the options.)
  IMAGE_PID="" NETWORK_PID=""
}

# options_parse COMMAND ARGS...: the options and words of COMMAND (its CMD_OPTIONS, CMD_WORDS).
options_parse() {
  local command="$1" allowed=" " word
  shift
  for word in ${CMD_OPTIONS//@start/$START_OPTIONS}; do allowed="$allowed$word "; done
  options_defaults
  while [ "$#" -gt 0 ]; do
    case "$1" in
      -h | --help) help_command "$command"; exit 0 ;;
      --)
        shift
        case "${CMD_DASHES:-}" in
          args) CMD_ARGS=("$@") ;;
          words) WORDS+=("$@") ;;
          *) options_unexpected "$command" -- ;;
        esac
        break ;;
      -*) [ "${allowed/ $1 /}" != "$allowed" ] || options_unknown "$command" "$1" ;;
      *) [ "${#WORDS[@]}" -lt "${CMD_WORDS:-0}" ] || options_unexpected "$command" "$1"
        WORDS+=("$1"); shift; continue ;;
    esac
    if options_take_value "$1"; then
      [ "$#" -ge 2 ] && [ -n "$2" ] || die "$1 needs a value" "$EXIT_USAGE"
      options_set "$1" "$2"
      shift 2
    elif [ "$1" = --agent-update ]; then
      # NAME[@VERSION] is optional: the started agent by default (--agent may come later).
      AGENT_UPDATE=-
      if [ "$#" -ge 2 ] && [[ "$2" != -* ]]; then
        [ -n "$2" ] || die "--agent-update: expected NAME[@VERSION], not an empty word" "$EXIT_USAGE"
        AGENT_UPDATE="$2"
        shift
      fi
      shift
    else
      options_flag "$1"
      shift
    fi
  done
  [ "$AGENT_UPDATE" != - ] || AGENT_UPDATE="$AGENT"
  case "$CREDENTIALS_MODE" in sync | copy | none) ;;
    *) die "--credentials (or CXGEN_CREDENTIALS): expected copy or none, not '$CREDENTIALS_MODE'" "$EXIT_USAGE" ;;
  esac
}

options_take_value() {
  case "$1" in
    --agent | --work-dir | --work_dir | --read-only | --network | --name | --allow | --env \
      | --init_script | --init-script | --sessions-path | --config | --auth_file | --auth-file \
      | --git | --memory | --pids-limit | --credentials | --port | --host-port | --mount) true ;;
    *) false ;;
  esac
}

# options_unknown COMMAND OPTION: the error for an option COMMAND does not take; where it goes.
options_unknown() {
  case "$2" in
    --agent-update) die "--agent-update goes with build: ./run_in_container.sh build --agent-update NAME[@VERSION]" "$EXIT_USAGE" ;;
    --device | --with-api-key) die "--device and --with-api-key go with login: ./run_in_container.sh login --device" "$EXIT_USAGE" ;;
    --learn) die "--learn goes with exec: ./run_in_container.sh exec --learn -- CMD" "$EXIT_USAGE" ;;
    --save) die "--save goes with allow and lockdown" "$EXIT_USAGE" ;;
  esac
  die "$1: unknown option '$2' (see ./run_in_container.sh help $1)" "$EXIT_USAGE"
}

# options_unexpected COMMAND WORD: the error for a word COMMAND does not take.
options_unexpected() {
  if [ "${CMD_DASHES:-}" = args ]; then
    die "unexpected '$2': the command goes after --, as in ./run_in_container.sh $1 -- $2" "$EXIT_USAGE"
  fi
  die "$1: unexpected $(printf '%q' "$2") (see ./run_in_container.sh help $1)" "$EXIT_USAGE"
}

options_flag() {
  case "$1" in
    --no-firewall) FIREWALL=off ;;
    -T) TTY=no ;;
    --rebuild) REBUILD=yes ;;
    --accept-changes) ACCEPT_CHANGES=1 ;;
    --device) LOGIN_MODE=device ;;
    --with-api-key) LOGIN_MODE=api-key ;;
    --stat) DIFF_STAT=yes ;;
    --yes) YES=yes ;;
    --keep) KEEP=yes ;;
    --parallel) PARALLEL=yes ;;
    --ssh-agent) SSH_AGENT=yes ;;
    --learn) LEARN=yes ;;
    --save) SAVE=yes ;;
    --all) ALL=yes ;;
    --stopped) STOPPED=yes ;;
    --clean) CLEAN=yes ;;
    --warm) WARM_BUILD=yes ;;
  esac
}

options_set() {
  case "$1" in
    --agent) AGENT="$2" ;;
    --work-dir | --work_dir) WORK_DIR="$2" ;;
    --read-only) READONLY_MOUNTS+=("$2") ;;
    --mount) MOUNTS+=("$2") ;;
    --network) options_network "$2" ;;
    --name)
      [[ "$2" =~ $NAME_RE ]] || die "--name: invalid container name '$2'" "$EXIT_USAGE"
      case "$2" in *.spare-*) die "--name: '$2' has the form of a spare's name (.spare-); choose another" "$EXIT_USAGE" ;; esac
      CONTAINER_NAME="$2" ;;
    --allow)
      # Checked here, one by one: a newline inside one value must not pass as two lines.
      [[ "$2" =~ $DOMAIN_RE ]] || die "--allow: invalid domain '$2' (expected example.com or *.example.com)" "$EXIT_USAGE"
      EXTRA_DOMAINS+=("$2") ;;
    --env)
      # A name only: a value given here would end up in ps and shell history.
      [[ "$2" =~ $ENV_NAME_RE ]] || die "--env: expected a variable name like MY_API_KEY, not '$2' (values are read from your environment)" "$EXIT_USAGE"
      EXTRA_ENV+=("$2") ;;
    --git)
      case "$2" in readonly | track | off | writable) GIT_MODE="$2" ;;
        *) die "--git: expected readonly, track, off or writable, not '$2'" "$EXIT_USAGE" ;;
      esac ;;
    --memory)
      [[ "$2" =~ $MEMORY_RE ]] || die "--memory: expected a size like 4g, or none, not '$2'" "$EXIT_USAGE"
      MEMORY="$2" ;;
    --pids-limit)
      [[ "$2" =~ $PIDS_RE ]] || die "--pids-limit: expected a number, or none, not '$2'" "$EXIT_USAGE"
      PIDS_LIMIT="$2" ;;
    --port) options_port "$2" ;;
    --host-port) options_host_port "$2" ;;
    --init_script | --init-script) INIT_SCRIPT="$2" ;;
    --sessions-path) SESSIONS_PATH="$2" ;;
    --config) CONFIG_DIR="$2" CONFIG_GIVEN=yes CODEX_CONFIG_DIR="$2" ;;
    --auth_file | --auth-file) AUTH_FILE="$2" ;;
    --credentials) CREDENTIALS_MODE="$2" ;;
  esac
}

options_network() {
  # host and container:* would put the sandbox's firewall into another namespace.
  case "$1" in
    host | none | container:*) die "--network: '$1' is refused: the sandbox needs its own network namespace" "$EXIT_USAGE" ;;
  esac
  [[ "$1" =~ $NAME_RE ]] || die "--network: invalid network name '$1'" "$EXIT_USAGE"
  NETWORK="$1"
}

options_port() {
  [[ "$1" =~ $PORT_RE ]] && [ "${1#*:}" -le 65535 ] && [ "${1%:*}" -le 65535 ] \
    || die "--port: expected PORT or HOST_PORT:PORT (1-65535), not $(printf '%q' "$1")" "$EXIT_USAGE"
  PORTS+=("$1")
}

# --host-port PORT: a TCP port of the Docker host (lib/hostports.sh), a number only: the address
# is the sandbox network's gateway, never one given here.
options_host_port() {
  [[ "$1" =~ ^[1-9][0-9]{0,4}$ ]] && [ "$1" -le 65535 ] \
    || die "--host-port: expected a port of this machine (1-65535), not $(printf '%q' "$1"); inside it is host.docker.internal:PORT" "$EXIT_USAGE"
  HOST_PORTS+=("$1")
}

# options_session_name COMMAND: its one word, a session name, into TARGET (attach, stop, destroy).
options_session_name() {
  [ "${#WORDS[@]}" -le 1 ] || die "$1 takes one session name" "$EXIT_USAGE"
  TARGET="${WORDS[0]:-}"
  [ -n "$TARGET" ] || die "$1 needs a session name: ./run_in_container.sh $1 NAME (list shows them)" "$EXIT_USAGE"
  [[ "$TARGET" =~ $NAME_RE ]] || die "$1: invalid session name $(printf '%q' "$TARGET")" "$EXIT_USAGE"
}
