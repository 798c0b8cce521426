# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh pull [--name NAME] SRC [DEST]
# Summary: copy a file or folder out of a running session
# Into the host folder DEST (default: here); nothing is replaced; outside the work dir: asks (or
# --yes), and refused in another sandbox's folders.
#
# Options:
#   --name NAME          the session (default: the project's)
#   --yes                no question for a DEST outside the work dir

CMD_OPTIONS="--name --yes"
CMD_WORDS=99
CMD_DASHES=words
CMD_NEEDS="docker"

args_pull() { copy_args pull; }

# pull SRC [DEST]: a file or folder of the session into the host folder DEST (default: here);
# nothing there is replaced.
cmd_pull() {
  local src dest base out tmp odd
  copy_session
  load_agent_trees
  src=$(container_path "${COPY_ARGS[0]}")
  base="${src##*/}"
  [ -n "$base" ] || die "pull: name a file or folder, not /" "$EXIT_USAGE"
  dest=$(safe_path pull "${COPY_ARGS[1]:-$PWD}")
  [ -d "$dest" ] || die "pull: DEST must be a folder: $dest" "$EXIT_USAGE"
  [ ! -e "$dest/$base" ] && [ ! -L "$dest/$base" ] \
    || die "pull: $dest/$base exists; remove it or choose another DEST" "$EXIT_USAGE"
  if is_inside "$dest" "$S_WORKDIR"; then
    # The session's own work dir: copied there inside, by the agent.
    out=$("${AGENT_EXEC[@]}" cp -a -n -- "$src" "/app$dest/$base" 2>&1) \
      || die "pull: $(printf '%s' "$out" | head -n 1)"
  else
    ! in_agent_tree "$dest" \
      || die "pull: $dest is in a folder another sandbox can write; pull into this session's work dir or a folder outside every sandbox" "$EXIT_USAGE"
    # Also any sandbox's tree this user's record lacks (another user's): one could swap
    # $dest/$base for a symlink to a folder, and mv would move into it.
    refuse_sandboxes_writing "$dest" inside pull
    confirm_copy "into $dest"
    # A private folder first: only plain files and folders go on, without set-id bits.
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/cxgen-pull.XXXXXX") || die "cannot create a temporary folder"
    out=$( { "${AGENT_EXEC[@]}" tar -cf - -C "${src%/*}/" -- "$base" \
      | (cd -- "$tmp" && tar -x --no-same-owner -f -); } 2>&1) \
      || { rm -rf "$tmp"; die "pull: $(printf '%s' "$out" | grep -v '^$' | head -n 1)"; }
    odd=$(find "$tmp" ! -type f ! -type d | wc -l | tr -d ' ')
    [ "$odd" -eq 0 ] || say "warning: left out $odd symlink(s) or special file(s) the sandbox had there"
    find "$tmp" ! -type f ! -type d -exec rm -f {} +
    chmod -R u+rwX,ug-s,go-w "$tmp"
    mv -- "$tmp/$base" "$dest/$base" || { rm -rf "$tmp"; die "pull: cannot move it into $dest"; }
    rm -rf "$tmp"
  fi
  say "pulled $TARGET:$src to $dest/$base"
}
