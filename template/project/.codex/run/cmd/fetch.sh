# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh fetch
# Summary: with git=track: bring the agent's commits into this project, as agent/<branch>
# The commits the agent made in its own repository (its .git inside) arrive as agent/<branch>
# (git log agent/main); at most 1000 branches, at most CXGEN_FETCH_MAX_MB (default 1024) MB.

CMD_OPTIONS="@start"
CMD_WORDS=0
CMD_DASHES=args
CMD_NEEDS="docker control approval image-query sandbox-queries"

# fetch: the agent's branches into the relay (refs/agent/*), then into the project
# (refs/remotes/agent/*). At most MAX_AGENT_BRANCHES: listed first, fetched by name, counted
# again in the relay.
cmd_fetch() {
  local git_dir="$PROJECT_DIR/.git" branch branches=() count max_mb="${CXGEN_FETCH_MAX_MB:-$DEFAULT_FETCH_MAX_MB}"
  command -v git >/dev/null 2>&1 || die "fetch needs git on this machine" "$EXIT_USAGE"
  [[ "$max_mb" =~ ^[1-9][0-9]{0,6}$ ]] || die "CXGEN_FETCH_MAX_MB: expected a number of MiB, not '$max_mb'" "$EXIT_USAGE"
  [ -d "$git_dir" ] || die "fetch: $PROJECT_DIR has no .git folder (the agent's repository needs the project's)" "$EXIT_USAGE"
  refuse_symlink "$ENV_DIR/git"
  refuse_symlink "$AGENT_GIT_DIR"
  [ -d "$AGENT_GIT_DIR" ] || die "no agent repository yet: start a session with --git track (or the git=track answer)" "$EXIT_USAGE"
  if [ "$EUID" -eq 0 ] && [ "$(stat -c %u "$git_dir" 2>/dev/null || stat -f %u "$git_dir")" -ne 0 ]; then
    die "fetch as the project's owner, not root: files git writes in .git would belong to root" "$EXIT_USAGE"
  fi
  load_agent_trees
  relay_paths
  upload_pack_command
  list_agent_branches "$max_mb"
  # The relay starts empty (the objects stay: the next fetch need not copy them again), so
  # what it holds after the fetch is what arrived now.
  relay_git for-each-ref --format='delete %(refname)' refs/agent/ | relay_git update-ref --stdin \
    || die "cannot clear the relay's refs in $RELAY_DIR"
  # The agent answers; this side only receives, the listed branches by name: a repository that
  # lists others now writes none of them. Its ref names reach your terminal without control
  # characters.
  if [ -s "$RUN_TMP/refspecs" ] && ! fetch_limits "$max_mb" relay_git fetch -q --no-tags --stdin \
    --upload-pack "$UPLOAD_PACK" "$UPLOAD_URL" <"$RUN_TMP/refspecs" 2>&1 | printable >&2; then
    rm -f "$RELAY_DIR"/objects/pack/tmp_* 2>/dev/null || true
    die "could not fetch from the agent's repository (see above; a pack over ${max_mb} MiB, or one that needs more memory than that and 1 GiB, stops it: CXGEN_FETCH_MAX_MB)"
  fi
  # Counted again on what arrived, never on what a step said.
  count=$(relay_git for-each-ref --count=$((MAX_AGENT_BRANCHES + 1)) --format=x refs/agent/) \
    || die "cannot read the relay's refs in $RELAY_DIR"
  count="${count//[!x]/}"
  if [ "${#count}" -gt "$MAX_AGENT_BRANCHES" ]; then
    relay_git for-each-ref --format='delete %(refname)' refs/agent/ | relay_git update-ref --stdin || true
    too_many_branches
  fi
  # Your repository fetches from the relay, which only this script's git wrote (under the same
  # limits: it indexes the same pack again).
  if ! fetch_limits "$max_mb" git --git-dir="$git_dir" fetch -q --no-tags --prune "$RELAY_DIR" \
    '+refs/agent/*:refs/remotes/agent/*' 2>&1 | printable >&2; then
    die "could not fetch from $RELAY_DIR into $PROJECT_DIR (see above)"
  fi
  while IFS= read -r branch; do branches+=("$branch"); done \
    < <(git --git-dir="$git_dir" for-each-ref --format='%(refname:short)' refs/remotes/agent/)
  if [ "${#branches[@]}" -eq 0 ]; then
    say "the agent's repository has no branches"
    return 0
  fi
  shown_names "${branches[@]:0:20}"
  if [ "${#branches[@]}" -gt 20 ]; then
    say "the agent's branches, in this project (${#branches[@]}; git branch -r lists them): $SHOWN ..."
  else
    say "the agent's branches, in this project: $SHOWN"
  fi
  [ -z "$PLAIN_NAME" ] \
    || say "see its work: git log $PLAIN_NAME   (git diff HEAD...$PLAIN_NAME; git merge $PLAIN_NAME)"
  warn_host_files "${branches[@]}"
}
