# shellcheck shell=bash
# exec --learn runs your command on the work dir as you reviewed it: refused while a sandbox runs
# (or is paused) that can write it meanwhile, one whose work dir, agent home, sessions folder or
# --mount folder contains the work dir (or one of this run's --mount folders) or lies inside it.
# (A kept, stopped one starts only when you start it.)
refuse_agents_during_learn() {
  local line field=0 name="" state="" spare="" workdir="" trees=() tree part="" mine
  while IFS= read -r line; do
    field=$((field + 1))
    case "$field" in
      1) name="$line" trees=() part=mounts ;;
      2) state="$line" ;;
      3) spare="$line" ;;
      4) workdir="$line" trees+=("$line") ;;
      5) [ -z "$line" ] || trees+=("$line/.codex/.environment") ;;
      6) [ -z "$line" ] || trees+=("$line") ;;
      *)
        # Its --mount folders, then "-" and its pinned paths.
        if [ "$line" != . ]; then
          [ "$line" != - ] || part=pinned
          if [ "$part" = mounts ] && [ -n "$line" ]; then trees+=("$line"); fi
          continue
        fi
        field=0
        case "$state" in running | paused | restarting) ;; *) continue ;; esac
        # (A spare runs nothing of an agent's.)
        if [ -n "$spare" ] && { spare_waiting "$name" || session_over "$spare"; }; then continue; fi
        for tree in ${trees[@]+"${trees[@]}"}; do
          for mine in "$WORK_DIR" ${MOUNT_PATHS[@]+"${MOUNT_PATHS[@]}"}; do
            if [ -n "$tree" ] && { is_inside "$mine" "$tree" || is_inside "$tree" "$mine"; }; then
              die "a running sandbox ($name, work dir $workdir) can write $mine while your trusted command runs; stop it first (./run_in_container.sh stop $name) and retry" "$EXIT_USAGE"
            fi
          done
        done ;;
    esac
  done <"$RUN_TMP/sandboxes"
}

# exec --learn: one line when the work dir holds files your git ignores, which your review (git
# status, git diff) did not show you, yet the command may run as they are: node_modules, .venv,
# build outputs, a sourceless .pyc, any other file in a __pycache__ folder. Left out: the agent
# home and the .pyc files of __pycache__ folders (learn mode gives Python a cache of its own). Your git's rules on your .git, without fsmonitor; folders git ignores
# as a whole count once. Not with --git writable (that .git is the agent's), nor without git or
# a .git; what takes git over 3 s (a huge tree, a .gitignore made a FIFO) gets a warning.
readonly IGNORED_CHECK_SECONDS=3
note_ignored_files() {
  local git_dir="$PROJECT_DIR/.git" top="$PROJECT_DIR" out="$RUN_TMP/ignored" status=0 entry first="" count=0
  command -v git >/dev/null 2>&1 && [ "$GIT_MODE" != writable ] && [ -d "$git_dir" ] && [ ! -L "$git_dir" ] || return 0
  is_inside "$PROJECT_DIR" "$WORK_DIR" || top="$WORK_DIR"
  is_inside "$top" "$PROJECT_DIR" || return 0
  within "$IGNORED_CHECK_SECONDS" list_ignored_files "$top" "$git_dir" >"$out" || status=$?
  if [ "$status" -gt 128 ]; then
    say "warning: could not list the files git ignores in $top within ${IGNORED_CHECK_SECONDS} s; the agent may have written some, and this command may run them: check with git status --ignored"
    return 0
  fi
  [ "$status" -eq 0 ] || return 0
  while IFS= read -r -d '' entry; do
    count=$((count + 1))
    [ -n "$first" ] || first="$entry"
  done <"$out"
  [ "$count" -eq 0 ] \
    || say "warning: $count path(s) git ignores in the work dir (e.g. ${first:0:80}) were not in your review; the agent may have written them, and this command may run them as they are (git status --ignored lists them, git clean -ndX what clean removes)"
}

# list_ignored_files TOP GIT_DIR: what your git ignores under TOP, NUL-separated.
list_ignored_files() {
  cd "$1" && GIT_OPTIONAL_LOCKS=0 exec git --git-dir="$2" --work-tree="$PROJECT_DIR" \
    -c safe.directory="$PROJECT_DIR" -c core.fsmonitor=false -c core.untrackedCache=false \
    ls-files -z --others --ignored --exclude-standard --directory --no-empty-directory -- . \
    ":(top,literal,exclude)${ENV_DIR#"$PROJECT_DIR/"}" ':(top,glob,exclude)**/__pycache__/*.pyc'
}

# exec --learn: the session is kept when the command ends (no --rm), so that the report it left
# can be copied out; then it is removed.
run_learning() {
  local arg args=() status=0
  for arg in "${DOCKER_ARGS[@]}"; do [ "$arg" = --rm ] || args+=("$arg"); done
  DOCKER_ARGS=("${args[@]}" -e CXGEN_LEARN=1)
  trap 'own_container && docker rm -f -v -- "$CONTAINER_NAME" >/dev/null 2>&1; run_files_removed' EXIT
  run_sandbox || status=$?
  learn_report
  return "$status"
}

# The container named CONTAINER_NAME is this start's (not one that holds the name it wanted).
own_container() {
  [ "$(docker container inspect -f '{{index .Config.Labels "org.cxgen.launch"}}' -- "$CONTAINER_NAME" 2>/dev/null)" = "$LAUNCH_ID" ]
}

# Print learn mode's report (to stderr: stdout is the command's) and offer to save what it
# proposes.
learn_report() {
  local line proposals=() answer
  if ! own_container \
    || ! docker cp "$CONTAINER_NAME:/var/lib/cxgen/learned" - 2>/dev/null | tar -xOf - >"$RUN_TMP/learned" 2>/dev/null; then
    say "no learn report: the command did not run"
    return 0
  fi
  while IFS= read -r line; do
    case "$line" in
      "report "*) say "${line#report }" ;;
      "propose "*) if [[ "${line#propose }" =~ $DOMAIN_RE ]]; then proposals+=("${line#propose }"); fi ;;
    esac
  done < <(printable <"$RUN_TMP/learned")
  [ "${#proposals[@]}" -gt 0 ] || return 0
  if [ -t 0 ] && [ -t 2 ]; then
    printf 'cxgen: add %s to .codex/allowed-domains.txt? [y/N] ' "${proposals[*]}" >&2
    read -r answer || answer=""
    case "$answer" in y | Y | yes) save_domains "${proposals[@]}"; return 0 ;; esac
  fi
  say "not saved; to allow them: ./run_in_container.sh allow DOMAIN --save (or add them to .codex/allowed-domains.txt)"
}
