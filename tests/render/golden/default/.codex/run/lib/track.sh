# shellcheck shell=bash
# Change tracking (git=track).
# The host keeps, outside every project, a private git repository per work dir (its config is
# cxgen's, nothing in it is the agent's) and snapshots the work dir as each session starts: diff
# shows what changed since, revert puts it back. Git reads the work dir's files and writes them
# back without following its symlinks; the project's own .git stays read-only inside.

# track_git ARGS...: git on the private repository, with none of your or the system's git
# config (filters, diff drivers, fsmonitor) applied to files the agent wrote. From /: paths are
# the work dir's whole, whatever folder you run this script in.
# shellcheck disable=SC2031 # revert_tree's subshell gives it an index of its own
track_git() {
  HOME="$TRACK_DIR" XDG_CONFIG_HOME="$TRACK_DIR" GIT_CONFIG_NOSYSTEM=1 GIT_ATTR_NOSYSTEM=1 \
    GIT_AUTHOR_NAME=cxgen GIT_AUTHOR_EMAIL=cxgen@localhost GIT_COMMITTER_NAME=cxgen \
    GIT_COMMITTER_EMAIL=cxgen@localhost GIT_INDEX_FILE="$TRACK_INDEX" \
    git -C / --git-dir="$TRACK_DIR" --work-tree="$WORK_DIR" "${TRACK_GIT_CONFIG[@]}" "$@"
}

# git's settings for the private repository, here and in the throwaway containers.
readonly TRACK_GIT_CONFIG=(-c core.fsmonitor=false -c core.hooksPath=/dev/null
  -c core.autocrlf=false -c core.symlinks=true -c core.quotePath=true -c diff.external=
  -c diff.ignoreSubmodules=all -c submodule.recurse=false -c status.submoduleSummary=false)

# Sets TRACK_DIR (the work dir's private repository) and TRACK_INDEX.
track_paths() {
  command -v git >/dev/null 2>&1 || die "git=track needs git on this machine; install it, or use --git readonly" "$EXIT_USAGE"
  TRACK_DIR="$STATE_DIR/tracks/$(printf '%s' "$WORK_DIR" | sha256 | cut -c 1-16).git"
  TRACK_INDEX="$TRACK_DIR/index"
}

# large_files: LARGE_FILES, pathspecs leaving out the work dir's files over CXGEN_TRACK_MAX_MB
# (default 100) MiB, with a warning: git reads every byte of what it snapshots, and the agent can
# make a file of terabytes that takes no disk (sparse).
large_files() {
  local path
  find_large_files
  LARGE_FILES=()
  for path in ${LARGE_PATHS[@]+"${LARGE_PATHS[@]}"}; do LARGE_FILES+=(":(exclude,literal)$path"); done
  [ "${#LARGE_PATHS[@]}" -eq 0 ] \
    || say "warning: git=track: ${#LARGE_PATHS[@]} file(s) over ${CXGEN_TRACK_MAX_MB:-100} MiB not tracked (diff and revert leave them alone), e.g. ${LARGE_PATHS[0]}"
}

# find_large_files: LARGE_PATHS, the work dir's files over CXGEN_TRACK_MAX_MB MiB (relative).
find_large_files() {
  local path max_mb="${CXGEN_TRACK_MAX_MB:-100}"
  LARGE_PATHS=()
  [[ "$max_mb" =~ ^[1-9][0-9]{0,6}$ ]] || die "CXGEN_TRACK_MAX_MB: expected a number of MiB, not '$max_mb'" "$EXIT_USAGE"
  while IFS= read -r -d '' path; do
    LARGE_PATHS+=("${path#"$WORK_DIR/"}")
  done < <(find "$WORK_DIR" -xdev -name .git -prune -o -type f -size +"$max_mb"M -print0 2>/dev/null)
}

# drop_nested_repositories: no repository inside the work dir (a gitlink) stays in the index. With
# one there, the next `git add` runs `git status` inside it, which would run that repository's
# config (its filters: the agent's code) on this machine; git ignores diff.ignoreSubmodules there.
# Their files are not tracked (as before: a gitlink is only a commit id).
drop_nested_repositories() {
  local entry paths=()
  while IFS= read -r -d '' entry; do
    case "$entry" in 160000\ *) paths+=("${entry#*$'\t'}") ;; esac
  done < <(track_git ls-files --stage -z 2>/dev/null)
  [ "${#paths[@]}" -gt 0 ] || return 0
  printf '%s\0' "${paths[@]}" | track_git update-index -z --force-remove --stdin \
    || die "could not snapshot $WORK_DIR for git=track (a repository inside it)"
}

# snapshot_work_dir REF: record the work dir as it is now (what git add -A sees, without the
# agent home: credentials never go in) as REF; prints the commit.
snapshot_work_dir() {
  local tree commit status exclude=()
  track_paths
  # Your files' contents: yours alone.
  if [ ! -d "$TRACK_DIR" ] && ! (umask 077 && mkdir -p "$STATE_DIR/tracks" \
    && HOME="$STATE_DIR/tracks" GIT_CONFIG_NOSYSTEM=1 git init -q --bare "$TRACK_DIR" >/dev/null); then
    die "cannot create $TRACK_DIR"
  fi
  ! is_inside "$ENV_DIR" "$WORK_DIR" || exclude=(":(exclude,literal)${ENV_DIR#"$WORK_DIR/"}")
  # One snapshot of a work dir at a time: two --parallel starts would trip on git's index.lock.
  lock_state "tracks/${TRACK_DIR##*/}" || true
  large_files
  exclude+=(${LARGE_FILES[@]+"${LARGE_FILES[@]}"})
  drop_nested_repositories
  (snapshot_in_container ${exclude[@]+"${exclude[@]}"}) || {
    status=$?
    unlock_state "tracks/${TRACK_DIR##*/}"
    exit "$status"
  }
  drop_nested_repositories
  # Not in the snapshot at all (an entry of theirs from before would be taken for their content).
  [ "${#LARGE_PATHS[@]}" -eq 0 ] || printf '%s\0' "${LARGE_PATHS[@]}" \
    | track_git update-index -z --force-remove --stdin || die "could not snapshot $WORK_DIR for git=track"
  if ! { tree=$(track_git write-tree) && commit=$(track_git commit-tree -m "$1" "$tree") \
    && track_git update-ref "$1" "$commit"; }; then
    unlock_state "tracks/${TRACK_DIR##*/}"
    die "could not snapshot $WORK_DIR for git=track"
  fi
  unlock_state "tracks/${TRACK_DIR##*/}"
  printf '%s\n' "$commit"
}

# The longest a snapshot's git may read the work dir, in seconds (CXGEN_TRACK_TIMEOUT).
readonly DEFAULT_TRACK_TIMEOUT=600

# What sh runs in a snapshot's container (the work dir as $1, its mark as $2, the time limit as
# $3, then git add's arguments): the work dir Docker mounted must hold the mark; a FIFO or device
# where git reads settings (.gitignore, .gitattributes, a nested .git) would hold git for ever,
# so it is refused; one swapped in meanwhile stops git at the time limit.
# shellcheck disable=SC2016 # expanded by that sh
readonly SNAPSHOT_SCRIPT='[ -d "$1/$2" ] || { echo "cxgen: error: $1 in the container is not the folder cxgen checked (swapped for a symlink while it started?); nothing was recorded" >&2; exit 3; }
odd=$(find "$1" -xdev -path "*/.git/objects" -prune -o \( -name .gitignore -o -name .gitattributes -o -name .git -o -path "*/.git/*" \) ! -type f ! -type d ! -type l -print -quit 2>/dev/null)
if [ -n "$odd" ]; then
  echo "cxgen: error: git=track: ${odd#"$1"/} is no file (a FIFO?) where git reads its settings, and git would wait on it for ever; remove it and retry" >&2
  exit 3
fi
odd=$(find "$1" -xdev -name .git -type l -print -quit 2>/dev/null)
if [ -n "$odd" ]; then
  echo "cxgen: error: git=track: ${odd#"$1"/} is a symlink, which git would follow to read a repository elsewhere; remove it and retry" >&2
  exit 3
fi
limit=$3
shift 3
timeout "$limit" "$@" && exit 0
status=$?
[ "$status" -ne 124 ] || echo "cxgen: error: git=track: reading the work dir took over $limit s (a FIFO swapped in? CXGEN_TRACK_TIMEOUT); nothing was recorded" >&2
exit "$status"'

# snapshot_in_container EXCLUDE...: git add -A of the work dir into the private index, in a
# throwaway container that sees the work dir read-only and the private repository: a folder that
# another sandbox swaps for a symlink while git reads leads only inside that container, so no
# file of this host's outside the work dir can land in a snapshot (which revert would write back
# where the agent reads). Files it cannot read (the agent's chmod 000) stay out, with a warning.
# (Run in a subshell: it enters the work dir.)
snapshot_in_container() {
  local limit="${CXGEN_TRACK_TIMEOUT:-$DEFAULT_TRACK_TIMEOUT}" errors status=0
  [[ "$limit" =~ ^[1-9][0-9]{0,5}$ ]] || die "CXGEN_TRACK_TIMEOUT: expected a number of seconds, not '$limit'" "$EXIT_USAGE"
  tree_container_args snapshot DAC_READ_SEARCH ",readonly" ""
  mark_work_dir snapshot
  errors=$(docker "${DOCKER_ARGS[@]}" -e GIT_INDEX_FILE=/cxgen/track.git/index --entrypoint sh \
    "$IMAGE" -c "$SNAPSHOT_SCRIPT" sh "/app$WORK_DIR" "$TREE_MARK" "$limit" "${TREE_GIT[@]}" \
    add -A --ignore-errors -- . "$@" 2>&1 >/dev/null) || status=$?
  rmdir -- "$TREE_MARK" 2>/dev/null || true
  # git stopped at the time limit leaves its lock behind (only this script snapshots: lock_state).
  [ "$status" -ne 124 ] || rm -f -- "$TRACK_DIR/index.lock"
  if grep -q '^cxgen: error: ' <<<"$errors"; then
    printf '%s\n' "$errors" | printable | grep '^cxgen: error: ' >&2
    exit 1
  fi
  case "$status" in
    0) ;;
    # git add --ignore-errors: exit 1 with what it could not read, the rest recorded.
    1) say "warning: git=track: some files could not be read and are not tracked: $(printf '%s' "${errors%%$'\n'*}" | printable)" ;;
    *) die "could not snapshot $WORK_DIR for git=track: $(printf '%s' "${errors%%$'\n'*}" | printable)" ;;
  esac
}

# The snapshot the last session started from (dies without one).
session_start() {
  track_paths
  track_git rev-parse -q --verify refs/cxgen/start 2>/dev/null \
    || die "no session with git=track has run in $WORK_DIR yet (start one with --git track)" "$EXIT_USAGE"
}

# safe_diff: a diff of the agent's files with their control characters dropped (escape sequences
# that retitle, clear or write to the clipboard, and C1 controls in UTF-8), git's colors kept.
safe_diff() {
  local esc=$'\033' sub=$'\032'
  LC_ALL=C sed -e "s/$sub//g" -e "s/$esc\(\[[0-9;]*m\)/$sub\1/g" \
    | LC_ALL=C tr -d '\000-\010\013-\031\033-\037\177' \
    | LC_ALL=C sed -e "s/$sub/$esc/g" -e "s/"$'\302'"["$'\200'"-"$'\237'"]//g"
}
