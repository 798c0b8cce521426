# shellcheck shell=bash
# Containerised MCP servers at run time (their declaration: lib/mcp.sh). Each declared server
# runs beside a session in two containers of its own: its wall, made from the session's image,
# whose entrypoint puts the firewall in force with the server's allowlist alone, then idles
# unprivileged; and the server's image in the wall's network namespace (so behind that firewall
# and its resolver), as an account without firewall exceptions, without capabilities, on a
# read-only root. Nothing of the sandbox is shared with them but one stream, the server's stdio,
# joined here (docker exec and a FIFO) to a socket in the sandbox, /run/cxgen-mcp/NAME.sock,
# which the image's `cxgen-mcp NAME` connects to: the agent gets no docker socket, no shared
# folder, no route to them.

# The account of the servers and their walls' idle process: none of the firewall's exceptions
# (root, cxgen-fw 65530, cxgen-dns 65531, cxgen-relay 65532) is its, whatever the image says.
readonly MCP_UID=65533
# The sandbox's end (the image's cxgen-mcp), which the listener runs, and the account its
# connections' readers run as there (nobody: no firewall exception, never the agent).
readonly MCP_IN_IMAGE=/usr/local/lib/cxgen/cxgen-mcp MCP_LISTENER_ID=65534
MCP_PIDS=() MCP_CONTAINERS=() MCP_SINCE=""

# mcp_start: the declared servers (MCP_NAMES) start beside the session about to start, each in
# a job of this script: the session's start never waits for them (its first MCP call may). Reads
# IMAGE, PULL_ARGS, NETWORK, LAUNCH_ID (the session's label), CONTAINER_NAME, HOST_ADDRESSES,
# PRIVATE_DESTINATIONS and LOCKDOWN (the project's: the walls start locked down too).
mcp_start() {
  local i
  MCP_PIDS=() MCP_CONTAINERS=()
  [ "${#MCP_NAMES[@]}" -gt 0 ] || return 0
  make_run_tmp
  MCP_TOKEN="$$-$RANDOM"
  # However this script ends, the servers end with it. (Killed with -9, it leaves a session that
  # the jobs serve until it ends; then they remove their containers themselves.)
  trap 'mcp_stop; run_files_removed' EXIT
  for ((i = 0; i < ${#MCP_NAMES[@]}; i++)); do
    MCP_CONTAINERS+=("cxgen-mcp-${MCP_NAMES[i]}-$MCP_TOKEN")
    # Its own log; fd 5 is your terminal, for one line per failure. No job holds this script's
    # stdout or stderr otherwise, so none keeps a caller waiting once this script is done.
    (mcp_serve "$i") 5>&2 >>"$RUN_TMP/mcp-${MCP_NAMES[i]}.log" 2>&1 </dev/null &
    MCP_PIDS+=("$!")
  done
}

# mcp_stop: the jobs killed (and a docker events a job still waits on), then every container of
# this start's servers removed.
mcp_stop() {
  local file pid
  [ "${#MCP_PIDS[@]}" -gt 0 ] || return 0
  # (SIGKILL: a job's subshell never runs this script's EXIT trap; bash 3.2 reports the kill.)
  { kill -KILL "${MCP_PIDS[@]}" && wait "${MCP_PIDS[@]}"; } 2>/dev/null || true
  MCP_PIDS=()
  for file in "$RUN_TMP"/mcp-*.pid; do
    pid=""
    [ ! -f "$file" ] || IFS= read -r pid <"$file" || true
    if [[ "$pid" =~ ^[1-9][0-9]*$ ]]; then kill "$pid" 2>/dev/null || true; fi
  done
  mcp_remove run "$MCP_TOKEN"
}

# mcp_remove KEY VALUE...: every server container and wall whose org.cxgen.mcp.KEY label (run,
# launch: a session's start; session: its name) is one of the VALUEs, removed.
mcp_remove() {
  local key="org.cxgen.mcp.$1" values=" ${*:2} " id value ids=()
  while read -r id value; do
    case "$values" in *" $value "*) ids+=("$id") ;; esac
  done < <(docker ps -a --filter "label=$key" --format "{{.ID}} {{.Label \"$key\"}}" 2>/dev/null || true)
  [ "${#ids[@]}" -eq 0 ] || docker rm -f -v -- "${ids[@]}" >/dev/null 2>&1 || true
}

# mcp_serve I: server I's job: once the session runs (its start is left alone), the server's wall
# started and its image at hand, then one connection after another while the session runs; then
# its wall removed. A failure is one line on fd 5.
mcp_serve() {
  local name="${MCP_NAMES[$1]}" wall="${MCP_CONTAINERS[$1]}" fifo sandbox ready="" labels
  trap - EXIT
  set +e
  labels=(--label "org.cxgen.mcp.launch=$LAUNCH_ID" --label "org.cxgen.mcp.session=$CONTAINER_NAME"
    --label "org.cxgen.mcp.run=$MCP_TOKEN" --label "org.cxgen.mcp.server=$name")
  fifo="$RUN_TMP/mcp-$name"
  mkfifo -m 0600 "$fifo" "$fifo.wall" "$fifo.events" "$fifo.alive" \
    || { mcp_error "cannot make its FIFOs in $RUN_TMP"; return 0; }
  mcp_wait_sandbox || { mcp_error "its session did not start, or Docker's events could not be read"; return 0; }
  mcp_wall "$1" <"$fifo.alive" >"$fifo.wall" 5>&- &
  # The wall lives while this job does: it waits for the end of its input, which this job holds
  # (fd 7, which no other process gets), so even a wall still being made as this job is killed
  # ends at once. It says "ready" once its entrypoint has proved its firewall in force.
  exec 7>"$fifo.alive" 6<"$fifo.wall"
  if ! mcp_pull "${MCP_IMAGES[$1]}"; then
    mcp_error "its image ${MCP_IMAGES[$1]} is not here and could not be pulled: $(mcp_last_error)"
  elif ! read -r -t 600 ready <&6 || [ "$ready" != ready ]; then
    mcp_error "its firewall did not start: $(mcp_last_error)"
  else
    mcp_connections "$1"
  fi
  docker rm -f -v -- "$wall" >/dev/null 2>&1 5>&- 7>&-
}

# mcp_wall I: server I's wall, in the foreground; it prints "ready", then idles unprivileged until
# its input ends.
mcp_wall() {
  local args=(run -i --rm --init --name "$wall" "${labels[@]}"
    # The sandbox's own capabilities and settings (build_run_args), for its entrypoint.
    --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_BIND_SERVICE --cap-add SETUID
    --cap-add SETGID --cap-add SETPCAP --cap-add CHOWN --cap-add DAC_OVERRIDE --cap-add KILL
    --security-opt no-new-privileges --sysctl net.ipv4.ip_unprivileged_port_start=1024
    --memory 256m --pids-limit 64
    -e "CXGEN_UID=$MCP_UID" -e "CXGEN_GID=$MCP_UID" -e CXGEN_FIREWALL=on
    -e "CXGEN_PRIVATE_DESTINATIONS=$PRIVATE_DESTINATIONS" -e "CXGEN_HOST_ADDRESSES=$HOST_ADDRESSES"
    -e "CXGEN_ALLOWED_DOMAINS=${MCP_DOMAINS[$1]}")
  [ "$LOCKDOWN" = off ] || args+=(-e CXGEN_LOCKDOWN=on)
  [ -z "$NETWORK" ] || args+=(--network "$NETWORK")
  exec docker "${args[@]}" ${PULL_ARGS[@]+"${PULL_ARGS[@]}"} "$IMAGE" \
    bash -c 'echo ready; read -r _ || :'
}

# mcp_pull IMAGE: IMAGE is here, or pulled now (before the first call, which need not wait).
mcp_pull() {
  docker image inspect -- "$1" >/dev/null 2>&1 5>&- 7>&- || docker pull -q -- "$1" 5>&- 7>&-
}

# mcp_wait_sandbox: sets sandbox, this start's session (by its label), once Docker has started
# it: one docker events call, not a poll beside the session's own start. Events of the last two
# minutes count (the Docker host's clock may differ from this one's: Docker Desktop's VM), or,
# resuming a kept session, those since it stopped (MCP_SINCE, the Docker host's own time). It
# ends by itself after ten minutes: a start that failed, whose jobs this script stops long before.
mcp_wait_sandbox() {
  local events now
  now=$(date +%s)
  docker events --since "${MCP_SINCE:-$((now - 120))}" --until "$((now + 600))" \
    --filter "label=org.cxgen.launch=$LAUNCH_ID" \
    --filter event=start --format '{{.Actor.Attributes.name}}' </dev/null >"$fifo.events" 5>&- 7>&- &
  events=$!
  # (For mcp_stop, should this job be stopped meanwhile.)
  printf '%s\n' "$events" >"$fifo.pid"
  IFS= read -r sandbox <"$fifo.events" || sandbox=""
  rm -f "$fifo.pid"
  kill "$events" 2>/dev/null
  [[ "$sandbox" =~ $NAME_RE ]]
}

# mcp_connections I: one connection at a time: in the sandbox a listener (cxgen-mcp --listen,
# as nobody there), whose stdin is the server's output, and a reader of what its client says
# (--read), and here, once the client has said something, a container of the server; again after
# each, until the session ends. A server that cannot start, or a listener that fails three times
# running, ends it.
mcp_connections() {
  local count=0 failures=0 statuses status listener server words=()
  read -r -a words <<<"${MCP_ARGS[$1]}" || true
  while mcp_running; do
    count=$((count + 1))
    server="$wall-$count"
    docker exec -i -u 0 "$sandbox" "$MCP_IN_IMAGE" --listen "$name" "$count" <"$fifo" >/dev/null 5>&- 7>&- &
    listener=$!
    mcp_reader 5>&- 7>&- | mcp_server "$1" >"$fifo" 5>&- 7>&-
    statuses="${PIPESTATUS[*]}"
    status=0
    wait "$listener" || status=$?
    if [ "${statuses#* }" = 125 ]; then
      # (Not the log's last line: a server that exits 125 itself would write it.)
      mcp_error "its container did not start, or it exited with 125 (docker's own failure status)"
      return 0
    fi
    if [ "$status ${statuses%% *}" = "0 0" ]; then failures=0; else failures=$((failures + 1)); fi
    if [ "$failures" -ge 3 ] && mcp_running; then
      mcp_error "its listener in the sandbox failed: $(mcp_last_error)"
      return 0
    fi
  done
}

# mcp_reader: what the connection's client says (stdout: the server's stdin); once it is done,
# the server gets its end of input, and one that does not end within 10 s is stopped (SIGTERM,
# then SIGKILL), by a job of its own that holds none of the streams.
mcp_reader() {
  local status=0
  docker exec -u "$MCP_LISTENER_ID:$MCP_LISTENER_ID" "$sandbox" "$MCP_IN_IMAGE" --read "$name" "$count" \
    </dev/null 5>&- 7>&- || status=$?
  exec >&-
  (sleep 10 && docker stop -t 5 "$server") </dev/null >/dev/null 2>&1 5>&- 7>&- &
  return "$status"
}

# mcp_server I: server I's container, started by the client's first byte (passed on with the
# rest): no container without a client, none left starting as a session ends.
mcp_server() {
  local first="" LC_ALL=C
  IFS= read -r -n 1 -d '' first || [ -n "$first" ] || return 0
  { printf '%s' "$first" && exec cat; } | docker run -i --rm --init --name "$server" "${labels[@]}" \
    --network "container:$wall" --user "$MCP_UID:$MCP_UID" --cap-drop ALL \
    --security-opt no-new-privileges --pids-limit 256 --memory 1g --read-only \
    --tmpfs /tmp:rw,exec,nosuid,nodev,mode=1777,size=256m -e HOME=/tmp \
    "${MCP_IMAGES[$1]}" ${words[@]+"${words[@]}"}
}

# The session still runs.
mcp_running() {
  [ "$(docker container inspect -f '{{.State.Running}}' -- "$sandbox" 2>/dev/null 5>&- 7>&-)" = true ]
}

# mcp_error MESSAGE: one line on your terminal, for this job's server.
mcp_error() { say "MCP server $name: $1 (log: $RUN_TMP/mcp-$name.log)" 2>&5; }

# What docker last said in this job's log (its last line, 200 characters at most).
mcp_last_error() {
  local line last=""
  while IFS= read -r line; do [ -z "$line" ] || last="$line"; done <"$RUN_TMP/mcp-$name.log"
  printf '%s' "${last:0:200}"
}

# mcp_attach NAME: the servers of the kept session NAME, as its image declared them (a container
# carries its image's labels), started as for a new one, on its network.
mcp_attach() {
  local out text
  docker_query out container inspect \
    -f "{{.Image}} {{.HostConfig.NetworkMode}} {{.State.FinishedAt}}{{println}}$MCP_LABEL_FORMAT" -- "$1"
  read -r IMAGE NETWORK MCP_SINCE <<<"${out%%$'\n'*}" || true
  # (No servers: the label is empty, and the substitution took the line's end with it.)
  case "$out" in *$'\n'*) text="${out#*$'\n'}" ;; *) text="" ;; esac
  [ "$text" != "<no value>" ] || text=""
  mcp_parse "$text" "session $1's $MCP_FILE"
  [ "${#MCP_NAMES[@]}" -gt 0 ] || return 0
  case "$NETWORK" in default | bridge) NETWORK="" ;; esac
  LAUNCH_ID="$S_LAUNCH" CONTAINER_NAME="$1" PULL_ARGS=(--pull never) LOCKDOWN=off
  ! project_locked_down || LOCKDOWN=on
  host_addresses
  mcp_start
}
