# shellcheck shell=bash
# cxgen egress firewall, sourced by entrypoint.sh and run as root before anything else.
#
# Design: a local resolver (dnsmasq, as its own uid) answers only allowed names and puts every
# address it answers into nftables allow sets; every other name is answered locally as
# non-existent, so no query for it leaves the container. One nftables ruleset, loaded
# atomically, denies all other egress for IPv4 and IPv6 and REJECTs so blocked calls fail fast.
# Only the resolver's uid may reach the upstream resolver, on port 53 only. Loopback is not
# trusted: only root (Docker's own DNS server lives in this namespace) and the resolver may send
# from a resolver's address, and unprivileged ports start at 1024 (checked by the self-check),
# so the agent can neither serve on 127.0.0.11:53 nor pre-create a flow that the resolver's
# upstream queries would later match as "established".

readonly FW_TABLE="cxgen"
readonly FW_DNS_USER="cxgen-dns"
readonly FW_RUN_DIR="/run/cxgen"
# What survives `docker restart` (the container's own filesystem, root's alone): domains allowed
# live, lockdown, the upstream resolver.
readonly FW_STATE_DIR="/var/lib/cxgen"
# The resolver logs into this FIFO; dnslog.awk (root) keeps a bounded summary of it.
readonly FW_DNS_LOG="$FW_RUN_DIR/dns.log"
# The names the resolver forwards, re-read on SIGHUP; in a folder the resolver's group may read.
readonly FW_SERVERS="/run/cxgen-dns/servers"
# Refused connections are counted per address, protocol and port in sets of this size.
readonly FW_DENIED_SIZE=4096
# Lockdown: nothing leaves but through loopback.
readonly FW_LOCKDOWN_RULE='oif != "lo" goto refuse'
FW_LEARN=no
FW_LOCKDOWN=off
readonly FW_DOCKER_DNS="127.0.0.11"
# Below this port only root may bind (Docker's default is 0: anyone may bind anything).
readonly FW_PORT_START_FILE="/proc/sys/net/ipv4/ip_unprivileged_port_start"
readonly FW_MIN_PORT_START=1024
# Parallel lookups in the self-check: DNS waits overlap, few enough for 2 cores.
readonly FW_LOOKUPS=4
# Anchored patterns for everything read from outside.
readonly FW_DOMAIN_RE='^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'
readonly FW_IPV4_RE='^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
readonly FW_IPV6_RE='^[0-9a-fA-F:]*:[0-9a-fA-F:.]*$'
# Denied unless private_destinations=allowed-names and an allowed name resolved there.
readonly FW_PRIVATE4="10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10, 198.18.0.0/15"
readonly FW_PRIVATE6="fc00::/7"
# Always denied: this host, link-local (cloud metadata), multicast, reserved, IPv4-in-IPv6; and
# the Docker host: the default gateway and the host's own addresses (CXGEN_HOST_ADDRESSES).
readonly FW_NEVER4="0.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4, 240.0.0.0/4"
readonly FW_NEVER6="::/128, ::ffff:0:0/96, 64:ff9b::/96, 2002::/16, fe80::/10, ff00::/8"

fw_is_ip() { [[ "$1" =~ $FW_IPV4_RE ]] || [[ "$1" =~ $FW_IPV6_RE ]]; }

# Sets FW_UPSTREAM to the resolver Docker gave the container: 127.0.0.11 on user-defined networks, the host's
# resolver on the default bridge.
# After a `docker restart` resolv.conf still names our own resolver: the one saved at the first
# start is used again.
fw_upstream_resolver() {
  local key value _
  while read -r key value _; do
    if [ "$key" = "nameserver" ] && fw_is_ip "$value"; then
      if [ "$value" = 127.0.0.1 ]; then
        read -r value <"$FW_STATE_DIR/upstream" 2>/dev/null && fw_is_ip "$value" || return 1
      else
        printf '%s\n' "$value" >"$FW_STATE_DIR/upstream"
      fi
      FW_UPSTREAM="$value"
      return 0
    fi
  done </etc/resolv.conf
  return 1
}

# fw_routes FAMILY: set FW_GATEWAYS (the Docker host) and FW_SUBNETS (the directly connected
# LAN) from one `ip route` call.
fw_routes() {
  local line
  FW_GATEWAYS=()
  FW_SUBNETS=()
  while read -r line; do
    # shellcheck disable=SC2086  # split on purpose: "default via ADDR ..." or "SUBNET dev IF ..."
    set -- $line
    if [ "${1:-}" = default ] && [ "${2:-}" = via ] && fw_is_ip "${3:-}"; then
      FW_GATEWAYS+=("$3")
    else
      case "${1:-}" in fe80:*) ;; */*) FW_SUBNETS+=("$1") ;; esac
    fi
  done < <(ip "-$1" route show 2>/dev/null || true)
}

# Sets FW_HOST4 and FW_HOST6 from CXGEN_HOST_ADDRESSES: the Docker host's own addresses, as
# the run script found them on the host (the container cannot see them).
fw_host_addresses() {
  local address addresses=()
  FW_HOST4=()
  FW_HOST6=()
  read -r -a addresses <<<"${CXGEN_HOST_ADDRESSES:-}" || true
  for address in ${addresses[@]+"${addresses[@]}"}; do
    if [[ "$address" =~ $FW_IPV4_RE ]]; then
      FW_HOST4+=("$address")
    elif [[ "$address" =~ $FW_IPV6_RE ]]; then
      FW_HOST6+=("$address")
    else
      fw_fail "invalid host address '$address' in CXGEN_HOST_ADDRESSES"
    fi
  done
}

# Sets inbound (fw_ruleset's): connections from the Docker host (the IPv4 gateway, where
# Docker's port proxy connects from) to the ports published with --port (CXGEN_PORTS), and
# nothing else; replies are "established" on the way out.
fw_inbound() {
  local port ports=() list="" from=(${FW_GATEWAYS[@]+"${FW_GATEWAYS[@]}"})
  read -r -a ports <<<"${CXGEN_PORTS:-}" || true
  # The host names the gateway (an internal network has no default route to read it from).
  if [ -n "${CXGEN_DOCKER_GATEWAY:-}" ]; then
    [[ "$CXGEN_DOCKER_GATEWAY" =~ $FW_IPV4_RE ]] || fw_fail "invalid CXGEN_DOCKER_GATEWAY '$CXGEN_DOCKER_GATEWAY'"
    from=("$CXGEN_DOCKER_GATEWAY")
  fi
  [ "${#ports[@]}" -gt 0 ] && [ "${#from[@]}" -gt 0 ] || return 0
  for port in "${ports[@]}"; do
    [[ "$port" =~ ^[1-9][0-9]{0,4}$ ]] || fw_fail "invalid port '$port' in CXGEN_PORTS"
  done
  fw_join list "${ports[@]}"
  inbound="ip saddr { $(IFS=,; printf '%s' "${from[*]}") } tcp dport { $list } accept"
}

# fw_join VAR ITEM... : VAR="ITEM, ITEM, ..." for nft set elements (no subshell: start-up time).
fw_join() {
  local var="$1" out="" item
  shift
  for item in "$@"; do out="${out:+$out, }$item"; done
  printf -v "$var" '%s' "$out"
}

fw_ruleset() {
  local upstream="$1" private_mode="$2"
  local never4 never6 private4 private6 up_match spoofed docker_forward="" inbound=""
  local senders="meta skuid != { root, \"$FW_DNS_USER\" }"
  fw_host_addresses
  fw_routes 4
  fw_inbound
  fw_join never4 "$FW_NEVER4" ${FW_GATEWAYS[@]+"${FW_GATEWAYS[@]}"} ${FW_HOST4[@]+"${FW_HOST4[@]}"}
  fw_join private4 "$FW_PRIVATE4" ${FW_SUBNETS[@]+"${FW_SUBNETS[@]}"}
  fw_routes 6
  fw_join never6 "$FW_NEVER6" ${FW_GATEWAYS[@]+"${FW_GATEWAYS[@]}"} ${FW_HOST6[@]+"${FW_HOST6[@]}"}
  fw_join private6 "$FW_PRIVATE6" ${FW_SUBNETS[@]+"${FW_SUBNETS[@]}"}
  case "$upstream" in
    "$FW_DOCKER_DNS")
      up_match="ct original ip daddr $upstream"
      spoofed="ip saddr $FW_DOCKER_DNS $senders reject"
      # Docker's DNS server forwards names it does not know to the host's resolvers from a
      # root socket inside this namespace: that (and only root) may reach port 53 elsewhere.
      docker_forward="meta skuid root meta l4proto { tcp, udp } th dport 53 accept" ;;
    *:*)
      up_match="ct original ip6 daddr $upstream"
      spoofed="ip saddr $FW_DOCKER_DNS $senders reject
    ip6 saddr $upstream $senders reject" ;;
    *)
      up_match="ct original ip daddr $upstream"
      spoofed="ip saddr { $FW_DOCKER_DNS, $upstream } $senders reject" ;;
  esac
  local allow_rules="ip daddr @allow4 accept
    ip6 daddr @allow6 accept"
  local early_allow="" late_allow="$allow_rules" last="goto refuse"
  if [ "$private_mode" = "allowed-names" ]; then
    early_allow="$allow_rules"
    late_allow=""
  fi
  # Learn mode: what no answered name led to passes too, and is recorded.
  [ "$FW_LEARN" != yes ] || last="meta l4proto { tcp, udp } update @seen4 { ip daddr . meta l4proto . th dport }
    meta l4proto { tcp, udp } update @seen6 { ip6 daddr . meta l4proto . th dport }
    accept"
  local lock=""
  [ "$FW_LOCKDOWN" != on ] || lock=$FW_LOCKDOWN_RULE
  local counted="type ipv4_addr . inet_proto . inet_service; flags dynamic; size $FW_DENIED_SIZE; counter;"
  cat <<EOF
add table inet $FW_TABLE
delete table inet $FW_TABLE
table inet $FW_TABLE {
  set allow4 { type ipv4_addr; }
  set allow6 { type ipv6_addr; }
  # Refused (and, in learn mode, unnamed) destinations, counted; when full, no longer recorded.
  set denied4 { $counted }
  set denied6 { ${counted/ipv4_addr/ipv6_addr} }
  set seen4 { $counted }
  set seen6 { ${counted/ipv4_addr/ipv6_addr} }
  set never4 { type ipv4_addr; flags interval; auto-merge; elements = { $never4 } }
  set never6 { type ipv6_addr; flags interval; auto-merge; elements = { $never6 } }
  set private4 { type ipv4_addr; flags interval; auto-merge; elements = { $private4 } }
  set private6 { type ipv6_addr; flags interval; auto-merge; elements = { $private6 } }

  chain output {
    type filter hook output priority 0; policy drop;
    jump lockdown
    # Nobody else sends from a resolver's address, not even as a reply: a flow from
    # 127.0.0.11:53 to the resolver's next query port would capture that query.
    $spoofed
    # Replies and ICMP errors of flows already judged. Docker's embedded DNS answers from a
    # (root) socket inside this namespace, so its replies pass this chain too.
    ct state established,related accept
    ct state invalid drop
    # Only the resolver may reach the upstream resolver, on port 53. Docker DNATs its
    # embedded DNS, so match the original destination.
    meta skuid "$FW_DNS_USER" meta l4proto { tcp, udp } $up_match ct original proto-dst 53 accept
    ct original ip daddr $FW_DOCKER_DNS reject
    $up_match reject
    $docker_forward
    oif "lo" accept
    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept
    ip daddr @never4 goto refuse
    ip6 daddr @never6 goto refuse
    $early_allow
    ip daddr @private4 goto refuse
    ip6 daddr @private6 goto refuse
    $late_allow
    $last
  }

  # Lockdown (cxgen-ctl lockdown on): nothing leaves but through loopback, established flows
  # included; the resolver forwards nothing then.
  chain lockdown {
    $lock
  }

  # Refused at once: a TCP reset for TCP (an ICMP error would leave connect() waiting for its
  # first retransmission, about a second), ICMP admin-prohibited for the rest. Counted first
  # (cxgen-ctl denied): a full set skips only the count, never the refusal.
  chain refuse {
    meta l4proto { tcp, udp } update @denied4 { ip daddr . meta l4proto . th dport }
    meta l4proto { tcp, udp } update @denied6 { ip6 daddr . meta l4proto . th dport }
    meta l4proto tcp reject with tcp reset
    reject with icmpx type admin-prohibited
  }

  chain input {
    type filter hook input priority 0; policy drop;
    iif "lo" accept
    ct state established,related accept
    $inbound
    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept
  }

  chain forward {
    type filter hook forward priority 0; policy drop;
  }
}
EOF
}

# The resolver's fixed configuration. Which names it forwards is in the servers file (re-read on
# SIGHUP: live allow, lockdown); every answer it forwards fills the allow sets, and every name it
# does not forward is answered locally as non-existent. It logs into a FIFO without ever
# blocking on it (log-async drops lines when the reader lags).
fw_dnsmasq_config() {
  local sets="4#inet#$FW_TABLE#allow4,6#inet#$FW_TABLE#allow6"
  cat <<EOF
no-resolv
no-hosts
no-poll
bind-interfaces
listen-address=127.0.0.1
user=$FW_DNS_USER
group=$FW_DNS_USER
pid-file=$FW_RUN_DIR/dnsmasq.pid
cache-size=1000
log-queries=extra
log-async=100
log-facility=$FW_DNS_LOG
servers-file=$FW_SERVERS
nftset=/#/$sets
EOF
  # Learn mode forwards every name (the servers file's default server).
  [ "$FW_LEARN" = yes ] || printf 'address=/#/\n'
}

# fw_servers UPSTREAM DOMAIN...: the servers file; empty in lockdown. dnsmasq matches subdomains
# too, and "*.example.com" means subdomains only.
fw_servers() {
  local upstream="$1"; shift
  if [ "$FW_LOCKDOWN" = on ]; then return 0; fi
  if [ "$FW_LEARN" = yes ]; then
    printf 'server=%s\n' "$upstream"
    return 0
  fi
  [ "$#" -gt 0 ] || return 0
  # One printf over all domains (upstream holds no "%": validated).
  # shellcheck disable=SC2059
  printf "server=/%s/$upstream\n" "$@"
}

# Sets FW_LOCKDOWN and appends the domains allowed live (cxgen-ctl allow) to FW_DOMAINS: the
# state kept across `docker restart`.
fw_load_state() {
  local domain
  [ -d "$FW_STATE_DIR" ] || install -d -m 0700 "$FW_STATE_DIR"
  FW_LOCKDOWN=off
  [ ! -f "$FW_STATE_DIR/lockdown" ] || FW_LOCKDOWN=on
  [ -f "$FW_STATE_DIR/allowed" ] || return 0
  while IFS= read -r domain; do
    FW_DOMAINS+=("$domain")
  done <"$FW_STATE_DIR/allowed"
}

# fw_setup PRIVATE_MODE DOMAIN... : load the ruleset, start the resolver and its log's reader,
# point resolv.conf at it. FW_LEARN and FW_LOCKDOWN choose the mode.
fw_setup() {
  local private_mode="$1"; shift
  local upstream domain
  # One grep for the whole list: bash's =~ recompiles the pattern on every test.
  if [ "$#" -gt 0 ] && printf '%s\n' "$@" | grep -Evq "$FW_DOMAIN_RE"; then
    for domain in "$@"; do
      [[ "$domain" =~ $FW_DOMAIN_RE ]] || fw_fail "invalid allowed domain '$domain'"
    done
  fi
  case "$private_mode" in deny|allowed-names) ;; *) fw_fail "invalid private_destinations '$private_mode'" ;; esac
  fw_upstream_resolver || fw_fail "no nameserver in /etc/resolv.conf"
  upstream="$FW_UPSTREAM"
  # Rules, resolver config and lookups are root's alone (the caller sets umask 077). The servers
  # file is the resolver's to read too (made in the image with its group; rewritten in place,
  # which keeps group and mode).
  install -d -m 0700 "$FW_RUN_DIR"
  if [ ! -f "$FW_SERVERS" ]; then
    install -d -m 0750 -g "$FW_DNS_USER" "${FW_SERVERS%/*}"
    install -m 0640 -g "$FW_DNS_USER" /dev/null "$FW_SERVERS"
  fi
  fw_ruleset "$upstream" "$private_mode" >"$FW_RUN_DIR/rules.nft"
  fw_dnsmasq_config >"$FW_RUN_DIR/dnsmasq.conf"
  # The domains in force, for cxgen-ctl; the servers file is the resolver's to read too.
  printf '%s\n' "$@" >"$FW_RUN_DIR/domains"
  fw_servers "$upstream" "$@" >"$FW_SERVERS"
  # The resolver's log: a FIFO read by dnslog.awk, which keeps a bounded summary (a FIFO never
  # fills a disk). Opened read-write, so it never sees an end of file nor blocks anyone.
  command -v mawk >/dev/null || fw_fail "mawk is missing from the image (Debian's awk)"
  # (Made here, not in the image: a FIFO from an image layer is copied up, to another pipe,
  # when the resolver takes it over.)
  [ -p "$FW_DNS_LOG" ] || mkfifo -m 0600 "$FW_DNS_LOG"
  mawk -W interactive -v dir="$FW_RUN_DIR" -v learn="$FW_LEARN" -f /usr/local/lib/cxgen/dnslog.awk \
    <>"$FW_DNS_LOG" >/dev/null 2>"$FW_RUN_DIR/dnslog.err" &
  # The resolver starts while the rules load (it needs the sets only when it answers); nothing
  # else runs before both have succeeded.
  local resolver_pid resolver_status=0
  dnsmasq --conf-file="$FW_RUN_DIR/dnsmasq.conf" 2>"$FW_RUN_DIR/dnsmasq.err" &
  resolver_pid=$!
  # nft -f is atomic: on any error nothing is loaded, and we stop here.
  if ! nft -f "$FW_RUN_DIR/rules.nft" 2>"$FW_RUN_DIR/nft.err"; then
    if grep -qi 'operation not permitted' "$FW_RUN_DIR/nft.err"; then
      fw_fail "the firewall needs the NET_ADMIN capability; start the sandbox with run_in_container.sh, not a plain docker run"
    fi
    fw_fail "loading the firewall rules failed: $(head -n 3 "$FW_RUN_DIR/nft.err" | tr '\n' ' ')"
  fi
  wait "$resolver_pid" || resolver_status=$?
  [ "$resolver_status" -eq 0 ] \
    || fw_fail "the resolver did not start: $(head -n 3 "$FW_RUN_DIR/dnsmasq.err" | tr '\n' ' ')"
  # Replace the file's content (it is a bind mount, so it cannot be renamed over).
  printf 'nameserver 127.0.0.1\noptions attempts:2 timeout:2\n' >/etc/resolv.conf
}

# fw_selfcheck DOMAIN... : prove the firewall is in force before anything starts. Forks are
# few on purpose: this runs on every start.
fw_selfcheck() {
  local pid="" domain address table line i chunk=() names=() pids=() dead=()
  local blocked_pid="" size resolved=0 out="$FW_RUN_DIR/lookup" port_start=""
  # The agent must not be able to serve on port 53 (127.0.0.11:53 is the upstream's address).
  read -r port_start <"$FW_PORT_START_FILE" || true
  if ! [[ "$port_start" =~ ^[0-9]+$ ]] || [ "$port_start" -lt "$FW_MIN_PORT_START" ]; then
    fw_fail "self-check: unprivileged processes may bind ports from ${port_start:-?} up, so the agent could pose as the resolver; start the sandbox with run_in_container.sh, or pass --sysctl net.ipv4.ip_unprivileged_port_start=$FW_MIN_PORT_START to docker run"
  fi
  read -r pid <"$FW_RUN_DIR/dnsmasq.pid" 2>/dev/null || true
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    fw_fail "self-check: the resolver is not running"
  fi
  for domain in "$@"; do
    case "$domain" in \*.*) ;; *) names+=("$domain") ;; esac
  done
  # A blocked name must not resolve; meanwhile resolve the allowed names in at most
  # FW_LOOKUPS parallel lookups (getent exits 2 when any of its names is dead).
  # (Learn mode forwards every name: then this one would leave the sandbox, and prove nothing.)
  if [ "$FW_LEARN" != yes ]; then
    getent hosts "cxgen-selfcheck.invalid" >/dev/null 2>&1 &
    blocked_pid=$!
  fi
  if [ "${#names[@]}" -gt 0 ]; then
    size=$(( (${#names[@]} + FW_LOOKUPS - 1) / FW_LOOKUPS ))
    for ((i = 0; i * size < ${#names[@]}; i++)); do
      getent ahosts "${names[@]:$((i * size)):$size}" >"$out.$i" 2>/dev/null &
      pids+=("$!")
    done
  fi
  if [ -n "$blocked_pid" ] && wait "$blocked_pid"; then
    fw_fail "self-check: a name outside the allowlist resolved"
  fi
  # Every lookup must be done (its answers in the sets) before the sets are listed.
  for ((i = 0; i < ${#pids[@]}; i++)); do
    if ! wait "${pids[$i]}"; then
      # A chunk with a dead name: find which, one by one (only on this slow path).
      chunk=("${names[@]:$((i * size)):$size}")
      for domain in "${chunk[@]}"; do
        getent ahosts "$domain" >/dev/null 2>&1 || dead+=("$domain")
      done
    fi
  done
  # One listing proves the policy and shows what the resolver taught the firewall.
  table=$(nft list table inet "$FW_TABLE" 2>&1) || table=""
  case "$table" in
    *"policy drop;"*) ;;
    *) fw_fail "self-check: the default-deny policy is not in force" ;;
  esac
  table=" ${table//[,\{\}$'\n'$'\t']/ } "
  for ((i = 0; i < ${#pids[@]}; i++)); do
    while read -r address line; do
      case "$table" in
        *" $address "*) resolved=$((resolved + 1)) ;;
        *) fw_fail "self-check: an allowed name resolved to $address but the firewall did not learn it" ;;
      esac
    done <"$out.$i"
  done
  for domain in ${dead[@]+"${dead[@]}"}; do
    fw_warn "allowed domain '$domain' does not resolve (dead, or the upstream resolver is down)"
  done
  [ "${#names[@]}" -eq 0 ] || [ "$resolved" -gt 0 ] \
    || fw_warn "none of the allowed domains resolves: the sandbox has no network access"
}
