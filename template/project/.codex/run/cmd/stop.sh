# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh stop NAME
# Summary: stop a session (a kept one stays)

CMD_OPTIONS=""
CMD_WORDS=99
CMD_DASHES=
CMD_NEEDS="docker"

args_stop() { options_session_name stop; }

cmd_stop() {
  sandbox_info "$TARGET"
  case "$S_STATE" in
    running | paused | restarting) ;;
    *) say "session $TARGET is not running ($S_STATE)"; return 0 ;;
  esac
  local out
  out=$(docker stop -- "$TARGET" 2>&1) || docker_failed "$out"
  # Its MCP servers end with it (the run script that started them removes them too).
  mcp_remove launch "$S_LAUNCH"
  if [ "$S_KEEP" = 1 ]; then
    say "stopped $TARGET (kept: ./run_in_container.sh attach $TARGET resumes it, destroy $TARGET removes it)"
  else
    say "stopped $TARGET"
  fi
}
