# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh list [--all]
# Summary: this project's sandboxes: name, agent, image, state, age
# Options:
#   --all                every cxgen sandbox, not only this project's

CMD_OPTIONS="--all"
CMD_WORDS=0
CMD_DASHES=
CMD_NEEDS="docker"

cmd_list() {
  local name agent image state age keep project
  list_sessions
  printf '%-36s %-8s %-22s %-16s %s' NAME AGENT IMAGE STATE CREATED
  if [ "$ALL" = yes ]; then printf '  PROJECT\n'; else printf '\n'; fi
  while IFS='|' read -r name agent image state age keep project; do
    [ -n "$name" ] || continue
    [ "$ALL" = yes ] || [ "$project" = "$PROJECT_DIR" ] || continue
    [ "$keep" != 1 ] || state="$state,kept"
    printf '%-36s %-8s %-22s %-16s %s' "$name" "${agent:--}" "$image" "$state" "$age"
    if [ "$ALL" = yes ]; then printf '  %q\n' "$project"; else printf '\n'; fi
  done <<<"$SESSION_LINES"
  ! project_locked_down \
    || printf 'Lockdown is on for this project: its sessions start locked down (./run_in_container.sh lockdown off --save lifts it).\n'
}
