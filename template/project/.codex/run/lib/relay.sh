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
  (umask 077 && printf '%s' "$1" >"$FILE") || die "cannot write the relay's keys into $FILE"
  RELAY_KEYS_FILE="$FILE"
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

# A ChatGPT sign-in the relay holds (relay_login_plan): "ACCESS REFRESH ACCOUNT ID" for the
# relay (ACCOUNT "-": none), and your login file. An API key your codex login holds: the
# variable it stands for, and the key.
RELAY_SIGN_IN="" RELAY_OUT="" RELAY_LOGIN_KEY_ENV="" RELAY_LOGIN_KEY="" RELAY_SIGN_IN_FILE=""

# relay_login_plan FILE PATH: FILE, your codex login, stays with the relay when it is a ChatGPT
# sign-in (its tokens) or an API key's login (the key, for codex's API route, when you set no
# key variable); the agent home's PATH gets a login of placeholders (a sign-in's account and
# claims: codex needs them, they let nothing in). 1 when not (a file in an agent tree, no such
# route, another shape): imported as before.
relay_login_plan() {
  local content="" access refresh account id last="" key
  [ -f "$1" ] && [ ! -L "$1" ] && ! in_agent_tree "$1" || return 1
  IFS= read -r -d '' content <"$1" || true
  if json_string OPENAI_API_KEY key; then
    relay_route openai || return 1
    relay_token_ok "$key" \
      || die "your codex login ($1) holds an API key with a character no key has: the relay refuses it" "$EXIT_USAGE"
    RELAY_LOGIN_KEY_ENV=CODEX_API_KEY RELAY_LOGIN_KEY="$key"
    printf '{"auth_mode":"apikey","OPENAI_API_KEY":"%s"}\n' "$RELAY_PLACEHOLDER" >"$RUN_TMP/codex-login.json" \
      || die "cannot write $RUN_TMP/codex-login.json"
    plan_copy "$RUN_TMP/codex-login.json" "$ENV_DIR/$2"
    return 0
  fi
  relay_route chatgpt || return 1
  # A sign-in's tokens are never copied in: one that cannot be read whole is refused.
  if ! json_string refresh_token refresh && [[ "$content" =~ \"(refresh_token|access_token|id_token)\" ]]; then
    relay_unreadable "$1"
  fi
  [ -n "${refresh:-}" ] || return 1
  if ! { json_string access_token access && json_string id_token id; }; then relay_unreadable "$1"; fi
  json_string account_id account || account=""
  json_string last_refresh last || last=""
  if ! { relay_token_ok "$access" && relay_token_ok "$refresh" && relay_token_ok "$id"; } \
    || ! [[ -z "$account" || ( "${#account}" -le 200 && "$account" =~ $RELAY_ACCOUNT_RE ) ]]; then
    relay_unreadable "$1"
  fi
  RELAY_SIGN_IN="$access $refresh ${account:--} $id" RELAY_SIGN_IN_FILE="$1"
  # The tokens' claims, unsigned (no signature: no credential; codex reads the expiry there and
  # refreshes when it is due, through the relay); the last refresh as yours.
  [ -z "$account" ] || account="\"$account\""
  printf '{"auth_mode":"chatgpt","OPENAI_API_KEY":null,"tokens":{"id_token":"%s","access_token":"%s","refresh_token":"%s","account_id":%s},"last_refresh":"%s"}\n' \
    "$(unsigned "$id")" "$(unsigned "$access")" "$RELAY_PLACEHOLDER" "${account:-null}" "${last:-2000-01-01T00:00:00Z}" \
    >"$RUN_TMP/codex-login.json" || die "cannot write $RUN_TMP/codex-login.json"
  plan_copy "$RUN_TMP/codex-login.json" "$ENV_DIR/$2"
}

# relay_unreadable FILE: a sign-in whose tokens cannot all be read: refused, never copied in.
relay_unreadable() {
  die "your codex login ($1) holds a sign-in whose tokens cxgen cannot read whole, and its tokens never go into the sandbox: sign in again on this machine (codex login), or start with --credentials none" "$EXIT_USAGE"
}

# unsigned TOKEN: a JWT's header and claims without its signature, else the placeholder.
unsigned() {
  case "$1" in
    ?*.?*.*) printf '%s.cxgen\n' "${1%.*}" ;;
    *) printf '%s\n' "$RELAY_PLACEHOLDER" ;;
  esac
}

# relay_route KIND: this project relays a route of KIND.
relay_route() {
  local i
  for ((i = 2; i < ${#RELAY_ROUTES[@]}; i += 4)); do
    [ "${RELAY_ROUTES[$i]}" != "$1" ] || return 0
  done
  return 1
}

# json_string KEY VAR: the string value of "KEY" in content (a token: no quotes or escapes in
# it), into VAR; 1 when there is none.
json_string() {
  local pattern="\"$1\"[[:space:]]*:[[:space:]]*\"([^\"\\\\]*)\""
  [[ "$content" =~ $pattern ]] || return 1
  printf -v "$2" '%s' "${BASH_REMATCH[1]}"
}

# relay_write_back: after the session, a refresh the relay made (what the token endpoint
# answered over verified TLS: never a file the agent can write) replaces the tokens in your login
# file, when that holds one of the refresh tokens the relay has had (the same sign-in: not one
# you signed in again with meanwhile, nor another login), and is yours (a file of another
# account is left as it is). The relay's file is emptied after.
relay_write_back() {
  local content="" chain access refresh id now_access now_refresh now_id last now tmp=""
  [ -n "$RELAY_OUT" ] && [ -s "$RELAY_OUT" ] && [ -n "$RELAY_SIGN_IN_FILE" ] || return 0
  IFS= read -r -d '' content <"$RELAY_OUT" || true
  : >"$RELAY_OUT"
  json_string chain chain && json_string access_token access && json_string refresh_token refresh \
    && json_string id_token id \
    && relay_token_ok "$access" && relay_token_ok "$refresh" && relay_token_ok "$id" \
    || { say "warning: the relay's refreshed sign-in could not be read; $RELAY_SIGN_IN_FILE is as it was"; return 0; }
  content=""
  [ -L "$RELAY_SIGN_IN_FILE" ] || [ ! -O "$RELAY_SIGN_IN_FILE" ] \
    || { IFS= read -r -d '' content <"$RELAY_SIGN_IN_FILE" || true; }
  if ! json_string refresh_token now_refresh || [[ " $chain " != *" $now_refresh "* ]] \
    || ! json_string access_token now_access || ! json_string id_token now_id; then
    say "note: the relay refreshed your ChatGPT sign-in, but $RELAY_SIGN_IN_FILE is not the login it was given (signed in again? another account's file?): kept as it is; sign in again there if codex says so"
    return 0
  fi
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  # Each old value is a long token, found once: replaced where it stands (your file's form kept).
  content="${content/"\"$now_access\""/"\"$access\""}"
  content="${content/"\"$now_refresh\""/"\"$refresh\""}"
  content="${content/"\"$now_id\""/"\"$id\""}"
  ! json_string last_refresh last || content="${content/"\"$last\""/"\"$now\""}"
  if ! { tmp=$(mktemp "$RELAY_SIGN_IN_FILE.XXXXXX") && printf '%s' "$content" >"$tmp" \
    && mv -f "$tmp" "$RELAY_SIGN_IN_FILE"; }; then
    rm -f "$tmp"
    say "warning: could not update $RELAY_SIGN_IN_FILE with the refreshed sign-in"
    return 0
  fi
  say "your ChatGPT sign-in was refreshed by the relay (the token endpoint's answer): updated $RELAY_SIGN_IN_FILE"
}

# relay_attach_write_back LAUNCH: after a kept session ran again, a refresh its relay made goes
# to your codex login as after the first run (the file found the way the start finds it).
relay_attach_write_back() {
  local i
  [[ "$1" =~ ^[0-9-]+$ ]] && [ -s "$STATE_DIR/relay/$1-sign-in" ] || return 0
  RELAY_OUT="$STATE_DIR/relay/$1-sign-in" RELAY_SIGN_IN_FILE=""
  for ((i = 0; i < ${#CREDENTIALS[@]}; i += 3)); do
    [ "${CREDENTIALS[$i]} ${CREDENTIALS[$((i + 1))]}" = "codex auth.json" ] || continue
    RELAY_SIGN_IN_FILE=$(host_credential "${CREDENTIALS[$((i + 2))]}")
  done
  relay_write_back
}

# relay_image_check: an image of your own (CODEX_DOCKER_IMAGE) gets no key unless it has the
# relay (its label): in one without, nothing would empty the keys file, and the agent owns it.
relay_image_check() {
  local label=""
  docker_query label image inspect -f '{{index .Config.Labels "org.cxgen.relay"}}' -- "$IMAGE"
  [ "$label" = 1 ] \
    || die "CODEX_DOCKER_IMAGE=$IMAGE has no API relay (made by an older cxgen or by hand), so your API keys cannot stay out of it; rebuild it from this project (./run_in_container.sh build), or unset the keys" "$EXIT_USAGE"
}
