# shellcheck shell=bash
# Several folders in one session: --mount PATH, each folder writable at /app<PATH> beside the
# work dir. The agent writes a --mount as it writes the work dir, so it is checked like one (no
# symlink an agent may have planted on the way, no shared or system folder), overlaps nothing
# else the sandbox mounts, is remembered as an agent tree and is named in the container's label
# org.cxgen.mounts (one path a line): later host actions treat it as they treat a work dir.

# check_mounts: sets MOUNT_PATHS, the --mount folders, physical and checked, each confirmed by a
# person (or --yes). After the work dir and the sessions folder are checked.
check_mounts() {
  local given path root
  MOUNT_PATHS=()
  for given in ${MOUNTS[@]+"${MOUNTS[@]}"}; do
    path=$(safe_path --mount "$given")
    [ -d "$path" ] || die "--mount: not a folder: $path" "$EXIT_USAGE"
    refuse_shared_folder --mount "$path"
    refuse_system_tree --mount "$path"
    if [ -n "${WORKSPACE_ROOT_DIR:-}" ]; then
      root=$(safe_path WORKSPACE_ROOT_DIR "$WORKSPACE_ROOT_DIR")
      is_inside "$path" "$root" || die "--mount: $path is outside WORKSPACE_ROOT_DIR ($root)" "$EXIT_USAGE"
    fi
    mount_apart "$path"
    MOUNT_PATHS+=("$path")
  done
  for path in ${MOUNT_PATHS[@]+"${MOUNT_PATHS[@]}"}; do
    confirm_writable "$path"
    at_risk "$path"
  done
}

# mount_apart PATH: PATH neither holds nor lies in the project (its .codex, .git and agent home
# among it), the work dir, the sessions folder, a read-only mount or the init script, cxgen's
# own state, or an earlier --mount. One tree mounted twice, writable here and read-only (or
# protected) there, would give the agent what was not asked.
mount_apart() {
  local path="$1" other
  OVERLAP_PATHS=() OVERLAP_WHATS=()
  overlap_with "$path" "$PROJECT_DIR" "the project"
  overlap_with "$path" "$WORK_DIR" "the work dir"
  [ -z "$SESSIONS_PATH" ] || overlap_with "$path" "$SESSIONS_PATH" "the --sessions-path folder"
  other=$(state_folder)
  overlap_with "$path" "$other" "cxgen's state folder"
  for other in ${MOUNT_PATHS[@]+"${MOUNT_PATHS[@]}"}; do
    overlap_with "$path" "$other" "another --mount"
  done
  for other in ${DEFAULT_READONLY_MOUNTS[@]+"${DEFAULT_READONLY_MOUNTS[@]}"}; do
    other=$(safe_path "readonly_mounts (saved answer; change it with cxgen update --data readonly_mounts='[...]')" "$other")
    overlap_with "$path" "$other" "a read-only mount"
  done
  for other in ${READONLY_MOUNTS[@]+"${READONLY_MOUNTS[@]}"}; do
    other=$(safe_path --read-only "$other")
    overlap_with "$path" "$other" "a read-only mount"
  done
  [ -z "$INIT_SCRIPT" ] || other=$(safe_path --init_script "$INIT_SCRIPT")
  [ -z "$INIT_SCRIPT" ] || overlap_with "$path" "$other" "the --init_script file"
  mount_overlaps "$path"
}

# overlap_with PATH OTHER WHAT: refused at once when the names show it; mount_overlaps compares
# identities.
overlap_with() {
  mount_overlap "$@"
  OVERLAP_PATHS+=("$2") OVERLAP_WHATS+=("$3")
}

# mount_overlaps PATH: the same by identity: a second path to one folder (a bind mount of it, or
# on a case-insensitive disk ~/src/API for ~/src/api) is that folder. PATH, the mount points
# below it (Docker mounts them with it) and OVERLAP_PATHS with each of their folders up to /, as
# device:inode, in one stat call.
mount_overlaps() {
  local path args=() counts=() ids=() id i k n=0 own holds others
  sub_mounts "$1"
  for path in "$1" ${SUB_MOUNTS[@]+"${SUB_MOUNTS[@]}"}; do
    [ ! -e "$path" ] || { args+=("$path"); n=$((n + 1)); }
  done
  counts+=("$n")
  for path in "$1" ${OVERLAP_PATHS[@]+"${OVERLAP_PATHS[@]}"}; do
    n=0
    # (One that does not exist yet, as cxgen's state folder, has no other path.)
    while [ -e "${path:-/}" ]; do
      args+=("${path:-/}") n=$((n + 1))
      [ -n "$path" ] || break
      path="${path%/*}"
    done
    counts+=("$n")
  done
  while IFS= read -r id; do ids+=("$id"); done < <(stat -c '%d:%i' -- "${args[@]}" 2>/dev/null \
    || stat -f '%d:%i' -- "${args[@]}" 2>/dev/null || echo failed)
  [ "${#ids[@]}" -eq "${#args[@]}" ] || die "--mount: cannot compare $1 with the folders the sandbox mounts (stat failed); retry" "$EXIT_USAGE"
  holds=$'\n'"${ids[*]:0:${counts[0]}}"$'\n' own=$'\n'"${ids[*]:${counts[0]}:${counts[1]}}"$'\n'
  i=$((counts[0] + counts[1]))
  for ((k = 2; k < ${#counts[@]}; k++)); do
    if [ "${counts[k]}" -gt 0 ]; then
      others=$'\n'"${ids[*]:i:${counts[k]}}"$'\n'
      case "${own// /$'\n'}" in *$'\n'"${ids[i]}"$'\n'*)
        die "--mount: refusing $1: it is inside ${OVERLAP_WHATS[k - 2]} (${OVERLAP_PATHS[k - 2]}) by another path to it; give a folder outside it" "$EXIT_USAGE" ;;
      esac
      for id in ${holds//$'\n'/ }; do
        case "${others// /$'\n'}" in *$'\n'"$id"$'\n'*)
          die "--mount: refusing $1: it holds ${OVERLAP_WHATS[k - 2]} (${OVERLAP_PATHS[k - 2]}) by another path to it; give a folder beside it" "$EXIT_USAGE" ;;
        esac
      done
    fi
    i=$((i + counts[k]))
  done
}

# sub_mounts PATH: sets SUB_MOUNTS, the mount points below PATH (Linux's /proc/self/mountinfo,
# its fifth field, octal-escaped; none where it is missing).
sub_mounts() {
  local point
  SUB_MOUNTS=()
  [ -r /proc/self/mountinfo ] || return 0
  while read -r _ _ _ _ point _; do
    printf -v point '%b' "$point"
    ! is_below "$point" "$1" || SUB_MOUNTS+=("$point")
  done </proc/self/mountinfo
}

# mount_overlap PATH OTHER WHAT: the one-line refusal when PATH is OTHER, lies in it or holds it.
mount_overlap() {
  if is_inside "$1" "$2"; then
    die "--mount: refusing $1: it is inside $3 ($2), which the sandbox mounts already; give a folder outside it" "$EXIT_USAGE"
  fi
  if is_inside "$2" "$1"; then
    die "--mount: refusing $1: it holds $3 ($2); give a folder beside it" "$EXIT_USAGE"
  fi
}

# state_folder: STATE_DIR as a physical path, also before it exists (its first existing
# ancestor's physical path, and the rest). It changes folder: call it in $(...) only (its own
# subshell then, not a second one: each costs every start).
state_folder() {
  local dir="$STATE_DIR" rest=""
  while [ -n "$dir" ] && [ ! -d "$dir" ]; do
    rest="/${dir##*/}$rest"
    dir="${dir%/*}"
  done
  cd -P -- "${dir:-/}" || exit 1
  printf '%s%s\n' "${PWD%/}" "$rest"
}

# refuse_state_folder WHAT PATH: cxgen's own state (your approvals, the agent trees, the relay's
# files) is no sandbox's to see or write: PATH may neither be, hold nor lie in it.
refuse_state_folder() {
  local state
  state=$(state_folder)
  if is_inside "$2" "$state" || is_inside "$state" "$2"; then
    die "$1: refusing $2: it holds or lies in cxgen's state folder ($state), which no sandbox may see" "$EXIT_USAGE"
  fi
}

# The --mount folders, writable at /app<PATH>, and the label that names them.
add_writable_mounts() {
  local path list=""
  for path in ${MOUNT_PATHS[@]+"${MOUNT_PATHS[@]}"}; do
    add_mount "$path" "/app$path"
    protect_mounted_projects "$path"
    list="$list$path"$'\n'
  done
  DOCKER_ARGS+=(--label "org.cxgen.mounts=$list")
}

# Another cxgen project in a --mount folder (the folder itself, or one down to PROJECT_DEPTH
# levels below it) runs its .codex/run on your host at its next ./run_in_container.sh, even
# help: its control files are protected as this project's are (protect_project). find follows
# no symlink and stops at that depth, so a huge tree stays cheap; deeper projects are only named
# in the report after the session (warn_new_git_dirs).
readonly PROJECT_DEPTH=2
protect_mounted_projects() {
  local codex errors
  make_run_tmp
  errors="$RUN_TMP/projects.err"
  while IFS= read -r -d '' codex; do
    # (The pins' label is one path a line.)
    case "$codex" in *$'\n'* | *$'\r'*) die "--mount $1: refusing $(printf '%q' "$codex"): a path with a newline, which cannot be protected; rename it and retry" "$EXIT_USAGE" ;; esac
    if [ -e "$codex/run" ] || [ -L "$codex/run" ] || [ -e "${codex%/.codex}/run_in_container.sh" ]; then
      protect_other_project "$1" "${codex%/.codex}"
    fi
  done < <(LC_ALL=C find "$1" -maxdepth "$((PROJECT_DEPTH + 1))" -name .codex -type d -prune -print0 2>"$errors")
  [ ! -s "$errors" ] || say "WARNING: --mount $1: some folders could not be searched for cxgen projects (unreadable); a project there is not protected"
}

# protect_other_project MOUNT PROJECT: PROJECT's .codex, run_in_container.sh and answers
# read-only, each folder between MOUNT and PROJECT a mount point (none can be renamed).
protect_other_project() {
  local path="$2" file
  while [ "$path" != "$1" ]; do
    refuse_symlink "$path"
    pin "$path"
    path="${path%/*}"
  done
  for file in run_in_container.sh .copier-answers.yml; do
    refuse_symlink "$2/$file"
    [ ! -e "$2/$file" ] || pin "$2/$file" ",readonly"
  done
  pin "$2/.codex" ",readonly"
}

# kept_mounts NAME: sets MOUNT_PATHS from the label of the kept session NAME (attach).
kept_mounts() {
  local list line
  list=$(docker container inspect -f '{{index .Config.Labels "org.cxgen.mounts"}}' -- "$1" 2>&1) \
    || docker_failed "$list"
  MOUNT_PATHS=()
  while IFS= read -r line; do
    [ -z "$line" ] || MOUNT_PATHS+=("$line")
  done <<<"$list"
}

# label_trees TREES: sets TREES (an array) to the lines of the org.cxgen.mounts label TREES.
label_trees() {
  local line
  TREES=()
  while IFS= read -r line; do
    case "$line" in /*) TREES+=("$line") ;; esac
  done <<<"$1"
}
