# shellcheck shell=bash
# Image.

# sha256: the hash of stdin.
sha256() {
  local line
  line=$(sha256_files)
  printf '%s\n' "${line%% *}"
}

# sha256_files FILE...: "HASH  FILE" lines, one sha256sum (or shasum) for all of them; stdin's
# hash with no FILE.
sha256_files() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum -- "$@"
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 -- "$@"
  else
    die "neither sha256sum nor shasum found"
  fi
}

# context_hash DIR [MARK]: the sha256 of the build context's sorted relative paths, executable
# bits and bytes, whole (it names the context in the tag, the approval and the image records: 12
# hex digits of it collide in minutes); no mtimes or owners, so every teammate's host gives the
# same tag. With MARK (a file just written): also, after the hash, every file and folder's path
# on one line and their context_stat lines, then MARK's, taken before any content is read (see
# context_hash_cached).
context_hash() {
  (
    local files=() all=() file line lines="" mode stats=""
    cd "$1"
    # Regular files with plain names only: a symlink, or a name with a newline (which would
    # split into two lines here), would escape the hash.
    while IFS= read -r file; do
      all+=("$file")
      [ "$file" != . ] || continue
      case "$file" in
        ./*[!A-Za-z0-9._/-]* | ./ | [!.]* | .[!/]*) odd_context_file "$file" ;;
      esac
      [ ! -L "$file" ] || odd_context_file "$file"
      [ ! -d "$file" ] || continue
      [ -f "$file" ] || odd_context_file "$file"
      files+=("$file")
    done < <(LC_ALL=C find . | LC_ALL=C sort)
    [ "${#files[@]}" -gt 0 ] || die "refusing .codex/sandbox: it is empty; restore it with git" "$EXIT_USAGE"
    [ -z "${2:-}" ] || context_stat stats "${all[@]}" "$2" || stats=""
    local count=0
    while IFS= read -r line; do
      file="${line#*  }"
      mode=-
      [ -x "$file" ] && mode=x
      lines="$lines${line%%  *} $mode $file"$'\n'
      count=$((count + 1))
    done < <(sha256_files "${files[@]}")
    line=$(printf '%s' "$lines" | sha256)
    # A hasher that failed (its status is lost in the process substitution) must not give a tag.
    if [ "$count" -ne "${#files[@]}" ] || ! [[ "$line" =~ ^[0-9a-f]{64}$ ]]; then
      die "hashing .codex/sandbox failed (sha256sum or shasum)"
    fi
    printf '%s\n' "$line"
    [ -z "${2:-}" ] || printf '%s\n%s\n' "${all[*]}" "$stats"
  )
}

# context_stat VAR PATH...: sets VAR to a line per path that changes whenever its content, mode,
# size, inode or (for a folder) its entries change: ctime, which no user program can set (mtime
# can: touch -r), to the nanosecond where stat shows it. GNU stat, or BSD's (macOS). False when
# stat fails. (One fork: stat's.)
context_stat() {
  local var="$1" lines
  shift
  if [ "$STAT_FLAVOR" = gnu ]; then
    lines=$(stat -c '%Z %z %d:%i %f %s %Y' -- "$@") || return
  else
    lines=$(stat -f '%c %d:%i %p %z %m' -- "$@") || return
  fi
  printf -v "$var" '%s' "$lines"
}
STAT_FLAVOR=gnu

# The start cache: hashing .codex/sandbox costs several forks, so it is done only when the
# folder changed. One file per project in this user's state folder (where the agent cannot
# write: only you can make it lie, as you can your accepted policy) holds the project, its policy
# key, the hash, the paths hashed and their context_stat lines; while one stat of those paths
# gives the same lines, nothing was added, removed, renamed, chmod-ed or written there. Lines are
# cached only when every ctime is a second older than the snapshot (as git's "racily clean"
# index entries), so a change in the same clock tick cannot hide behind an unchanged line.
readonly START_CACHE_DIR="$STATE_DIR/start-cache"
START_CACHE="${PROJECT_DIR//[!A-Za-z0-9._-]/_}"
readonly START_CACHE="$START_CACHE_DIR/${START_CACHE:0:200}"
readonly START_CACHE_MAGIC="cxgen-start-cache 2"

# Sets CONTEXT_HASH and POLICY_KEY: from the start cache when .codex/sandbox is unchanged (one
# fork: stat), else hashed and cached.
context_hash_cached() {
  local magic="" project="" key="" hash="" flavor="" entries="" stats="" paths=() path now out tmp
  local status absolute=()
  if [ -f "$START_CACHE" ] && [ ! -L "$START_CACHE" ] && [ -O "$START_CACHE" ] \
    && [ ! -L "$START_CACHE_DIR" ] && [ -O "$START_CACHE_DIR" ]; then
    {
      IFS= read -r magic && IFS= read -r project && read -r key && read -r hash \
        && read -r flavor && IFS= read -r entries && IFS= read -r -d '' stats
    } <"$START_CACHE" || true
    read -r -a paths <<<"$entries" || true
    if [ "$magic" = "$START_CACHE_MAGIC" ] && [ "$project" = "$PROJECT_DIR" ] \
      && [[ "$key" =~ ^[0-9a-f]{16}$ ]] && [[ "$hash" =~ ^[0-9a-f]{64}$ ]] \
      && [ "${#paths[@]}" -gt 0 ] && { [ "$flavor" = gnu ] || [ "$flavor" = bsd ]; } \
      && [ "${paths[0]}" = . ]; then
      STAT_FLAVOR="$flavor"
      for path in "${paths[@]}"; do absolute+=("$SANDBOX_DIR${path#.}"); done
      if context_stat now "${absolute[@]}" 2>/dev/null && [ "$now"$'\n' = "$stats" ]; then
        CONTEXT_HASH="$hash" POLICY_KEY="$key"
        return 0
      fi
    fi
  fi
  policy_key
  # The mark's mtime is the snapshot's time: written before anything is looked at.
  tmp="$START_CACHE.$$"
  # Only in a folder of yours: nobody else can have planted a symlink at that name.
  if own_state_folder "$START_CACHE_DIR" && { : >"$tmp"; } 2>/dev/null; then
    stat -c %Z -- "$tmp" >/dev/null 2>&1 || STAT_FLAVOR=bsd
    out=$(context_hash "$SANDBOX_DIR" "$tmp") || { status=$?; rm -f -- "$tmp"; exit "$status"; }
    CONTEXT_HASH="${out%%$'\n'*}"
    out="${out#*$'\n'}"
    entries="${out%%$'\n'*}"
    stats="${out#*$'\n'}"
    if ! { cacheable_stats "$stats" \
      && printf '%s\n' "$START_CACHE_MAGIC" "$PROJECT_DIR" "$POLICY_KEY" "$CONTEXT_HASH" \
        "$STAT_FLAVOR" "$entries" "${stats%$'\n'*}" >"$tmp" \
      && mv -f -- "$tmp" "$START_CACHE" 2>/dev/null; }; then
      rm -f -- "$tmp"
    fi
  else
    CONTEXT_HASH=$(context_hash "$SANDBOX_DIR")
  fi
}

# own_state_folder DIR: DIR, in your state folder, is there (made now if need be) and a folder of
# yours, no symlink: nobody else can have planted a name in it.
own_state_folder() {
  { [ -d "$1" ] || mkdir -p "$1"; } 2>/dev/null && [ ! -L "$1" ] && [ -O "$1" ]
}

# cacheable_stats LINES: the last line is the mark's; every other path's ctime (the first field)
# is a whole second older than the mark's mtime (the last field).
cacheable_stats() {
  local line ctime mark="${1##*$'\n'}"
  [ -n "$1" ] && [ "$mark" != "$1" ] || return 1
  mark="${mark##* }"
  [[ "$mark" =~ ^[0-9]+$ ]] || return 1
  while read -r ctime line; do
    [[ "$ctime" =~ ^[0-9]+$ ]] && [ "$ctime" -lt "$mark" ] || return 1
  done <<<"${1%$'\n'*}"
}

odd_context_file() {
  die "refusing .codex/sandbox: $(printf '%q' "${1#./}") is not a regular file with a plain name (letters, digits, . _ -); restore the folder with git" "$EXIT_USAGE"
}

# snapshot_context DEST: copy the build context to DEST, outside every agent's reach, and make
# sure the copy is what was hashed (an agent of another sandbox could be rewriting the files).
snapshot_context() {
  cp -R "$SANDBOX_DIR" "$1" || die "cannot copy $SANDBOX_DIR"
  [ "$(context_hash "$1")" = "$CONTEXT_HASH" ] \
    || die ".codex/sandbox changed while it was being read; is something writing it? Retry" "$EXIT_USAGE"
}

# Sets IMAGE: the content-hashed tag, built only when missing (or CODEX_DOCKER_IMAGE).
IMAGE_BUILT=no
ensure_image() {
  if [ -n "${CODEX_DOCKER_IMAGE:-}" ]; then
    [[ "$CODEX_DOCKER_IMAGE" =~ $IMAGE_RE ]] \
      || die "CODEX_DOCKER_IMAGE: invalid image reference '$CODEX_DOCKER_IMAGE'" "$EXIT_USAGE"
    IMAGE="$CODEX_DOCKER_IMAGE"
    PULL_ARGS=()
    [ "$RELAY_KEYS" = no ] || relay_image_check
    mcp_image_label "$IMAGE"
    return 0
  fi
  [ -f "$SANDBOX_DIR/Dockerfile" ] || die "missing $SANDBOX_DIR/Dockerfile; restore it with git or re-run cxgen"
  IMAGE="$IMAGE_REPO:$CONTEXT_HASH"
  record_image
  # Never pulled: a registry's image under this name is not what was hashed. If the tag goes
  # missing between the check below and the start (docker image prune), the start fails instead.
  PULL_ARGS=(--pull never)
  # A recorded image (image_seen) whose MCP servers start before docker run is asked about.
  [ "$IMAGE_SEEN" = no ] || { mcp_label "$IMAGE_SEEN_FILE"; image_seen_trusted || true; }
  if [ "$REBUILD" = no ] && image_present; then
    # Its containerised MCP servers: those its build checked and labelled it with.
    [ "$IMAGE_SEEN" = yes ] || { mcp_label "$RUN_TMP/image-mcp"; image_seen_record; }
    return 0
  fi
  need_daemon
  IMAGE_BUILT=yes
  # Who built it: images --clean removes only yours (another user may share this machine).
  local build_args=(build --force-rm -t "$IMAGE" --label org.cxgen.version="$CXGEN_VERSION"
    --label "org.cxgen.builder=$EUID")
  [ "$REBUILD" = no ] || build_args+=(--no-cache)
  # Built from a private copy that is proven to be what the tag's hash says.
  make_run_tmp
  snapshot_context "$RUN_TMP/context"
  # Checked before anything is built; the image carries what was checked.
  mcp_context "$RUN_TMP/context"
  build_args+=("${MCP_LABEL_ARGS[@]}")
  say "building $IMAGE (only when .codex/sandbox changes)..."
  docker "${build_args[@]}" "$RUN_TMP/context" >&2 \
    || die "image build failed (docker's output is above); nothing was started"
}
