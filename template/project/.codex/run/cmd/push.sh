# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh push [--name NAME] SRC [DEST]
# Summary: copy a host file or folder into a running session
# DEST: a folder there; default its work dir.
#
# Options:
#   --name NAME          the session (default: the project's)
#   --yes                no question

CMD_OPTIONS="--name --yes"
CMD_WORDS=99
CMD_DASHES=words
CMD_NEEDS="docker"

args_push() { copy_args push; }

# push SRC [DEST]: a host file or folder into the session (DEST: a folder there, default its work
# dir); nothing there is replaced.
cmd_push() {
  local src dest out
  copy_session
  load_agent_trees
  src=$(safe_path push "${COPY_ARGS[0]}")
  ! in_agent_tree "$src" \
    || die "push: $src is in a folder a sandbox can write (this one sees its own work dir already); push files from elsewhere" "$EXIT_USAGE"
  dest=$(container_path "${COPY_ARGS[1]:-}" confined)
  # tar stores symlinks as symlinks; -k: an existing file there is an error, never replaced.
  out=$( { (cd -P -- "${src%/*}/" && tar -cf - -- "${src##*/}") \
    | "${AGENT_EXEC[@]}" tar -x -k --no-same-owner -f - -C "$dest"; } 2>&1) \
    || die "push: nothing or only part was copied: $(printf '%s' "$out" | grep -v '^$' | head -n 1)"
  say "pushed $src to $TARGET:$dest/${src##*/}"
}
