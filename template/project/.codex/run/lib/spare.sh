# shellcheck shell=bash
# Starting spares (lib/warm.sh says what they are).

# spare_start: a spare of this start's configuration (warm_config), in the background: its start
# goes on after this script has ended. With CXGEN_WARM_WAIT=1 (benchmarks, tests) this script
# ends once it is ready.
spare_start() {
  local launch="$$-$RANDOM$RANDOM" name
  warm_wanted || return 0
  [ -n "${WARM_CONFIG:-}" ] || warm_config
  name="$(default_session_name).spare-$launch"
  SPARE_NAME="$name"
  if ! { [ -d "$SPARES_DIR" ] || { mkdir -p "$STATE_DIR" && mkdir -m 0700 "$SPARES_DIR"; }; } 2>/dev/null \
    || [ -L "$SPARES_DIR" ]; then
    return 0
  fi
  if [ "${CXGEN_WARM_WAIT:-0}" = 1 ]; then
    (spare_launch "$name" "$launch") || say "warning: the next session starts cold: its spare did not start (./run_in_container.sh list)"
  else
    (spare_launch "$name" "$launch" </dev/null >/dev/null 2>&1 &)
  fi
}

# spare_prime: build --warm's spare, waited for.
spare_prime() {
  lockdown_args
  warm_wanted || die "build --warm: $(spare_refusal)" "$EXIT_USAGE"
  CXGEN_WARM_WAIT=1 spare_start
  # (Or one of these options was waiting already.)
  [ -f "$SPARES_DIR/$SPARE_NAME" ] || spare_waiting_as_this \
    || die "build --warm: the spare did not start; a session with these options shows why"
  say "a warm sandbox is ready: the next start with these options takes it"
}

# spare_after_build: a new image gets a spare for the project's default options, in the
# background (build --warm, never asking: without a terminal, a question is a refusal).
spare_after_build() {
  warm_on || return 0
  ("$PROJECT_DIR/run_in_container.sh" build --warm -T </dev/null >/dev/null 2>&1 &)
}

# spare_refusal: why this start can have no spare (warm_wanted was false).
spare_refusal() {
  if ! warm_on; then
    printf 'spares are off here (CXGEN_WARM=0, or the start_mode answer: cold)\n'
    return 0
  fi
  printf 'a spare cannot serve a session with --keep, --port, --ssh-agent, --no-firewall, CODEX_DOCKER_IMAGE or the image'"'"'s MCP servers\n'
}

# spare_launch NAME LAUNCH: docker run of the spare, then its setup waited for (done and proven
# inside, or the container is gone); only then is it recorded, so no start claims a spare that
# is not ready, or never will be.
spare_launch() {
  local name="$1" launch="$2" now args keys out session_tmp="$RUN_TMP"
  trap - ERR EXIT
  set +e
  spare_marks_forget
  mount_ids
  spare_checks || return 1
  spares_of_other_configs_removed
  # One waits already with this configuration (two sessions ended together): none more.
  ! spare_waiting_as_this || return 0
  now=$(date +%s) || return 1
  args=("${WARM_ARGS[@]}")
  if [ -n "$RELAY_KEYS_FILE$RELAY_OUT" ]; then
    { mkdir -p "$STATE_DIR/relay" && chmod 0700 "$STATE_DIR/relay"; } || return 1
  fi
  if [ -n "$RELAY_KEYS_FILE" ]; then
    keys="$STATE_DIR/relay/$launch-keys"
    printf '%s' "${RELAY_KEYS_TEXT:-}" >"$keys" || return 1
    args=("${args[@]//"$session_tmp/relay-keys"/"$keys"}")
  fi
  if [ -n "${RELAY_OUT:-}" ]; then
    out="$STATE_DIR/relay/$launch-sign-in"
    (umask 0111 && : >"$out") || return 1
    args=("${args[@]//"$session_tmp/relay-sign-in"/"$out"}")
  fi
  if docker run -d --rm --name "$name" --label "org.cxgen.launch=$launch" --label "org.cxgen.spare=$EUID $now" \
    --label org.cxgen.command=spare -e CXGEN_SPARE=1 "${args[@]}" "$IMAGE" >/dev/null \
    && docker exec -u 0 -e CXGEN_CLAIM=ready "$name" /usr/local/lib/cxgen/entrypoint.sh \
    && printf '%s %s\n%s\n%s\n' "$now" "$launch" "$MOUNT_IDS" "$WARM_CONFIG" >"$SPARES_DIR/$name.new" \
    && mv -f "$SPARES_DIR/$name.new" "$SPARES_DIR/$name"; then
    return 0
  fi
  rm -f "$SPARES_DIR/$name.new"
  docker rm -f -v -- "$name" >/dev/null 2>&1
  return 1
}

# spares_clean: images --clean first removes your spares that can no longer serve: older than
# SPARE_MAX_AGE, left by a start that died (no record after SPARE_START_LIMIT), or recorded here
# and of an image none of your projects builds now (its project changed). Those that can serve
# stay.
spares_clean() {
  local out name label image uid created now count=0
  out=$(docker ps -a --filter label=org.cxgen.spare --format '{{.Names}}|{{.Label "org.cxgen.spare"}}|{{.Image}}' 2>&1) \
    || docker_failed "$out"
  now=$(date +%s)
  while IFS='|' read -r name label image; do
    is_spare "$name" || continue
    read -r uid created <<<"$label" || true
    [ "$uid" = "$EUID" ] || continue
    [[ "$created" =~ ^[0-9]+$ ]] || created=0
    # (Claimed by a start that still runs: a session now.)
    ! spare_claimed_by_a_live_start "$name" || continue
    if [ "$((now - created))" -ge "$SPARE_MAX_AGE" ] \
      || { [ -f "$SPARES_DIR/$name" ] && [ -z "$(image_users "$image")" ]; } \
      || { [ ! -f "$SPARES_DIR/$name" ] && [ "$((now - created))" -ge "$SPARE_START_LIMIT" ]; }; then
      rm -f "$SPARES_DIR/$name" "$SPARES_DIR/$name.claimed"
      docker rm -f -v -- "$name" >/dev/null 2>&1 || true
      count=$((count + 1))
    fi
  done <<<"$out"
  [ "$count" -eq 0 ] || say "removed $count spare sandbox(es) that could no longer serve"
}

# spare_claimed_by_a_live_start NAME: a start of yours claimed the spare NAME and still runs.
spare_claimed_by_a_live_start() {
  local pid=""
  [ -f "$SPARES_DIR/$1.claimed" ] || return 1
  IFS= read -r pid <"$SPARES_DIR/$1.claimed" || true
  [[ "$pid" =~ ^[1-9][0-9]*$ ]] && kill -0 "$pid" 2>/dev/null
}

# spare_checks: what a start checks just before its docker run, checked again for the spare's,
# which comes later (when the session is over, or long after build --warm's own checks): every
# folder and file it mounts is still the physical path it was (no symlink swapped in on the
# way meanwhile), and no sandbox runs now that could swap one (refuse_racing_sandboxes, on a
# fresh listing; this session's own container races nothing: its command is over).
spare_checks() {
  local source
  bind_sources
  for source in ${BIND_SOURCES[@]+"${BIND_SOURCES[@]}"}; do
    physical_path "$source" || return 1
  done
  RUN_TMP=""
  make_run_tmp
  ATTACH_NAME="$CONTAINER_NAME"
  start_sandbox_queries
  # (It dies when one races: this subshell ends, and no spare starts.)
  refuse_racing_sandboxes 2>/dev/null
}

# spare_waiting_as_this: a ready spare of this project (SPARES, from spare_checks' listing) was
# started with this configuration.
spare_waiting_as_this() {
  local entry
  for entry in ${SPARES[@]+"${SPARES[@]}"}; do
    ! spare_config_is_this "${entry%% *}" || return 0
  done
  return 1
}

# spares_of_other_configs_removed: the project's ready spares of another configuration (an image
# it no longer builds, other options) go, as a warm start removes those it cannot use: one spare
# per project, the newest's (builds and cold starts no longer leave one behind each). Each is
# claimed first, so a start claiming it meanwhile keeps it.
spares_of_other_configs_removed() {
  local entry name
  for entry in ${SPARES[@]+"${SPARES[@]}"}; do
    name="${entry%% *}"
    if [ -f "$SPARES_DIR/$name" ] && ! spare_config_is_this "$name" \
      && new_claim "$SPARES_DIR/$name.claimed"; then
      spare_remove "$name"
    fi
  done
}

# spare_config_is_this NAME: the ready spare NAME was started with this configuration.
spare_config_is_this() {
  local config=""
  [ -f "$SPARES_DIR/$1" ] || return 1
  { IFS= read -r _ && IFS= read -r _ && IFS= read -r -d '' config; } <"$SPARES_DIR/$1" || true
  [ "$config" = "$WARM_CONFIG"$'\n' ]
}

# spare_marks_forget: what your state folder keeps of spares and warm sessions that are gone:
# records and claims (by name), what one ran and that its command is over (by id).
spare_marks_forget() {
  local listed file base key
  listed=$(docker ps -a --filter label=org.cxgen.spare --format '{{.ID}} {{.Names}}' 2>/dev/null) || return 0
  for file in "$SPARES_DIR"/*; do
    base="${file##*/}"
    case "$base" in
      *.over | *.command) key="${base%.*} " ;;
      *.claimed) key=" ${base%.claimed}"$'\n' ;;
      *.new | "*") continue ;;
      *) key=" $base"$'\n' ;;
    esac
    case $'\n'"$listed"$'\n' in *$'\n'"$key"*) ;; *"$key"*) ;; *) rm -f "$file" ;; esac
  done
}
