# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh login [--agent NAME] [--device | --with-api-key]
# Summary: sign the agent in (its login stays in .codex/.environment)
# Options:
#   --device             the device-code sign-in (no browser callback)
#   --with-api-key       store the API key from the agent's key variable
# and the session options:
# @start-options

CMD_OPTIONS="@start --device --with-api-key --yes"
CMD_WORDS=0
CMD_DASHES=args
CMD_NEEDS="docker control approval image-seen sandbox-queries"

args_login() { LOGIN=yes; }

cmd_login() { start_session login; }
