# shellcheck shell=bash
# Images a session start of yours found: the next start of the same tag asks Docker nothing
# before its docker run (each docker CLI call costs a start tens of milliseconds). One removed
# since (docker image prune, images --clean) fails that docker run; the start then builds it and
# starts again (image_gone). A record per tag in your state folder (the agent cannot write it),
# holding the image's MCP label as docker image inspect printed it.
readonly IMAGES_SEEN_DIR="$STATE_DIR/images-seen"
IMAGE_SEEN=no IMAGE_SEEN_FILE=""

# image_seen: true when IMAGE_REPO:CONTEXT_HASH has a record (sets IMAGE_SEEN, and
# IMAGE_SEEN_FILE either way). Only for a start whose docker run is the image's first use (the
# one image_gone recovers): not git=track's (its snapshot runs the image first), nor learn's.
image_seen() {
  IMAGE_SEEN_FILE="$IMAGES_SEEN_DIR/${IMAGE_REPO//[!A-Za-z0-9._-]/_}_$CONTEXT_HASH"
  [ "$GIT_MODE" != track ] && [ "$LEARN" = no ] || return 1
  [ -f "$IMAGE_SEEN_FILE" ] && [ ! -L "$IMAGE_SEEN_FILE" ] && [ ! -L "$IMAGES_SEEN_DIR" ] || return 1
  IMAGE_SEEN=yes
}

# image_seen_trusted: after mcp_label read the record, true unless the image declares MCP servers
# (their containers start before docker run: such a start asks Docker).
image_seen_trusted() {
  [ "${#MCP_NAMES[@]}" -eq 0 ] && return 0
  IMAGE_SEEN=no
  return 1
}

# image_seen_record: the inspected image's record (RUN_TMP/image-mcp), for a start that looked
# for one; only in a folder of yours.
image_seen_record() {
  local tmp="$IMAGE_SEEN_FILE.$$"
  [ -n "$IMAGE_SEEN_FILE" ] || return 0
  own_state_folder "$IMAGES_SEEN_DIR" || return 0
  if ! { cp -- "$RUN_TMP/image-mcp" "$tmp" && mv -f -- "$tmp" "$IMAGE_SEEN_FILE"; } 2>/dev/null; then
    rm -f -- "$tmp"
  fi
}

# image_gone: after a docker run that did not start (125), when the image came from its record:
# true when it is gone from Docker; then its record is too, and it is built again.
image_gone() {
  [ "$IMAGE_SEEN" = yes ] || return 1
  ! docker image inspect -- "$IMAGE" >/dev/null 2>&1 || return 1
  rm -f -- "$IMAGE_SEEN_FILE"
  IMAGE_SEEN=no IMAGE_SEEN_FILE=""
  say "the image $IMAGE is gone from Docker since the last start; building it again"
  ensure_image
}

# images_seen_forget: no record at all (images --clean removed images).
images_seen_forget() { [ ! -d "$IMAGES_SEEN_DIR" ] || rm -rf -- "$IMAGES_SEEN_DIR"; }
