# shellcheck shell=bash
# A session in the sandbox: run, shell, exec and login start one.

# start_session KIND: KIND is run (the agent), shell, exec (CMD_ARGS), login (LOGIN=yes) or spare
# (build --warm: the checks and preparations of a start, then a spare instead of a session).
start_session() {
  case "$1" in
    run)
      agent_command "$AGENT"
      CMD_ARGS=("${AGENT_CMD[@]}" ${CMD_ARGS[@]+"${CMD_ARGS[@]}"}) ;;
    shell) CMD_ARGS=(bash -l) ;;
    login)
      agent_login "$AGENT" "$LOGIN_MODE" \
        || die "agent '$AGENT' has no $LOGIN_MODE sign-in here (installed: $INSTALLED_AGENTS; see --help)" "$EXIT_USAGE"
      CMD_ARGS=("${LOGIN_CMD[@]}") ;;
  esac
  # Refused at once what the project's lockdown forbids (before any build).
  lockdown_start
  SESSION_AGENT="$AGENT"
  [ "$1" = run ] || SESSION_AGENT="$1"
  session_command "$1"
  load_agent_trees
  AT_RISK=() PINNED=()
  resolve_work_dir
  at_risk "$WORK_DIR"
  [ -z "$SESSIONS_PATH" ] || check_sessions_path
  check_mounts
  set_agent_ids
  plan_env_dir
  AGENT_GIT_DIRS=()
  build_run_args
  agent_git_command
  local pinned
  printf -v pinned '%s\n' "${PINNED[@]}"
  DOCKER_ARGS+=(--label "org.cxgen.pinned=$pinned")
  refuse_racing_sandboxes
  [ "$LEARN" = no ] || refuse_agents_during_learn
  [ "$1" = spare ] || choose_session_name
  remember_session_trees
  prepare_env_dir
  ensure_image
  if [ "$1" = spare ]; then spare_prime; return; fi
  # In a container of the image. (Its commit id is not the command's output.)
  [ "$GIT_MODE" != track ] || snapshot_work_dir refs/cxgen/start >/dev/null
  notice_newer_versions
  if [ "$FIREWALL" = off ]; then
    say "WARNING: --no-firewall: the agent gets UNRESTRICTED network access"
  fi
  if [ "$LEARN" = yes ]; then
    say "WARNING: --learn: the command gets OPEN network access (every name and address it uses is recorded); run only what you trust, never an agent"
    note_ignored_files
    run_learning
  else
    run_sandbox
  fi
}

# --sessions-path: checked like the work dir, asked first (it is writable).
check_sessions_path() {
  SESSIONS_PATH=$(safe_path "--sessions-path" "$SESSIONS_PATH")
  refuse_shared_folder --sessions-path "$SESSIONS_PATH"
  refuse_system_tree --sessions-path "$SESSIONS_PATH"
  refuse_state_folder --sessions-path "$SESSIONS_PATH"
  confirm_writable "$SESSIONS_PATH"
  at_risk "$SESSIONS_PATH"
}

# session_command KIND: sets SESSION_COMMAND, what the session runs in a word or two, for list:
# the agent, shell, exec and the command's name, login and the agent.
session_command() {
  local name="${CMD_ARGS[0]:-}"
  name="${name##*/}"
  case "$1" in
    run) SESSION_COMMAND="$AGENT" ;;
    exec) SESSION_COMMAND="exec ${name:0:24}" ;;
    login) SESSION_COMMAND="login $AGENT" ;;
    *) SESSION_COMMAND="$1" ;;
  esac
  SESSION_COMMAND="${SESSION_COMMAND//[!A-Za-z0-9 _.+@-]/?}"
}

# remember_session_trees: from here on, this run's agent can write these (its work dir, its
# home, its sessions folder, its --mount folders): later runs of every project treat symlinks
# there as its.
remember_session_trees() {
  local trees=("$WORK_DIR")
  [ "$WORK_DIR" = "$PROJECT_DIR" ] || trees+=("$ENV_DIR")
  [ -z "${SESSIONS_PATH:-}" ] || trees+=("$SESSIONS_PATH")
  remember_agent_trees "${trees[@]}" ${MOUNT_PATHS[@]+"${MOUNT_PATHS[@]}"}
}
