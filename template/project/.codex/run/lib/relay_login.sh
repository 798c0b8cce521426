# shellcheck shell=bash
# Your codex login and the relay (lib/relay.sh): a ChatGPT sign-in's tokens, or an API key, in
# your ~/.codex/auth.json go to the relay instead of the agent home, which gets a login of
# placeholders; after the session, a refresh the relay made goes back into that file.

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
  if ! { json_string chain chain && json_string access_token access && json_string refresh_token refresh \
    && json_string id_token id && relay_token_ok "$access" && relay_token_ok "$refresh" \
    && relay_token_ok "$id"; }; then
    say "warning: the relay's refreshed sign-in could not be read; $RELAY_SIGN_IN_FILE is as it was"
    return 0
  fi
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
