# shellcheck shell=bash
# Sessions.
# Every sandbox carries labels (org.cxgen.*: project, work dir, cxgen version, content hash,
# agent, session name), so these commands find sessions by label, never by guessing from names.

# default_session_name [VAR]: the project's session name, cxgen-<folder>-<hash of its path>,
# the same at every start: printed, or set in VAR (no subshell).
default_session_name() {
  # The policy key is the same hash of the path.
  [ -n "${POLICY_KEY:-}" ] || policy_key
  slug "${PROJECT_DIR##*/}"
  local name="cxgen-$SLUG-${POLICY_KEY:0:8}"
  if [ -n "${1:-}" ]; then printf -v "$1" '%s' "$name"; else printf '%s\n' "$name"; fi
}

# Options for this session: removed on exit unless --keep, --port's ports on loopback only,
# the host ports (lib/hostports.sh).
session_args() {
  local port
  if [ "$KEEP" = yes ]; then DOCKER_ARGS+=(--label org.cxgen.keep=1); else DOCKER_ARGS+=(--rm); fi
  # Marks this start's container, so a failed start removes its own leftover and nothing else.
  LAUNCH_ID="$$-$RANDOM$RANDOM"
  DOCKER_ARGS+=(--label "org.cxgen.launch=$LAUNCH_ID" --label "org.cxgen.git=$GIT_MODE")
  for port in ${PORTS[@]+"${PORTS[@]}"}; do
    port_free "${port%:*}" || port_in_use "$port"
    DOCKER_ARGS+=(-p "127.0.0.1:${port%:*}:${port#*:}")
  done
  # The firewall lets the Docker host (the network's gateway, where Docker's port publishing
  # connects from) reach these ports; nothing else comes in.
  session_host_ports
  if [ "${#PORTS[@]}" -gt 0 ] || [ "${#SESSION_HOST_PORTS[@]}" -gt 0 ]; then
    docker_gateway
    [ -z "$GATEWAY" ] || DOCKER_ARGS+=(-e "CXGEN_DOCKER_GATEWAY=$GATEWAY")
    [ "${#PORTS[@]}" -eq 0 ] || DOCKER_ARGS+=(-e "CXGEN_PORTS=${PORTS[*]#*:}")
    [ "${#SESSION_HOST_PORTS[@]}" -eq 0 ] || host_port_args
  fi
  [ "$SSH_AGENT" = no ] || ssh_agent_args
}

# Sets GATEWAY: the IPv4 gateway of the network the sandbox joins (Docker's own answer), this
# machine's address there; empty for Docker's default bridge when Docker names none (its
# address is docker0's, Docker's "host-gateway", and the firewall inside finds it as its default
# route). Docker publishes no port from an internal network and says nothing: said here, for
# --port. (The firewall still lets this machine in, at the sandbox's own address on that
# network; and the sandbox reaches host ports at the gateway of an internal network too.)
docker_gateway() {
  local item facts="" network="${NETWORK:-bridge}"
  # Asked early when it could be (start_sandbox_queries), else now.
  if [ -n "${NETWORK_PID:-}" ] && network_waited; then IFS= read -r facts <"$RUN_TMP/network" || true; fi
  [ -n "$facts" ] || docker_query facts network inspect "$network" --format "$NETWORK_FACTS"
  NETWORK_DRIVER="${facts##* }"
  if [ "${facts%% *}" = true ] && [ "${#PORTS[@]}" -gt 0 ]; then
    if [ "$LOGIN" = yes ] && [ "$LOGIN_PORT" -ne 0 ]; then
      say "warning: login: Docker publishes no port from network $network, which is internal (--internal), so the sign-in callback cannot reach the sandbox; sign in on another --network, or with login --device"
    else
      say "warning: --port: Docker publishes no port from network $network, which is internal (--internal): nothing answers on 127.0.0.1 (only at the sandbox's own address there); use a network that is not internal"
    fi
  fi
  for item in $facts; do
    if [[ "$item" =~ ^[0-9]+(\.[0-9]+){3}$ ]]; then GATEWAY="$item"; return 0; fi
  done
  GATEWAY=""
  [ "$network" != bridge ] || return 0
  die "Docker network ${NETWORK:-bridge} has no IPv4 gateway, which --port and --host-port need (nothing can be published from it, nor this machine reached)" "$EXIT_USAGE"
}

# What docker_gateway asks of the network: internal or not, its gateways, its driver.
readonly NETWORK_FACTS='{{.Internal}} {{range .IPAM.Config}}{{.Gateway}} {{end}}{{.Driver}}'

# gateway_wanted: this session needs the network's gateway (--port, host ports).
gateway_wanted() {
  [ "${#PORTS[@]}" -gt 0 ] || [ "${#HOST_PORTS[@]}" -gt 0 ] || [ "${#DEFAULT_HOST_PORTS[@]}" -gt 0 ]
}

readonly SSH_SOCK_TARGET=/run/cxgen-ssh-agent.sock

# --ssh-agent: the host's ssh-agent socket, mounted outside every tree the agent writes. The
# agent can ask it to sign (use your keys) while the session runs; the keys stay on the host.
ssh_agent_args() {
  local sock owner
  [ -n "${SSH_AUTH_SOCK:-}" ] || die "--ssh-agent: SSH_AUTH_SOCK is not set; start ssh-agent (eval \"\$(ssh-agent)\") and ssh-add your key" "$EXIT_USAGE"
  sock=$(safe_path "--ssh-agent (SSH_AUTH_SOCK)" "$SSH_AUTH_SOCK")
  [ -S "$sock" ] || die "--ssh-agent: $sock (SSH_AUTH_SOCK) is not a socket" "$EXIT_USAGE"
  ! in_agent_tree "$sock" || die "--ssh-agent: refusing $sock: it is in a folder an agent can write" "$EXIT_USAGE"
  owner=$(stat -c %u "$sock" 2>/dev/null || stat -f %u "$sock")
  if [ "$owner" != "${AGENT_IDS%%:*}" ] && [ "${AGENT_IDS%%:*}" != 0 ]; then
    die "--ssh-agent: the agent runs as uid ${AGENT_IDS%%:*} and cannot use uid $owner's ssh-agent socket; run this script as the socket's owner" "$EXIT_USAGE"
  fi
  add_mount "$sock" "$SSH_SOCK_TARGET"
  at_risk "$sock"
  DOCKER_ARGS+=(-e "SSH_AUTH_SOCK=$SSH_SOCK_TARGET")
  say "WARNING: --ssh-agent: the agent can sign with your SSH keys (not read them) while this session runs"
}

# port_free PORT: nothing answers on 127.0.0.1:PORT (no fork: bash's /dev/tcp).
port_free() { ! (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port_in_use() {
  die "--port $1: 127.0.0.1:${1%:*} is already in use on this machine; pick another host port: --port OTHER:${1#*:}" "$EXIT_USAGE"
}

# session_state NAME: sets SESSION_STATE, sandbox NAME's state (from SANDBOXES); false if none.
session_state() {
  local line
  SESSION_STATE=""
  while IFS= read -r line; do
    case "$line" in "$1 "*) line="${line#"$1 "}"; SESSION_STATE="${line%% *}"; return 0 ;; esac
  done <<<"$SANDBOXES"
  return 1
}

# Sets CONTAINER_NAME: --name's or the project's; with --parallel the first free of NAME-2,
# NAME-3... A name in use is an error that says what to do.
choose_session_name() {
  SESSION_BASE="$CONTAINER_NAME" SESSION_NUMBER=1
  if [ -z "$SESSION_BASE" ]; then
    default_session_name SESSION_BASE
    # A sign-in runs beside the project's session, never instead of it.
    [ "$LOGIN" = no ] || SESSION_BASE="$SESSION_BASE-login" PARALLEL=yes
  fi
  CONTAINER_NAME="$SESSION_BASE"
  choose_free_session_name
}

# From CONTAINER_NAME on: the first name no sandbox has (the listing) and no other start of
# yours has claimed; without --parallel, CONTAINER_NAME or the error.
choose_free_session_name() {
  while :; do
    if session_state "$CONTAINER_NAME"; then
      [ "$PARALLEL" = yes ] || session_in_use "$SESSION_STATE"
    elif claim_session_name; then
      wait_over_session "$CONTAINER_NAME"  # (a warm session just over may hold it a moment)
      return 0
    else
      [ "$PARALLEL" = yes ] || session_in_use starting
    fi
    SESSION_NUMBER=$((SESSION_NUMBER + 1))
    CONTAINER_NAME="$SESSION_BASE-$SESSION_NUMBER"
  done
}

# session_in_use STATE: the error for a session CONTAINER_NAME that exists (in STATE).
session_in_use() {
  case "$1" in
    running | paused | restarting | created | starting)
      die "session $CONTAINER_NAME is already running; start another one with --parallel, or join it with ./run_in_container.sh attach $CONTAINER_NAME" "$EXIT_USAGE" ;;
    *)
      die "session $CONTAINER_NAME exists ($1, kept); resume it with ./run_in_container.sh attach $CONTAINER_NAME, remove it with destroy $CONTAINER_NAME, or start another one with --parallel" "$EXIT_USAGE" ;;
  esac
}

# Names claimed by this user's starts (claim_session_name), outside every agent's reach.
readonly CLAIMS_DIR="$STATE_DIR/session-names"

# claim_session_name: CONTAINER_NAME becomes this start's among your starts. Docker takes a name
# only as it creates the container, so two starts at the same moment would both find it free
# in the listing (and the second fail with Docker's raw "Conflict"): the claim is a file created
# only if none is there (noclobber's O_EXCL: atomic, and no fork). It holds this script's pid
# and lasts while it runs (released with its run's folder); one whose start is gone is taken
# over. False when another start holds it; where no claim can be made (a folder you cannot
# write), Docker alone decides (run_sandbox).
claim_session_name() {
  local claim="$CLAIMS_DIR/$CONTAINER_NAME" pid=""
  CLAIMED=""
  if ! { [ -d "$CLAIMS_DIR" ] || mkdir -p "$CLAIMS_DIR"; } 2>/dev/null || [ -L "$CLAIMS_DIR" ]; then
    return 0
  fi
  if ! new_claim "$claim"; then
    [ -e "$claim" ] || return 0
    IFS= read -r pid 2>/dev/null <"$claim" || pid=""
    if [[ "$pid" =~ ^[1-9][0-9]*$ ]]; then
      # (A start that was killed may have had this script's pid.)
      [ "$pid" = "$$" ] || ! kill -0 "$pid" 2>/dev/null || return 1
    else
      # No pid yet: a start writing its claim now, unless that was over a minute ago.
      [ -n "$(find "$claim" -maxdepth 0 -mmin +1 2>/dev/null)" ] || return 1
    fi
    rm -f -- "$claim" 2>/dev/null || return 0
    new_claim "$claim" || return 1
  fi
  CLAIMED="$claim"
}

# new_claim FILE: FILE made, holding this script's pid, only if there was none.
new_claim() {
  local status=0
  set -C
  { printf '%s\n' "$$" >"$1"; } 2>/dev/null || status=1
  set +C
  return "$status"
}

release_session_name() {
  [ -z "${CLAIMED:-}" ] || rm -f -- "$CLAIMED"
  CLAIMED=""
}

# docker run's 125 came from a name conflict: a container that is not this start's holds
# CONTAINER_NAME (Docker's "Conflict" line is above). Sets TAKEN_BY to its state and whether it
# is a sandbox.
name_taken() {
  local state launch sandbox
  IFS='|' read -r state launch sandbox < <(docker container inspect -f '{{.State.Status}}|{{index .Config.Labels "org.cxgen.launch"}}|{{index .Config.Labels "org.cxgen.sandbox"}}' -- "$CONTAINER_NAME" 2>/dev/null || true) || true
  [ -n "$state" ] && [ "$launch" != "$LAUNCH_ID" ] || return 1
  TAKEN_BY="$state"
  [ "$sandbox" = 1 ] || TAKEN_BY=other
}

taken_name_error() {
  [ "$TAKEN_BY" != other ] \
    || die "the name $CONTAINER_NAME is taken by a container that is not a cxgen sandbox; name the session with --name (or remove that container)" "$EXIT_USAGE"
  session_in_use "$TAKEN_BY"
}

# The container could not be created or started (status 125; Docker's reason is above). A kept
# container left behind in "created" state would hold the name: removed, when it is this start's.
start_failed() {
  local port state
  state=$(docker container inspect -f '{{.State.Status}} {{index .Config.Labels "org.cxgen.launch"}}' -- "$CONTAINER_NAME" 2>/dev/null || true)
  [ "$state" != "created $LAUNCH_ID" ] || docker rm -v -- "$CONTAINER_NAME" >/dev/null 2>&1 || true
  # A --network is not looked up before the start (start_sandbox_queries): here, why it failed.
  if [ -n "${NETWORK:-}" ] && ! docker network inspect -- "$NETWORK" >/dev/null 2>&1; then
    need_daemon
    die "--network: no Docker network named '$NETWORK' (docker network ls lists them)" "$EXIT_USAGE"
  fi
  for port in ${PORTS[@]+"${PORTS[@]}"}; do
    port_free "${port%:*}" || port_in_use "$port"
  done
}

# sandbox_info NAME: sets S_STATE, S_KEEP, S_PROJECT, S_WORKDIR, S_HASH, S_GIT, S_LAUNCH, S_SPARE
# (its spare label: it started as a spare) of the cxgen sandbox NAME; one-line errors when there is none or it is not cxgen's.
sandbox_info() {
  local out sandbox
  out=$(docker container inspect -f '{{.State.Status}}|{{index .Config.Labels "org.cxgen.sandbox"}}|{{index .Config.Labels "org.cxgen.keep"}}|{{index .Config.Labels "org.cxgen.hash"}}|{{index .Config.Labels "org.cxgen.git"}}|{{index .Config.Labels "org.cxgen.workdir"}}|{{index .Config.Labels "org.cxgen.project"}}|{{index .Config.Labels "org.cxgen.launch"}}|{{index .Config.Labels "org.cxgen.spare"}}' -- "$1" 2>&1) || {
    case "$out" in
      *"o such container"* | *"o such object"*) die "no session named $1 (./run_in_container.sh list shows this project's)" "$EXIT_USAGE" ;;
      *) docker_failed "$out" ;;
    esac
  }
  IFS='|' read -r S_STATE sandbox S_KEEP S_HASH S_GIT S_WORKDIR S_PROJECT S_LAUNCH S_SPARE <<<"$out"
  [ "$sandbox" = 1 ] || die "$1 is not a cxgen sandbox; refusing to touch it" "$EXIT_USAGE"
}

# Sets SESSION_LINES: "NAME|COMMAND|IMAGE|STATE|AGE|KEEP|PROJECT|ID" per cxgen sandbox (COMMAND:
# what it runs, or an older script's agent label; "spare" for a spare and a warm session).
list_sessions() {
  SESSION_LINES=$(docker ps -a --filter label=org.cxgen.sandbox=1 --format '{{.Names}}|{{with .Label "org.cxgen.command"}}{{.}}{{else}}{{.Label "org.cxgen.agent"}}{{end}}|{{.Image}}|{{.State}}|{{.RunningFor}}|{{.Label "org.cxgen.keep"}}|{{.Label "org.cxgen.project"}}|{{.ID}}' 2>&1) \
    || docker_failed "$SESSION_LINES"
}

# verify_kept_mounts NAME: every mount source, and every target's path on this host (targets
# are /app<host path>, resolved inside through the mounts above them), must still be the
# physical path it was when the session was created: a symlink planted on the way while it was
# stopped would move a mount (even over the entrypoint inside). Sets AT_RISK.
verify_kept_mounts() {
  local mounts type source target
  mounts=$(docker container inspect -f '{{range .HostConfig.Mounts}}{{.Type}}{{"\n"}}{{.Source}}{{"\n"}}{{.Target}}{{"\n"}}{{end}}' -- "$1" 2>&1) \
    || docker_failed "$mounts"
  AT_RISK=()
  while IFS= read -r type && IFS= read -r source && IFS= read -r target; do
    if [ "$target" = "$SSH_SOCK_TARGET" ]; then
      still_physical "$1" "$source"
      at_risk "$source"
      continue
    fi
    if [ "$target" = "$PROJECT_GIT_INSIDE" ]; then
      still_physical "$1" "$source"
      at_risk "$source"
      continue
    fi
    # A skill of .codex/skills (add_skill_mounts), read-only.
    case "$target" in "$SKILLS_INSIDE"/*)
      still_physical "$1" "$source"
      at_risk "$CODEX_DIR"
      continue ;;
    esac
    # Root mode's firewall and relay state: volumes of Docker's own (container_folders_args), no path
    # of yours.
    case "$type $target" in "volume /var/lib/cxgen" | "volume $RELAY_STATE_INSIDE") continue ;; esac
    # The relay's files (its keys, emptied by then; a refreshed sign-in), in your state folder.
    if [ "$target" = "$RELAY_KEYS_INSIDE" ] || [ "$target" = "$RELAY_OUT_INSIDE" ]; then
      still_physical "$1" "$source"
      continue
    fi
    case "$target" in /app/*) ;; *) die "session $1 has a mount at $target, which cxgen does not make; destroy it and start a new session" "$EXIT_USAGE" ;; esac
    still_physical "$1" "${target#/app}"
    at_risk "${target#/app}"
    [ "$type" = bind ] || continue
    still_physical "$1" "$source"
    at_risk "$source"
  done <<<"$mounts"
}

# still_physical NAME PATH: PATH exists and no part of it is a symlink.
still_physical() {
  [ -e "$2" ] || die "session $1 cannot be resumed: $2 (mounted in it) is gone; destroy $1 and start a new session" "$EXIT_USAGE"
  physical_path "$2" \
    || die "session $1 cannot be resumed safely: $2 (mounted in it) now leads through a symlink, made while it was stopped; destroy $1 and start a new session" "$EXIT_USAGE"
}
