# shellcheck shell=bash
# Allowed domains.

# read_domains FILE SOURCE_PREFIX: append FILE's domains to ALLOWED_DOMAINS (and SOURCES).
read_domains() {
  local line words domain lineno=0
  while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    # read -a splits without globbing, so "*.example.com" stays as written.
    read -r -a words <<<"${line%%#*}" || true
    for domain in ${words[@]+"${words[@]}"}; do
      ALLOWED_DOMAINS+=("$domain")
      SOURCES+=("$1:$lineno")
    done
  done <"$1"
}

# Keeps the first of each domain in ALLOWED_DOMAINS.
dedupe_domains() {
  local domain seen=" " all=(${ALLOWED_DOMAINS[@]+"${ALLOWED_DOMAINS[@]}"})
  ALLOWED_DOMAINS=()
  for domain in ${all[@]+"${all[@]}"}; do
    case "$seen" in *" $domain "*) continue ;; esac
    seen="$seen$domain "
    ALLOWED_DOMAINS+=("$domain")
  done
}

# Allowed domains from the file, OPENAI_ALLOWED_DOMAINS and --allow: each checked, duplicates
# dropped. Sets ALLOWED_DOMAINS, and PROJECT_DOMAINS (the file's alone: what the user accepts).
collect_domains() {
  local line domain words i
  ALLOWED_DOMAINS=()
  SOURCES=()
  [ ! -f "$DOMAINS_FILE" ] || read_domains "$DOMAINS_FILE"
  local from_file="${#ALLOWED_DOMAINS[@]}"
  line="${OPENAI_ALLOWED_DOMAINS:-}"
  line="${line//$'\n'/ }"
  read -r -a words <<<"${line//,/ }" || true
  for domain in ${words[@]+"${words[@]}"}; do
    ALLOWED_DOMAINS+=("$domain")
    SOURCES+=(OPENAI_ALLOWED_DOMAINS)
  done
  for domain in ${EXTRA_DOMAINS[@]+"${EXTRA_DOMAINS[@]}"}; do
    ALLOWED_DOMAINS+=("$domain")
    SOURCES+=(--allow)
  done
  # One match checks the whole list (bash's =~ compiles its pattern on every test, grep would
  # cost a fork): words hold no spaces, so the joined list is unambiguous. Only when it fails,
  # look for which, to name it and where it came from.
  local list_re="^(${DOMAIN_RE:1:${#DOMAIN_RE}-2} )*\$" joined="${ALLOWED_DOMAINS[*]+${ALLOWED_DOMAINS[*]}} "
  if [ "${#ALLOWED_DOMAINS[@]}" -gt 0 ] && ! [[ "$joined" =~ $list_re ]]; then
    for i in "${!ALLOWED_DOMAINS[@]}"; do
      domain="${ALLOWED_DOMAINS[$i]}"
      [[ "$domain" =~ $DOMAIN_RE ]] \
        || die "${SOURCES[$i]}: invalid domain '$domain' (expected example.com or *.example.com)" "$EXIT_USAGE"
    done
  fi
  PROJECT_DOMAINS=(${ALLOWED_DOMAINS[@]+"${ALLOWED_DOMAINS[@]:0:$from_file}"})
  dedupe_domains
}

# save_domains DOMAIN...: add the domains the allowlist file lacks to it, and count them as
# accepted on this machine (the next start does not ask about them; other pending changes still
# ask). .codex is read-only in every sandbox, so no agent can swap the file meanwhile.
save_domains() {
  local domain added=() accepted lead="" line ports
  for domain in "$@"; do
    case " ${PROJECT_DOMAINS[*]-} " in *" $domain "*) continue ;; esac
    added+=("$domain")
  done
  if [ "${#added[@]}" -eq 0 ]; then
    say "already in .codex/allowed-domains.txt: $*"
    return 0
  fi
  refuse_symlink "$DOMAINS_FILE"
  [ ! -e "$DOMAINS_FILE" ] || [ -f "$DOMAINS_FILE" ] || die "$DOMAINS_FILE is not a file"
  load_policy
  # A last line without its newline stays a line of its own.
  if [ -s "$DOMAINS_FILE" ] && [ -n "$(tail -c 1 "$DOMAINS_FILE")" ]; then lead=$'\n'; fi
  if ! { printf '%s' "$lead" >>"$DOMAINS_FILE" && printf '%s\n' "${added[@]}" >>"$DOMAINS_FILE"; }; then
    die "cannot write $DOMAINS_FILE"
  fi
  if [ -n "$ACCEPTED" ]; then
    # In policy_text's order: the domains come before the host ports.
    accepted="" ports=""
    while IFS= read -r line; do
      case "$line" in "host-port "*) ports="$ports$line"$'\n' ;; *) accepted="$accepted$line"$'\n' ;; esac
    done <<<"${ACCEPTED%$'\n'}"
    for domain in "${added[@]}"; do accepted="${accepted}domain $domain"$'\n'; done
    accepted="$accepted$ports"
    if ! { printf '%s' "$accepted" >"$POLICY_DIR/policy.new" && mv -f "$POLICY_DIR/policy.new" "$POLICY_DIR/policy"; }; then
      die "cannot record the accepted policy in $POLICY_DIR"
    fi
  fi
  say "saved to .codex/allowed-domains.txt (accepted on this machine): ${added[*]}"
}
