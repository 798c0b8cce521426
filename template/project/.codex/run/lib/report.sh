# shellcheck shell=bash
# The report after a session: what the agent made or changed in the work dir and the --mount
# folders that a command you start there later would run on your host.

# warn_new_git_dirs SINCE: git metadata (a .git folder or file, also at its top, a file in an
# existing .git, a repository without a work tree: a HEAD, file or symlink, beside objects/ and
# refs/ or a commondir) would run its config and hooks in any git command you start there;
# cxgen control files (.codex/run, .codex/skills, run_in_container.sh, .copier-answers.yml) at
# any depth would run on your host at that project's next ./run_in_container.sh. Folders that
# could not be searched (the agent may have made them unreadable) are counted, in one line.
warn_new_git_dirs() {
  local since="$1" path
  GIT_FOUND=() CONTROL_FOUND=()
  git_metadata_in "$WORK_DIR" "$since" "the work dir"
  for path in ${MOUNT_PATHS[@]+"${MOUNT_PATHS[@]}"}; do
    git_metadata_in "$path" "$since" "the --mount folder $path"
  done
  if [ "${#GIT_FOUND[@]}" -gt 0 ]; then
    say "WARNING: the agent created or changed git metadata in ${#GIT_FOUND[@]} place(s); git commands run"
    say "there would run what it wrote (config, hooks). Inspect them before you run git there, or remove them:"
    # %q: a name cannot carry terminal control codes to your screen.
    for path in "${GIT_FOUND[@]}"; do printf '  %q\n' "$path" >&2; done
  fi
  if [ "${#CONTROL_FOUND[@]}" -gt 0 ]; then
    say "WARNING: the agent created or changed cxgen's run code or skills in ${#CONTROL_FOUND[@]} place(s); that"
    say "project's ./run_in_container.sh would run it on your host. Inspect them (git diff) or restore them before you run it:"
    for path in "${CONTROL_FOUND[@]}"; do printf '  %q\n' "$path" >&2; done
  fi
}

# git_metadata_in ROOT SINCE WHERE: adds to GIT_FOUND (and CONTROL_FOUND) what was made or
# changed since the file SINCE in the folder ROOT (WHERE names it in the line about unreadable
# folders).
git_metadata_in() {
  local root="$1" since="$2" errors="$2.err" skip="" agent_repo="" line rel control controls=$'\n'
  if [ "$root" = "$WORK_DIR" ]; then
    # The project's own .git, when read-only inside (readonly, off): nothing there is the agent's.
    [ "${GIT_PINNED:-no}" != yes ] || skip=".${PROJECT_DIR#"$WORK_DIR"}/.git"
    # git=track's agent repository: the agent's by design (fetch reads it; see cxgen's docs/security.md).
    ! is_inside "$AGENT_GIT_DIR" "$WORK_DIR" || agent_repo=".${AGENT_GIT_DIR#"$WORK_DIR"}"
  fi
  glob_quote skip "$skip"
  glob_quote agent_repo "$agent_repo"
  # In one search (each find costs a fork after every session): every .codex/run and
  # .codex/skills that changed (itself or anything in it), every .git (without entering it),
  # every HEAD, and new or changed run scripts and answers. (find's messages in English:
  # unreadable_summary reads them.)
  while IFS= read -r -d '' line; do
    # (Matched below the root: the root itself may lie in a .codex/skills folder.)
    rel="${line#.}" line="$root${line#.}"
    case "$rel" in
      */.codex/run | */.codex/run/* | */.codex/skills | */.codex/skills/*)
        control_root control "$rel"
        control="$root$control"
        case "$controls" in *$'\n'"$control"$'\n'*) continue ;; esac
        controls="$controls$control"$'\n'
        in_agent_home "$control" || CONTROL_FOUND+=("$control") ;;
      */HEAD) repository_changed "$line" "$since" "$errors" ;;
      */run_in_container.sh | */.copier-answers.yml) in_agent_home "$line" || CONTROL_FOUND+=("$line") ;;
      *) ! changed_since "$line" "$since" "$errors" || GIT_FOUND+=("$line") ;;
    esac
  done < <(cd "$root" && LC_ALL=C find . \( -path "$skip" -prune \) -o \( -path "$agent_repo" -prune \) \
    -o \( \( -path '*/.codex/run' -o -path '*/.codex/run/*' -o -path '*/.codex/skills' \
      -o -path '*/.codex/skills/*' \) \( -cnewer "$since" -print0 -o -true \) \) \
    -o \( -name .git -print0 -prune \) \
    -o \( -name HEAD \( -type f -o -type l \) -print0 \) \
    -o \( \( -name run_in_container.sh -o -name .copier-answers.yml \) -cnewer "$since" -print0 \) 2>>"$errors")
  [ ! -s "$errors" ] || unreadable_summary "$errors" "$root" "$3"
  # Emptied for the next folder (a builtin, not rm's fork: this runs after every session; the
  # run's folder goes at exit).
  : >"$errors"
}

# control_root VAR PATH: sets VAR to the outermost .codex/run or .codex/skills folder that PATH
# is or lies in.
control_root() {
  local path="$2/" run skills
  run="${path%%/.codex/run/*}" skills="${path%%/.codex/skills/*}"
  if [ "$run" = "$path" ] || { [ "$skills" != "$path" ] && [ "${#skills}" -lt "${#run}" ]; }; then
    printf -v "$1" '%s' "$skills/.codex/skills"
  else
    printf -v "$1" '%s' "$run/.codex/run"
  fi
}

# repository_changed HEAD SINCE ERRORS: a folder with HEAD (of any type: git reads a symlink
# too) and objects/ and refs/ (or a commondir) is a repository: reported when anything in it
# changed (a hook or the config of a bare remote you push to). A new HEAD elsewhere is reported
# too.
repository_changed() {
  local dir="${1%/HEAD}" path="$1"
  if { [ -d "$dir/objects" ] && [ -d "$dir/refs" ]; } || [ -e "$dir/commondir" ]; then path="$dir"; fi
  ! changed_since "$path" "$2" "$3" || GIT_FOUND+=("$dir")
}

# changed_since PATH SINCE ERRORS: PATH, or anything in it, changed (ctime: no user program can
# set it back) since the file SINCE. Symlinks are not followed.
changed_since() { [ -n "$(LC_ALL=C find "$1" -cnewer "$2" -print -quit 2>>"$3")" ]; }

# in_agent_home PATH: PATH is in this project's agent home, the agent's by design.
in_agent_home() { [ -n "${ENV_DIR:-}" ] && is_below "$1" "$ENV_DIR"; }

# unreadable_summary ERRORS ROOT WHERE: one line for find's errors in ROOT, a line per folder it
# could not enter ("find: './x': Permission denied"; BSD's: "find: ./x: Permission denied"),
# naming the first.
unreadable_summary() {
  local count=0 first="" line
  while IFS= read -r line; do
    count=$((count + 1))
    [ "$count" -eq 1 ] || continue
    line="${line#find: }"
    case "$line" in
      "'"*"': "*) line="${line#\'}"; first="${line%"': "*}" ;;
      *": "*) first="${line%: *}" ;;
      *) first="$line" ;;
    esac
    case "$first" in ./*) first="$2/${first#./}" ;; esac
  done <"$1"
  say "WARNING: $count folder(s) in $3 could not be searched for git metadata (unreadable: the agent may hide a repository there), the first: $(printf '%q' "$first")"
}

# glob_quote VAR TEXT: sets VAR to TEXT with find -path's pattern characters escaped.
glob_quote() {
  local text="${2//\\/\\\\}"
  text="${text//\[/\\[}"
  text="${text//\]/\\]}"
  text="${text//\*/\\*}"
  text="${text//\?/\\?}"
  printf -v "$1" '%s' "$text"
}
