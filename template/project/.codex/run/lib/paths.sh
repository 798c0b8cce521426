# shellcheck shell=bash
# Paths.
# The agent can write the work dir and its home, so every path there is untrusted: the host side
# never follows a symlink it did not make when it reads, copies, creates, chowns or mounts.

# is_inside CHILD PARENT: CHILD is PARENT or below it; is_below: strictly below it.
is_inside() { [ "$1" = "$2" ] || case "$1" in "$2"/*) true ;; *) false ;; esac; }
is_below() { [ "$1" != "$2" ] && is_inside "$1" "$2"; }

# Trees an agent can write or has written: this project, and every project folder, work dir,
# agent home, sessions folder and --mount folder this user's sandboxes had (remembered in
# AGENT_TREES_FILE, outside the agent's reach), also by their device and inode
# (AGENT_TREE_IDS_FILE): the same folder under another name (moved, bind-mounted, or spelled
# otherwise on a case-insensitive disk) is the same tree.
readonly AGENT_TREES_FILE="$STATE_DIR/agent-trees" AGENT_TREE_IDS_FILE="$STATE_DIR/agent-tree-ids"
AGENT_TREES=("$PROJECT_DIR") AGENT_TREE_IDS=$'\n'

# sudo_caller_home: prints the home of the user who called sudo, when run as root through sudo
# (false otherwise). (The name is checked before ~NAME is expanded.)
sudo_caller_home() {
  [ "${EUID:-1}" -eq 0 ] && [[ "${SUDO_USER:-}" =~ ^[a-z_][a-z0-9_.-]*$ ]] || return 1
  eval "printf '%s' ~$SUDO_USER"
}

load_agent_trees() {
  local tree file home ids dir files=("$STATE_DIR")
  AGENT_TREES=("$PROJECT_DIR") AGENT_TREE_IDS=$'\n'
  # Through sudo: the trees of the user who called it count too (a registry is per user).
  # (Asked only then: a subshell costs every start.)
  if [ -n "${SUDO_USER:-}" ] && home=$(sudo_caller_home); then
    files+=("$home/.local/state/cxgen")
  fi
  for dir in "${files[@]}"; do
    file="$dir/agent-trees"
    [ -f "$file" ] || continue
    while IFS= read -r tree; do
      [ -z "$tree" ] || AGENT_TREES+=("$tree")
    done <"$file"
    [ -f "$dir/agent-tree-ids" ] || continue
    # (One read of the whole file, kept as it is: line by line, or with its newlines replaced,
    # a long one would cost seconds.)
    IFS= read -r -d '' ids <"$dir/agent-tree-ids" || true
    AGENT_TREE_IDS="$AGENT_TREE_IDS$ids"
    [ "${AGENT_TREE_IDS: -1}" = $'\n' ] || AGENT_TREE_IDS="$AGENT_TREE_IDS"$'\n'
  done
  # Trees an earlier run script remembered by name alone: their identities, once.
  [ ! -f "$AGENT_TREES_FILE" ] || [ -f "$AGENT_TREE_IDS_FILE" ] \
    || remember_tree_ids "${AGENT_TREES[@]}" 2>/dev/null || true
}

# remember_agent_trees PATH...: each PATH is writable in this run's sandbox: remembered by name
# (the project itself too: AGENT_TREES[0] stands for it in this project's runs alone; another
# project's start must know that a symlink in it may be an agent's) and by identity (also for
# a name remembered before: the folder there may be another one now).
remember_agent_trees() {
  local tree path new=""
  for path in "$@"; do
    for tree in "${AGENT_TREES[@]:1}"; do [ "$tree" != "$path" ] || continue 2; done
    AGENT_TREES+=("$path")
    new="$new$path"$'\n'
  done
  if [ -n "$new" ] && ! { mkdir -p "$STATE_DIR" && printf '%s' "$new" >>"$AGENT_TREES_FILE"; }; then
    die "cannot write $AGENT_TREES_FILE"
  fi
  remember_tree_ids "$@" || die "cannot write $AGENT_TREE_IDS_FILE"
}

# remember_tree_ids PATH...: the device and inode of each PATH that exists, added to
# AGENT_TREE_IDS_FILE (an empty one when none does: their names were looked at); false when it
# cannot be written.
remember_tree_ids() {
  local ids id new=""
  path_ids ids "$@"
  for id in $ids; do
    case "$AGENT_TREE_IDS" in *$'\n'"$id"$'\n'*) ;; *) AGENT_TREE_IDS="$AGENT_TREE_IDS$id"$'\n' new="$new$id"$'\n' ;; esac
  done
  [ -n "$new" ] || [ ! -f "$AGENT_TREE_IDS_FILE" ] || return 0
  { mkdir -p "$STATE_DIR" && printf '%s' "$new" >>"$AGENT_TREE_IDS_FILE"; } 2>/dev/null
}

# in_agent_tree PATH [strict]: PATH (absolute) is in (with strict: strictly below) a tree an agent
# can write: by name, or by the identity of PATH (not with strict) or of a folder above it.
in_agent_tree() {
  local tree test=is_inside path="$1" above=() ids id
  [ -z "${2:-}" ] || test=is_below
  for tree in "${AGENT_TREES[@]}"; do
    if "$test" "$1" "$tree"; then return 0; fi
  done
  [ "$AGENT_TREE_IDS" != $'\n' ] || return 1
  [ -n "${2:-}" ] || above=("$path")
  while [[ "$path" == /?* ]]; do
    path="${path%/*}"
    above+=("${path:-/}")
  done
  # (With strict, PATH's own facts too, in the same fork: a start asks for them next.)
  [ -z "${2:-}" ] || [ ! -e "$1" ] || path_facts ids "$1" "${above[@]}"
  path_ids ids "${above[@]}"
  for id in $ids; do
    case "$AGENT_TREE_IDS" in *$'\n'"$id"$'\n'*) return 0 ;; esac
  done
  return 1
}

refuse_symlink() {
  [ ! -L "$1" ] || die "refusing $1: it is a symlink, which the agent may have planted; remove it (or replace it with the real folder or file) and retry" "$EXIT_USAGE"
}

# read_agent_file PATH: prints PATH's bytes (at most 1 MiB and one more, so a bigger file shows
# as such), or fails. The agent can swap PATH at any moment: for a symlink (to a file of yours,
# or to a name that does not exist yet), or for a FIFO, whose open waits for ever. So PATH is
# opened read-only (nothing is created), the open file must be a regular file and the very file
# PATH names now (lstat: a symlink's own inode never matches what it points to), and an open that
# waits is given up after AGENT_FILE_SECONDS.
readonly AGENT_FILE_SECONDS=5
read_agent_file() { within "$AGENT_FILE_SECONDS" read_regular_file "$1"; }

read_regular_file() {
  exec 5<"$1" && [ -f /dev/fd/5 ] && [ "$(file_id /dev/fd/5 -L)" = "$(file_id "$1")" ] \
    && head -c 1048577 <&5
}

# agent_file_failed PATH: a one-line error for a file of the agent home that could not be read
# as a regular file.
agent_file_failed() {
  die "cannot read $1: it must be a regular file (the agent may have made it a FIFO or a symlink, or swapped it while it was read); remove it and retry" "$EXIT_USAGE"
}

# safe_path WHAT PATH: print PATH absolute and physical, following the symlinks it passes only
# where the agent cannot have made them; exit with a one-line reason otherwise.
safe_path() {
  local what="$1" path="$2"
  case "$path" in
    *$'\n'* | *$'\r'*) die "$what: paths with newlines are refused" "$EXIT_USAGE" ;;
    /*) ;;
    *) path="$PWD/$path" ;;
  esac
  [ -e "$path" ] || die "$what: no such file or directory: $2" "$EXIT_USAGE"
  (
    cd /
    safe_path_walk "$what" "$2" "$path"
    if [ -n "$SAFE_LAST" ]; then
      printf '%s/%s\n' "${PWD%/}" "$SAFE_LAST"
    else
      [ "$PWD" != "/" ] || die "$what: refusing to mount / (the whole host)" "$EXIT_USAGE"
      printf '%s\n' "$PWD"
    fi
  )
}

# safe_path_walk WHAT GIVEN PATH: cd along PATH from here, one symlink at a time (cd -P would
# follow a whole chain at once: a link of yours to one the agent planted); sets SAFE_LAST to a
# last part that is not a folder.
safe_path_walk() {
  local what="$1" given="$2" todo=() part target more hops=0
  IFS=/ read -r -a todo <<<"$3"
  SAFE_LAST=""
  while [ "${#todo[@]}" -gt 0 ]; do
    part="${todo[0]}"
    todo=(${todo[@]+"${todo[@]:1}"})
    case "$part" in "" | .) continue ;; esac
    if [ -L "$part" ]; then
      ! in_agent_tree "$PWD" \
        || die "$what: refusing $given: $PWD/$part is a symlink inside the project or work dir, which the agent may have planted; give the real path" "$EXIT_USAGE"
      hops=$((hops + 1))
      [ "$hops" -le 40 ] || die "$what: too many levels of symbolic links: $given" "$EXIT_USAGE"
      target=$(readlink -- "$part") || die "$what: cannot read the symlink $PWD/$part" "$EXIT_USAGE"
      case "$target" in *$'\n'* | *$'\r'*) die "$what: refusing $given: $PWD/$part points to a path with a newline" "$EXIT_USAGE" ;; esac
      case "$target" in /*) cd / ;; esac
      IFS=/ read -r -a more <<<"$target"
      todo=(${more[@]+"${more[@]}"} ${todo[@]+"${todo[@]}"})
    elif [ -d "$part" ]; then
      cd -P -- "$part"
    elif [ "${#todo[@]}" -eq 0 ]; then
      SAFE_LAST="$part"
    else
      die "$what: not a directory: ${PWD%/}/$part" "$EXIT_USAGE"
    fi
  done
}

# Folders no sandbox gets whole, nor any folder that holds one: the system's, those every user
# and program shares, and your own (home, TMPDIR, XDG_RUNTIME_DIR). A Unix socket there
# (ssh-agent's, gpg-agent's, tmux's, a rootless Docker's) answers the agent through any mount,
# even a read-only one, and the agent runs as you. Physical paths (macOS's /tmp is
# /private/tmp), each folder before those below it.
readonly SHARED_FOLDERS="/tmp /var /var/tmp /var/run /dev /dev/shm /proc /sys /run /etc /usr
  /usr/local /bin /sbin /lib /lib32 /lib64 /libx32 /boot /opt /srv /snap /home /root /mnt /media
  /private /private/tmp /private/var /private/var/tmp /private/etc /Users /Users/Shared /System
  /Library /Applications /Volumes"

# refuse_shared_folder WHAT PATH: the one-line refusal when PATH (physical) is such a folder or
# holds one.
refuse_shared_folder() {
  local folder
  [ -n "${OWN_FOLDERS+set}" ] || own_folders
  for folder in $SHARED_FOLDERS; do
    shared_folder_check "$1" "$2" "$folder" "a folder the whole system shares (other programs' files and sockets, such as ssh-agent's or tmux's, would be the agent's)"
  done
  while IFS= read -r folder; do
    shared_folder_check "$1" "$2" "$folder" "your home folder (your shell's startup files, keys and agent sockets would be the agent's)"
  done <<<"$OWN_HOMES"
  while IFS= read -r folder; do
    shared_folder_check "$1" "$2" "$folder" "your programs' temporary or runtime folder (their files and sockets would be the agent's)"
  done <<<"$OWN_FOLDERS"
}

# The system's own trees: no folder in them is the agent's to write (in root mode, /etc/cron.d or
# /var/lib/docker would be root on your host). macOS's /private/var/folders holds the users'
# temporary folders.
readonly SYSTEM_TREES="/etc /usr /bin /sbin /lib /lib32 /lib64 /libx32 /boot /dev /proc /sys /run
  /var /System /Library /private/etc /private/var"

# refuse_system_tree WHAT PATH: the one-line refusal when PATH (physical) lies in a system tree.
refuse_system_tree() {
  local tree
  case "$2/" in /private/var/folders/*) return 0 ;; esac
  for tree in $SYSTEM_TREES; do
    if is_inside "$2" "$tree"; then
      die "$1: refusing $2: it lies in $tree, the system's own files, which no sandbox may write; give a folder of yours" "$EXIT_USAGE"
    fi
  done
}

# shared_folder_check WHAT PATH FOLDER WHY
shared_folder_check() {
  [ -n "$3" ] && is_inside "$3" "$2" || return 0
  if [ "$3" = "$2" ]; then
    die "$1: refusing $2: $4; give a folder of its own, such as one below it" "$EXIT_USAGE"
  fi
  die "$1: refusing $2: it holds $3, $4; give a folder of its own" "$EXIT_USAGE"
}

# Sets OWN_HOMES (lines: your home, and through sudo the caller's) and OWN_FOLDERS (TMPDIR,
# XDG_RUNTIME_DIR), physical.
own_folders() {
  local home=""
  OWN_HOMES=$(physical_folder "${HOME:-}") || OWN_HOMES=""
  # (Each subshell only for a value that is set: they cost every start.)
  if [ -n "${SUDO_USER:-}" ] && home=$(sudo_caller_home); then
    OWN_HOMES="$OWN_HOMES"$'\n'"$(physical_folder "$home")" || true
  fi
  OWN_FOLDERS=""
  [ -z "${TMPDIR:-}" ] || OWN_FOLDERS=$(physical_folder "$TMPDIR") || OWN_FOLDERS=""
  [ -z "${XDG_RUNTIME_DIR:-}" ] || OWN_FOLDERS="$OWN_FOLDERS"$'\n'"$(physical_folder "$XDG_RUNTIME_DIR")" || true
}

physical_folder() { [ -n "$1" ] && [ -d "$1" ] && cd -P -- "$1" 2>/dev/null && pwd; }

# The files and folders that steer the host must be what cxgen wrote, not the agent's symlinks.
check_control_paths() {
  local path
  case "$PROJECT_DIR" in *$'\n'*) die "the project's path holds a newline; move it to a plain path" "$EXIT_USAGE" ;; esac
  for path in "$CODEX_DIR" "$SANDBOX_DIR" "$DOMAINS_FILE" "$ENV_DIR" "$ENV_DIR/init.sh" \
    "$PROJECT_DIR/.git" "$PROJECT_DIR/.copier-answers.yml"; do
    refuse_symlink "$path"
  done
  [ -d "$SANDBOX_DIR" ] || die "missing $SANDBOX_DIR; restore it with git or re-run cxgen"
}

# physical_path PATH: PATH exists and no part of it is a symlink.
physical_path() {
  local dir="${1%/*}"
  [ -e "$1" ] && [ ! -L "$1" ] && [ "$(cd -P -- "${dir:-/}" 2>/dev/null && pwd)" = "${dir:-/}" ]
}
