# shellcheck shell=bash
# Credentials.
# Each agent's login file lives in its project home (git ignores it; no image has it), imported
# from the host's own copy (CREDENTIALS_MODE copy; sync, its old name, is the same) when the home
# has none or the host's changed since the last import; none leaves both alone. Nothing ever goes
# back: the agent can edit its copy, and no check it could satisfy (an account id it has read)
# proves a login is yours, so a file it wrote never replaces a host credential.

# host_credential CANDIDATES: the first existing file of the space-separated candidates
# ("~/x", "$VAR/x"; a candidate whose variable is unset is skipped), or nothing.
host_credential() {
  local candidate name path
  for candidate in $1; do
    # shellcheck disable=SC2088 # a literal ~/, expanded here
    case "$candidate" in
      "~/"*) path="${HOME:-/nonexistent}/${candidate#"~/"}" ;;
      '$'*)
        name="${candidate%%/*}" name="${name#'$'}"
        [ -n "${!name:-}" ] || continue
        path="${!name}/${candidate#*/}" ;;
      *) continue ;;
    esac
    if [ -f "$path" ]; then
      printf '%s\n' "$path"
      return 0
    fi
  done
}

# Plans each installed agent's login import (COPIES; SYNC_MARKS: the host file and where its
# fingerprint at the import is kept). --auth_file is the started agent's login file (else the
# first agent's with one; with none, codex's auth.json, for a codex started by hand).
plan_credentials() {
  local i auth_index=-1 host
  SYNC_MARKS=()
  [ "$CREDENTIALS_MODE" != none ] || return 0
  for ((i = 0; i < ${#CREDENTIALS[@]}; i += 3)); do
    [ "$auth_index" -ge 0 ] || auth_index=$i
    [ "${CREDENTIALS[$i]}" != "$AGENT" ] || { auth_index=$i; break; }
  done
  for ((i = 0; i < ${#CREDENTIALS[@]}; i += 3)); do
    host=""
    if [ -n "$AUTH_FILE" ] && [ "$i" -eq "$auth_index" ]; then
      host="$AUTH_FILE"
    else
      host=$(host_credential "${CREDENTIALS[$((i + 2))]}")
    fi
    [ -z "$host" ] || plan_credential "${CREDENTIALS[$i]}" "${CREDENTIALS[$((i + 1))]}" "$host"
  done
  [ -z "$AUTH_FILE" ] || [ "$auth_index" -ge 0 ] || plan_credential codex auth.json "$AUTH_FILE"
}

# notice_no_write_back AGENT HOST: once per machine, at a login's import, that imports go one
# way; to whom an earlier run script may have written logins back (sync was the default, and it
# left import marks in STATE_DIR/credentials; no-write-back: told so already) or who asks for
# sync, that it no longer does.
notice_no_write_back() {
  local mark="$STATE_DIR/one-way-logins"
  [ ! -e "$mark" ] || return 0
  if { [ "$CREDENTIALS_MODE" = sync ] || [ -d "$STATE_DIR/credentials" ]; } && [ ! -e "$STATE_DIR/no-write-back" ]; then
    say "note: a login refreshed in the sandbox is no longer written back to your host's agent (--credentials sync works as copy); if that one is signed out, sign in again there (cxgen's docs/agents.md: Logins and credentials)"
  else
    say "note: your $1 login is copied into this project's agent home, one way: what the sandbox refreshes or signs in there is never written back to $2 (cxgen's docs/agents.md: Logins and credentials; said once)"
  fi
  { mkdir -p "$STATE_DIR" && : >"$mark"; } 2>/dev/null || true
}

# plan_credential AGENT PATH HOST: import HOST as the agent home's PATH when that is missing or
# HOST changed since the last import (you signed in again on the host: never decided by dates,
# which the agent can set).
plan_credential() {
  local path="$2" host="$3" home="$ENV_DIR/$2" mark
  [ "$host" != "$AUTH_FILE" ] || [ -f "$host" ] || die "--auth_file: not a file: $host" "$EXIT_USAGE"
  host=$(safe_path "$1 login file" "$host")
  check_home_path "$path"
  # codex's login (a ChatGPT sign-in, an API key) stays with the relay; the agent home gets
  # placeholders.
  if [ "$1" = codex ] && [ "$path" = auth.json ] && relay_login_plan "$host" "$path"; then return 0; fi
  # The last import of this pair (host file, this project's copy), kept where no agent reaches.
  mark="$STATE_DIR/credentials/$(printf '%s\n%s' "$host" "$home" | sha256)"
  if [ ! -e "$home" ] && [ ! -L "$home" ] || [ "$(fingerprint "$host")" != "$(last_sync "$mark")" ]; then
    notice_no_write_back "$1" "$host"
    plan_copy "$host" "$home"
    SYNC_MARKS+=("$host" "$mark")
  fi
}

# After the copies: remember what was imported (the host file's fingerprint) per pair.
mark_imports() {
  local i
  for ((i = 0; i < ${#SYNC_MARKS[@]}; i += 2)); do
    mkdir -p "$STATE_DIR/credentials" && fingerprint "${SYNC_MARKS[$i]}" >"${SYNC_MARKS[$((i + 1))]}" || true
  done
}

# fingerprint FILE: what tells a host file's content apart (cksum: one fork, everywhere). A file
# in an agent tree (a --auth_file there) is read as read_agent_file does.
fingerprint() {
  local sum
  if in_agent_tree "$1"; then
    if [ -f "$1" ] && sum=$(read_agent_file "$1" | cksum); then printf '%s\n' "$sum"; else printf 'none\n'; fi
  else
    [ -f "$1" ] && cksum <"$1" || printf 'none\n'
  fi
}

# last_sync MARK: the host file's fingerprint at the last import (nothing before the first).
last_sync() { local line=""; IFS= read -r line 2>/dev/null <"$1" || true; printf '%s\n' "$line"; }
