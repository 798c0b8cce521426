# shellcheck shell=bash
# A running session's firewall: denied, allow, lockdown, exec --learn.
# The work happens in the sandbox, in its root helper cxgen-ctl (.codex/sandbox): here, only the
# arguments and one docker exec. Its output passes through `printable` on its way to your
# terminal: names in it come from the agent's lookups.
readonly CTL=/usr/local/lib/cxgen/cxgen-ctl

# Sets SESSIONS: the names of this project's running sandboxes.
running_sessions() {
  local list name spare
  docker_query list ps --filter label=org.cxgen.sandbox=1 --filter "label=org.cxgen.project=$PROJECT_DIR" \
    --format '{{.Names}}|{{.Label "org.cxgen.spare"}} {{.ID}}'
  SESSIONS=()
  while IFS='|' read -r name spare; do
    # (A spare is no session: a saved lockdown or allowlist reaches it by its configuration,
    # warm.sh. Nor is a warm session whose command is over.)
    [ -n "$name" ] || continue
    if [ -n "${spare%% *}" ] && { spare_waiting "$name" || session_over "$spare"; }; then continue; fi
    SESSIONS+=("$name")
  done <<<"$list"
}

# find_session [NAME]: sets SESSION to the running sandbox NAME of this project, or to its only
# running sandbox.
find_session() {
  local names
  running_sessions
  names=(${SESSIONS[@]+"${SESSIONS[@]}"})
  SESSION="${1:-}"
  if [ -n "$SESSION" ]; then
    [[ "$SESSION" =~ $NAME_RE ]] || die "invalid sandbox name '$(printf '%q' "$SESSION")'" "$EXIT_USAGE"
    case " ${names[*]-} " in *" $SESSION "*) return 0 ;; esac
    die "no running sandbox of this project is named $SESSION (running: ${names[*]:-none})" "$EXIT_USAGE"
  fi
  case "${#names[@]}" in
    1) SESSION="${names[0]}" ;;
    0) die "no sandbox of this project is running" "$EXIT_USAGE" ;;
    *) die "several sandboxes of this project are running (${names[*]}); name one" "$EXIT_USAGE" ;;
  esac
}

# ctl ARGS...: cxgen-ctl ARGS in SESSION, as root (the agent cannot run it).
ctl() {
  local status=0
  docker exec -u 0 "$SESSION" "$CTL" "$@" 2>&1 | printable || status=$?
  return "$status"
}
