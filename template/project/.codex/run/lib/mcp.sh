# shellcheck shell=bash
# Containerised MCP servers: their declaration, .codex/sandbox/mcp-servers.txt (how they run:
# lib/mcp_run.sh). It is part of the image's build context, so the image's tag and your approval
# cover it; a build checks it and labels the image with it (org.cxgen.mcp-servers), and a start
# reads it from that label: what starts is exactly what the tag stands for, never the file as
# it may be later.

readonly MCP_NAME_RE='^[a-z][a-z0-9-]{0,30}$'
# A server's argument: one plain word (no quoting in the file, nothing a shell would read).
readonly MCP_ARG_RE='^[A-Za-z0-9_@%+=:,./~-]{1,256}$'
readonly MCP_MAX_SERVERS=8 MCP_MAX_WORDS=64 MCP_MAX_BYTES=16384
readonly MCP_FILE=.codex/sandbox/mcp-servers.txt
MCP_NAMES=() MCP_TEXT=""

# mcp_parse TEXT SOURCE: the servers TEXT declares (SOURCE names it in errors), each checked,
# into MCP_NAMES, MCP_IMAGES, MCP_ARGS and MCP_DOMAINS (words, by index), and MCP_TEXT (the
# declaration as read, without comments). A bad line is a one-line error naming it.
mcp_parse() {
  local line words lineno=0 source="$2"
  MCP_NAMES=() MCP_IMAGES=() MCP_ARGS=() MCP_DOMAINS=() MCP_TEXT=""
  [ "${#1}" -le "$MCP_MAX_BYTES" ] || die "$source: over $MCP_MAX_BYTES bytes" "$EXIT_USAGE"
  while IFS= read -r line; do
    lineno=$((lineno + 1))
    # read -a splits without globbing; control characters stay in the words, and fail below.
    read -r -a words <<<"${line%%#*}" || true
    [ "${#words[@]}" -gt 0 ] || continue
    [ "${#words[@]}" -le "$MCP_MAX_WORDS" ] || mcp_bad "more than $MCP_MAX_WORDS words"
    case "${words[0]}" in
      server) mcp_server_line ;;
      allow) mcp_allow_line ;;
      *) mcp_bad "expected 'server NAME IMAGE [ARG...]' or 'allow NAME DOMAIN...'" ;;
    esac
    MCP_TEXT="$MCP_TEXT${words[*]}"$'\n'
  done <<<"$1"
}

# mcp_bad MESSAGE: the error for mcp_parse's line.
mcp_bad() { die "$source:$lineno: $1: $(printf '%q' "$line")" "$EXIT_USAGE"; }

mcp_server_line() {
  local arg
  [ "${#words[@]}" -ge 3 ] || mcp_bad "expected 'server NAME IMAGE [ARG...]'"
  [[ "${words[1]}" =~ $MCP_NAME_RE ]] \
    || mcp_bad "invalid server name (a lowercase letter, then up to 30 of a-z, 0-9 and -)"
  ! mcp_index "${words[1]}" || mcp_bad "server ${words[1]} is declared twice"
  [ "${#MCP_NAMES[@]}" -lt "$MCP_MAX_SERVERS" ] || mcp_bad "more than $MCP_MAX_SERVERS servers"
  [[ "${words[2]}" =~ $IMAGE_RE ]] || mcp_bad "invalid image reference (e.g. mcp/fetch or mcp/fetch@sha256:...)"
  for arg in "${words[@]:3}"; do
    [[ "$arg" =~ $MCP_ARG_RE ]] || mcp_bad "invalid argument (plain words of letters, digits and _@%+=:,./~-)"
  done
  MCP_NAMES+=("${words[1]}")
  MCP_IMAGES+=("${words[2]}")
  MCP_ARGS+=("${words[*]:3}")
  MCP_DOMAINS+=("")
}

mcp_allow_line() {
  local domain
  [ "${#words[@]}" -ge 3 ] || mcp_bad "expected 'allow NAME DOMAIN...'"
  mcp_index "${words[1]}" || mcp_bad "no server line above declares this name"
  for domain in "${words[@]:2}"; do
    [[ "$domain" =~ $DOMAIN_RE ]] || mcp_bad "invalid domain (expected example.com or *.example.com)"
  done
  MCP_DOMAINS[MCP_INDEX]="${MCP_DOMAINS[MCP_INDEX]:+${MCP_DOMAINS[MCP_INDEX]} }${words[*]:2}"
}

# mcp_index NAME: sets MCP_INDEX to NAME's among MCP_NAMES; false when it is not there.
mcp_index() {
  for ((MCP_INDEX = 0; MCP_INDEX < ${#MCP_NAMES[@]}; MCP_INDEX++)); do
    [ "${MCP_NAMES[MCP_INDEX]}" != "$1" ] || return 0
  done
  return 1
}

# mcp_context DIR: a build's declaration, from its checked copy of the build context; sets
# MCP_LABEL_ARGS, the label that carries it on the image.
mcp_context() {
  local text=""
  if [ -f "$1/mcp-servers.txt" ]; then
    IFS= read -r -d '' text <"$1/mcp-servers.txt" || true
  fi
  mcp_parse "$text" "$MCP_FILE"
  MCP_LABEL_ARGS=(--label "org.cxgen.mcp-servers=$MCP_TEXT")
}

# mcp_label FILE: the declaration from an image's label, as docker inspect printed it into FILE.
mcp_label() {
  local text=""
  [ ! -f "$1" ] || IFS= read -r -d '' text <"$1" || true
  text="${text%$'\n'}"
  [ "$text" != "<no value>" ] || text=""
  mcp_parse "$text" "the image's $MCP_FILE"
}

# What docker image inspect -f prints for an image's declaration (mcp_label reads it).
readonly MCP_LABEL_FORMAT='{{index .Config.Labels "org.cxgen.mcp-servers"}}'

# mcp_image_label IMAGE: the declaration of an image that was not built here (CODEX_DOCKER_IMAGE).
mcp_image_label() {
  make_run_tmp
  docker image inspect -f "$MCP_LABEL_FORMAT" -- "$1" >"$RUN_TMP/image-mcp" 2>/dev/null || true
  mcp_label "$RUN_TMP/image-mcp"
}
