# shellcheck shell=bash
# Warm starts. A spare is a sandbox started ahead of its session: its firewall is in force and
# proven, its resolver and relay run, and it waits, running nothing of an agent's. A start whose
# configuration is the spare's claims it (docker rename: one start wins) and runs its command
# there with docker exec, at a fraction of docker run's cost; the sandbox's side is warm.sh.
# Each spare serves one session and is gone with it. The next one starts when a session ends
# (and at build), in the background. A spare whose configuration differs from a start's, older
# than SPARE_MAX_AGE, or left by a start that died, is removed by the project's next start (and
# images --clean removes all of yours).

# Per spare, once it is ready: its creation time and launch, what its folders and files were
# (mount_ids), then the configuration it was started with (which holds the relay's keys: your
# state folder is yours alone). Its label
# org.cxgen.spare holds "UID CREATED": whose, and since when. One with no record after
# SPARE_START_LIMIT seconds was left by a start that died.
readonly SPARES_DIR="$STATE_DIR/spares" SPARE_MAX_AGE=3600 SPARE_START_LIMIT=300
SPARES=() WARM=no

# warm_on: spares are on here: CXGEN_WARM (1 or 0) when set, else the start_mode answer.
warm_on() {
  case "${CXGEN_WARM:-}" in
    1 | yes | on | true) return 0 ;;
    0 | no | off | false) return 1 ;;
  esac
  [ "$START_MODE" = warm ]
}

# warm_wanted: spares are on (warm_on) and this start can use
# one, and leave one: not --keep (attach starts docker run's command again), login, --learn,
# --port (a spare would hold the ports), --ssh-agent (a socket of this moment), --no-firewall,
# an image of your own (it may have no warm.sh), nor the image's MCP servers (they follow the
# start of the session's container).
warm_wanted() {
  warm_on && [ "$KEEP" = no ] && [ "$LOGIN" = no ] && [ "$LEARN" = no ] && [ "${#PORTS[@]}" -eq 0 ] \
    && [ "$SSH_AGENT" = no ] && [ "$FIREWALL" = on ] && [ -z "${CODEX_DOCKER_IMAGE:-}" ] \
    && [ "${#MCP_NAMES[@]}" -eq 0 ]
}

# is_spare NAME: NAME is a spare's (a claimed one soon has its session's name).
is_spare() { case "$1" in *.spare-*) true ;; *) false ;; esac; }

# spare_waiting NAME: NAME is a spare's, and no start of yours has claimed it (a claimed one
# keeps the spare's name for a moment, while its session starts: it counts as a session).
spare_waiting() { is_spare "$1" && [ ! -e "$SPARES_DIR/$1.claimed" ]; }

# session_over FIELD: FIELD is a listing's "SPARE_LABEL ID" of a session started in a spare:
# its command is over (warm_run's mark), and nothing of the agent's is left (the claim ended
# it); the container is going.
session_over() {
  local _uid _created id
  read -r _uid _created id <<<"$1" || true
  [ -n "$id" ] && [ -e "$SPARES_DIR/$id.over" ]
}

# wait_over_session NAME: until the warm session NAME whose command is over (OVER) is gone:
# its name is free then. Seconds at most; then docker's own error decides.
wait_over_session() {
  local i
  case "${OVER:- }" in *" $1 "*) ;; *) return 0 ;; esac
  for ((i = 0; i < 200; i++)); do
    docker container inspect -f . -- "$1" >/dev/null 2>&1 || return 0
    sleep 0.05
  done
}

# spare_seen NAME LABEL PROJECT: one spare in the listing (refuse_racing_sandboxes; LABEL: its
# spare label and its id): yours, of this project, are SPARES ("NAME ID CREATED" each).
spare_seen() {
  local uid created id
  read -r uid created id <<<"$2" || true
  # (A label without its time, as no spare of this cxgen has: long gone, so removed.)
  [[ "$created" =~ ^[0-9]+$ ]] || { id="$created" created=0; }
  [ "$uid" = "$EUID" ] && [ "$3" = "$PROJECT_DIR" ] && [[ "$id" =~ ^[0-9a-f]+$ ]] && SPARES+=("$1 $id $created")
  return 0
}

# warm_config: sets WARM_ARGS, docker run's arguments for this start without what is this
# start's alone (its launch, its command, a terminal, --rm), and WARM_CONFIG, what a spare must
# have been started with to serve it: those, the values of the variables passed by name, the
# relay's keys, the image.
warm_config() {
  local i arg next previous=""
  WARM_ARGS=() WARM_TTY=() WARM_CONFIG="$IMAGE"
  for ((i = 1; i < ${#DOCKER_ARGS[@]}; i++)); do
    arg="${DOCKER_ARGS[$i]}" next="${DOCKER_ARGS[$((i + 1))]:-}"
    case "$arg" in
      --rm) continue ;;
      -it | -i) WARM_TTY=("$arg"); continue ;;
      --label) case "$next" in org.cxgen.launch=* | org.cxgen.command=* | org.cxgen.agent=*) i=$((i + 1)); continue ;; esac ;;
    esac
    WARM_ARGS+=("$arg")
    # (This start's own files, the relay's: by what they hold.)
    [ -z "${RUN_TMP:-}" ] || arg="${arg//"$RUN_TMP"/RUN_TMP}"
    if [ "$previous" = -e ] && [[ "$arg" =~ $ENV_NAME_RE ]]; then arg="$arg=${!arg-}"; fi
    previous="$arg"
    # (This machine's addresses may change: the claim adds any new one, warm.sh.)
    case "$arg" in CXGEN_HOST_ADDRESSES=*) continue ;; esac
    WARM_CONFIG="$WARM_CONFIG"$'\n'"$arg"
  done
  WARM_CONFIG="$WARM_CONFIG"$'\n'"keys ${RELAY_KEYS_TEXT:-}"
}

# warm_claim: claims a spare of this project whose configuration is this start's (sets WARM=yes,
# SPARE_NAME, SPARE_ID, LAUNCH_ID its); removes those that cannot serve. The claim is a file
# made only if none is there (of two of your starts, one gets it); the rename to the session's
# name goes on beside the command's start (warm_run).
warm_claim() {
  local entry name id created launch ids config now
  WARM=no
  warm_wanted && [ "${#SPARES[@]}" -gt 0 ] || return 1
  warm_config
  mount_ids
  epoch_now
  now="$EPOCH_NOW"
  for entry in "${SPARES[@]}"; do
    read -r name id created <<<"$entry"
    launch="" ids="" config=""
    if [ -f "$SPARES_DIR/$name" ]; then
      { IFS=' ' read -r _ launch && IFS= read -r ids && IFS= read -r -d '' config; } <"$SPARES_DIR/$name" || true
    elif [ "$((now - created))" -lt "$SPARE_START_LIMIT" ]; then
      continue
    fi
    if [ "$WARM" = no ] && [ "$config" = "$WARM_CONFIG"$'\n' ] && [ "$ids" = "$MOUNT_IDS" ] \
      && [ "$((now - created))" -lt "$SPARE_MAX_AGE" ]; then
      new_claim "$SPARES_DIR/$name.claimed" || continue
      WARM=yes SPARE_NAME="$name" SPARE_ID="$id" LAUNCH_ID="$launch"
      spare_relay_files "$launch"
      continue
    fi
    spare_remove "$name"
  done
  [ "$WARM" = yes ]
}

# mount_ids: sets MOUNT_IDS, the device and inode of every folder and file this start mounts
# (its relay files aside), in order. A file replaced since the spare was made (git checkout, an
# editor writing a new file) is another inode, and Docker's mount of the old one is gone from
# the spare, read-only pin and all: such a spare must not serve.
mount_ids() {
  local source sources=()
  bind_sources
  for source in ${BIND_SOURCES[@]+"${BIND_SOURCES[@]}"}; do
    case "$source" in "${RUN_TMP:-/nonexistent}"/* | "$STATE_DIR"/*) continue ;; esac
    sources+=("$source")
  done
  MOUNT_IDS=""
  [ "${#sources[@]}" -gt 0 ] || return 0
  MOUNT_IDS=$(stat -c %d:%i -- "${sources[@]}" 2>/dev/null || stat -f %d:%i -- "${sources[@]}" 2>/dev/null) \
    || MOUNT_IDS="?"
  MOUNT_IDS="${MOUNT_IDS//$'\n'/ }"
}

# bind_sources: sets BIND_SOURCES, the host path of every bind mount in WARM_ARGS (add_mount's
# form), in order.
bind_sources() {
  local arg source
  BIND_SOURCES=()
  for arg in ${WARM_ARGS[@]+"${WARM_ARGS[@]}"}; do
    case "$arg" in type=bind,\"source=*) ;; *) continue ;; esac
    source="${arg#type=bind,\"source=}"
    BIND_SOURCES+=("${source%%\"*}")
  done
}

# Sets EPOCH_NOW, the time in seconds (bash 4.2 and later without a fork; 3.2 asks date).
epoch_now() {
  if [ "${BASH_VERSINFO[0]}" -ge 5 ] || { [ "${BASH_VERSINFO[0]}" -eq 4 ] && [ "${BASH_VERSINFO[1]}" -ge 2 ]; }; then
    printf -v EPOCH_NOW '%(%s)T' -1
  else
    EPOCH_NOW=$(date +%s)
  fi
}

# spare_remove NAME: the spare gone (by its spare name: one a start claimed meanwhile has
# another), in the background; its record now.
spare_remove() {
  rm -f "$SPARES_DIR/$1"
  # (A claim made to remove it goes with it: spares_of_other_configs_removed.)
  ( { docker rm -f -v -- "$1" >/dev/null 2>&1; rm -f "$SPARES_DIR/$1.claimed"; } &)
}

# spare_relay_files LAUNCH: the claimed spare's relay files are this session's (its keys file,
# emptied inside; a refreshed sign-in comes back in its out file: relay_write_back).
spare_relay_files() {
  [ -z "$RELAY_KEYS_FILE" ] || RELAY_KEYS_FILE="$STATE_DIR/relay/$1-keys"
  [ -z "${RELAY_OUT:-}" ] || RELAY_OUT="$STATE_DIR/relay/$1-sign-in"
}

# warm_run: the command in the claimed spare, as docker run would have run it (sets status).
# A docker CLI killed before the command ended (^C without a terminal) leaves it running: the
# container goes before anything here reads what the session left. No detaching (ctrl-p ctrl-q):
# nothing could join an exec's terminal again, and this script would go on as if the session
# were over (the detach keys are a sequence no one types).
readonly NO_DETACH_KEYS=ctrl-@,ctrl-@,ctrl-@,ctrl-@,ctrl-@,ctrl-@,ctrl-@,ctrl-@
warm_run() {
  local renamed
  # What it runs, for list (its container's labels are the spare's).
  printf '%s\n' "$SESSION_COMMAND" >"$SPARES_DIR/$SPARE_ID.command" 2>/dev/null || true
  # (Should the rename fail, the claim stays: the container is a session all the same.)
  (! docker rename "$SPARE_NAME" "$CONTAINER_NAME" >/dev/null 2>&1 \
    || rm -f "$SPARES_DIR/$SPARE_NAME" "$SPARES_DIR/$SPARE_NAME.claimed") &
  renamed=$!
  trap ':' INT
  docker exec --detach-keys "$NO_DETACH_KEYS" -u 0 -e CXGEN_CLAIM=1 -e "CXGEN_CLAIM_HOST_ADDRESSES=$HOST_ADDRESSES" \
    ${WARM_TTY[@]+"${WARM_TTY[@]}"} "$SPARE_ID" /usr/local/lib/cxgen/entrypoint.sh "${CMD_ARGS[@]}" || status=$?
  trap - INT
  if [ "$status" -lt 128 ]; then
    # Over (the claim ended everything of the agent's): the container, going, races nothing.
    : >"$SPARES_DIR/$SPARE_ID.over" 2>/dev/null || true
  else
    docker rm -f -v -- "$SPARE_ID" >/dev/null 2>&1 || true
  fi
  wait "$renamed" || true
  rm -f "$SPARES_DIR/$SPARE_ID.command"
}

# warm_session_command ID: sets command, what the warm session ID (its container's short id)
# runs: warm_run's record, or "?" (another state folder's).
warm_session_command() {
  command="?"
  [ ! -f "$SPARES_DIR/$1.command" ] || IFS= read -r command <"$SPARES_DIR/$1.command" || true
}

# spare_state NAME: the list's STATE for the spare NAME: spare,ready (recorded in your state
# folder: the next start with its configuration claims it), else spare,starting (or another
# user's).
spare_state() {
  if [ -f "$SPARES_DIR/$1" ]; then state=spare,ready; else state=spare,starting; fi
}

# start_logged: CXGEN_START_LOG names a file that gets "warm NAME" or "cold NAME" per start (for
# benchmarks and tests).
start_logged() {
  [ -z "${CXGEN_START_LOG:-}" ] || printf '%s %s\n' "$1" "$CONTAINER_NAME" >>"$CXGEN_START_LOG" || true
}
