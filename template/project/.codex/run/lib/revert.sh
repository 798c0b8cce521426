# shellcheck shell=bash
# revert (and diff): the checks first, then git in a throwaway container of the project's image.

# revert_checks [--as-owner]: sets REVERT_START, the commit the last session started from (diff's
# too); with --as-owner (revert), root reverts only root's work dir.
revert_checks() {
  track_paths
  REVERT_START=$(session_start)
  if [ "${1:-}" = --as-owner ] && [ "$EUID" -eq 0 ] \
    && [ "$(stat -c %u "$WORK_DIR" 2>/dev/null || stat -f %u "$WORK_DIR")" -ne 0 ]; then
    die "revert as its owner, not root: files git writes back would belong to root" "$EXIT_USAGE"
  fi
}

# revert_tree START NOW: prints the tree revert puts in the work dir: START's, but with what no
# sandbox can change (the project's .codex, run script and answers, read-only in revert's
# container too) as it is NOW, and without the files too large to track (LARGE_PATHS, left as
# they are). Only git's objects are read: never the work dir.
revert_tree() {
  local prefix path paths=() specs=()
  if is_inside "$PROJECT_DIR" "$WORK_DIR"; then
    prefix="${PROJECT_DIR#"$WORK_DIR"}/"
    prefix="${prefix#/}"
    for path in .codex run_in_container.sh .copier-answers.yml; do paths+=("$prefix$path"); done
  fi
  # (Found again: the snapshot ran in a subshell. One made large since is left alone too.)
  find_large_files
  paths+=(${LARGE_PATHS[@]+"${LARGE_PATHS[@]}"})
  if [ "${#paths[@]}" -eq 0 ]; then
    track_git rev-parse "$1^{tree}"
    return
  fi
  for path in "${paths[@]}"; do specs+=(":(literal)$path"); done
  # shellcheck disable=SC2030 # an index of this subshell's own
  (
    TRACK_INDEX="$RUN_TMP/revert-index"
    track_git read-tree "$1" \
      && track_git ls-files -z -- "${specs[@]}" | track_git update-index -z --force-remove --stdin \
      && track_git ls-tree --full-tree -r -z "$2" -- "${paths[@]}" | track_git update-index -z --index-info \
      && track_git write-tree
  )
}

# What sh runs in revert's container: the work dir Docker mounted must hold the mark this script
# made in the real folder (a folder swapped for a symlink as Docker mounted it holds none); then
# git on a copy of your index, which has every file's state as the snapshot just read it.
# shellcheck disable=SC2016 # expanded by that sh
readonly REVERT_SCRIPT='rmdir -- "$1/$2" 2>/dev/null || { echo "cxgen: error: $1 in the container is not the folder revert checked (swapped for a symlink while it started?); nothing was changed" >&2; exit 3; }
shift 2
cp -p /cxgen/track.git/index /tmp/index && exec "$@"'

# revert_in_container TREE NOW: git moves the work dir from the snapshot just taken (NOW) to TREE
# (read-tree --reset -u: removes what the session added, restores what it changed or removed),
# in a throwaway container of the project's image: no network, no capabilities, read-only image,
# as you (root mode: root). It sees the work dir, writable; your git=track repository, read-only
# (git's index is a copy in its /tmp); and, when the work dir holds the project, what a sandbox
# of it protects (.git, .codex, the run script, the answers), read-only over it. A folder another
# sandbox swaps for a symlink while git writes then leads only into the container, where nothing
# else is writable but its own /tmp: git can neither write nor delete anything of this host's
# outside the work dir.
revert_in_container() {
  local tree="$1" now="$2" path
  # Root mode: root's git writes where root may, also in a folder the agent made read-only.
  tree_container_args revert DAC_OVERRIDE "" ",readonly"
  if is_inside "$PROJECT_DIR" "$WORK_DIR"; then
    path="$PROJECT_DIR"
    while [ "$path" != "$WORK_DIR" ]; do
      refuse_symlink "$path"
      path="${path%/*}"
    done
    for path in "$PROJECT_DIR/.git" "$CODEX_DIR" "$PROJECT_DIR/run_in_container.sh" "$PROJECT_DIR/.copier-answers.yml"; do
      refuse_symlink "$path"
      [ ! -e "$path" ] || add_mount "$path" "/app$path" ",readonly"
    done
  fi
  mark_work_dir revert
  if ! docker "${DOCKER_ARGS[@]}" -e GIT_INDEX_FILE=/tmp/index --entrypoint sh "$IMAGE" \
    -c "$REVERT_SCRIPT" sh "/app$WORK_DIR" "$TREE_MARK" "${TREE_GIT[@]}" \
    read-tree --reset -u "$tree" 2>&1 | printable >&2; then
    rmdir -- "$TREE_MARK" 2>/dev/null || true
    die "revert failed (see above); the work dir as it was is kept as commit $now (git=track repository $TRACK_DIR)"
  fi
}

# tree_container_args WHAT CAPABILITY WORK_MODE TRACK_MODE: sets DOCKER_ARGS, a throwaway
# container of the project's image for WHAT (a label) that sees the work dir and the private
# git=track repository (each "" writable or ",readonly") and nothing else of this host: no
# network, no capabilities (root mode: CAPABILITY only, as root's git here would have it),
# read-only image, as you with your groups. TREE_GIT: git on them there, as track_git here.
tree_container_args() {
  local uid="$EUID" gid="${GROUPS[0]:-}" group
  [[ "$gid" =~ ^[0-9]+$ ]] || gid=$(id -g)
  DOCKER_ARGS=(run --rm ${PULL_ARGS[@]+"${PULL_ARGS[@]}"} --network none --cap-drop ALL
    --security-opt no-new-privileges --read-only --tmpfs /tmp --pids-limit 256 --memory 2g
    --label "org.cxgen.$1=1" --user "$uid:$gid" -e HOME=/tmp -e XDG_CONFIG_HOME=/tmp
    -e GIT_CONFIG_NOSYSTEM=1 -e GIT_ATTR_NOSYSTEM=1)
  for group in ${GROUPS[@]+"${GROUPS[@]}"}; do
    if [[ "$group" =~ ^[0-9]+$ ]] && [ "$group" != "$gid" ]; then DOCKER_ARGS+=(--group-add "$group"); fi
  done
  [ "$uid" -ne 0 ] || DOCKER_ARGS+=(--cap-add "$2")
  add_mount "$WORK_DIR" "/app$WORK_DIR" "$3"
  add_mount "$TRACK_DIR" /cxgen/track.git "$4"
  TREE_GIT=(git -C / --git-dir=/cxgen/track.git --work-tree="/app$WORK_DIR" -c safe.directory='*'
    "${TRACK_GIT_CONFIG[@]}")
}

# mark_work_dir WHAT: enters the work dir once its physical path is the work dir's and makes a
# mark there (TREE_MARK, relative): the container checks that the folder Docker mounted holds it
# (one swapped for a symlink as Docker mounted it does not); removed from inside it afterwards
# (also if the folder was moved), never through a link.
mark_work_dir() {
  if ! { cd -P -- "$WORK_DIR" && [ "$(pwd -P)" = "$WORK_DIR" ] && TREE_MARK=$(mktemp -d "./.cxgen-$1.XXXXXX"); }; then
    die "$1: cannot write in $WORK_DIR (or it was moved); nothing was changed"
  fi
  TREE_MARK="${TREE_MARK#./}"
}

# refuse_sandboxes_writing PATH HOW WHAT: WHAT refused while a cxgen sandbox on this machine,
# running or kept (it can start again at any time), can write in PATH: its work dir, agent home,
# sessions folder or a --mount folder holds PATH, or, with HOW=overlap, lies inside it. Docker's
# list, not this user's record of trees: other users' sandboxes count too.
refuse_sandboxes_writing() {
  local listing line field=0 name="" state="" spare="" workdir="" project="" sessions="" mounts=""
  listing=$(docker ps -a --filter label=org.cxgen.sandbox=1 --format '{{.Names}}'$'\n''{{.State}}'$'\n''{{.Label "org.cxgen.spare"}} {{.ID}}'$'\n''{{.Label "org.cxgen.workdir"}}'$'\n''{{.Label "org.cxgen.project"}}'$'\n''{{.Label "org.cxgen.sessions"}}'$'\n''{{.Label "org.cxgen.mounts"}}'$'\n''.' 2>&1) \
    || docker_failed "$listing"
  # (Each ends with ".": $(...) drops the last empty line. The --mount folders: a line each.)
  while IFS= read -r line; do
    field=$((field + 1))
    case "$field" in
      1) name="$line" mounts="" ;;
      2) state="$line" ;;
      3) spare="$line" ;;
      4) workdir="$line" ;;
      5) project="$line" ;;
      6) sessions="$line" ;;
      *)
        if [ "$line" != . ]; then
          mounts="$mounts$line"$'\n'
          continue
        fi
        field=0
        # (A spare runs nothing of an agent's.)
        if [ -n "$spare" ] && { spare_waiting "$name" || session_over "$spare"; }; then continue; fi
        refuse_sandbox_writing "$@" "$name" "$state" "$workdir" \
          "${project:+$project/.codex/.environment}" "$sessions" "$mounts" ;;
    esac
  done <<<"$listing"
}

# refuse_sandbox_writing PATH HOW WHAT NAME STATE WORKDIR AGENT_HOME SESSIONS MOUNTS: one
# sandbox's trees (see refuse_sandboxes_writing).
refuse_sandbox_writing() {
  local tree state="$5" TREES
  label_trees "$9"
  for tree in "$6" "$7" "$8" ${TREES[@]+"${TREES[@]}"}; do
    [ -n "$tree" ] || continue
    if is_inside "$1" "$tree" || { [ "$2" = overlap ] && is_inside "$tree" "$1"; }; then
      case "$state" in exited | dead) state="stopped (kept)" ;; *) state=running ;; esac
      die "$3: a $state sandbox ($4, work dir $6) can write in $1; stop it (destroy it, if kept: ./run_in_container.sh list --all lists them) and retry" "$EXIT_USAGE"
    fi
  done
}
