# shellcheck shell=bash
# Agent versions.
# Each npm agent is pinned in .codex/sandbox/Dockerfile, so a new version is a visible change
# (and a new image). The newest version any project here moved to is remembered per user, so
# the others can say that one is known.

readonly VERSIONS_FILE="$STATE_DIR/agent-versions"

# agent_package NAME: sets PACKAGE (npm) and PINNED_VERSION (its version in the Dockerfile).
agent_package() {
  local i line
  PACKAGE="" PINNED_VERSION=""
  for ((i = 0; i < ${#AGENT_PACKAGES[@]}; i += 2)); do
    [ "${AGENT_PACKAGES[$i]}" != "$1" ] || PACKAGE="${AGENT_PACKAGES[$((i + 1))]}"
  done
  [ -n "$PACKAGE" ] || return 1
  while IFS= read -r line; do
    case "$line" in *"npm install -g $PACKAGE@"*)
      line="${line#*"npm install -g $PACKAGE@"}"
      PINNED_VERSION="${line%%[!0-9A-Za-z.+-]*}" ;;
    esac
  done <"$SANDBOX_DIR/Dockerfile"
  [ -n "$PINNED_VERSION" ]
}

# version_newer A B: is version A newer than B (major.minor.patch, numerically)?
version_newer() {
  local a="${1%%[-+]*}" b="${2%%[-+]*}" i x y
  for i in 1 2 3; do
    x="${a%%.*}" y="${b%%.*}"
    [ "$x" -eq "$y" ] || { [ "$x" -gt "$y" ]; return; }
    a="${a#*.}" b="${b#*.}"
  done
  return 1
}

# build --agent-update NAME[@VERSION]: move NAME's pin (to npm's latest without VERSION), show
# the change and accept it (you asked for it), then build.
update_agent_pin() {
  local name="${AGENT_UPDATE%%@*}" version="" dockerfile="$SANDBOX_DIR/Dockerfile" new
  case "$AGENT_UPDATE" in *@*) version="${AGENT_UPDATE#*@}" ;; esac
  agent_package "$name" || die "--agent-update: '$name' is not an npm agent pinned in $dockerfile (installed: $INSTALLED_AGENTS)" "$EXIT_USAGE"
  if [ -z "$version" ]; then
    ensure_image
    version=$(docker run --rm ${PULL_ARGS[@]+"${PULL_ARGS[@]}"} --entrypoint npm "$IMAGE" view "$PACKAGE" version 2>/dev/null) \
      || die "cannot ask npm for $PACKAGE's latest version (this image has no npm, or no registry); give it: --agent-update $name@X.Y.Z"
  fi
  [[ "$version" =~ $VERSION_RE ]] || die "--agent-update: invalid version '$version' (expected X.Y.Z)" "$EXIT_USAGE"
  remember_version "$name" "$version"
  if [ "$version" = "$PINNED_VERSION" ]; then
    say "$name is already at $version"
    return 0
  fi
  # The new context is made from the accepted copy with the pin moved, in this run's private
  # folder: that is what is shown, recorded and built; the allowlist and init hook stay as you
  # accepted them (anything else that changed still needs your review).
  make_run_tmp
  SNAPSHOT="$RUN_TMP/policy"
  rm -rf "$SNAPSHOT"
  mkdir "$SNAPSHOT" || die "cannot create $SNAPSHOT"
  cp -R "$POLICY_DIR/sandbox" "$SNAPSHOT/sandbox" || die "cannot copy $POLICY_DIR/sandbox"
  [ ! -f "$POLICY_DIR/init.sh" ] || cp "$POLICY_DIR/init.sh" "$SNAPSHOT/init.sh" || die "cannot copy $POLICY_DIR/init.sh"
  sed "s|npm install -g $PACKAGE@$PINNED_VERSION|npm install -g $PACKAGE@$version|" "$POLICY_DIR/sandbox/Dockerfile" >"$SNAPSHOT/sandbox/Dockerfile" \
    || die "cannot write $SNAPSHOT"
  ! cmp -s "$POLICY_DIR/sandbox/Dockerfile" "$SNAPSHOT/sandbox/Dockerfile" \
    || die "--agent-update: the Dockerfile you accepted does not pin $PACKAGE@$PINNED_VERSION; review .codex/sandbox with ./run_in_container.sh accept" "$EXIT_USAGE"
  SNAPSHOT_HASH=$(context_hash "$SNAPSHOT/sandbox")
  refuse_symlink "$dockerfile"
  new=$(mktemp "$dockerfile.XXXXXX") || die "cannot write $dockerfile"
  if ! { cat -- "$SNAPSHOT/sandbox/Dockerfile" >"$new" && chmod 0644 "$new" && mv -f "$new" "$dockerfile"; }; then
    rm -f "$new"
    die "cannot write $dockerfile"
  fi
  say "$name: $PINNED_VERSION -> $version in .codex/sandbox/Dockerfile (commit it):"
  diff -u "$POLICY_DIR/sandbox/Dockerfile" "$SNAPSHOT/sandbox/Dockerfile" >&2 || true
  POLICY="${POLICY/"sandbox $CONTEXT_HASH"/"sandbox $SNAPSHOT_HASH"}"
  CONTEXT_HASH="$SNAPSHOT_HASH"
  record_policy
}

# remember_version NAME VERSION: keep the newest version of NAME seen on this machine.
remember_version() {
  local line known="" lines=""
  if [ -f "$VERSIONS_FILE" ]; then
    while IFS= read -r line; do
      case "$line" in "$1 "*) known="${line#* }" ;; *) lines="$lines$line"$'\n' ;; esac
    done <"$VERSIONS_FILE"
  fi
  [ -z "$known" ] || ! version_newer "$known" "$2" || return 0
  mkdir -p "$STATE_DIR" && printf '%s%s %s\n' "$lines" "$1" "$2" >"$VERSIONS_FILE" || true
}

# At a start: say when a newer version of an installed agent is known here.
notice_newer_versions() {
  local name version
  [ -f "$VERSIONS_FILE" ] || return 0
  while read -r name version; do
    case " $INSTALLED_AGENTS " in *" $name "*) ;; *) continue ;; esac
    [[ "$version" =~ $VERSION_RE ]] || continue
    if agent_package "$name" && version_newer "$version" "$PINNED_VERSION"; then
      say "$name $version is known (this project pins $PINNED_VERSION): ./run_in_container.sh build --agent-update $name"
    fi
  done <"$VERSIONS_FILE"
}
