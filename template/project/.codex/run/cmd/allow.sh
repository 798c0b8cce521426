# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh allow DOMAIN [--save] [NAME]
# Summary: allow DOMAIN in a running sandbox now
# Options:
#   --save               also add it to the allowlist file, accepted here

CMD_OPTIONS="@start --save"
CMD_WORDS=99
CMD_DASHES=args
CMD_NEEDS="docker control"

args_allow() {
  [ "${#WORDS[@]}" -ge 1 ] && [ "${#WORDS[@]}" -le 2 ] \
    || die "usage: ./run_in_container.sh allow DOMAIN [--save] [NAME]" "$EXIT_USAGE"
  [[ "${WORDS[0]}" =~ $DOMAIN_RE ]] \
    || die "allow: invalid domain '$(printf '%q' "${WORDS[0]}")' (expected example.com or *.example.com)" "$EXIT_USAGE"
}

cmd_allow() {
  local domain="${WORDS[0]}" name="${WORDS[1]:-$CONTAINER_NAME}"
  [ -n "$name" ] || running_sessions
  if [ "$SAVE" = yes ] && [ -z "$name" ] && [ "${#SESSIONS[@]}" -eq 0 ]; then
    say "no sandbox of this project is running: saving only"
  else
    find_session "$name"
    ctl allow "$domain" || die "allow failed in $SESSION"
  fi
  [ "$SAVE" = no ] || save_domains "$domain"
  # The project's lockdown wins: allowed, but unreachable while it holds.
  ! project_locked_down \
    || say "lockdown is on for this project: $domain is allowed, but nothing leaves its sandboxes until ./run_in_container.sh lockdown off --save"
}
