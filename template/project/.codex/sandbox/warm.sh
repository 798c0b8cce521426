# shellcheck shell=bash
# Warm starts (the entrypoint's): a spare is a sandbox started ahead of its session, whose setup
# (firewall in force and proven, resolver, relay) is done and which waits, running nothing of an
# agent's; the run script's next start with the same configuration claims it with docker exec
# instead of docker run (see the run script's lib/warm.sh). Each spare serves one session only.

# In the firewall's own folder (its account's: closed to the agent, even as uid 0): written once
# the spare's setup is done, the pid of its wait (spare_idle); the claim's mark; the pid of the
# session's command.
readonly SPARE_READY="$FW_RUN_DIR/spare-ready" SPARE_CLAIMED="$FW_RUN_DIR/spare-claimed"
readonly SPARE_COMMAND="$FW_RUN_DIR/spare-command"

# spare_idle: the spare waits here (the entrypoint's own process, init's child) for a session to
# claim it. No process, no CPU: a read that never ends on a FIFO nothing else holds. When the
# session is over, the claim ends this wait, so the container stops and Docker removes it.
# docker stop's TERM (init forwards it here) goes on to the session's command, as init passes it
# to a docker run's command; an unclaimed spare just ends.
spare_idle() {
  local fifo="$FW_RUN_DIR/spare-wait" fd
  rm -f "$fifo"
  mkfifo -m 0600 "$fifo"
  exec {fd}<>"$fifo"
  rm -f "$fifo"
  trap 'spare_stopped' TERM INT
  printf '%s\n' "$$" >"$SPARE_READY"
  while :; do read -r -u "$fd" _ || true; done
}

spare_stopped() {
  local pid=""
  [ -d "$SPARE_CLAIMED" ] || exit 0
  IFS= read -r pid <"$SPARE_COMMAND" 2>/dev/null || true
  [[ ! "$pid" =~ ^[1-9][0-9]*$ ]] || kill -TERM "$pid" 2>/dev/null || true
}

# spare_ready_wait: the run script's check that its new spare is ready (docker exec,
# CXGEN_CLAIM=ready): waits for the setup to be done; a failed setup ends the container, and
# with it this wait.
spare_ready_wait() {
  local i
  pause_open
  for ((i = 0; i < 6000; i++)); do
    [ ! -s "$SPARE_READY" ] || exit 0
    pause 0.01
  done
  fw_fail "the spare's setup did not finish within a minute"
}

# pause_open, then pause SECONDS: a pause without a fork, a read that times out on a pipe that
# only this process holds (both ends: it never ends; no name in any folder).
pause_open() { exec {PAUSE_FD}<> <(:); }
pause() { read -r -t "$1" -u "$PAUSE_FD" _ || true; }

# claim CMD...: a session in this spare (docker exec, CXGEN_CLAIM=1, as root). What the
# entrypoint does after its setup is done here: the agent's account, the init hooks, the
# diagnostic's findings; then CMD runs as the agent, like docker run's. When it is over, every
# other process in the container is ended (nothing of the agent's outlives its command, as
# with docker run, whose container ends with it), then the spare's wait, once this process is
# gone, so the container stops.
claim() {
  local status=0
  [ -s "$SPARE_READY" ] || fw_fail "this spare sandbox is not ready"
  mkdir "$SPARE_CLAIMED" 2>/dev/null || fw_fail "this spare sandbox served a session already"
  trap 'claim_over' EXIT
  unset CXGEN_CLAIM CXGEN_SPARE
  agent_ids
  export HOME="${SANDBOX_ENV_DIR:-/tmp/cxgen-env}/home"
  [ -d "$HOME" ] || export HOME=/tmp
  cd "${CXGEN_WORKDIR:-$PWD}" || fw_fail "no work dir ${CXGEN_WORKDIR:-}"
  claim_host_addresses
  claim_said
  # (The command sees this machine's addresses as a docker run now would have given them.)
  export CXGEN_HOST_ADDRESSES="${CXGEN_CLAIM_HOST_ADDRESSES:-${CXGEN_HOST_ADDRESSES:-}}"
  unset CXGEN_CLAIM_HOST_ADDRESSES
  run_hooks
  claim_findings
  trap - ERR
  # Signals reach the command (its terminal's, docker stop's through spare_stopped): this shell
  # waits for it to end, in the foreground (a job would ignore ^C). Its pid is the subshell's,
  # which execs it. (SHLVL as an exec would leave it, as docker run's command has it.)
  trap ':' INT TERM QUIT HUP
  export SHLVL=$((${SHLVL:-1} - 1))
  (
    printf '%s\n' "$BASHPID" >"$SPARE_COMMAND"
    exec "${AS_AGENT[@]}" "$@"
  ) || status=$?
  exit "$status"
}

# claim_said: what the entrypoint says at a start about the firewall (said in the spare, where
# no one reads it), said again to this session.
claim_said() {
  [ "${CXGEN_LOCKDOWN:-off}" != on ] \
    || log "lockdown is on for this project: nothing leaves the sandbox (./run_in_container.sh lockdown off --save lifts it)"
}

# claim_host_addresses: this machine's own addresses as the claiming start found them
# (CXGEN_CLAIM_HOST_ADDRESSES) are refused too, besides those the spare was started with: one
# that came since (a network joined, a VPN) is added before the command runs. (One that went
# stays refused, which costs nothing.)
claim_host_addresses() {
  local list
  [ "${CXGEN_CLAIM_HOST_ADDRESSES:-}" != "${CXGEN_HOST_ADDRESSES:-}" ] || return 0
  # (Checked and sorted into FW_HOST4 and FW_HOST6 as the firewall's own list is.)
  CXGEN_HOST_ADDRESSES="${CXGEN_CLAIM_HOST_ADDRESSES:-}" fw_host_addresses
  if [ "${#FW_HOST4[@]}" -gt 0 ]; then
    fw_join list "${FW_HOST4[@]}"
    nft add element inet "$FW_TABLE" never4 "{ $list }" || fw_fail "could not refuse this machine's addresses"
  fi
  if [ "${#FW_HOST6[@]}" -gt 0 ]; then
    fw_join list "${FW_HOST6[@]}"
    nft add element inet "$FW_TABLE" never6 "{ $list }" || fw_fail "could not refuse this machine's addresses"
  fi
}

# claim_findings: the allowed names' diagnostic, which ran in the spare: its findings now, or,
# still running, as the entrypoint shows them (on a terminal if done within DIAGNOSE_GRACE;
# otherwise on stderr once done, beside the command).
claim_findings() {
  local i
  if [ ! -e "$FW_DIAGNOSTIC.part" ] || [ -e "$FW_DIAGNOSTIC" ]; then
    show_findings
  elif [ -t 2 ]; then
    pause_open
    for ((i = 0; i < 30; i++)); do
      [ ! -e "$FW_DIAGNOSTIC" ] || break
      pause 0.01
    done
    if [ -e "$FW_DIAGNOSTIC" ]; then
      show_findings
    else
      log "the allowed names are still being looked up (a slow or unreachable DNS server?): ./run_in_container.sh denied shows any that do not resolve"
    fi
  else
    (
      trap - ERR
      set +e
      pause_open
      while [ ! -e "$FW_DIAGNOSTIC" ]; do pause 0.05; done
      show_findings
    ) </dev/null >/dev/null &
  fi
}

# claim_over: every process but init, this one and the spare's wait is stopped, then killed
# (stopped first: none can fork meanwhile), and the wait ends once this process has: its end
# closes the pipe the ender reads.
claim_over() {
  local pid idle="" proc
  IFS= read -r idle <"$SPARE_READY" || true
  kill -STOP -1 2>/dev/null || true
  for proc in /proc/[0-9]*; do
    pid="${proc#/proc/}"
    [ "$pid" = 1 ] || [ "$pid" = "$$" ] || [ "$pid" = "$idle" ] || kill -KILL "$pid" 2>/dev/null || true
  done
  [ -n "$idle" ] || return 0
  exec {proc}> >(exec >/dev/null 2>&1; read -r _ || true; kill -KILL "$idle")
}
