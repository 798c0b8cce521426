# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh exec [OPTIONS] -- CMD [ARGS...]
# Summary: run CMD in the sandbox; exits with CMD's status
# With --learn, CMD is yours, not an agent's: it runs with open network, then the domains it
# used that the allowlist lacks are listed (asks to save).
#
# Options:
#   --learn              open network, every name and address recorded (loud); the command gets
#                        an empty home and caches, and your .git read-only (not git=track's
#                        agent repository); refused while a sandbox runs there
# and the session options:
# @start-options

CMD_OPTIONS="@start --learn --yes"
CMD_WORDS=0
CMD_DASHES=args
CMD_NEEDS="docker control approval image-seen sandbox-queries"

args_exec() {
  [ "${#CMD_ARGS[@]}" -gt 0 ] || die "exec needs a command: ./run_in_container.sh exec -- CMD [ARGS...]" "$EXIT_USAGE"
  if [ "$LEARN" = yes ]; then
    [ "$FIREWALL" = on ] || die "--learn and --no-firewall exclude each other" "$EXIT_USAGE"
    [ "$KEEP" = no ] || die "--learn and --keep exclude each other: learn mode removes its sandbox" "$EXIT_USAGE"
  fi
}

cmd_exec() { start_session exec; }
