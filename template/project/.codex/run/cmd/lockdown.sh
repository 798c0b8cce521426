# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh lockdown on|off [NAME | --save]
# Summary: deny everything in a running sandbox, or lift it (--save: every session of this project, until off --save)
# NAME's lockdown lasts while it runs (docker restart keeps it). With --save it is the project's:
# in force at once in each of its running sessions, and from the start of every new one (run,
# shell, exec, login, attach of a kept one) until lockdown off --save; kept in your own state,
# outside the project, where the agent cannot change it. lockdown off NAME lifts it in NAME
# until that session's next start.
#
# Options:
#   --save               the project's lockdown, for all its sessions, not one session's

CMD_OPTIONS="@start --save"
CMD_WORDS=99
CMD_DASHES=args
CMD_NEEDS="docker control"

args_lockdown() {
  case "${WORDS[0]:-} ${#WORDS[@]}" in "on "[12] | "off "[12]) ;;
    *) die "usage: ./run_in_container.sh lockdown on|off [NAME | --save]" "$EXIT_USAGE" ;;
  esac
  if [ "$SAVE" = yes ] && { [ "${#WORDS[@]}" -gt 1 ] || [ -n "$CONTAINER_NAME" ]; }; then
    die "lockdown --save is the project's, for every session of it: leave out the session name" "$EXIT_USAGE"
  fi
}

cmd_lockdown() {
  if [ "$SAVE" = yes ]; then
    lockdown_save "${WORDS[0]}"
    return 0
  fi
  find_session "${WORDS[1]:-$CONTAINER_NAME}"
  ctl lockdown "${WORDS[0]}" || die "lockdown ${WORDS[0]} failed in $SESSION"
  if [ "${WORDS[0]}" = off ] && project_locked_down; then
    say "lockdown is still on for this project: $SESSION locks down again at its next start, and new sessions start locked down (./run_in_container.sh lockdown off --save lifts it)"
  fi
}
