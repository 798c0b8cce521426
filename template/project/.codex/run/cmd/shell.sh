# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh shell [OPTIONS]
# Summary: interactive bash, in the same sandbox
# Options: the session options:
# @start-options

CMD_OPTIONS="@start --yes"
CMD_WORDS=0
CMD_DASHES=args
CMD_NEEDS="docker control approval image-seen sandbox-queries"

cmd_shell() { start_session shell; }
