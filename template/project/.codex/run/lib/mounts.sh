# shellcheck shell=bash
# Mounts.

# add_mount SOURCE TARGET [EXTRA]: a bind mount; its --mount value is CSV-quoted, so paths may
# hold spaces and commas (not double quotes). No subshell: a refusal here stops the script.
add_mount() {
  local spec
  case "$1$2" in *'"'*) die "paths with double quotes are refused: $1" "$EXIT_USAGE" ;; esac
  printf -v spec 'type=bind,"source=%s","target=%s"%s' "$1" "$2" "${3:-}"
  DOCKER_ARGS+=(--mount "$spec")
}

# A path mounted onto itself: a mount point, which the agent can neither rename nor replace.
# The pins are listed in the container's labels: later runs' racing checks read them.
pin() {
  add_mount "$1" "/app$1" "${2:-}"
  PINNED+=("$1")
  at_risk "$1"
}

# A writable mount outside the work dir needs a yes from a person (or --yes).
confirm_writable() {
  local path="$1" answer
  is_inside "$path" "$WORK_DIR" && return 0
  [ "${YES:-no}" = no ] || return 0
  [ -t 0 ] || die "refusing writable mount outside the work dir without a terminal to confirm: $path (--yes mounts it without the question)" "$EXIT_USAGE"
  printf 'cxgen: mount %s writable in the sandbox? [y/N] ' "$path" >&2
  read -r answer
  case "$answer" in y | Y | yes) ;; *) die "not confirmed; nothing was started" "$EXIT_USAGE" ;; esac
  # The sandboxes running now, not those of before the question (which may have waited long),
  # and the paths' facts as they are now.
  [ -z "${LISTING_PID:-}" ] || start_sandbox_queries again
  forget_path_facts
}

# The project's control files, protected as whole trees: every folder between the work dir and
# the project, .codex, and .git are mount points (no ancestor the agent could rename), .codex
# read-only with the agent home writable inside it.
protect_project() {
  local path="$PROJECT_DIR"
  if is_inside "$PROJECT_DIR" "$WORK_DIR"; then
    while [ "$path" != "$WORK_DIR" ]; do
      refuse_symlink "$path"
      pin "$path"
      path="${path%/*}"
    done
    pin "$PROJECT_DIR/run_in_container.sh" ",readonly"
    [ ! -e "$PROJECT_DIR/.copier-answers.yml" ] || pin "$PROJECT_DIR/.copier-answers.yml" ",readonly"
    pin "$CODEX_DIR" ",readonly"
    protect_git
  fi
  pin "$ENV_DIR"
  # Yours, read-only inside: the .gitignore keeps credentials out of your commits, the init hook
  # runs at every start (the agent must not make it run its code in later sessions).
  for path in "$ENV_DIR/.gitignore" "$ENV_DIR/init.sh"; do
    refuse_symlink "$path"
    [ ! -f "$path" ] || pin "$path" ",readonly"
  done
  # The entrypoint runs the hook only when it is this mount (never one made since).
  [ ! -f "$ENV_DIR/init.sh" ] || DOCKER_ARGS+=(-e CXGEN_INIT_HOOK=1)
  if [ -n "$SESSIONS_PATH" ]; then
    add_mount "$SESSIONS_PATH" "/app$ENV_DIR/sessions"
  else
    pin "$ENV_DIR/sessions"
  fi
}

# .git as a whole: config, hooks, commondir, modules, worktrees all steer the host's git. Sets
# GIT_PINNED when the agent cannot change it. exec --learn runs your command with open network:
# with git=track it sees your .git read-only, never the agent's repository (whose config, such
# as core.fsmonitor, is the agent's code).
protect_git() {
  local git_dir="$PROJECT_DIR/.git"
  GIT_PINNED=no
  [ -e "$git_dir" ] || return 0
  [ "$GIT_MODE" = writable ] || GIT_PINNED=yes
  case "$GIT_MODE" in
    track) if [ -d "$git_dir" ] && [ "$LEARN" = no ]; then agent_git_mounts; else pin "$git_dir" ",readonly"; fi ;;
    readonly) pin "$git_dir" ",readonly" ;;
    off)
      if [ -d "$git_dir" ]; then
        DOCKER_ARGS+=(--mount "type=tmpfs,\"target=/app$git_dir\",tmpfs-mode=0555,readonly")
      else
        pin "$git_dir" ",readonly"
      fi ;;
    writable)
      say "WARNING: --git writable: the agent can change .git, and git on your host runs what it writes there"
      pin "$git_dir" ;;
  esac
}

# add_readonly_mount WHAT PATH: PATH checked, then mounted read-only at /app<PATH>.
add_readonly_mount() {
  local path
  path=$(safe_path "$1" "$2")
  refuse_shared_folder "$1" "$path"
  refuse_state_folder "$1" "$path"
  add_mount "$path" "/app$path" ",readonly"
  at_risk "$path"
}

# The saved answer's read-only mounts, then --read-only's.
add_readonly_mounts() {
  local path
  for path in ${DEFAULT_READONLY_MOUNTS[@]+"${DEFAULT_READONLY_MOUNTS[@]}"}; do
    add_readonly_mount "readonly_mounts (saved answer; change it with cxgen update --data readonly_mounts='[...]')" "$path"
  done
  for path in ${READONLY_MOUNTS[@]+"${READONLY_MOUNTS[@]}"}; do
    add_readonly_mount --read-only "$path"
  done
}

# A path below a tree an agent can write could be swapped for a symlink by an agent that is
# still running in another sandbox, between this script's checks and Docker's mount or this
# script's copy. Such paths (AT_RISK) are refused while a sandbox that can write them runs; with
# no agent running nothing can race (a sandbox's processes end with it).
at_risk() { ! in_agent_tree "$1" strict || AT_RISK+=("$1"); }

# Also sets SANDBOXES: "NAME STATE PROJECT" lines, one per cxgen sandbox on this machine,
# SPARES: this project's spares of yours (a spare, which runs nothing of an agent's, races none),
# and OVER: the names of warm sessions whose command is over (going, nothing of theirs runs).
refuse_racing_sandboxes() {
  local line field=0 name="" state="" spare="" workdir="" project="" sessions="" mounts="" part="" pinned=$'\n'
  wait "$LISTING_PID" || docker_failed_with "$RUN_TMP/sandboxes.err"
  SANDBOXES="" SPARES=() OVER=" "
  while IFS= read -r line; do
    field=$((field + 1))
    case "$field" in
      1) name="$line" ;;
      2) state="$line" ;;
      3) spare="$line" ;;
      4) workdir="$line" ;;
      5) project="$line" ;;
      6) sessions="$line" mounts="" part=mounts ;;
      *)
        if [ "$line" = . ]; then
          if [ -n "$spare" ] && session_over "$spare"; then
            OVER="$OVER$name "
          else
            SANDBOXES="$SANDBOXES$name $state $project"$'\n'
          fi
          if [ -n "$spare" ] && spare_waiting "$name"; then
            spare_seen "$name" "$spare" "$project"
          elif [ -n "$spare" ] && session_over "$spare"; then
            :
          # The session being resumed does not race itself.
          elif [ "${#AT_RISK[@]}" -gt 0 ] && [ "$name" != "${ATTACH_NAME:-}" ]; then
            refuse_racing_sandbox "$workdir" "${project:+$project/.codex/.environment}" "$sessions" "$pinned" "$name" "$state" "$mounts"
          fi
          field=0 pinned=$'\n'
        elif [ "$part" = pinned ]; then
          pinned="$pinned$line"$'\n'
        elif [ "$line" = - ]; then
          part=pinned
        else
          mounts="$mounts$line"$'\n'
        fi ;;
    esac
  done <"$RUN_TMP/sandboxes"
}

# refuse_racing_sandbox WORKDIR AGENT_HOME SESSIONS PINNED NAME STATE MOUNTS: one sandbox
# (running, or stopped but kept, so it can start again at any time) writes these trees (and its
# --mount folders, MOUNTS, one a line); a path of AT_RISK strictly inside one is safe only if it
# and every folder between it and the tree are mount points there (PINNED): those cannot be
# renamed or replaced.
refuse_racing_sandbox() {
  local pinned="$4" path tree below state TREES
  label_trees "${7:-}"
  for path in "${AT_RISK[@]}"; do
    for tree in "$1" "$2" "$3" ${TREES[@]+"${TREES[@]}"}; do
      if [ -z "$tree" ] || ! is_below "$path" "$tree"; then continue; fi
      below="$path"
      while [ "$below" != "$tree" ]; do
        case "$pinned" in *$'\n'"$below"$'\n'*) ;; *)
          case "$6" in running | paused | restarting) state=running ;; *) state="stopped (kept)" ;; esac
          die "a $state sandbox ($5, work dir $1) can write $path; stop or destroy it (./run_in_container.sh list --all lists them) and retry" "$EXIT_USAGE" ;;
        esac
        below="${below%/*}"
      done
    done
  done
}
