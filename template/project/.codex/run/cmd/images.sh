# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh images [--clean [--yes]]
# Summary: cxgen images, who built them, and the projects using them
# Options:
#   --clean              remove those you built that none of your projects needs (asks first);
#                        another user's, or one built before cxgen recorded its builder, is kept;
#                        your spare sandboxes that can no longer serve go first (see build --warm)
#   --yes                with --clean: no question

CMD_OPTIONS="--clean --yes"
CMD_WORDS=0
CMD_DASHES=
CMD_NEEDS="docker"

args_images() {
  [ "$YES" = no ] || [ "$CLEAN" = yes ] || die "images: --yes goes with --clean" "$EXIT_USAGE"
}

cmd_images() {
  local out id tag size age users
  out=$(docker image ls --no-trunc --filter label=org.cxgen.version --format '{{.ID}}|{{.Repository}}:{{.Tag}}|{{.Size}}|{{.CreatedSince}}' 2>&1) \
    || docker_failed "$out"
  known_images
  image_builders "$out"
  [ "$CLEAN" = no ] || { images_clean "$out"; return 0; }
  table_start
  table_row IMAGE SIZE CREATED "BUILT BY" "USED BY (your projects)"
  while IFS='|' read -r id tag size age; do
    case "$tag" in
      cxgen/*) ;;
      "<none>:<none>") tag="<none>@${id#sha256:}"; tag="${tag:0:19}" ;;
      *) continue ;;
    esac
    users=$(image_users "$tag")
    table_row "$tag" "$size" "$age" "$(builder_name "$(image_builder "$id")")" "${users:--}"
  done <<<"$out"
  table_print
}

# images_clean LISTING: removes the images you built that no project of yours needs and no
# container uses; says what it kept and why.
images_clean() {
  local id tag size age builder line used="" remove=() theirs=() unknown=() answer out
  spares_clean
  # Images of every container, running or stopped: never removed.
  line=$(docker ps -aq 2>&1) || docker_failed "$line"
  if [ -n "$line" ]; then
    # shellcheck disable=SC2086 # container ids: one word each
    used=$(docker container inspect -f '{{.Image}}' $line 2>/dev/null || true)
  fi
  while IFS='|' read -r id tag size age; do
    case "$tag" in cxgen/*) ;; "<none>:<none>") tag="$id" ;; *) continue ;; esac
    [ -z "$(image_users "$tag")" ] || continue
    case $'\n'"$used"$'\n' in *$'\n'"$id"$'\n'*) say "keeping $tag: a container uses it"; continue ;; esac
    builder=$(image_builder "$id")
    # An untagged image: no project can start it (they start tags).
    if [ "$builder" = "$EUID" ] || [ "$tag" = "$id" ]; then
      remove+=("$tag")
    elif [ -n "$builder" ]; then
      theirs+=("$tag")
    else
      unknown+=("$tag")
    fi
  done <<<"$1"
  [ "${#theirs[@]}" -eq 0 ] \
    || say "keeping ${#theirs[@]} image(s) other users of this machine built: their projects may need them (each user cleans their own): ${theirs[*]}"
  if [ "${#unknown[@]}" -gt 0 ]; then
    say "keeping ${#unknown[@]} image(s) built before cxgen recorded who builds them (another user's projects may need them); if none does, remove them with: docker rmi ${unknown[*]}"
  fi
  if [ "${#remove[@]}" -eq 0 ]; then
    say "no unused cxgen images of yours"
    return 0
  fi
  say "unused cxgen images you built (none of your projects builds them now, no container uses them):"
  printf '  %s\n' "${remove[@]}" >&2
  if [ "$YES" = no ]; then
    [ -t 0 ] && [ -t 2 ] || die "images --clean: no terminal to confirm the removal; pass --yes to remove them" "$EXIT_USAGE"
    printf 'cxgen: remove them? [y/N] ' >&2
    read -r answer || answer=""
    case "$answer" in y | Y | yes) ;; *) die "nothing removed" "$EXIT_USAGE" ;; esac
  fi
  images_seen_forget
  for tag in "${remove[@]}"; do
    if out=$(docker rmi -- "$tag" 2>&1); then
      say "removed $tag"
    else
      say "kept $tag: $(printf '%s' "$out" | head -n 1)"
    fi
  done
}
