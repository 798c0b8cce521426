# shellcheck shell=bash
# Agent home.

# As root, what this script creates for the agent must belong to the agent.
give_to_agent() {
  [ "$EUID" -ne 0 ] || [ "${AGENT_IDS%%:*}" -eq 0 ] || chown -h "$AGENT_IDS" "$@"
}

# make_agent_dir DIR: create DIR if missing, owned by the agent; never through a symlink.
make_agent_dir() {
  refuse_symlink "$1"
  [ ! -d "$1" ] || return 0
  if mkdir "$1" 2>/dev/null; then
    give_to_agent "$1"
  else
    # Another start of this project may have made it a moment ago.
    [ -d "$1" ] && [ ! -L "$1" ] || die "cannot create $1"
  fi
}

# plan_copy SRC DEST: copy SRC into the agent home before the start (COPIES, done by
# prepare_env_dir once no racing sandbox was found). Neither may be a symlink an agent made.
plan_copy() {
  refuse_symlink "$2"
  ! in_agent_tree "$1" || refuse_symlink "$1"
  # Already there (a credentials file given on every run): nothing to write. (Anything else
  # there, a FIFO too, is replaced.)
  if [ -f "$2" ] && read_agent_file "$2" | cmp -s -- "$1" -; then return 0; fi
  at_risk "$1"
  at_risk "$2"
  COPIES+=("$1" "$2")
}

# copy_for_agent SRC DEST: copy a file into the agent home, owned by the agent and readable by
# it alone (mktemp's 0600). Written to a new file, then renamed over DEST: a symlink or hard link
# the agent left at DEST is replaced, never written through.
copy_for_agent() {
  local tmp
  refuse_symlink "$2"
  [ ! -d "$2" ] || die "refusing $2: a folder is in the way; remove it and retry" "$EXIT_USAGE"
  tmp=$(mktemp "$2.XXXXXX") || die "cannot write $2"
  if ! { cat -- "$1" >"$tmp" && give_to_agent "$tmp" && mv -f "$tmp" "$2"; }; then
    rm -f "$tmp"
    die "cannot copy $1 to $2"
  fi
  say "copied $1 to ${2#"$PROJECT_DIR/"}"
}

# What to copy into the agent home (COPIES): config only when missing, prompts without
# overwriting, credentials from --auth_file (or ~/.codex/auth.json when missing).
plan_env_dir() {
  local file target
  COPIES=()
  if [ -d "$CONFIG_DIR" ]; then
    CONFIG_DIR=$(safe_path --config "$CONFIG_DIR")
    if [ -f "$CONFIG_DIR/config.toml" ] && [ ! -e "$ENV_DIR/config.toml" ] && [ ! -L "$ENV_DIR/config.toml" ]; then
      plan_copy "$CONFIG_DIR/config.toml" "$ENV_DIR/config.toml"
    elif [ -f "$CONFIG_DIR/config.toml" ] && [ "${CONFIG_GIVEN:-}" = yes ]; then
      say "kept .codex/.environment/config.toml (it exists; --config only seeds a missing one)"
    fi
    if [ -d "$CONFIG_DIR/prompts" ] && [ ! -L "$CONFIG_DIR/prompts" ]; then
      for file in "$CONFIG_DIR/prompts"/*; do
        target="$ENV_DIR/prompts/$(basename "$file")"
        if [ -f "$file" ] && [ ! -e "$target" ] && [ ! -L "$target" ]; then plan_copy "$file" "$target"; fi
      done
    fi
  fi
  plan_credentials
}

# check_home_path PATH: no folder of PATH inside the agent home may be a symlink (the agent
# could point one anywhere on this machine).
check_home_path() {
  local dir="$ENV_DIR" part rest="$1"
  while case "$rest" in */*) true ;; *) false ;; esac do
    part="${rest%%/*}" rest="${rest#*/}"
    dir="$dir/$part"
    refuse_symlink "$dir"
  done
  refuse_symlink "$dir/$rest"
}

# The agent's folders on the way to a login file (home/.claude for home/.claude/x).
make_home_dirs() {
  local dir="$ENV_DIR" rest="${1#"$ENV_DIR/"}"
  while case "$rest" in */*) true ;; *) false ;; esac do
    dir="$dir/${rest%%/*}" rest="${rest#*/}"
    make_agent_dir "$dir"
  done
}

# The agent home's folders, then the planned copies.
prepare_env_dir() {
  local dir i
  [ -d "$CODEX_DIR" ] || die "missing $CODEX_DIR; restore it with git or re-run cxgen"
  for dir in "$ENV_DIR" "$ENV_DIR/sessions" "$ENV_DIR/home" ${AGENT_GIT_DIRS[@]+"${AGENT_GIT_DIRS[@]}"}; do
    make_agent_dir "$dir"
  done
  for ((i = 0; i < ${#COPIES[@]}; i += 2)); do
    make_home_dirs "${COPIES[$((i + 1))]}"
    copy_for_agent "${COPIES[$i]}" "${COPIES[$((i + 1))]}"
  done
  mark_imports
}

# Sets AGENT_IDS (uid:gid) for the agent: yours; when you are root, the work dir's owner
# instead. Root mode (ROOT_MODE=yes) when that is root too: the agent is uid 0 without
# capabilities, in group ROOT_MODE_GID, so what it writes is root's (see the entrypoint).
readonly ROOT_MODE_GID=65534 ROOT_MODE_COPY_GID=65533
set_agent_ids() {
  local uid gid
  uid=$EUID
  # Your (real) group: bash keeps it first in GROUPS; id -g only where it is missing.
  gid="${GROUPS[0]:-}"
  [[ "$gid" =~ ^[0-9]+$ ]] || gid=$(id -g)
  ROOT_MODE=no
  if [ "$uid" -eq 0 ]; then
    # (Known when an earlier check asked: path_facts, which follows symlinks: the work dir is
    # physical, and one swapped for a symlink since is refused.)
    refuse_symlink "$WORK_DIR"
    path_facts uid "$WORK_DIR"
    [ -n "$uid" ] || die "cannot read the owner of $WORK_DIR"
    uid="${uid#*:*:}"
    gid="${uid#*:}" uid="${uid%:*}"
    if [ "$uid" -eq 0 ]; then
      ROOT_MODE=yes
      gid=$ROOT_MODE_GID
    fi
  fi
  AGENT_IDS="$uid:$gid"
}

# The container's writable folders. Root mode: nothing of the image is writable (root's tools
# run it later), only these: temporary folders, and the firewall's state, which outlives a docker
# restart in an anonymous volume (removed with the container). Each belongs to the firewall's
# account (uid FW_OWNER_UID in the image), never to root: uid 0 would own them, so the agent
# could rename what root's tools use there.
readonly FW_OWNER_UID=65530 FW_DNS_GID=65531
container_folders_args() {
  local owner="uid=$FW_OWNER_UID,gid=$FW_OWNER_UID"
  if [ "$ROOT_MODE" = yes ]; then
    DOCKER_ARGS+=(--read-only --tmpfs "/tmp:exec,mode=1777,$owner"
      --tmpfs "/var/tmp:exec,mode=1777,$owner" --tmpfs "/run:mode=0755,$owner"
      --mount "type=volume,dst=/var/lib/cxgen" --mount "type=volume,dst=$RELAY_STATE_INSIDE")
  fi
  # In every mode: the firewall's run folder (rules, the resolver's files, the marks) in memory,
  # made by Docker as the firewall's (no fork for it in the entrypoint; on storage drivers such as
  # fuse-overlayfs, each file written in the image's file system costs a start milliseconds).
  DOCKER_ARGS+=(--tmpfs "/run/cxgen:mode=0700,$owner")
  # The resolver's servers file's folder: its group the resolver's, setgid, so that the file the
  # entrypoint makes there is the resolver's to read. Only for an image built here: the group's
  # id is fixed (FW_DNS_GID) since 0.4.0; an image of your own (CODEX_DOCKER_IMAGE) may be older
  # (its folder is its own, as before).
  [ -n "${CODEX_DOCKER_IMAGE:-}" ] \
    || DOCKER_ARGS+=(--tmpfs "/run/cxgen-dns:mode=2750,uid=$FW_OWNER_UID,gid=$FW_DNS_GID")
}
