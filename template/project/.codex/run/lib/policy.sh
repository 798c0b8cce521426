# shellcheck shell=bash
# Policy approval.
# The allowlist and the image's build context decide what the sandbox may do. They live in the
# project, where a git pull or an earlier agent could change them, so this user accepts every
# change once, on this machine, before anything is built or started.

# Sets POLICY_KEY: this project's folder name in STATE_DIR/projects.
policy_key() {
  POLICY_KEY=$(printf '%s' "$PROJECT_DIR" | sha256)
  POLICY_KEY="${POLICY_KEY:0:16}"
}

# Sets POLICY_DIR (per user, per project), POLICY (what is in force now, for the check: the
# build context's hash as context_hash_cached gave it) and ACCEPTED.
load_policy() {
  local hook=""
  [ -n "${POLICY_KEY:-}" ] || policy_key
  POLICY_DIR="$STATE_DIR/projects/$POLICY_KEY"
  # The init hook runs at every start: accepted like the image. (No subshell without one.)
  if [ -e "$ENV_DIR/init.sh" ] || [ -L "$ENV_DIR/init.sh" ]; then
    hook=$(hook_hash) || exit "$?"
  fi
  policy_text "$CONTEXT_HASH" "$hook"
  ACCEPTED=""
  if [ -f "$POLICY_DIR/policy" ]; then
    IFS= read -r -d '' ACCEPTED <"$POLICY_DIR/policy" || true
    upgrade_short_hash
  fi
}

# upgrade_short_hash: an approval an earlier run script recorded names the build context by 12 hex
# digits of its sha256, too few (two contexts sharing them are found in minutes). It stands for
# the whole hash of the copy recorded with it, the one you were shown, or for nothing; rewritten
# once with that hash.
upgrade_short_hash() {
  local line short="" full text=""
  while IFS= read -r line; do
    case "$line" in "sandbox "*) short="${line#sandbox }" ;; esac
  done <<<"$ACCEPTED"
  [[ "$short" =~ ^[0-9a-f]{12}$ ]] || return 0
  full=$(context_hash "$POLICY_DIR/sandbox" 2>/dev/null) && [ "${full:0:12}" = "$short" ] || full=none
  while IFS= read -r line; do
    [ "$line" != "sandbox $short" ] || line="sandbox $full"
    text="$text$line"$'\n'
  done <<<"${ACCEPTED%$'\n'}"
  ACCEPTED="$text"
  [ "$full" != none ] || return 0
  { printf '%s' "$ACCEPTED" >"$POLICY_DIR/policy.new" && mv -f "$POLICY_DIR/policy.new" "$POLICY_DIR/policy"; } 2>/dev/null || true
}

# policy_text HASH HOOK_HASH: sets POLICY: the project, the build context's hash, the init hook's
# (if any), the allowlist file's domains as collect_domains read them (the ones a start uses),
# and the host_ports answer's ports (settings.sh, as this run read it: the ones it opens).
policy_text() {
  local domain port
  POLICY="project $PROJECT_DIR"$'\n'"sandbox $1"$'\n'
  [ -z "$2" ] || POLICY="${POLICY}init $2"$'\n'
  for domain in ${PROJECT_DOMAINS[@]+"${PROJECT_DOMAINS[@]}"}; do
    POLICY="${POLICY}domain $domain"$'\n'
  done
  for port in ${DEFAULT_HOST_PORTS[@]+"${DEFAULT_HOST_PORTS[@]}"}; do
    POLICY="${POLICY}host-port $port"$'\n'
  done
}

# hook_hash: the init hook's sha256 (nothing when there is none).
hook_hash() {
  [ -e "$ENV_DIR/init.sh" ] || [ -L "$ENV_DIR/init.sh" ] || return 0
  refuse_symlink "$ENV_DIR/init.sh"
  read_agent_file "$ENV_DIR/init.sh" | sha256 || agent_file_failed "$ENV_DIR/init.sh"
}

# snapshot_policy: one read of what you are asked to accept, into this run's private folder
# SNAPSHOT: the build context copied (SNAPSHOT_HASH hashed from the copy), the init hook copied,
# the domains as collect_domains read them; POLICY is set from it. What is shown and recorded is
# this copy, never the project's files read again (a sandbox whose work dir holds the project
# could be rewriting them).
snapshot_policy() {
  make_run_tmp
  SNAPSHOT="$RUN_TMP/policy"
  rm -rf "$SNAPSHOT"
  mkdir "$SNAPSHOT" "$SNAPSHOT/sandbox" || die "cannot create $SNAPSHOT"
  # The folder's content, even if a symlink was swapped in for it: what is copied is what counts.
  cp -R "$SANDBOX_DIR/." "$SNAPSHOT/sandbox" || die "cannot copy $SANDBOX_DIR"
  SNAPSHOT_HASH=$(context_hash "$SNAPSHOT/sandbox") SNAPSHOT_HOOK=""
  if [ -e "$ENV_DIR/init.sh" ] || [ -L "$ENV_DIR/init.sh" ]; then
    refuse_symlink "$ENV_DIR/init.sh"
    read_agent_file "$ENV_DIR/init.sh" >"$SNAPSHOT/init.sh" || agent_file_failed "$ENV_DIR/init.sh"
    [ "$(wc -c <"$SNAPSHOT/init.sh")" -le 1048576 ] || die "refusing $ENV_DIR/init.sh: over 1 MiB" "$EXIT_USAGE"
    SNAPSHOT_HOOK=$(sha256 <"$SNAPSHOT/init.sh")
  fi
  # For the diffs: the accepted copies under one short name.
  ln -s "$POLICY_DIR" "$SNAPSHOT/accepted"
  policy_text "$SNAPSHOT_HASH" "$SNAPSHOT_HOOK"
}

# Record the snapshot (SNAPSHOT, POLICY) as accepted: exactly what was shown. One recorder at
# a time (two starts accepting at once would trip over each other's copies).
record_policy() {
  mkdir -p "$POLICY_DIR" || die "cannot create $POLICY_DIR"
  lock_state "projects/$POLICY_KEY/policy" || die "cannot lock $POLICY_DIR"
  rm -rf "$POLICY_DIR/sandbox.new"
  cp -R "$SNAPSHOT/sandbox" "$POLICY_DIR/sandbox.new" || die "cannot write $POLICY_DIR"
  rm -f "$POLICY_DIR/init.sh"
  if [ -f "$SNAPSHOT/init.sh" ]; then
    cp "$SNAPSHOT/init.sh" "$POLICY_DIR/init.sh" || die "cannot write $POLICY_DIR"
  fi
  printf '%s' "$POLICY" >"$POLICY_DIR/policy.new"
  rm -rf "$POLICY_DIR/sandbox"
  mv "$POLICY_DIR/sandbox.new" "$POLICY_DIR/sandbox"
  mv "$POLICY_DIR/policy.new" "$POLICY_DIR/policy"
  rm -f "$POLICY_DIR/refused"
  unlock_state "projects/$POLICY_KEY/policy"
}

# lock_state NAME / unlock_state NAME: one run script at a time (mkdir is atomic everywhere);
# a lock older than a minute is a crashed run's and is taken over.
lock_state() {
  local lock="$STATE_DIR/$1.lock" tries=0
  mkdir -p "${lock%/*}" 2>/dev/null || return 1
  until mkdir "$lock" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ] || [ -n "$(find "$lock" -maxdepth 0 -mmin +1 2>/dev/null)" ]; then
      rmdir "$lock" 2>/dev/null || true
      tries=0
    fi
    sleep 0.1
  done
}

unlock_state() { rmdir "$STATE_DIR/$1.lock" 2>/dev/null || true; }

# policy_delta OLD NEW: sets ADDED and REMOVED (domains, each after a space), NEW_DOMAINS (NEW's),
# the host ports' (policy_port_delta), and CHANGED: what else differs ("sandbox", "init").
policy_delta() {
  local line old=" " new=" " old_rest="" new_rest="" words old_ports=" " new_ports=" "
  while IFS= read -r line; do
    case "$line" in
      "domain "*) old="$old${line#domain } " ;;
      "host-port "*) old_ports="$old_ports${line#host-port } " ;;
      sandbox* | init*) old_rest="$old_rest$line;" ;;
    esac
  done <<<"$1"
  while IFS= read -r line; do
    case "$line" in
      "domain "*) new="$new${line#domain } " ;;
      "host-port "*) new_ports="$new_ports${line#host-port } " ;;
      sandbox* | init*) new_rest="$new_rest$line;" ;;
    esac
  done <<<"$2"
  policy_port_delta "$old_ports" "$new_ports"
  ADDED="" REMOVED="" CHANGED="" NEW_DOMAINS="${new% }"
  read -r -a words <<<"$new" || true
  for line in ${words[@]+"${words[@]}"}; do
    case "$old" in *" $line "*) ;; *) ADDED="$ADDED $line" ;; esac
  done
  read -r -a words <<<"$old" || true
  for line in ${words[@]+"${words[@]}"}; do
    case "$new" in *" $line "*) ;; *) REMOVED="$REMOVED $line" ;; esac
  done
  for line in sandbox init; do
    [ "$(policy_field "$line" "$old_rest")" = "$(policy_field "$line" "$new_rest")" ] || CHANGED="$CHANGED $line"
  done
}

# policy_port_delta " OLD " " NEW ": sets PORTS_OPENED and PORTS_CLOSED (host ports, each after a
# space) and NEW_PORTS (NEW's).
policy_port_delta() {
  local port words
  PORTS_OPENED="" PORTS_CLOSED="" NEW_PORTS="${2% }"
  [ "$NEW_PORTS" != " " ] || NEW_PORTS=""
  read -r -a words <<<"$2" || true
  for port in ${words[@]+"${words[@]}"}; do
    case "$1" in *" $port "*) ;; *) PORTS_OPENED="$PORTS_OPENED $port" ;; esac
  done
  read -r -a words <<<"$1" || true
  for port in ${words[@]+"${words[@]}"}; do
    case "$2" in *" $port "*) ;; *) PORTS_CLOSED="$PORTS_CLOSED $port" ;; esac
  done
}

# policy_field NAME LINES: the value of NAME in ;-separated "NAME value" LINES.
policy_field() {
  case ";$2" in *";$1 "*) local rest="${2#*"$1 "}"; printf '%s' "${rest%%;*}" ;; esac
}

# policy_differs: ACCEPTED and POLICY differ in more than order: a domain or host port added or
# removed, or another build context or init hook.
policy_differs() {
  [ -n "$ACCEPTED" ] || return 0
  policy_delta "$ACCEPTED" "$POLICY"
  [ -n "$ADDED$REMOVED$PORTS_OPENED$PORTS_CLOSED$CHANGED" ]
}

# Print what changed between ACCEPTED and the snapshot: domains, then the build context and the
# init hook as diffs of the copies.
show_policy_changes() {
  policy_delta "$ACCEPTED" "$POLICY"
  {
    if [ -z "$ACCEPTED" ]; then
      printf 'cxgen: first run of %s on this machine; please review what its sandbox allows:\n' "$PROJECT_DIR"
      printf '  allowed domains (.codex/allowed-domains.txt):%s\n' "$NEW_DOMAINS"
      printf '  image build context: .codex/sandbox (%s)\n' "$(cd "$SNAPSHOT/sandbox" && find . -type f | LC_ALL=C sort | tr '\n' ' ')"
      [ ! -f "$SNAPSHOT/init.sh" ] || printf '  init hook run at every start: .codex/.environment/init.sh\n'
      [ -z "$NEW_PORTS" ] || printf '  ports of this machine it may reach at host.docker.internal (host_ports):%s\n' "$NEW_PORTS"
      return 0
    fi
    printf 'cxgen: the sandbox policy of %s changed since you accepted it:\n' "$PROJECT_DIR"
    [ -z "$ADDED" ] || printf '  allowed domains added:%s\n' "$ADDED"
    [ -z "$REMOVED" ] || printf '  allowed domains removed:%s\n' "$REMOVED"
    [ -z "$PORTS_OPENED" ] || printf '  ports of this machine opened to it at host.docker.internal (host_ports):%s\n' "$PORTS_OPENED"
    [ -z "$PORTS_CLOSED" ] || printf '  ports of this machine closed to it (host_ports):%s\n' "$PORTS_CLOSED"
    case "$CHANGED" in
      *sandbox*)
        printf '  image build context .codex/sandbox changed:\n'
        # -N shows new files whole, -a binary ones too; cat -v: no control codes reach your terminal.
        (cd "$SNAPSHOT" && diff -ruNa accepted/sandbox sandbox 2>&1) | cat -v | sed 's/^/    /' || true ;;
    esac
    case "$CHANGED" in
      *init*)
        printf '  init hook .codex/.environment/init.sh (runs at every start) changed:\n'
        local accepted_hook=/dev/null current_hook=/dev/null
        [ ! -f "$POLICY_DIR/init.sh" ] || accepted_hook=accepted/init.sh
        [ ! -f "$SNAPSHOT/init.sh" ] || current_hook=init.sh
        (cd "$SNAPSHOT" && diff -ua "$accepted_hook" "$current_hook" 2>&1) | cat -v | sed 's/^/    /' || true ;;
    esac
  } >&2
}

# Go on only if the policy in force is the one this user accepted, or they accept it now. A
# refusal without a terminal is remembered (POLICY_DIR/refused): accept records that, and only
# that, without asking.
POLICY_SHOWN=no
approve_policy() {
  local hook
  load_policy
  if [ "$POLICY" = "$ACCEPTED" ]; then
    # A refusal you undid yourself (say, with git) is not there to accept later.
    [ ! -e "$POLICY_DIR/refused" ] || rm -f "$POLICY_DIR/refused"
    return 0
  fi
  POLICY_SHOWN=yes
  snapshot_policy
  # The image is the one shown (ensure_image checks its own copy against this hash).
  CONTEXT_HASH="$SNAPSHOT_HASH"
  [ "$POLICY" != "$ACCEPTED" ] || return 0
  # Only reordered or repeated lines (the allowlist's): nothing to show, recorded as it is now.
  if ! policy_differs; then record_policy; return 0; fi
  show_policy_changes
  if [ "$ACCEPT_CHANGES" = 1 ]; then
    say "accepted (--accept-changes)"
  elif [ -t 0 ] && [ -t 2 ]; then
    rm -f "$POLICY_DIR/refused"
    ask_acceptance "accept and continue?" "not accepted; nothing was built or started"
  else
    { mkdir -p "$POLICY_DIR" && printf '%s' "$POLICY" >"$POLICY_DIR/refused"; } 2>/dev/null || true
    die "the sandbox policy is not accepted on this machine (see above); review it, then run ./run_in_container.sh accept, or pass --accept-changes" "$EXIT_USAGE"
  fi
  # The hook that runs is the project's file (mounted read-only): still the one shown, or stop.
  hook=$(hook_hash) || exit "$?"
  [ "$hook" = "$SNAPSHOT_HOOK" ] \
    || die "the init hook changed while being accepted; nothing was accepted: review it and retry" "$EXIT_USAGE"
  record_policy
}

# ask_acceptance QUESTION REFUSAL: a yes from the terminal, or exit with REFUSAL.
ask_acceptance() {
  local answer
  printf 'cxgen: %s [y/N] ' "$1" >&2
  read -r answer || answer=""
  case "$answer" in y | Y | yes) ;; *) die "$2" "$EXIT_USAGE" ;; esac
}
