# shellcheck shell=bash
# The agent's own repository (git=track).
# With git=track the agent also gets a repository of its own, in its home, mounted at the
# project's .git: it may commit there freely. The real .git is read-only inside, at
# PROJECT_GIT_INSIDE, and lends it its objects; agent-git (in the image) sets it up at each
# start, as the agent. The host never runs git on that repository (its config, hooks and objects
# are the agent's): fetch runs `git upload-pack` in a container, as the agent, and fetches from
# it as from a remote, every object checked, into a private relay repository of yours; the
# project then fetches from the relay into refs/remotes/agent/*.
readonly AGENT_GIT_DIR="$ENV_DIR/git/agent.git"
readonly PROJECT_GIT_INSIDE=/run/cxgen-git/project.git
readonly AGENT_GIT_HELPER=/usr/local/lib/cxgen/agent-git
# The most one fetch may write, in MiB (CXGEN_FETCH_MAX_MB; default 4 GiB): it arrives as one
# pack file, and ulimit -f bounds every file.
readonly DEFAULT_FETCH_MAX_MB=4096

# The agent's repository at the project's .git (a mount point there, which the agent cannot
# rename), its folders pinned (no other sandbox's agent can swap them for symlinks), the real
# .git read-only outside every tree the agent writes. Sets AGENT_GIT_DIRS, made before the start.
agent_git_mounts() {
  local git_dir="$PROJECT_DIR/.git"
  refuse_symlink "$ENV_DIR/git"
  refuse_symlink "$AGENT_GIT_DIR"
  add_mount "$git_dir" "$PROJECT_GIT_INSIDE" ",readonly"
  at_risk "$git_dir"
  pin "$ENV_DIR/git"
  pin "$AGENT_GIT_DIR"
  add_mount "$AGENT_GIT_DIR" "/app$git_dir"
  PINNED+=("$git_dir")
  AGENT_GIT_DIRS=("$ENV_DIR/git" "$AGENT_GIT_DIR")
  # fetch finds a running session by this label, and its agent's ids.
  DOCKER_ARGS+=(--label "org.cxgen.agentgit=$(agent_git_ids)")
}

# The agent's uid:gid, as the entrypoint runs it (never root: 1000:1000 instead). upload-pack
# runs as that user: root inside a session still has the firewall's capabilities.
agent_git_ids() {
  if [ "${AGENT_IDS%%:*}" -eq 0 ]; then printf '1000:1000\n'; else printf '%s\n' "$AGENT_IDS"; fi
}

# The session's command, started by agent-git once the agent's repository is ready.
agent_git_command() {
  [ "${#AGENT_GIT_DIRS[@]}" -gt 0 ] || return 0
  CMD_ARGS=("$AGENT_GIT_HELPER" "/app$PROJECT_DIR/.git" "$PROJECT_GIT_INSIDE" -- "${CMD_ARGS[@]}")
}

# relay_git ARGS...: git on the relay (yours alone, written only by this git), with cxgen's
# config only: no hooks, every fetched object checked, nothing run on what it receives.
relay_git() {
  HOME="$RELAY_DIR" XDG_CONFIG_HOME="$RELAY_DIR" GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 \
    git --git-dir="$RELAY_DIR" -c core.hooksPath=/dev/null -c core.fsmonitor=false \
    -c transfer.fsckObjects=true -c fetch.fsckObjects=true -c gc.auto=0 -c maintenance.auto=false \
    -c fetch.writeCommitGraph=false -c fetch.recurseSubmodules=false -c protocol.file.allow=always \
    -c fetch.unpackLimit=1 "$@"
}

# Sets RELAY_DIR (created on first use): per project, beside the git=track repositories. It
# borrows the project's objects (your repository), so only the agent's new objects are copied.
relay_paths() {
  RELAY_DIR="$STATE_DIR/tracks/$(printf '%s' "$PROJECT_DIR" | sha256 | cut -c 1-16)-agent.git"
  [ ! -d "$RELAY_DIR" ] || return 0
  if ! (umask 077 && mkdir -p "$STATE_DIR/tracks" \
    && HOME="$STATE_DIR/tracks" GIT_CONFIG_NOSYSTEM=1 git init -q --bare "$RELAY_DIR" >/dev/null \
    && printf '%s\n' "$PROJECT_DIR/.git/objects" >"$RELAY_DIR/objects/info/alternates"); then
    die "cannot create $RELAY_DIR"
  fi
}

# What runs upload-pack inside (sh, the repository as $1): a FIFO in the agent's repository (or
# a symlink to one) would make git wait on it for ever, so it refuses those first; git reads no
# config of the agent's home.
# shellcheck disable=SC2016 # expanded by that sh
readonly UPLOAD_PACK_SCRIPT='fifo=$(find "$1" \( -type p -o -xtype p \) -print -quit 2>/dev/null) || fifo=""
if [ -n "$fifo" ]; then
  echo "cxgen: .codex/.environment/git/agent.git/${fifo#"$1"/} is a FIFO, which git would wait on for ever; remove it and retry" >&2
  exit 1
fi
HOME=/nonexistent XDG_CONFIG_HOME=/nonexistent GIT_CONFIG_NOSYSTEM=1 exec git -c safe.directory="*" upload-pack "$1"'

# Sets UPLOAD_PACK (a shell command for git fetch --upload-pack; the values it uses are in
# CXGEN_UPLOAD_* variables, never spliced into it) and UPLOAD_URL: git upload-pack as the agent,
# in this project's running git=track session, else in a throwaway container without network
# or capabilities that sees the agent's repository and the project's .git read-only.
upload_pack_command() {
  local line name ids
  local lines spare
  docker_query lines ps --filter label=org.cxgen.sandbox=1 --filter "label=org.cxgen.project=$PROJECT_DIR" \
    --filter label=org.cxgen.agentgit --format '{{.Names}} {{.Label "org.cxgen.agentgit"}}|{{.Label "org.cxgen.spare"}} {{.ID}}'
  # A session, not a spare (nothing of an agent's may run there) nor one whose command is over.
  line=""
  while IFS='|' read -r line spare; do
    name="${line%% *}"
    if [ -z "${spare%% *}" ] || ! { spare_waiting "$name" || session_over "$spare"; }; then break; fi
    line=""
  done <<<"$lines"
  name="${line%% *}" ids="${line#* }"
  if [ -n "$line" ] && [[ "$name" =~ $NAME_RE ]] && [[ "$ids" =~ ^[1-9][0-9]*:[0-9]+$ ]]; then
    export CXGEN_UPLOAD_NAME="$name" CXGEN_UPLOAD_USER="$ids" CXGEN_UPLOAD_SCRIPT="$UPLOAD_PACK_SCRIPT"
    # shellcheck disable=SC2016 # expanded by the sh that git starts, from the environment
    UPLOAD_PACK='docker exec -i -u "$CXGEN_UPLOAD_USER" -- "$CXGEN_UPLOAD_NAME" sh -c "$CXGEN_UPLOAD_SCRIPT" upload-pack'
    # git decodes %XX in file:// URLs.
    UPLOAD_URL="file:///app${PROJECT_DIR//%/%25}/.git"
    return 0
  fi
  # No agent runs that could swap these for symlinks between the check and docker's mount.
  AT_RISK=()
  at_risk "$ENV_DIR/git"
  at_risk "$AGENT_GIT_DIR"
  at_risk "$PROJECT_DIR/.git"
  refuse_racing_sandboxes
  ensure_image
  set_agent_ids
  # Docker's CSV quoting (as add_mount): the double quotes are meant literally.
  # shellcheck disable=SC2089,SC2090
  printf -v CXGEN_UPLOAD_REPO 'type=bind,"source=%s",target=/cxgen/agent.git,readonly' "$AGENT_GIT_DIR"
  # shellcheck disable=SC2089,SC2090
  printf -v CXGEN_UPLOAD_PROJECT 'type=bind,"source=%s","target=%s",readonly' "$PROJECT_DIR/.git" "$PROJECT_GIT_INSIDE"
  CXGEN_UPLOAD_USER=$(agent_git_ids)
  # shellcheck disable=SC2090
  export CXGEN_UPLOAD_REPO CXGEN_UPLOAD_PROJECT CXGEN_UPLOAD_USER CXGEN_UPLOAD_IMAGE="$IMAGE"
  export CXGEN_UPLOAD_PULL="${PULL_ARGS[*]-}" CXGEN_UPLOAD_SCRIPT="$UPLOAD_PACK_SCRIPT"
  # shellcheck disable=SC2016 # expanded by the sh that git starts, from the environment
  UPLOAD_PACK='docker run --rm -i $CXGEN_UPLOAD_PULL --network none --cap-drop ALL --security-opt no-new-privileges --read-only --tmpfs /tmp --pids-limit 256 --memory 2g --label org.cxgen.fetch=1 --user "$CXGEN_UPLOAD_USER" --mount "$CXGEN_UPLOAD_REPO" --mount "$CXGEN_UPLOAD_PROJECT" --entrypoint sh "$CXGEN_UPLOAD_IMAGE" -c "$CXGEN_UPLOAD_SCRIPT" upload-pack'
  UPLOAD_URL=file:///cxgen/agent.git
}

# fetch_limits MAX_MB CMD...: CMD in the relay, with files of at most twice MAX_MB and at most
# MAX_MB + 1 GiB of memory: a pack of a few bytes can declare deltas of many gigabytes, which git
# would build in memory. (docker keeps your Docker config: git runs with the relay as HOME.)
readonly MAX_AGENT_BRANCHES=1000
fetch_limits() {
  local max_mb="$1"
  shift
  (cd "$RELAY_DIR" && { ulimit -S -f $((max_mb * 2048)) 2>/dev/null || true; } \
    && { ulimit -S -v $(((max_mb + 1024) * 1024)) 2>/dev/null || true; } \
    && DOCKER_CONFIG="${DOCKER_CONFIG:-${HOME:-/nonexistent}/.docker}" "$@")
}

too_many_branches() {
  die "fetch: the agent's repository has more than $MAX_AGENT_BRANCHES branches; nothing was fetched (delete some inside the sandbox)"
}

# list_agent_branches MAX_MB: RUN_TMP/refspecs, a refspec per branch of the agent's repository
# (at most MAX_AGENT_BRANCHES). A list that did not arrive whole (the agent can kill the
# upload-pack that answers) is a refusal, never an empty list.
list_agent_branches() {
  local ref count=0 status=0
  fetch_limits "$1" relay_git ls-remote --heads --upload-pack "$UPLOAD_PACK" "$UPLOAD_URL" \
    >"$RUN_TMP/heads" 2>"$RUN_TMP/heads.err" || status=$?
  if [ "$status" -ne 0 ]; then
    head -c 2000 "$RUN_TMP/heads.err" | printable >&2
    die "fetch: could not list the agent's branches (see above); nothing was fetched"
  fi
  while IFS=$'\t' read -r _ ref; do
    count=$((count + 1))
    [ "$count" -le "$MAX_AGENT_BRANCHES" ] || too_many_branches
    # Never a pattern (refs/heads/* would fetch every branch) nor anything git refuses in a name.
    case "$ref" in
      refs/heads/*[*:?[\\^~\ ]* | *..* | *@\{*) ;;
      refs/heads/?*) printf '+%s:refs/agent/%s\n' "$ref" "${ref#refs/heads/}"; continue ;;
    esac
    die "fetch: the agent's repository sent a malformed list of branches; nothing was fetched"
  done <"$RUN_TMP/heads" >"$RUN_TMP/refspecs"
}

# shown_names NAME...: SHOWN, the names as you could type them (any but plain ones quoted, so
# none is a command when pasted), and PLAIN_NAME, the first plain one (for the hint).
shown_names() {
  local name quoted LC_ALL=C
  SHOWN="" PLAIN_NAME=""
  for name in "$@"; do
    if [[ "$name" =~ ^[A-Za-z0-9._/@+-]+$ ]]; then
      quoted="$name"
      [ -n "$PLAIN_NAME" ] || PLAIN_NAME="$name"
    else
      printf -v quoted '%q' "$name"
    fi
    SHOWN="${SHOWN:+$SHOWN }$quoted"
  done
}

# warn_host_files BRANCH...: name every agent branch that changes files your host runs or obeys
# (this script, the sandbox's build context and answers, git's and direnv's settings, in any
# folder for those read in any; in any case, as a case-insensitive file system writes them):
# merged, they would run on your host, outside every sandbox.
# (Every branch fetched: at most MAX_AGENT_BRANCHES; the first 20 named, the rest counted.)
readonly HOST_FILES=(':(icase)run_in_container.sh' ':(icase).copier-answers.yml' ':(icase).codex'
  ':(icase).gitmodules' ':(icase).lfsconfig' ':(glob,icase)**/.gitattributes' ':(glob,icase)**/.envrc')
warn_host_files() {
  local branch changed named=0
  for branch in "$@"; do
    # A branch with no history in common with yours (an orphan): all of its files count.
    changed=$(git --git-dir="$PROJECT_DIR/.git" diff --no-ext-diff --no-textconv --name-only \
      "HEAD...refs/remotes/$branch" -- "${HOST_FILES[@]}" 2>/dev/null \
      || git --git-dir="$PROJECT_DIR/.git" diff --no-ext-diff --no-textconv --name-only \
        "$(git --git-dir="$PROJECT_DIR/.git" hash-object -t tree /dev/null)" "refs/remotes/$branch" \
        -- "${HOST_FILES[@]}" 2>/dev/null) || changed=""
    changed=$(printf '%s' "$changed" | printable | head -n 5)
    [ -n "$changed" ] || continue
    named=$((named + 1))
    shown_names "$branch"
    [ "$named" -gt 20 ] || say "warning: $SHOWN changes files that run on your host when merged: ${changed//$'\n'/, } (review them first)"
  done
  [ "$named" -le 20 ] || say "warning: $((named - 20)) more of the agent's branches change such files (review them first)"
}
