# shellcheck shell=bash
# The API relay (the sandbox's relay.sh): the relayed keys (RELAY_ROUTES) set here never enter
# the sandbox. The agent gets a placeholder in the key's variable (and, for an agent that reads
# one, its base URL pointing at the relay); the keys go to the entrypoint in a file of their own,
# which it empties before anything of the agent's runs; nginx, as an account the agent cannot
# reach, adds them to the agent's requests for their hosts.

# What the agent sees in a relayed key's variable: the same every session (an agent that
# remembers which keys you approved, Claude Code's, asks once).
readonly RELAY_PLACEHOLDER=cxgen-relayed-key
readonly RELAY_ADDRESS=http://127.0.0.1:8700
# Inside: where the entrypoint reads the keys, and the relay's own folder (root mode: a volume).
readonly RELAY_KEYS_INSIDE=/run/cxgen-relay-keys RELAY_STATE_INSIDE=/var/lib/cxgen-relay

# relay_args: the relay's routes, and the keys of those set here, for docker run (after
# pass_env's ENV_FROM: codex's CODEX_API_KEY from OPENAI_API_KEY). A host has one key: the first
# route's that is set.
relay_args() {
  local i var host header url_env routes="" keys="" keyed=" " base
  [ "${#RELAY_ROUTES[@]}" -gt 0 ] || return 0
  for ((i = 0; i < ${#RELAY_ROUTES[@]}; i += 4)); do
    var="${RELAY_ROUTES[$i]}" host="${RELAY_ROUTES[$((i + 1))]}"
    header="${RELAY_ROUTES[$((i + 2))]}" url_env="${RELAY_ROUTES[$((i + 3))]}"
    base=""
    [ "$url_env" = - ] || relay_base_url "$url_env"
    case " $routes " in *" $host "*) ;; *) routes="${routes:+$routes }$host $header" ;; esac
    if [ -n "${!var:-}" ]; then
      relay_key_check "$var"
      DOCKER_ARGS+=(-e "$var=$RELAY_PLACEHOLDER")
      case "$keyed" in *" $host "*) ;; *) keys="$keys$host ${!var}"$'\n' keyed="$keyed$host " ;; esac
    fi
    [ "$url_env" = - ] || DOCKER_ARGS+=(-e "$url_env=$RELAY_ADDRESS/$host$base")
  done
  relay_keys_file "$keys"
  DOCKER_ARGS+=(-e "CXGEN_RELAY_ROUTES=$routes")
}

# relayed VAR: VAR is a relayed key, or a base URL the relay sets (never passed as it is).
relayed() {
  local i
  for ((i = 0; i < ${#RELAY_ROUTES[@]}; i += 4)); do
    [ "${RELAY_ROUTES[$i]}" != "$1" ] && [ "${RELAY_ROUTES[$((i + 3))]}" != "$1" ] || return 0
  done
  return 1
}

# relay_base_url VAR: a https:// URL of yours in VAR (ANTHROPIC_BASE_URL for a proxy) is where
# that route's key goes: sets host to its host[:port] (an allowed name, as always) and base to
# its path. Anything else but unset is refused: a key goes over verified TLS or not at all.
relay_base_url() {
  local url="${!1:-}" rest
  [ -n "$url" ] || return 0
  case "$url" in
    https://*) rest="${url#https://}" ;;
    *) die "$1 is $url: the relay sends your key over verified TLS only (an https:// URL), and never lets it into the sandbox; unset $1 or give an https:// URL" "$EXIT_USAGE" ;;
  esac
  host="${rest%%/*}" base=""
  [ "$host" = "$rest" ] || base="/${rest#*/}"
  base="${base%/}"
  [[ "$host" =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$ ]] \
    || die "$1 is $url: its host is not a plain host name (lowercase, optionally :port)" "$EXIT_USAGE"
}

# relay_key_check VAR: a key holds only what a key holds (it goes into nginx's configuration).
relay_key_check() {
  local pair source name="\$$1"
  [[ "${!1}" =~ ^[A-Za-z0-9._~+/=:-]{1,4096}$ ]] && return 0
  # Named as you set it: codex's CODEX_API_KEY may be your OPENAI_API_KEY (ENV_FROM).
  for pair in ${ENV_FROM[@]+"${ENV_FROM[@]}"}; do
    source="${pair#*=}"
    [ "${pair%%=*}" != "$1" ] || [ "${!1}" != "${!source:-}" ] || name="\$$source"
  done
  die "$name holds a character no API key has (or is over 4096 long): the relay refuses it; check its value" "$EXIT_USAGE"
}

# relay_keys_file KEYS: the keys ("HOST KEY" lines) in a file only this start has (RUN_TMP is
# yours alone), mounted where the entrypoint reads and empties it. printf is a builtin: no key is
# on a command line. A kept session's file outlives this script (a docker start mounts it again,
# empty: the relay keeps its own copy).
relay_keys_file() {
  local file="$RUN_TMP/relay-keys"
  if [ "$KEEP" = yes ]; then
    mkdir -p "$STATE_DIR/relay" || die "cannot create $STATE_DIR/relay for the kept session's relay"
    file="$STATE_DIR/relay/$LAUNCH_ID"
  fi
  (umask 077 && printf '%s' "$1" >"$file") || die "cannot write the relay's keys into $file"
  add_mount "$file" "$RELAY_KEYS_INSIDE"
}
