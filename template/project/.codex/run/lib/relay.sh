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
readonly RELAY_OUT_INSIDE=/var/lib/cxgen-relay/out/chatgpt.json
# What a key or token may hold (it goes into nginx's configuration), up to 8192 characters. (No
# bounded repetition: glibc's regex expands {1,8192} into an automaton that takes seconds.)
readonly RELAY_TOKEN_RE='^[A-Za-z0-9._~+/=:-]+$' RELAY_ACCOUNT_RE='^[A-Za-z0-9_-]+$'

# relay_args: the relay's routes, and the keys of those set here, for docker run (after
# pass_env's ENV_FROM: codex's CODEX_API_KEY from OPENAI_API_KEY). A host has one key: the first
# route's that is set, sent that route's way (claude's API key as x-api-key, its sign-in token
# as a bearer). A ChatGPT sign-in the relay holds (relay_login_plan) goes to its chatgpt route,
# with a file for what a refresh brings back (relay_write_back). Sets RELAY_KEYS (yes: some).
relay_args() {
  local i var host kind url_env routes="" keys="" keyed=" " base hosts=() moved=" "
  RELAY_KEYS=no
  [ "${#RELAY_ROUTES[@]}" -gt 0 ] || return 0
  # A base URL of yours moves its API whole: every key for that host (claude's key and sign-in
  # token) goes where it says.
  for ((i = 0; i < ${#RELAY_ROUTES[@]}; i += 4)); do
    host="${RELAY_ROUTES[$((i + 1))]}" url_env="${RELAY_ROUTES[$((i + 3))]}"
    [ "$url_env" != - ] && [ -n "${!url_env:-}" ] || continue
    var="$host"
    relay_base_url "$url_env"
    moved="$moved$var=$host "
  done
  for ((i = 0; i < ${#RELAY_ROUTES[@]}; i += 4)); do
    var="${RELAY_ROUTES[$i]}" host="${RELAY_ROUTES[$((i + 1))]}"
    kind="${RELAY_ROUTES[$((i + 2))]}" url_env="${RELAY_ROUTES[$((i + 3))]}"
    base=""
    case "$moved" in *" $host="*) host="${moved#*" $host="}" host="${host%% *}" ;; esac
    [ "$url_env" = - ] || relay_base_url "$url_env"
    hosts+=("$host")
    case "$kind" in
      chatgpt)
        [ -z "$RELAY_SIGN_IN" ] || { keys="$keys$host $RELAY_SIGN_IN"$'\n' keyed="$keyed$host=$kind "; } ;;
      refresh) [ -n "$base" ] || base=/oauth/token ;;
      *) relay_key "$var" ;;
    esac
    [ "$url_env" = - ] || DOCKER_ARGS+=(-e "$url_env=$RELAY_ADDRESS/$host$base")
  done
  # Each host once, the way its key goes (else its first route's).
  for ((i = 0; i < ${#RELAY_ROUTES[@]}; i += 4)); do
    host="${hosts[$((i / 4))]}" kind="${RELAY_ROUTES[$((i + 2))]}"
    case " $routes " in *" $host "*) continue ;; esac
    case "$keyed" in *" $host="*) kind="${keyed#*" $host="}" kind="${kind%% *}" ;; esac
    routes="${routes:+$routes }$host $kind"
  done
  [ -z "$keys" ] || RELAY_KEYS=yes
  relay_keys_file "$keys"
  [ -z "$RELAY_SIGN_IN" ] || relay_out_file
  DOCKER_ARGS+=(-e "CXGEN_RELAY_ROUTES=$routes")
}

# relay_key VAR: VAR's key (yours, or the API key your codex login holds: relay_login_plan),
# for host, sent kind's way, unless that host has one already; the agent gets the placeholder.
relay_key() {
  local value="${!1:-}"
  [ -n "$value" ] || [ "$1" != "${RELAY_LOGIN_KEY_ENV:-}" ] || value="$RELAY_LOGIN_KEY"
  [ -n "$value" ] || return 0
  [ -n "${!1:-}" ] && relay_key_check "$1"
  DOCKER_ARGS+=(-e "$1=$RELAY_PLACEHOLDER")
  case "$keyed" in *" $host="*) ;; *) keys="$keys$host $value"$'\n' keyed="$keyed$host=$kind " ;; esac
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

# relay_token_ok VALUE: VALUE is what a key or token holds.
relay_token_ok() { [ "${#1}" -le 8192 ] && [[ "$1" =~ $RELAY_TOKEN_RE ]]; }

# relay_key_check VAR: a key holds only what a key holds (it goes into nginx's configuration).
relay_key_check() {
  local pair source name="\$$1"
  relay_token_ok "${!1}" && return 0
  # Named as you set it: codex's CODEX_API_KEY may be your OPENAI_API_KEY (ENV_FROM).
  for pair in ${ENV_FROM[@]+"${ENV_FROM[@]}"}; do
    source="${pair#*=}"
    [ "${pair%%=*}" != "$1" ] || [ "${!1}" != "${!source:-}" ] || name="\$$source"
  done
  die "$name holds a character no API key has (or is over 8192 long): the relay refuses it; check its value" "$EXIT_USAGE"
}

# relay_file NAME: a file of this start for the relay (RUN_TMP is yours alone; a kept session's
# outlives this script, in your state folder), into FILE.
relay_file() {
  make_run_tmp
  FILE="$RUN_TMP/relay-$1"
  if [ "$KEEP" = yes ]; then
    { mkdir -p "$STATE_DIR/relay" && chmod 0700 "$STATE_DIR/relay"; } \
      || die "cannot create $STATE_DIR/relay for the kept session's relay"
    FILE="$STATE_DIR/relay/$LAUNCH_ID-$1"
  fi
}

# relay_keys_file KEYS: the keys ("HOST KEY" lines) in a file only this start has, mounted where
# the entrypoint reads and empties it. printf is a builtin: no key is on a command line. A kept
# session's file outlives this script (a docker start mounts it again, empty: the relay keeps
# its own copy).
relay_keys_file() {
  local FILE
  relay_file keys
  # (Its folder is yours alone, 0700: no umask subshell, a fork at every start.)
  printf '%s' "$1" >"$FILE" || die "cannot write the relay's keys into $FILE"
  RELAY_KEYS_FILE="$FILE" RELAY_KEYS_TEXT="$1"
  add_mount "$FILE" "$RELAY_KEYS_INSIDE"
}

# relay_done: after docker run, the keys file emptied (the entrypoint did, unless the start
# failed before; a kept session's stays in your state folder until destroy).
RELAY_KEYS_FILE="" RELAY_KEYS=no
relay_done() {
  [ -z "$RELAY_KEYS_FILE" ] || [ ! -s "$RELAY_KEYS_FILE" ] || : >"$RELAY_KEYS_FILE"
}

# relay_forget_gone: the relay files of kept sessions that are no more (destroyed, or removed
# by docker rm): a key file, a refreshed sign-in's tokens.
relay_forget_gone() {
  local file launch launches=""
  [ -d "$STATE_DIR/relay" ] || return 0
  launches=$(docker ps -a --filter label=org.cxgen.sandbox=1 --format '{{.Label "org.cxgen.launch"}}' 2>/dev/null) || return 0
  for file in "$STATE_DIR/relay"/*-keys "$STATE_DIR/relay"/*-sign-in; do
    [ -f "$file" ] || continue
    launch="${file##*/}" launch="${launch%-*}"
    case $'\n'"$launches"$'\n' in *$'\n'"$launch"$'\n'*) ;; *) rm -f "$file" ;; esac
  done
}
# relay_out_file: where the relay writes what a refresh of your sign-in brought (the token
# endpoint's answer, over verified TLS), for relay_write_back: empty now, mounted inside the
# relay's folder, where no agent reaches. Writable by all (the relay is another uid, and no
# sandbox may chmod another's file): only you reach it here, in a folder of yours alone.
relay_out_file() {
  local FILE
  relay_file sign-in
  (umask 0111 && : >"$FILE") || die "cannot create $FILE for the relay"
  RELAY_OUT="$FILE"
  add_mount "$FILE" "$RELAY_OUT_INSIDE"
}

# relay_image_check: an image of your own (CODEX_DOCKER_IMAGE) gets no key unless it has the
# relay (its label): in one without, nothing would empty the keys file, and the agent owns it.
relay_image_check() {
  local label=""
  docker_query label image inspect -f '{{index .Config.Labels "org.cxgen.relay"}}' -- "$IMAGE"
  [ "$label" = 1 ] \
    || die "CODEX_DOCKER_IMAGE=$IMAGE has no API relay (made by an older cxgen or by hand), so your API keys cannot stay out of it; rebuild it from this project (./run_in_container.sh build), or unset the keys" "$EXIT_USAGE"
}
