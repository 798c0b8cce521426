# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh attach NAME [--accept-changes]
# Summary: resume a --keep session (or join a running one)

CMD_OPTIONS="--accept-changes"
CMD_WORDS=99
CMD_DASHES=
CMD_NEEDS="docker control approval image-query sandbox-queries"

args_attach() { options_session_name attach; }

# ATTACH: resume a kept session. Docker mounts a stopped container's folders again at every
# start, so what was checked when it was created is checked again (verify_kept_mounts), and no
# other sandbox may be able to write them meanwhile (refuse_racing_sandboxes).
cmd_attach() {
  local marker="$RUN_TMP/start" status=0 out
  sandbox_info "$TARGET"
  [ "$S_PROJECT" = "$PROJECT_DIR" ] \
    || die "session $TARGET belongs to another project ($(printf '%q' "$S_PROJECT")); attach it with that project's run_in_container.sh" "$EXIT_USAGE"
  case "$S_STATE" in
    running)
      [ -z "$S_SPARE" ] \
        || die "session $TARGET started warm, in a spare: Docker cannot join its terminal (only its start's); start with CXGEN_WARM=0 a session you want to join" "$EXIT_USAGE"
      say "joining the running session $TARGET (detach: ctrl-p ctrl-q)"
      docker attach -- "$TARGET" || status=$?
      return "$status" ;;
    exited | created) ;;
    *) die "session $TARGET is $S_STATE; wait for it, or destroy it" "$EXIT_USAGE" ;;
  esac
  # Only a session started with --keep is meant to run again (a learn run's leftover is not).
  [ "$S_KEEP" = 1 ] || die "session $TARGET was not started with --keep; destroy it (./run_in_container.sh destroy $TARGET)" "$EXIT_USAGE"
  [ "$S_HASH" = "$CONTEXT_HASH" ] \
    || say "note: $TARGET keeps the image and allowlist it was created with (.codex/sandbox changed since); destroy it and start a new session to use the current ones"
  ATTACH_NAME="$TARGET"
  load_agent_trees
  verify_kept_mounts "$TARGET"
  refuse_racing_sandboxes
  WORK_DIR="$S_WORKDIR"
  kept_mounts "$TARGET"
  [ "${#MOUNT_PATHS[@]}" -eq 0 ] || say "with the --mount folders ${MOUNT_PATHS[*]}"
  # (A session an earlier run script made may not be remembered yet.)
  SESSIONS_PATH="" remember_session_trees
  if [ "$S_GIT" = writable ]; then GIT_PINNED=no; else GIT_PINNED=yes; fi
  lockdown_kept "$TARGET"
  # Its containerised MCP servers start again beside it, and end with it.
  mcp_attach "$TARGET"
  : >"$marker"
  trap ':' INT
  docker start -a -i -- "$TARGET" || status=$?
  trap - INT
  mcp_stop
  forget_path_facts
  relay_attach_write_back "$S_LAUNCH"
  warn_new_git_dirs "$marker"
  return "$status"
}
