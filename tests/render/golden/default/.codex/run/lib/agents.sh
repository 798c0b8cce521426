# shellcheck shell=bash
# Agents: their command lines, from settings.sh's tables (AGENT_RUN_NAME, AGENT_LOGIN_*_NAME).

# agents_table VAR NAME: the array VAR_NAME into REPLY (false when the agent has none).
agents_table() {
  REPLY=()
  [[ "$2" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] && declare -p "$1_$2" >/dev/null 2>&1 || return 1
  # (The name is checked: a plain identifier. bash 3.2 has no namerefs.)
  eval "REPLY=(\${$1_$2[@]+\"\${$1_$2[@]}\"})"
}

# Sets AGENT_CMD to the command line that starts agent $1, unattended.
agent_command() {
  agents_table AGENT_RUN "$1" || die "unknown agent '$1'; this sandbox has: $INSTALLED_AGENTS" "$EXIT_USAGE"
  AGENT_CMD=("${REPLY[@]}")
}

# Sets LOGIN_CMD to the command line that signs agent $1 in (MODE $2: browser, device or
# api-key), LOGIN_PORT/LOGIN_ADDRESS to its OAuth callback server inside (none: 0), LOGIN_KEY_ENV
# to the host variable an api-key sign-in reads, LOGIN_ENV to variables it needs inside. Fails
# when the agent has no such sign-in.
agent_login() {
  local port="AGENT_LOGIN_PORT_$1" address="AGENT_LOGIN_ADDRESS_$1" key="AGENT_LOGIN_KEY_ENV_$1"
  LOGIN_PORT=0 LOGIN_ADDRESS="" LOGIN_KEY_ENV="" LOGIN_ENV=()
  agents_table AGENT_LOGIN_ENV "$1" && LOGIN_ENV=(${REPLY[@]+"${REPLY[@]}"})
  agents_table "AGENT_LOGIN_${2//-/_}" "$1" || return 1
  LOGIN_CMD=("${REPLY[@]}")
  case "$2" in
    browser) LOGIN_PORT="${!port:-0}" LOGIN_ADDRESS="${!address:-}" ;;
    api-key) LOGIN_KEY_ENV="${!key:-}" ;;
  esac
}
