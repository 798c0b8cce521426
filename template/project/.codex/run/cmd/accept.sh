# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh accept [--accept-changes]
# Summary: show the changes to the allowlist, .codex/sandbox, init hook and host ports; accept them
# What a refused start showed is accepted as it is; anything else asks (no terminal: refuses,
# unless --accept-changes, or CXGEN_ACCEPT_CHANGES=1).

CMD_OPTIONS="@start"
CMD_WORDS=0
CMD_DASHES=args
CMD_NEEDS="control"

# accept: record the policy as it is now, showing what it records. What a refused start showed
# is recorded as it is; anything else (no refusal, or a change since) needs a yes at a terminal,
# or --accept-changes.
cmd_accept() {
  local refused="" subject what
  load_policy
  snapshot_policy
  if ! policy_differs; then
    [ "$POLICY" = "$ACCEPTED" ] || record_policy
    rm -f "$POLICY_DIR/refused"
    say "already accepted for $PROJECT_DIR: .codex/sandbox (${SNAPSHOT_HASH:0:12}...) and ${#PROJECT_DOMAINS[@]} allowed domains"
    return 0
  fi
  show_policy_changes
  if [ -f "$POLICY_DIR/refused" ]; then IFS= read -r -d '' refused <"$POLICY_DIR/refused" || true; fi
  if [ "$ACCEPT_CHANGES" = 1 ] || [ "$POLICY" = "$refused" ]; then
    :
  elif [ -t 0 ] && [ -t 2 ]; then
    ask_acceptance "accept this?" "not accepted; nothing was recorded"
  elif [ -z "$refused" ]; then
    die "no refused start to accept (the changes are above): run ./run_in_container.sh accept in a terminal to review them, or pass --accept-changes" "$EXIT_USAGE"
  else
    policy_delta "$refused" "$POLICY"
    subject="" what=""
    [ -z "$ADDED$REMOVED" ] || subject="allowed domains"
    case "$CHANGED" in *sandbox*) subject="${subject:+$subject and }.codex/sandbox" ;; esac
    case "$CHANGED" in *init*) subject="${subject:+$subject and }the init hook" ;; esac
    [ -z "$PORTS_OPENED$PORTS_CLOSED" ] || subject="${subject:+$subject and }the host ports"
    subject="${subject:-the policy}"
    [ -z "$ADDED" ] || what=": added$ADDED"
    [ -z "$REMOVED" ] || what="${what:-:}${ADDED:+,} removed$REMOVED"
    die "$subject changed since the refusal you reviewed$what; nothing was recorded: run ./run_in_container.sh accept in a terminal to review" "$EXIT_USAGE"
  fi
  record_policy
  say "accepted for $PROJECT_DIR: .codex/sandbox (${SNAPSHOT_HASH:0:12}...) and ${#PROJECT_DOMAINS[@]} allowed domains"
}
