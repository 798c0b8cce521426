# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh list [--all]
# Summary: this project's sandboxes: name, what runs, image, state, age
# A spare (a sandbox started ahead for the next session: build --warm) shows as spare,ready, or
# spare,starting until it is.
# Options:
#   --all                every cxgen sandbox, not only this project's

CMD_OPTIONS="--all"
CMD_WORDS=0
CMD_DASHES=
CMD_NEEDS="docker"

cmd_list() {
  local name command image state age keep project id
  list_sessions
  table_start
  if [ "$ALL" = yes ]; then
    table_row NAME COMMAND IMAGE STATE CREATED PROJECT
  else
    table_row NAME COMMAND IMAGE STATE CREATED
  fi
  while IFS='|' read -r name command image state age keep project id; do
    [ -n "$name" ] || continue
    [ "$ALL" = yes ] || [ "$project" = "$PROJECT_DIR" ] || continue
    [ "$keep" != 1 ] || state="$state,kept"
    if spare_waiting "$name"; then
      spare_state "$name"
    elif [ "$command" = spare ]; then
      warm_session_command "$id"
    fi
    if [ "$ALL" = yes ]; then
      printf -v project '%q' "$project"
      table_row "$name" "${command:--}" "$image" "$state" "$age" "$project"
    else
      table_row "$name" "${command:--}" "$image" "$state" "$age"
    fi
  done <<<"$SESSION_LINES"
  table_print
  ! project_locked_down \
    || printf 'Lockdown is on for this project: its sessions start locked down (./run_in_container.sh lockdown off --save lifts it).\n'
}
