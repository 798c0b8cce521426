# shellcheck shell=bash
# Images.

# Sets KNOWN_IMAGES: "TAG PROJECT" lines, the image each of this user's projects (that still
# exist) used last, recorded in the state folder beside its accepted policy; and this project's
# current tag.
known_images() {
  local dir project image current
  KNOWN_IMAGES=""
  for dir in "$STATE_DIR/projects"/*/; do
    [ -f "$dir/image" ] && [ -f "$dir/policy" ] || continue
    IFS= read -r project <"$dir/policy" || continue
    IFS= read -r image <"$dir/image" || continue
    project="${project#project }"
    [ ! -d "$project" ] || KNOWN_IMAGES="$KNOWN_IMAGES$image $project"$'\n'
  done
  if current=$(context_hash "$SANDBOX_DIR" 2>/dev/null); then
    KNOWN_IMAGES="$KNOWN_IMAGES$IMAGE_REPO:$current $PROJECT_DIR"$'\n'
  fi
}

# image_users TAG: the projects (space separated) that use TAG.
image_users() {
  local line users=""
  while IFS= read -r line; do
    case "$line" in "$1 "*) case " $users " in *" ${line#* } "*) ;; *) users="$users ${line#* }" ;; esac ;; esac
  done <<<"$KNOWN_IMAGES"
  printf '%s' "${users# }"
}

# Which project uses the image now, for `images` (beside the accepted policy; per user).
record_image() {
  local recorded=""
  [ -n "${POLICY_DIR:-}" ] && [ -d "$POLICY_DIR" ] || return 0
  [ ! -f "$POLICY_DIR/image" ] || IFS= read -r recorded <"$POLICY_DIR/image" || true
  [ "$recorded" = "$IMAGE" ] || printf '%s\n' "$IMAGE" >"$POLICY_DIR/image" \
    || say "warning: cannot write $POLICY_DIR/image"
}

# image_builders LISTING: sets BUILDERS, "ID UID" lines: who built each image of the listing (its
# org.cxgen.builder label; images that older run scripts built have none).
image_builders() {
  local ids=() id _
  BUILDERS=""
  while IFS='|' read -r id _; do [ -z "$id" ] || ids+=("$id"); done <<<"$1"
  [ "${#ids[@]}" -gt 0 ] || return 0
  docker_query BUILDERS image inspect -f '{{.Id}} {{index .Config.Labels "org.cxgen.builder"}}' -- "${ids[@]}"
}

# image_builder ID: the uid that built image ID, or nothing when unknown.
image_builder() {
  local id builder
  while read -r id builder; do
    [ "$id" = "$1" ] || continue
    [[ ! "$builder" =~ ^[0-9]+$ ]] || printf '%s\n' "$builder"
    return 0
  done <<<"$BUILDERS"
}

# builder_name UID: you, uid N, or - (unknown).
builder_name() {
  case "$1" in
    "") printf -- '-\n' ;;
    "$EUID") printf 'you\n' ;;
    *) printf 'uid %s\n' "$1" ;;
  esac
}
