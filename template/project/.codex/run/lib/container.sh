# shellcheck shell=bash
# The container.

# slug TEXT: sets SLUG, TEXT as a container name part (byte by byte, as tr would; no forks:
# this runs on every start).
slug() {
  local LC_ALL=C
  SLUG="${1//[!A-Za-z0-9_.-]/-}"
  SLUG="${SLUG:0:40}"
}

# Sets HOST_ADDRESSES: this machine's own addresses (the Docker host's, where Docker runs here),
# which the sandbox denies even when an allowed name resolves to one. Loopback and link-local
# are the container's own or denied anyway.
host_addresses() {
  local family address _
  local path="$PATH:/sbin:/usr/sbin"
  HOST_ADDRESSES=""
  if PATH="$path" command -v ip >/dev/null 2>&1; then
    # "2: eth0    inet 192.0.2.2/24 brd ..."
    while read -r _ _ family address _; do
      case "$family" in inet | inet6) add_host_address "${address%/*}" ;; esac
    done < <(PATH="$path" ip -o addr show 2>/dev/null || true)
  elif PATH="$path" command -v ifconfig >/dev/null 2>&1; then
    # macOS: "	inet 192.168.1.5 netmask ...", "	inet6 fe80::1%lo0 prefixlen ..."
    while read -r family address _; do
      case "$family" in inet | inet6) add_host_address "${address%\%*}" ;; esac
    done < <(PATH="$path" ifconfig 2>/dev/null || true)
  else
    say "warning: neither ip nor ifconfig found: this machine's own addresses are not denied inside (its gateway and private ranges still are)"
  fi
}

add_host_address() {
  case "$1" in
    127.* | ::1 | fe80:* | FE80:* | "") ;;
    *[!0-9A-Fa-f:.]*) ;;
    *) HOST_ADDRESSES="${HOST_ADDRESSES:+$HOST_ADDRESSES }$1" ;;
  esac
}

# Sets WORK_DIR (checked) and the work-dir-dependent settings.
resolve_work_dir() {
  # The project's folder (the default) was found physically by run_in_container.sh: no second
  # walk (a subshell each start). Any other is walked one link at a time.
  if [ "$WORK_DIR" != "$PROJECT_DIR" ] || [ "$WORK_DIR" = / ]; then
    WORK_DIR=$(safe_path "--work-dir" "$WORK_DIR")
  fi
  [ -d "$WORK_DIR" ] || die "--work-dir: not a directory: $WORK_DIR" "$EXIT_USAGE"
  refuse_shared_folder --work-dir "$WORK_DIR"
  # A checkout in a system tree (a CI's workspace in /var/lib) is fine as its own work dir.
  is_inside "$PROJECT_DIR" "$WORK_DIR" || refuse_system_tree --work-dir "$WORK_DIR"
  refuse_state_folder --work-dir "$WORK_DIR"
  if [ -n "${WORKSPACE_ROOT_DIR:-}" ]; then
    local root
    root=$(safe_path WORKSPACE_ROOT_DIR "$WORKSPACE_ROOT_DIR")
    is_inside "$WORK_DIR" "$root" || die "work dir $WORK_DIR is outside WORKSPACE_ROOT_DIR ($root)" "$EXIT_USAGE"
  fi
  if is_inside "$WORK_DIR" "$CODEX_DIR" || is_inside "$WORK_DIR" "$PROJECT_DIR/.git"; then
    die "--work-dir: $WORK_DIR is inside the project's control files (.codex or .git); choose another folder" "$EXIT_USAGE"
  fi
}

build_run_args() {
  local var path
  host_addresses
  # The name comes later (choose_session_name), once the other sessions are known.
  DOCKER_ARGS=(run --init
    --label org.cxgen.sandbox=1 --label "org.cxgen.project=$PROJECT_DIR" --label "org.cxgen.workdir=$WORK_DIR"
    --label "org.cxgen.sessions=$SESSIONS_PATH" --label "org.cxgen.version=$CXGEN_VERSION"
    --label "org.cxgen.hash=$CONTEXT_HASH" --label "org.cxgen.agent=$SESSION_AGENT"
    --label "org.cxgen.command=$SESSION_COMMAND"
    --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_BIND_SERVICE --cap-add SETUID
    --cap-add SETGID --cap-add SETPCAP --cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add KILL
    --security-opt no-new-privileges
    # Docker lets anyone bind ports below 1024; then the agent could pose as a DNS server.
    --sysctl net.ipv4.ip_unprivileged_port_start=1024
    -e CXGEN_UID="${AGENT_IDS%%:*}" -e CXGEN_GID="${AGENT_IDS#*:}" -e CXGEN_FIREWALL="$FIREWALL"
    -e CXGEN_PRIVATE_DESTINATIONS="$PRIVATE_DESTINATIONS" -e CXGEN_HOST_ADDRESSES="$HOST_ADDRESSES"
    -e CXGEN_ALLOWED_DOMAINS="${ALLOWED_DOMAINS[*]+${ALLOWED_DOMAINS[*]}}"
    -e CXGEN_WORKDIR="/app$WORK_DIR" -e SANDBOX_ENV_DIR="/app$ENV_DIR" -e CODEX_HOME="/app$ENV_DIR"
    -w "/app$WORK_DIR")
  [ "$LOGIN" = no ] || login_args
  session_args
  container_folders_args
  [ "$MEMORY" = none ] || DOCKER_ARGS+=(--memory "$MEMORY")
  [ "$PIDS_LIMIT" = none ] || DOCKER_ARGS+=(--pids-limit "$PIDS_LIMIT")
  # A terminal when stdin and stdout are one (like docker compose exec), unless -T.
  if [ "$TTY" = auto ] && [ -t 0 ] && [ -t 1 ]; then
    DOCKER_ARGS+=(-it)
  elif stdin_given; then
    DOCKER_ARGS+=(-i)
  fi
  if [ -n "$NETWORK" ]; then
    # Asked early, beside this script's work (start_docker_queries).
    network_waited \
      || { need_daemon; die "--network: no Docker network named '$NETWORK' (docker network ls lists them)" "$EXIT_USAGE"; }
    DOCKER_ARGS+=(--network "$NETWORK")
  fi
  pass_env
  relay_args
  add_mount "$WORK_DIR" "/app$WORK_DIR"
  add_writable_mounts
  protect_project
  add_readonly_mounts
  add_skill_mounts
  if [ -n "$INIT_SCRIPT" ]; then
    path=$(safe_path "--init_script" "$INIT_SCRIPT")
    add_mount "$path" "/app$path" ",readonly"
    at_risk "$path"
    DOCKER_ARGS+=(-e CXGEN_INIT_SCRIPT="/app$path")
  fi
}

# The project's lockdown as it is now (lockdown on --save may have come during a build): the
# entrypoint loads it with the firewall, before the command. The label: this session knows it.
lockdown_args() {
  lockdown_start
  DOCKER_ARGS+=(--label "org.cxgen.lockdown=$LOCKDOWN")
  [ "$LOCKDOWN" = off ] || DOCKER_ARGS+=(-e CXGEN_LOCKDOWN=on)
}

# Your stdin goes in when it is something to read: a terminal, a pipe, a file, a socket (or the
# API key login sends), as the command would get it here. /dev/null or a closed stdin is not
# attached: the command inside gets a /dev/null of its own, not a pipe of docker's.
stdin_given() {
  [ -t 0 ] || [ -p /dev/stdin ] || [ -f /dev/stdin ] || [ -S /dev/stdin ] \
    || { [ "$LOGIN" = yes ] && [ -n "$LOGIN_KEY_ENV" ]; }
}

# login_key: sets LOGIN_KEY, what login --with-api-key stores inside: the placeholder, for a
# relayed key.
login_key() {
  LOGIN_KEY="${!LOGIN_KEY_ENV}"
  ! relayed "$LOGIN_KEY_ENV" || LOGIN_KEY="$RELAY_PLACEHOLDER"
}

# login: the callback port published on this machine's loopback only (your browser comes back
# to it) and bridged inside; an API key goes in on stdin, so no terminal.
login_args() {
  local item
  if [ "$LOGIN_PORT" -ne 0 ]; then
    # Published like --port; inside, a bridge forwards it to where the agent listens.
    PORTS+=("$LOGIN_PORT:$LOGIN_PORT")
    DOCKER_ARGS+=(-e "CXGEN_LOGIN_BRIDGE=$LOGIN_PORT $LOGIN_ADDRESS")
    say "sign-in callback on http://localhost:$LOGIN_PORT (open the link it prints in your browser here)"
  fi
  for item in ${LOGIN_ENV[@]+"${LOGIN_ENV[@]}"}; do DOCKER_ARGS+=(-e "$item"); done
  [ -z "$LOGIN_KEY_ENV" ] || TTY=no
}

# Host variables for the agent, by name: docker reads the values from this script's
# environment, so they never appear on a command line. The presets' and the answer's when set,
# --env's always (a warning when one is not set here). Relayed keys never (relay_args).
pass_env() {
  local pair var source
  for pair in ${ENV_FROM[@]+"${ENV_FROM[@]}"}; do
    var="${pair%%=*}" source="${pair#*=}"
    if [ -z "${!var:-}" ] && [ -n "${!source:-}" ]; then export "$var=${!source}"; fi
  done
  for var in ${PASSTHROUGH_ENV[@]+"${PASSTHROUGH_ENV[@]}"}; do
    [ -z "${!var:-}" ] || relayed "$var" || DOCKER_ARGS+=(-e "$var")
  done
  for var in ${EXTRA_ENV[@]+"${EXTRA_ENV[@]}"}; do
    if relayed "$var"; then
      continue
    elif [ -n "${!var+set}" ]; then
      DOCKER_ARGS+=(-e "$var")
    else
      say "warning: --env $var: not set here, so not passed"
    fi
  done
}

run_sandbox() {
  local marker="$RUN_TMP/start" status
  : >"$marker"
  if [ "$LOGIN" = yes ] && [ -n "$LOGIN_KEY_ENV" ]; then
    [ -n "${!LOGIN_KEY_ENV:-}" ] || die "login --with-api-key reads \$$LOGIN_KEY_ENV; set it (export $LOGIN_KEY_ENV=...) and retry" "$EXIT_USAGE"
  fi
  lockdown_args
  # The image's containerised MCP servers start beside it, in the background (lib/mcp.sh).
  [ "$LOGIN" = yes ] || mcp_start
  status=0
  if warm_claim; then
    start_logged warm
    warm_run
  else
    start_logged cold
    cold_run
  fi
  mcp_stop
  # What the agent may have moved since is looked up again.
  forget_path_facts
  # The session's name is free again as this script ends (with its folder: run_files_removed).
  RELEASED_AT_EXIT="${CLAIMED:-}" CLAIMED=""
  relay_done
  [ "$status" -ne 125 ] || start_failed
  relay_write_back
  warn_new_git_dirs "$marker"
  if [ "$KEEP" = yes ] && [ "$status" -ne 125 ]; then
    say "kept session $CONTAINER_NAME: ./run_in_container.sh attach $CONTAINER_NAME resumes it, destroy $CONTAINER_NAME removes it"
  fi
  # (Not after a start that failed: a spare would fail the same way.)
  [ "$status" -eq 125 ] || [ "$status" -eq 78 ] || spare_start
  return "$status"
}

# cold_run: docker run, and for a name another start took meanwhile, the next one (--parallel)
# or the error (sets status).
cold_run() {
  while :; do
    # ^C goes to the container; this script waits for it to end, then checks what it left.
    trap ':' INT
    if [ "$LOGIN" = yes ] && [ -n "$LOGIN_KEY_ENV" ]; then
      # printf is a builtin: the key shows in no process list. A relayed key stays outside:
      # the agent stores the placeholder, which the relay replaces.
      login_key
      # (docker's status, not printf's: a container that never reads its stdin is no error;
      # SIGPIPE ignored, or pipefail would report the killed writer's 141.)
      { trap '' PIPE; printf '%s\n' "$LOGIN_KEY" 2>/dev/null || true; } | docker "${DOCKER_ARGS[@]}" --name "$CONTAINER_NAME" \
        --label "org.cxgen.session=$CONTAINER_NAME" ${PULL_ARGS[@]+"${PULL_ARGS[@]}"} "$IMAGE" "${CMD_ARGS[@]}" || status=$?
    else
      docker "${DOCKER_ARGS[@]}" --name "$CONTAINER_NAME" --label "org.cxgen.session=$CONTAINER_NAME" \
        ${PULL_ARGS[@]+"${PULL_ARGS[@]}"} "$IMAGE" "${CMD_ARGS[@]}" || status=$?
    fi
    trap - INT
    # An image a record vouched for, removed since: built, and started again.
    if [ "$status" -eq 125 ] && image_gone; then status=0; continue; fi
    # Docker's 125: the container did not start. Its name taken (by a start of another user, who
    # claims names apart): the next free one with --parallel, else the one-line error.
    if [ "$status" -ne 125 ] || ! name_taken; then break; fi
    release_session_name
    [ "$PARALLEL" = yes ] || taken_name_error
    SESSION_NUMBER=$((SESSION_NUMBER + 1))
    [ "$SESSION_NUMBER" -le 100 ] || die "no free session name after $CONTAINER_NAME; name one with --name" "$EXIT_USAGE"
    CONTAINER_NAME="$SESSION_BASE-$SESSION_NUMBER"
    choose_free_session_name
  done
}
