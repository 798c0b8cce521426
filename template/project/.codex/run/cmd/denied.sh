# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh denied [NAME]
# Summary: what a running sandbox refused, each name with the command that allows it

CMD_OPTIONS="@start"
CMD_WORDS=99
CMD_DASHES=args
CMD_NEEDS="docker control"

args_denied() {
  [ "${#WORDS[@]}" -le 1 ] || die "usage: ./run_in_container.sh denied [NAME]" "$EXIT_USAGE"
}

cmd_denied() {
  local name="${WORDS[0]:-$CONTAINER_NAME}"
  find_session "$name"
  # Named in the suggested commands when you named it here.
  ctl denied ${name:+"$SESSION"}
}
