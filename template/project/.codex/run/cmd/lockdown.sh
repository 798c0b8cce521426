# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh lockdown on|off [NAME]
# Summary: deny everything in a running sandbox, or back to its allowlist

CMD_OPTIONS="@start"
CMD_WORDS=99
CMD_DASHES=args
CMD_NEEDS="docker control"

args_lockdown() {
  case "${WORDS[0]:-} ${#WORDS[@]}" in "on "[12] | "off "[12]) ;;
    *) die "usage: ./run_in_container.sh lockdown on|off [NAME]" "$EXIT_USAGE" ;;
  esac
}

cmd_lockdown() {
  find_session "${WORDS[1]:-$CONTAINER_NAME}"
  ctl lockdown "${WORDS[0]}" || die "lockdown ${WORDS[0]} failed in $SESSION"
}
