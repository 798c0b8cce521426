# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh build [--rebuild] [--agent-update [NAME[@VERSION]]]
# Summary: build the image if needed; print its tag
# Options:
#   --rebuild            rebuild the image without Docker's cache
#   --agent-update [NAME[@VERSION]]
#                        move an agent's pinned version (npm's latest without VERSION), then build

CMD_OPTIONS="@start --rebuild --agent-update"
CMD_WORDS=0
CMD_DASHES=args
CMD_NEEDS="docker control approval image-query"

cmd_build() {
  [ -z "$AGENT_UPDATE" ] || update_agent_pin
  ensure_image
  printf '%s\n' "$IMAGE"
}
