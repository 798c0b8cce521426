# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh help [COMMAND]
# Summary: this help, or a command's (same as COMMAND --help)
# Notes:
# Environment: OPENAI_ALLOWED_DOMAINS (more domains), CODEX_DOCKER_IMAGE (use this image, no
# build), WORKSPACE_ROOT_DIR (the work dir must be inside it), CODEX_CONFIG_DIR, CODEX_AUTH_FILE,
# CXGEN_FETCH_MAX_MB (the most fetch takes from the agent's repository; default 1024),
# CXGEN_TRACK_MAX_MB (git=track leaves out larger files; default 100), CXGEN_TRACK_TIMEOUT (the
# most a git=track snapshot may take, in seconds; default 600).
# The agent runs as you; as root, as the work dir's owner. A root-owned work dir gives root mode:
# uid 0 without capabilities, on a read-only image, so what it writes is root's (see cxgen's docs/security.md, Root mode).
# Each command is .codex/run/cmd/COMMAND.sh; what they share is .codex/run/lib/.

CMD_OPTIONS=""
CMD_WORDS=1
CMD_DASHES=
CMD_NEEDS=""

cmd_help() {
  local name="${WORDS[0]:-}"
  if [ -z "$name" ]; then
    help_all
    return 0
  fi
  case " $COMMANDS " in *" $name "*) [[ "$name" =~ ^[a-z]+$ ]] || name="" ;; *) name="" ;; esac
  [ -n "$name" ] || die "help: unknown command '${WORDS[0]}'; commands: $COMMANDS" "$EXIT_USAGE"
  help_command "$name"
}
