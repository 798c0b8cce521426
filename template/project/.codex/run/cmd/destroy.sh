# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh destroy NAME | --stopped
# Summary: remove a session / this project's stopped ones

CMD_OPTIONS="--stopped"
CMD_WORDS=99
CMD_DASHES=
CMD_NEEDS="docker"

args_destroy() {
  [ "${#WORDS[@]}" -gt 0 ] || [ "$STOPPED" = yes ] \
    || die "destroy needs a session name, or --stopped for all stopped ones of this project" "$EXIT_USAGE"
  [ "${#WORDS[@]}" -eq 0 ] || [ "$STOPPED" = no ] || die "destroy: give a session name or --stopped, not both" "$EXIT_USAGE"
  [ "$STOPPED" = yes ] || options_session_name destroy
}

cmd_destroy() {
  local out name state project names=()
  if [ -n "$TARGET" ]; then
    sandbox_info "$TARGET"
    out=$(docker rm -f -v -- "$TARGET" 2>&1) || docker_failed "$out"
    # Its MCP servers, if any outlived it.
    mcp_remove launch "$S_LAUNCH"
    relay_forget_gone
    say "destroyed $TARGET"
    return 0
  fi
  # --stopped: this project's exited ones ("created" may be a start under way: left alone).
  list_sessions
  while IFS='|' read -r name _ _ state _ _ project _; do
    [ "$project" = "$PROJECT_DIR" ] || continue
    case "$state" in exited | dead) names+=("$name") ;; esac
  done <<<"$SESSION_LINES"
  if [ "${#names[@]}" -eq 0 ]; then
    say "no stopped sessions of this project"
    return 0
  fi
  out=$(docker rm -v -- "${names[@]}" 2>&1) || docker_failed "$out"
  mcp_remove session "${names[@]}"
  relay_forget_gone
  say "destroyed ${#names[@]} stopped session(s): ${names[*]}"
}
