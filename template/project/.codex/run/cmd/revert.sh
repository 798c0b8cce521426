# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh revert [--yes] [--work-dir PATH]
# Summary: with git=track: put the work dir back as the last session found it
# git writes in a throwaway container; refused while a sandbox can write there.
#
# Options:
#   --yes                no question
#   --work-dir PATH      the session's work dir (default: this project)

CMD_OPTIONS="@start --yes"
CMD_WORDS=0
CMD_DASHES=args
CMD_NEEDS="docker control approval image-query sandbox-queries"

args_revert() {
  load_agent_trees
  resolve_work_dir
  revert_checks --as-owner
}

# revert: after revert_checks, with the image approved (main).
cmd_revert() {
  local start="$REVERT_START" now tree answer status=0
  make_run_tmp
  refuse_sandboxes_writing "$WORK_DIR" overlap revert
  ensure_image
  now=$(snapshot_work_dir refs/cxgen/before-revert)
  track_git diff --stat "$start" "$now" >&2
  if [ "$YES" != yes ]; then
    [ -t 0 ] && [ -t 2 ] || die "revert changes files; run it in a terminal, or pass --yes" "$EXIT_USAGE"
    printf 'cxgen: put %s back as the session found it (the changes above are undone)? [y/N] ' "$WORK_DIR" >&2
    read -r answer || answer=""
    case "$answer" in y | Y | yes) ;; *) die "nothing was changed" ;; esac
  fi
  # Again: a session may have started while you read the changes.
  refuse_sandboxes_writing "$WORK_DIR" overlap revert
  tree=$(revert_tree "$start" "$now") || die "could not prepare the revert in $TRACK_DIR"
  # (In a subshell: it enters the work dir.)
  (revert_in_container "$tree" "$now") || status=$?
  # Your index goes to that tree without a look at the work dir (the container's is gone): the
  # next snapshot reads every file again.
  track_git read-tree --reset "$tree" || true
  [ "$status" -eq 0 ] || exit "$status"
  [ "$tree" = "$(track_git rev-parse "$start^{tree}")" ] \
    || say "left as they are: the project's .codex, run_in_container.sh and .copier-answers.yml (no sandbox can change them: what changed there since is yours) and files over ${CXGEN_TRACK_MAX_MB:-100} MiB"
  say "reverted $WORK_DIR to the session's start; the session's work is kept as commit $now (git=track repository $TRACK_DIR)"
}
