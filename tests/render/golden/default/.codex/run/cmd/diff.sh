# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh diff [--stat] [--work-dir PATH]
# Summary: with git=track: what the last session changed (since it started)
# Options:
#   --stat               a summary of the changed files
#   --work-dir PATH      the session's work dir (default: this project)

CMD_OPTIONS="@start --stat"
CMD_WORDS=0
CMD_DASHES=args
CMD_NEEDS="docker control approval image-query sandbox-queries"

# Their git runs in containers of the project's image (approved and built after these checks).
args_diff() {
  load_agent_trees
  resolve_work_dir
  revert_checks
}

cmd_diff() {
  local start="$REVERT_START" color=never
  ensure_image
  snapshot_work_dir refs/cxgen/now >/dev/null
  [ ! -t 1 ] || color=always
  if [ -n "$(track_git diff --name-only "$start" refs/cxgen/now -- .gitignore '*/.gitignore')" ]; then
    say "note: the session changed .gitignore files; what they now ignore is not shown (nor reverted)"
  fi
  local diff=(diff --no-ext-diff --no-textconv --color="$color" "$start" refs/cxgen/now)
  [ "$DIFF_STAT" = no ] || diff+=(--stat)
  # The agent's bytes, through a filter (git's pager would pass them on); paged as git would.
  if [ "$color" = always ]; then
    local pager="${PAGER:-less}"
    command -v "${pager%% *}" >/dev/null 2>&1 || pager="cat"
    # shellcheck disable=SC2086 # PAGER may hold arguments, as git reads it
    track_git --no-pager "${diff[@]}" | safe_diff | LESS="${LESS:-FRX}" $pager
  else
    track_git --no-pager "${diff[@]}" | safe_diff
  fi
}
