# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh images [--clean [--yes]]
# Summary: cxgen images and the projects using them
# Options:
#   --clean              remove those none of your projects needs (asks first)
#   --yes                with --clean: no question

CMD_OPTIONS="--clean --yes"
CMD_WORDS=0
CMD_DASHES=
CMD_NEEDS="docker"

args_images() {
  [ "$YES" = no ] || [ "$CLEAN" = yes ] || die "images: --yes goes with --clean" "$EXIT_USAGE"
}

cmd_images() {
  local out id tag size age users used="" line remove=() answer
  out=$(docker image ls --no-trunc --filter label=org.cxgen.version --format '{{.ID}}|{{.Repository}}:{{.Tag}}|{{.Size}}|{{.CreatedSince}}' 2>&1) \
    || docker_failed "$out"
  known_images
  if [ "$CLEAN" = no ]; then
    printf '%-28s %-9s %-16s %s\n' IMAGE SIZE CREATED "USED BY (your projects)"
    while IFS='|' read -r id tag size age; do
      case "$tag" in
        cxgen/*) ;;
        "<none>:<none>") tag="<none>@${id#sha256:}"; tag="${tag:0:19}" ;;
        *) continue ;;
      esac
      users=$(image_users "$tag")
      printf '%-28s %-9s %-16s %s\n' "$tag" "$size" "$age" "${users:--}"
    done <<<"$out"
    return 0
  fi
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
    remove+=("$tag")
  done <<<"$out"
  if [ "${#remove[@]}" -eq 0 ]; then
    say "no unused cxgen images"
    return 0
  fi
  say "unused cxgen images (none of your projects builds them now, no container uses them):"
  printf '  %s\n' "${remove[@]}" >&2
  if [ "$YES" = no ]; then
    [ -t 0 ] && [ -t 2 ] || die "images --clean: no terminal to confirm the removal; pass --yes to remove them" "$EXIT_USAGE"
    printf 'cxgen: remove them? [y/N] ' >&2
    read -r answer || answer=""
    case "$answer" in y | Y | yes) ;; *) die "nothing removed" "$EXIT_USAGE" ;; esac
  fi
  for tag in "${remove[@]}"; do
    if out=$(docker rmi -- "$tag" 2>&1); then
      say "removed $tag"
    else
      say "kept $tag: $(printf '%s' "$out" | head -n 1)"
    fi
  done
}
