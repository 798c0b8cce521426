# shellcheck shell=bash
# Files: push and pull.
# The container side runs as the agent's uid (docker exec -u): a symlink the agent made inside
# leads only where the agent could go anyway. The host side never writes into a tree an agent
# can write (pulling into the session's work dir is done inside, as the agent) and never reads
# through a symlink the agent may have planted.

# copy_args VERB: push's or pull's words, SRC [DEST] (after -- too), and --name's session.
copy_args() {
  COPY_VERB="$1" TARGET="$CONTAINER_NAME" COPY_ARGS=(${WORDS[@]+"${WORDS[@]}"})
  [ "${#COPY_ARGS[@]}" -ge 1 ] && [ "${#COPY_ARGS[@]}" -le 2 ] \
    || die "usage: ./run_in_container.sh $1 [--name NAME] [--yes] SRC [DEST]" "$EXIT_USAGE"
}

# Sets TARGET (default: the project's session), S_* and COPY_IDS (the agent's uid:gid there).
# COPY_VERB (push or pull) names the command in messages.
copy_session() {
  local env line uid="" gid=""
  [ -n "$TARGET" ] || TARGET=$(default_session_name)
  sandbox_info "$TARGET"
  [ "$S_PROJECT" = "$PROJECT_DIR" ] \
    || die "$COPY_VERB: session $TARGET belongs to another project ($(printf '%q' "$S_PROJECT"))" "$EXIT_USAGE"
  [ "$S_STATE" = running ] || die "$COPY_VERB: session $TARGET is not running ($S_STATE); start it (or attach it) first" "$EXIT_USAGE"
  env=$(docker container inspect -f '{{range .Config.Env}}{{println .}}{{end}}' -- "$TARGET" 2>&1) || docker_failed "$env"
  while IFS= read -r line; do
    case "$line" in CXGEN_UID=*) uid="${line#*=}" ;; CXGEN_GID=*) gid="${line#*=}" ;; esac
  done <<<"$env"
  [[ "$uid:$gid" =~ ^[0-9]+:[0-9]+$ ]] || die "$COPY_VERB: session $TARGET has no agent uid; it was not started by cxgen" "$EXIT_USAGE"
  COPY_IDS="$uid:$gid"
  # Root mode: a group of its own, so the agent (uid 0 too) can neither trace nor read the copy.
  [ "$uid" -ne 0 ] || COPY_IDS="0:$ROOT_MODE_COPY_GID"
  AGENT_EXEC=(docker exec -i -u "$COPY_IDS" -- "$TARGET")
  # Root mode: docker exec gives uid 0 the container's capabilities; the agent has none, and
  # lives under the setuid guard (else it could take this process over with ptrace to escape it).
  [ "$uid" -ne 0 ] || AGENT_EXEC+=(setpriv --inh-caps=-all --bounding-set=-all --no-new-privs
    "--securebits=+noroot,+noroot_locked" -- perl /usr/local/lib/cxgen/no-setuid.pl)
}

# container_path PATH [confined]: PATH inside the session, absolute (a relative one is in its work
# dir); confined: outside the work dir only when confirmed.
container_path() {
  local path="$1"
  case "$path" in *$'\n'* | *$'\r'*) die "$COPY_VERB: paths with newlines are refused" "$EXIT_USAGE" ;; esac
  case "$path" in . | ./) path="" ;; ./*) path="${path#./}" ;; esac
  case "/$path/" in */../* | */./*) die "$COPY_VERB: use a plain path, without . or .. parts: $(printf '%q' "$1")" "$EXIT_USAGE" ;; esac
  case "$path" in /*) ;; "") path="/app$S_WORKDIR" ;; *) path="/app$S_WORKDIR/$path" ;; esac
  path="${path%/}"
  [ -z "${2:-}" ] || is_inside "$path" "/app$S_WORKDIR" || confirm_copy "$path in the sandbox"
  printf '%s\n' "${path:-/}"
}

# confirm_copy WHAT: a person says yes (or --yes was given).
confirm_copy() {
  local answer
  [ "$YES" = no ] || return 0
  [ -t 0 ] && [ -t 2 ] || die "$COPY_VERB: $1 is outside the session's work dir; confirm on a terminal, or pass --yes" "$EXIT_USAGE"
  printf 'cxgen: %s %s, outside the work dir? [y/N] ' "$COPY_VERB" "$1" >&2
  read -r answer || answer=""
  case "$answer" in y | Y | yes) ;; *) die "not confirmed; nothing copied" "$EXIT_USAGE" ;; esac
}
