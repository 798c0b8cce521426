# shellcheck shell=bash
# The project's lockdown (lockdown on --save): nothing leaves any sandbox of this project until
# lockdown off --save. Recorded beside the accepted policy, in this user's state outside every
# project and never mounted into a sandbox: the agent can neither see nor change it. A new
# session gets it as CXGEN_LOCKDOWN, which the entrypoint (root) puts in the first ruleset it
# loads, before the command runs; running sessions get it at once (cxgen-ctl lockdown on
# project); a kept session before attach starts it again (lockdown_kept).

# Sets LOCKDOWN_FILE: the project's lockdown, on while the file is there.
lockdown_file() {
  [ -n "${POLICY_KEY:-}" ] || policy_key
  LOCKDOWN_FILE="$STATE_DIR/projects/$POLICY_KEY/lockdown"
}

project_locked_down() {
  lockdown_file
  [ -e "$LOCKDOWN_FILE" ] || [ -L "$LOCKDOWN_FILE" ]
}

# lockdown_start: sets LOCKDOWN (on, off), the project's lockdown, for a session about to start
# (checked early, and again just before the container is made); what would lift it is refused.
lockdown_start() {
  LOCKDOWN=off
  project_locked_down || return 0
  LOCKDOWN=on
  local lift="lift it first with ./run_in_container.sh lockdown off --save (lockdown on --save puts it back)"
  [ "$FIREWALL" = on ] || die "lockdown is on for this project: --no-firewall would lift it; $lift" "$EXIT_USAGE"
  [ "$LEARN" = no ] || die "lockdown is on for this project: exec --learn needs open network; $lift" "$EXIT_USAGE"
  if [ "$LOGIN" = yes ] && [ "$LOGIN_MODE" != api-key ]; then
    die "lockdown is on for this project, and this sign-in needs the network: use login --with-api-key (it needs none), or $lift" "$EXIT_USAGE"
  fi
  # (Checked twice: said once.)
  if [ "${#PORTS[@]}" -gt 0 ] && [ -z "${LOCKDOWN_WARNED:-}" ]; then
    LOCKDOWN_WARNED=yes
    say "warning: lockdown is on for this project: --port's ports will not answer (nothing leaves the sandbox, replies neither)"
  fi
  if [ "${#HOST_PORTS[@]}" -gt 0 ] && [ -z "${LOCKDOWN_HOST_WARNED:-}" ]; then
    LOCKDOWN_HOST_WARNED=yes
    say "warning: lockdown is on for this project: --host-port's ports stay closed (nothing leaves the sandbox)"
  fi
}

# lockdown_save on|off: record the project's lockdown, then put it in force (or lift it) in each
# running session of the project.
lockdown_save() {
  local failed=() out
  lockdown_file
  if [ "$1" = on ]; then
    { mkdir -p "${LOCKDOWN_FILE%/*}" && printf 'on\n' >"$LOCKDOWN_FILE"; } || die "cannot write $LOCKDOWN_FILE"
  else
    rm -f "$LOCKDOWN_FILE" || die "cannot remove $LOCKDOWN_FILE"
  fi
  running_sessions
  for SESSION in ${SESSIONS[@]+"${SESSIONS[@]}"}; do
    if out=$(ctl lockdown "$1" project); then
      say "lockdown $1 in $SESSION"
    else
      printf '%s\n' "$out" >&2
      failed+=("$SESSION")
    fi
  done
  if [ "$1" = on ]; then
    say "lockdown is on for this project: every new session starts locked down until ./run_in_container.sh lockdown off --save"
    [ "${#failed[@]}" -eq 0 ] \
      || die "lockdown is not in force in ${failed[*]} (see above); stop it: ./run_in_container.sh stop NAME"
  else
    say "lockdown is off for this project: new sessions start with the allowlist"
    [ "${#failed[@]}" -eq 0 ] || die "lockdown off failed in ${failed[*]} (see above)"
  fi
}

# lockdown_kept NAME: the kept session NAME starts again under the project's lockdown as it is
# now, not as it was when NAME was made: written into its firewall's state (docker cp into the
# stopped container), which its entrypoint reads first. When the lockdown is on and that cannot
# hold (a session without firewall, or made by a cxgen before this one), attach is refused.
lockdown_kept() {
  local state=off info
  ! project_locked_down || state=on
  if [ "$state" = on ]; then
    docker_query info container inspect -f '{{index .Config.Labels "org.cxgen.lockdown"}}{{println}}{{range .Config.Env}}{{println .}}{{end}}' -- "$1"
    case "${info%%$'\n'*}" in on | off) ;; *)
      die "lockdown is on for this project, and session $1 was made by an older cxgen, which cannot start it locked down; destroy it (./run_in_container.sh destroy $1) and start a new one, or lift the lockdown (lockdown off --save)" "$EXIT_USAGE" ;;
    esac
    case "$info"$'\n' in *$'\n'CXGEN_FIREWALL=off$'\n'*)
      die "lockdown is on for this project, and session $1 has no firewall (--no-firewall); destroy it (./run_in_container.sh destroy $1) and start a new one, or lift the lockdown (lockdown off --save)" "$EXIT_USAGE" ;;
    esac
  fi
  make_run_tmp
  printf '%s\n' "$state" >"$RUN_TMP/project-lockdown"
  if ! docker cp "$RUN_TMP/project-lockdown" "$1:/var/lib/cxgen/project-lockdown" >/dev/null 2>&1 && [ "$state" = on ]; then
    die "lockdown is on for this project, and it could not be written into session $1 before it starts (docker cp failed); destroy it (./run_in_container.sh destroy $1) and start a new one"
  fi
}
