#!/usr/bin/env bash
# cxgen sandbox entrypoint. Starts as root, puts the egress firewall in force and proves it,
# then drops to the host user's uid for good (no capabilities, no-new-privs) and execs the
# command. Any failure before that stops the container: the command never runs unprotected.
#
# Environment (set by run_in_container.sh):
#   CXGEN_UID, CXGEN_GID           the host user's ids; uid 0 is root mode (see agent_ids)
#   CXGEN_ALLOWED_DOMAINS          allowed domains, separated by spaces
#   CXGEN_PRIVATE_DESTINATIONS     deny | allowed-names
#   CXGEN_HOST_ADDRESSES           the Docker host's own addresses, always denied
#   CXGEN_FIREWALL                 on | off (off only through --no-firewall)
#   CXGEN_LOCKDOWN                 on | off: the project's saved lockdown (lockdown on --save) when
#                                  the container was made; on: nothing leaves from the start on
#                                  (see fw_load_state)
#   CXGEN_LEARN                    1: learn mode (exec --learn): every name resolves and every
#                                  address is reachable, all recorded; the report is written to
#                                  /var/lib/cxgen/learned when the command ends. The command
#                                  gets an empty home and caches of its own (learn_env)
#   CXGEN_WORKDIR                  the working directory inside the container
#   SANDBOX_ENV_DIR                the project's agent home (.codex/.environment)
#   CXGEN_INIT_HOOK                1: run the project's init hook ($SANDBOX_ENV_DIR/init.sh,
#                                  mounted read-only by the run script)
#   CXGEN_INIT_SCRIPT              an extra script to run before the command (optional)
#   CXGEN_LOGIN_BRIDGE             "PORT ADDRESS": an agent's sign-in callback server listens on
#                                  ADDRESS:PORT inside; bridge Docker's published PORT (one of
#                                  CXGEN_PORTS, which the firewall lets the Docker host reach) to it
#   CXGEN_PORTS                    container ports published with --port (the Docker host may connect)
#   CXGEN_DOCKER_GATEWAY           the network's IPv4 gateway: the Docker host's address there, where
#                                  Docker's publishing connects from, and host.docker.internal
#                                  (unset: the default route's, on a default bridge naming none)
#   CXGEN_HOST_PORTS               TCP ports of the Docker host the sandbox may reach at
#                                  CXGEN_DOCKER_GATEWAY (--host-port, the host_ports answer)
#   CXGEN_RELAY_ROUTES             the API relay's hosts (see relay.sh), whose keys stay outside
# and from `docker run`: NET_ADMIN, and --sysctl net.ipv4.ip_unprivileged_port_start=1024 (the
# self-check refuses Docker's default, 0, with which the agent could pose as the resolver).
set -Eeuo pipefail

readonly EXIT_SETUP_FAILED=78
readonly FALLBACK_UID=1000
# shellcheck source=SCRIPTDIR/firewall.sh
. /usr/local/lib/cxgen/firewall.sh

# mkfifo and sleep as bash's own loadable builtins (Debian's bash-builtins), where the image has
# them: a start forks fewer programs (each one costs milliseconds, more on storage drivers such
# as fuse-overlayfs). Without them, the programs do the same. (sleep: with the helpers.)
enable -f /usr/lib/bash/mkfifo mkfifo 2>/dev/null || true

# helpers_loaded: the relay's and the warm start's functions, and the sleep builtin. Loaded once
# the firewall's rules are loading (the longest step of a start), or before a claim.
helpers_loaded() {
  enable -f /usr/lib/bash/sleep sleep 2>/dev/null || true
  # shellcheck source=SCRIPTDIR/relay.sh
  . /usr/local/lib/cxgen/relay.sh
  # shellcheck source=SCRIPTDIR/warm.sh
  . /usr/local/lib/cxgen/warm.sh
}

log() { printf 'cxgen-sandbox: %s\n' "$*" >&2; }
fw_warn() { log "warning: $*"; }
fw_fail() { log "error: $* (nothing was started)"; exit "$EXIT_SETUP_FAILED"; }
trap 'fw_fail "sandbox setup failed at line $LINENO"' ERR

# The agent's uid and gid: the host user's, so files it writes belong to that user.
# Root mode (uid 0: you are root and the project is root's): the agent is uid 0 with no
# capabilities, in a group other than root's (the firewall tells Docker's DNS server, uid and gid
# root, from it by that), on a read-only root filesystem (else the image's root-owned files, run
# later by root's own tools, would be its to change), and unable to make setuid files (they
# would be root's on your host).
agent_ids() {
  local uid="${CXGEN_UID:-$FALLBACK_UID}" gid="${CXGEN_GID:-$FALLBACK_UID}"
  [[ "$uid" =~ ^[0-9]+$ && "$gid" =~ ^[0-9]+$ ]] || fw_fail "CXGEN_UID/CXGEN_GID must be numbers"
  # (The relay's account: agent_ids_checked, once its code is loaded.)
  service_account "$FW_DNS_USER" resolver "$uid"
  service_account "$FW_OWNER" firewall "$uid"
  AGENT_UID=$uid
  AGENT_GID=$gid
  # Drop to the agent for good: no capabilities in any set, no way to regain privileges.
  AS_AGENT=(setpriv --reuid "$uid" --regid "$gid" --clear-groups
    --inh-caps=-all --bounding-set=-all --no-new-privs)
  if [ "$uid" -eq 0 ]; then
    [ "$gid" -ne 0 ] || fw_fail "root mode: the agent's group must not be root's (CXGEN_GID=0)"
    [ ! -w / ] || fw_fail "root mode needs a read-only root filesystem (docker run --read-only; run_in_container.sh passes it)"
    command -v perl >/dev/null || fw_fail "root mode needs perl in the image (Debian's perl-base) for its setuid guard"
    FW_REDIRECT_DNS=yes
    # resolv.conf is Docker's here, without the quick retries ours has.
    export RES_OPTIONS="${RES_OPTIONS:-attempts:2 timeout:2}"
    # uid 0 never regains capabilities by exec, and the seccomp guard runs before the command.
    AS_AGENT+=("--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked" --
      perl /usr/local/lib/cxgen/no-setuid.pl)
  else
    AS_AGENT+=(--)
  fi
}

# agent_ids_checked: the rest of agent_ids' work, done while the rules load: the agent is not the
# relay's account; in root mode, /dev is out of its reach.
agent_ids_checked() {
  local node nodes=()
  service_account "$RELAY_USER" relay "$AGENT_UID"
  [ "$AGENT_UID" -eq 0 ] || return 0
  # /dev is Docker's, root's: uid 0 could put its own /dev/null there for root's tools, or
  # chmod its nodes. (Not the terminals: the agent must keep reopening its own.)
  for node in /dev /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/shm /dev/mqueue; do
    [ ! -e "$node" ] || nodes+=("$node")
  done
  chown -h "$FW_OWNER" "${nodes[@]}"
}

# service_account USER WHAT UID: the image has USER, the WHAT's own account (resolver, firewall,
# relay), and the agent's UID is not its: the agent must never be one of them.
service_account() {
  account_id /etc/passwd name "$1" || fw_fail "the $2's user $1 is missing from the image; rebuild it"
  [ "$3" -ne "$ACCOUNT_ID" ] || fw_fail "uid $3 is the $2's; run as another user"
}

# account_id FILE name|id VALUE: the line of FILE (/etc/passwd or /etc/group) with that name or
# id exists; sets ACCOUNT_ID to its id. Each file is read once, by bash itself (the image's
# accounts are files): every fork, and every read of a line, costs start-up time.
account_id() {
  local line name id rest
  ACCOUNT_ID=""
  accounts_read "$1"
  for line in ${ACCOUNT_LINES[@]+"${ACCOUNT_LINES[@]}"}; do
    name="${line%%:*}" rest="${line#*:}"
    rest="${rest#*:}"
    id="${rest%%:*}"
    if { [ "$2" = name ] && [ "$name" = "$3" ]; } || { [ "$2" = id ] && [ "$id" = "$3" ]; }; then
      ACCOUNT_ID="$id"
      return 0
    fi
  done
  return 1
}

# accounts_read FILE: sets ACCOUNT_LINES to FILE's lines, read once per file (agent_account
# appends through account_added, which keeps the copy current).
PASSWD_LINES=() GROUP_LINES=() ACCOUNT_LINES=()
accounts_read() {
  case "$1" in
    /etc/passwd)
      [ "${#PASSWD_LINES[@]}" -gt 0 ] || mapfile -t PASSWD_LINES <"$1"
      ACCOUNT_LINES=(${PASSWD_LINES[@]+"${PASSWD_LINES[@]}"}) ;;
    /etc/group)
      [ "${#GROUP_LINES[@]}" -gt 0 ] || mapfile -t GROUP_LINES <"$1"
      ACCOUNT_LINES=(${GROUP_LINES[@]+"${GROUP_LINES[@]}"}) ;;
    *) mapfile -t ACCOUNT_LINES <"$1" ;;
  esac
}

# passwd/group entries so tools that look the user up work; HOME in the project's agent home.
agent_account() {
  local home="$1"
  account_id /etc/group id "$AGENT_GID" || printf 'agent:x:%s:\n' "$AGENT_GID" >>/etc/group
  account_id /etc/passwd id "$AGENT_UID" \
    || printf 'agent:x:%s:%s:agent:%s:/bin/bash\n' "$AGENT_UID" "$AGENT_GID" "$home" >>/etc/passwd
  PASSWD_LINES=() GROUP_LINES=()
}

# agent_home ENV_DIR: sets AGENT_HOME, the agent's home in the agent home (the run script made
# it, as the agent; made here, as the agent, only when missing; /tmp when that fails), and
# gives the agent an account there.
AGENT_HOME=""
agent_home() {
  AGENT_HOME="$1/home"
  [ -d "$AGENT_HOME" ] || "${AS_AGENT[@]}" mkdir -p "$AGENT_HOME" 2>/dev/null || AGENT_HOME=/tmp
  agent_account "$AGENT_HOME"
}

# Sets CURRENT_UMASK from the kernel's view of this shell ($(umask) would fork).
current_umask() {
  local key value
  CURRENT_UMASK=0022
  while read -r key value; do
    if [ "$key" = "Umask:" ]; then CURRENT_UMASK="$value"; return 0; fi
  done <"/proc/$$/status"
}

# The allowed names' diagnostic (fw_diagnose) runs beside the command, never before it: waiting
# for every name to resolve protects nothing (an address the resolver did not learn is refused).
# Its findings are kept in FW_DIAGNOSTIC (`denied` shows them) and shown on stderr, but never
# across the command's screen: without a terminal when it is done; on a terminal (a line written
# into a full-screen agent would garble it) only before the command starts, if they are ready by
# then (show_diagnostic). Without a terminal it starts DIAGNOSE_DELAY seconds late: it does not
# compete with the command's own start, and a command that is over by then leaves no lookup in
# flight (Docker's embedded DNS holds a container's end until its forwarded queries are answered
# or time out). On a terminal it starts at once, and the start waits for it DIAGNOSE_GRACE
# seconds at most: a working resolver answers well within that; a slow or dead one (whose
# lookups time out after seconds) no longer holds the prompt back.
readonly DIAGNOSE_DELAY=0.5 DIAGNOSE_GRACE=0.3
DIAGNOSE_FD=""
start_diagnostic() {
  local fifo="$FW_RUN_DIR/diagnosed"
  [ "$#" -gt 0 ] || return 0
  # Detached (its parent exits at once, init reaps it), errors never stop anything, and stdout
  # stays the command's.
  if [ ! -t 2 ]; then
    # (Pending from now on: the session that claims a spare waits for it, claim_findings.)
    : >"$FW_DIAGNOSTIC.part"
    ( trap - ERR; set +e; { sleep "$DIAGNOSE_DELAY"; diagnose "$@" && show_findings; } >/dev/null & )
    return 0
  fi
  # It says "done" into a pipe that only it and this script hold (a FIFO opened read-write by
  # both never blocks either; its name is gone at once).
  rm -f "$fifo"
  mkfifo -m 0600 "$fifo"
  exec {DIAGNOSE_FD}<>"$fifo"
  rm -f "$fifo"
  ( trap - ERR; set +e; { diagnose "$@"; printf 'done\n' >&"$DIAGNOSE_FD"; } </dev/null >/dev/null 2>&1 & )
}

# diagnose DOMAIN...: fw_diagnose's findings into FW_DIAGNOSTIC, whole or not at all (while it
# runs, FW_DIAGNOSTIC.part says so).
diagnose() {
  fw_diagnose "$@" 2>"$FW_DIAGNOSTIC.part"
  mv -f "$FW_DIAGNOSTIC.part" "$FW_DIAGNOSTIC"
}

# FW_DIAGNOSTIC's lines on stderr (none when it could not be written: never an error).
show_findings() {
  local line
  [ -s "$FW_DIAGNOSTIC" ] || return 0
  while IFS= read -r line; do printf '%s\n' "$line" >&2; done <"$FW_DIAGNOSTIC"
}

# On a terminal, just before the command: the diagnostic's findings if it is done within
# DIAGNOSE_GRACE seconds, else a line saying where they will be. The command inherits no pipe.
show_diagnostic() {
  local _done
  [ -n "$DIAGNOSE_FD" ] || return 0
  if read -r -t "$DIAGNOSE_GRACE" -u "$DIAGNOSE_FD" _done; then
    show_findings
  else
    log "the allowed names are still being looked up (a slow or unreachable DNS server?): ./run_in_container.sh denied shows any that do not resolve"
  fi
  exec {DIAGNOSE_FD}<&-
  DIAGNOSE_FD=""
}

# login_bridge PORT ADDRESS: Docker publishes PORT to this container's own address, while the
# agent's callback server listens on loopback (ADDRESS, 127.0.0.1 or ::1): forward one to the
# other, as the agent.
login_bridge() {
  local port="$1" address="$2" target ip
  [[ "$port" =~ ^[0-9]+$ ]] || fw_fail "CXGEN_LOGIN_BRIDGE: bad port '$port'"
  case "$address" in
    127.0.0.1) target="TCP4:127.0.0.1:$port" ;;
    ::1) target="TCP6:[::1]:$port" ;;
    *) fw_fail "CXGEN_LOGIN_BRIDGE: bad address '$address'" ;;
  esac
  command -v socat >/dev/null || fw_fail "socat is missing from the image; rebuild it (./run_in_container.sh build)"
  for ip in $(ip -4 -o addr show scope global | awk '{ split($4, a, "/"); print a[1] }'); do
    "${AS_AGENT[@]}" socat "TCP4-LISTEN:$port,bind=$ip,reuseaddr,fork" "$target" </dev/null &
  done
}

run_hook() {
  local hook="$1"
  [ -n "$hook" ] && [ -f "$hook" ] || return 0
  log "running init hook $hook"
  # Its output goes to stderr: stdout belongs to the command (exec -- cat x | jq).
  "${AS_AGENT[@]}" bash "$hook" >&2 || fw_fail "init hook $hook failed"
}

main() {
  [ "$EUID" -eq 0 ] || fw_fail "the entrypoint must start as root; it drops privileges itself"
  [ "$#" -gt 0 ] || set -- bash -l
  # A session in a spare, or the run script waiting for one (docker exec; see warm.sh).
  case "${CXGEN_CLAIM:-}" in
    1) helpers_loaded; claim "$@" ;;
    ready) helpers_loaded; spare_ready_wait ;;
  esac
  agent_ids
  local workdir="${CXGEN_WORKDIR:-$PWD}" env_dir="${SANDBOX_ENV_DIR:-/tmp/cxgen-env}"
  local agent_umask
  FW_DOMAINS=()
  read -r -a FW_DOMAINS <<<"${CXGEN_ALLOWED_DOMAINS:-}"
  if [ "${CXGEN_FIREWALL:-on}" = "off" ]; then
    log "WARNING: firewall disabled (--no-firewall): the agent has unrestricted network access"
    helpers_loaded
    agent_ids_checked
  else
    # What the firewall writes (rules, resolver config, lookups, state) is root's alone.
    current_umask
    agent_umask="$CURRENT_UMASK"
    umask 077
    [ "${CXGEN_LEARN:-0}" != 1 ] || FW_LEARN=yes
    # The project's lockdown, and after a `docker restart` the domains allowed live and this
    # session's lockdown: in force before anything else runs (the first ruleset loaded holds them).
    fw_load_state
    fw_setup "${CXGEN_PRIVATE_DESTINATIONS:-deny}" ${FW_DOMAINS[@]+"${FW_DOMAINS[@]}"}
    # While the rules load and the resolver starts: nothing here runs anything of the agent's.
    helpers_loaded
    agent_ids_checked
    umask "$agent_umask"
    agent_home "$env_dir"
    umask 077
    fw_setup_wait
    if [ "$FW_LOCKDOWN_BY" = project ]; then
      log "lockdown is on for this project: nothing leaves the sandbox (./run_in_container.sh lockdown off --save lifts it)"
      fw_selfcheck
    elif [ "$FW_LOCKDOWN" = on ]; then
      log "lockdown is on: nothing leaves the sandbox (./run_in_container.sh lockdown off)"
      fw_selfcheck
    elif [ "$FW_LEARN" = yes ]; then
      log "WARNING: learn mode (--learn): the command has OPEN network access; every name and address it uses is recorded"
      fw_selfcheck
    else
      fw_selfcheck
      start_diagnostic ${FW_DOMAINS[@]+"${FW_DOMAINS[@]}"}
    fi
    fw_log_reader_start
    umask "$agent_umask"
  fi
  relay_start
  # shellcheck disable=SC2086 # "PORT ADDRESS", both checked
  [ -z "${CXGEN_LOGIN_BRIDGE:-}" ] || login_bridge ${CXGEN_LOGIN_BRIDGE}
  trap - ERR
  [ -n "$AGENT_HOME" ] || agent_home "$env_dir"
  export HOME="$AGENT_HOME" SANDBOX_ENV_DIR="$env_dir"
  [ "$FW_LEARN" != yes ] || learn_env
  cd "$workdir"
  [ "${CXGEN_SPARE:-0}" != 1 ] || spare_idle
  run_hooks
  [ "$FW_LEARN" != yes ] || learn "$@"
  show_diagnostic
  exec "${AS_AGENT[@]}" "$@"
}

# The project's hook only when the run script mounted it (read-only, accepted): one the agent
# of another session made since is never run, nor waited on (a FIFO).
run_hooks() {
  [ "${CXGEN_INIT_HOOK:-0}" != 1 ] || run_hook "${SANDBOX_ENV_DIR:-/tmp/cxgen-env}/init.sh"
  run_hook "${CXGEN_INIT_SCRIPT:-}"
}

# Learn mode: the command you trust runs with open network, so nothing the agent wrote may steer
# it. Not its home, where tools read (and some run) dotfiles: .gitconfig, .profile and .bashrc,
# .npmrc, pip.conf, .cargo/config.toml, a Python .pth; not CODEX_HOME (the agent home); not the
# caches tools keep there or in the work dir, whose entries they run without a second look:
# Python's __pycache__ (a .pyc with the source's mtime and size copied into its header passes
# Python's check; git ignores it), Go's build and module caches, cargo's registry and target/,
# npm's and pip's. All of it starts empty, in a folder made for this run in this container's own
# /tmp (in root mode a tmpfs), whatever the image or --env set. The work dir's other files stay
# as they are: what git ignores there (node_modules, .venv, build outputs) is not covered.
learn_env() {
  local dir
  dir=$(mktemp -d /tmp/cxgen-learn.XXXXXX)
  mkdir "$dir/home" "$dir/pycache" "$dir/cargo-target"
  chown -R "$AGENT_UID:$AGENT_GID" "$dir"
  export HOME="$dir/home"
  export XDG_CONFIG_HOME="$HOME/.config" XDG_CACHE_HOME="$HOME/.cache" \
    XDG_DATA_HOME="$HOME/.local/share" XDG_STATE_HOME="$HOME/.local/state"
  export PYTHONPYCACHEPREFIX="$dir/pycache" PYTHONNOUSERSITE=1 PIP_CACHE_DIR="$XDG_CACHE_HOME/pip" \
    UV_CACHE_DIR="$XDG_CACHE_HOME/uv" npm_config_cache="$HOME/.npm" \
    GOCACHE="$XDG_CACHE_HOME/go-build" GOMODCACHE="$HOME/go/pkg/mod" \
    CARGO_HOME="$HOME/.cargo" CARGO_TARGET_DIR="$dir/cargo-target"
  # The agent home's own variable for codex (its config names commands to run); SANDBOX_ENV_DIR
  # stays, for your init hook.
  unset CODEX_HOME XDG_RUNTIME_DIR
}

# Learn mode: run the command as the agent, then write what it needed for the run script to
# collect (docker cp), and exit with the command's status. ^C and docker stop reach the command;
# the report is written all the same.
learn() {
  local status=0
  trap ':' INT TERM
  "${AS_AGENT[@]}" "$@" || status=$?
  /usr/local/lib/cxgen/cxgen-ctl learned >"$FW_STATE_DIR/learned" 2>&1 \
    || log "error: the learn report failed: $(head -c 300 "$FW_STATE_DIR/learned")"
  exit "$status"
}

main "$@"
