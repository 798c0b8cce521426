# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh build [--rebuild] [--agent-update [NAME[@VERSION]]] [--warm [OPTIONS]]
# Summary: build the image if needed; print its tag
# A build that makes a new image also starts a spare sandbox in the background (see --warm).
# Options:
#   --rebuild            rebuild the image without Docker's cache
#   --agent-update [NAME[@VERSION]]
#                        move an agent's pinned version (npm's latest without VERSION), then build
#   --warm               then start a spare sandbox for the session options given here (the
#                        same as a session's), and wait until it is ready: the next run, shell or
#                        exec with those options starts in it, as fast as a docker exec. After
#                        each session one starts by itself (CXGEN_WARM=0 turns spares off)

CMD_OPTIONS="@start --rebuild --agent-update --warm"
CMD_WORDS=0
CMD_DASHES=args
CMD_NEEDS="docker control approval image-query"

cmd_build() {
  [ -z "$AGENT_UPDATE" ] || update_agent_pin
  if [ "$WARM_BUILD" = yes ]; then
    start_sandbox_queries
    start_session spare
  else
    ensure_image
    [ "$IMAGE_BUILT" = no ] || spare_after_build
  fi
  printf '%s\n' "$IMAGE"
}
