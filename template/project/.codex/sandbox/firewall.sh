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
# The project's saved lockdown (lockdown on|off --save), "on" or "off", as it last changed since
# the run script made this container with CXGEN_LOCKDOWN: written by cxgen-ctl lockdown --save
# in a running session, and by the run script (docker cp) into a kept one before attach starts it.
readonly FW_PROJECT_LOCKDOWN="$FW_STATE_DIR/project-lockdown"
# The firewall's folders belong to this account, not to root: an agent running as uid 0 (root
# mode) has no capabilities, so a folder it does not own is closed to it; root's own tools pass
# by capability (DAC_OVERRIDE).
readonly FW_OWNER="cxgen-fw"
# Its uid in the image (the run script mounts root mode's temporary folders as this uid too).
readonly FW_OWNER_UID=65530
# Made at each start once the self-check has proved the firewall in force (cxgen-ctl waits for
# it: the run script may call it as a sandbox starts).
readonly FW_READY="$FW_RUN_DIR/ready"
# The resolver logs into this FIFO; dnslog.awk (root) keeps a bounded summary of it.
readonly FW_DNS_LOG="$FW_RUN_DIR/dns.log"
# The allowed names' diagnostic (fw_diagnose, beside the command): its findings once it is done,
# FW_DIAGNOSTIC.part while it runs.
readonly FW_DIAGNOSTIC="$FW_RUN_DIR/diagnostic"
# The names the resolver forwards, re-read on SIGHUP; in a folder the resolver's group may read.
readonly FW_SERVERS="/run/cxgen-dns/servers"
# Refused connections are counted per address, protocol and port in sets of this size.
readonly FW_DENIED_SIZE=4096
# Lockdown: nothing leaves but through loopback.
readonly FW_LOCKDOWN_RULE='oif != "lo" goto refuse'
FW_LEARN=no
FW_LOCKDOWN=off
FW_LOCKDOWN_BY=""
# yes: lookups are redirected to our resolver by NAT instead of through resolv.conf (read-only
# when the agent runs as root).
FW_REDIRECT_DNS=no
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
# LAN, and any other routed prefix) from the kernel's main routing table, as `ip route` shows
# it, read by bash itself from /proc (an `ip` call per family costs a fork each start). Host
# routes, local and multicast entries, link-local and unreachable routes are not subnets.
fw_routes() {
  FW_GATEWAYS=()
  FW_SUBNETS=()
  if [ "$1" = 4 ]; then
    fw_routes4 </proc/net/route
  else
    fw_routes6 </proc/net/ipv6_route
  fi
}

# /proc/net/route: "IFACE DEST GATEWAY FLAGS REFCNT USE METRIC MASK ...", addresses in
# little-endian hex.
fw_routes4() {
  local _iface dest gateway flags _refcnt _use _metric mask _rest bits prefix
  read -r _rest || return 0
  while read -r _iface dest gateway flags _refcnt _use _metric mask _rest; do
    [[ "$dest$gateway$mask" =~ ^[0-9A-Fa-f]{24}$ && "$flags" =~ ^[0-9A-Fa-f]{1,8}$ ]] || continue
    flags=$((16#$flags))
    # RTF_UP set, RTF_REJECT not.
    [ $((flags & 0x1)) -ne 0 ] && [ $((flags & 0x200)) -eq 0 ] || continue
    if [ $((16#$dest)) -eq 0 ] && [ $((16#$mask)) -eq 0 ]; then
      # The default route: its gateway (RTF_GATEWAY), if it has one.
      if [ $((flags & 0x2)) -ne 0 ]; then
        fw_hex4 "$gateway"
        FW_GATEWAYS+=("$FW_ADDRESS")
      fi
      continue
    fi
    bits=$((16#$mask)) prefix=0
    while [ "$bits" -ne 0 ]; do prefix=$((prefix + (bits & 1))) bits=$((bits >> 1)); done
    [ "$prefix" -lt 32 ] || continue
    fw_hex4 "$dest"
    FW_SUBNETS+=("$FW_ADDRESS/$prefix")
  done
}

# /proc/net/ipv6_route: "DEST PLEN SRC SPLEN NEXTHOP METRIC REFCNT USE FLAGS IFACE", hex. It
# holds every table: the local table's entries are host routes (/128) or multicast.
fw_routes6() {
  local dest plen _src _splen next _metric _refcnt _use flags _rest
  while read -r dest plen _src _splen next _metric _refcnt _use flags _rest; do
    [[ "$dest$next" =~ ^[0-9a-f]{64}$ && "$plen$flags" =~ ^[0-9a-f]{10}$ ]] || continue
    flags=$((16#$flags)) plen=$((16#$plen))
    [ $((flags & 0x1)) -ne 0 ] && [ $((flags & 0x200)) -eq 0 ] || continue
    case "$dest" in fe[89ab]* | ff*) continue ;; esac
    if [ "$plen" -eq 0 ]; then
      if [ $((flags & 0x2)) -ne 0 ] && [ "${next//0/}" != "" ]; then
        fw_hex6 "$next"
        FW_GATEWAYS+=("$FW_ADDRESS")
      fi
      continue
    fi
    [ "$plen" -lt 128 ] || continue
    fw_hex6 "$dest"
    FW_SUBNETS+=("$FW_ADDRESS/$plen")
  done
}

# fw_hex4 HEX: FW_ADDRESS, the dotted IPv4 address of /proc/net/route's little-endian HEX.
fw_hex4() {
  local n=$((16#$1))
  FW_ADDRESS="$((n & 255)).$(((n >> 8) & 255)).$(((n >> 16) & 255)).$(((n >> 24) & 255))"
}

# fw_hex6 HEX: FW_ADDRESS, the IPv6 address of 32 hex digits, in groups.
fw_hex6() {
  FW_ADDRESS="${1:0:4}:${1:4:4}:${1:8:4}:${1:12:4}:${1:16:4}:${1:20:4}:${1:24:4}:${1:28:4}"
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

# Sets host_ports (fw_ruleset's): the one rule opening the Docker host's TCP ports named in
# CXGEN_HOST_PORTS (--host-port, the host_ports answer) at its address on the sandbox's network,
# CXGEN_DOCKER_GATEWAY (host.docker.internal inside, from /etc/hosts), or without it (Docker's
# default bridge may name none) the default route's gateway (FW_GATEWAYS: after fw_routes 4).
# Nothing else of the host opens: its other ports and addresses, and UDP, stay refused.
fw_host_ports() {
  local port ports=() unique=() list gateway="${CXGEN_DOCKER_GATEWAY:-${FW_GATEWAYS[0]:-}}"
  read -r -a ports <<<"${CXGEN_HOST_PORTS:-}" || true
  [ "${#ports[@]}" -gt 0 ] || return 0
  [[ "$gateway" =~ $FW_IPV4_RE ]] \
    || fw_fail "CXGEN_HOST_PORTS needs the Docker host's IPv4 address (CXGEN_DOCKER_GATEWAY, or a default route), not '$gateway'"
  for port in "${ports[@]}"; do
    if ! [[ "$port" =~ ^[1-9][0-9]{0,4}$ ]] || [ "$port" -gt 65535 ]; then
      fw_fail "invalid port '$port' in CXGEN_HOST_PORTS"
    fi
    # (Once each, as the run script sends them: nothing hangs on how an nft treats a repeat.)
    case " ${unique[*]+${unique[*]}} " in *" $port "*) ;; *) unique+=("$port") ;; esac
  done
  fw_join list "${unique[@]}"
  host_ports="ip daddr $gateway tcp dport { $list } accept"
}

# fw_owned_dir MODE DIR [GROUP]: a new folder of the firewall's account. (Mode first: once it
# is not root's, root may no longer chmod it without CAP_FOWNER, which the sandbox lacks.)
fw_owned_dir() {
  mkdir -m "$1" "$2"
  chown "$FW_OWNER${3:+:$3}" "$2"
}

# fw_check_dirs: the firewall's folders are what the entrypoint made (folders of the firewall's
# account, not links): in root mode, uid 0 would own anything root made in a folder it may write.
fw_check_dirs() {
  local dir owner
  for dir in "$FW_RUN_DIR" "$FW_STATE_DIR" "${FW_SERVERS%/*}"; do
    owner=$(stat -c %u -- "$dir" 2>/dev/null) || owner=""
    [ -d "$dir" ] && [ ! -L "$dir" ] && [ "$owner" = "$FW_OWNER_UID" ] \
      || fw_fail "$dir is not the firewall's folder (owner ${owner:-none}); this sandbox cannot be trusted"
  done
}

# fw_senders VAR MATCH: append to VAR the rules refusing packets that MATCH (a resolver's
# address as source) from anyone but Docker's DNS server (uid and gid root: an agent running as
# uid 0 has another gid) and our resolver.
fw_senders() {
  local rules="$2 meta skuid != { root, \"$FW_DNS_USER\" } reject
    $2 meta skuid root meta skgid != root reject"
  printf -v "$1" '%s' "${!1:+${!1}
    }$rules"
}

# fw_text: its stdin (a here-document) on stdout, by bash itself: each fork costs the start
# several milliseconds in a new container (cat did this twice).
fw_text() {
  local text
  IFS= read -r -d '' text || true
  printf '%s' "$text"
}

# fw_remove FILE...: rm -f of those FILEs that exist (on a first start none does: no fork).
fw_remove() {
  local file found=()
  for file in "$@"; do
    if [ -e "$file" ] || [ -L "$file" ]; then found+=("$file"); fi
  done
  [ "${#found[@]}" -eq 0 ] || rm -f -- "${found[@]}"
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
  local never4 never6 private4 private6 up_match spoofed="" docker_forward="" inbound="" host_ports=""
  fw_host_addresses
  fw_routes 4
  fw_inbound
  fw_host_ports
  fw_join never4 "$FW_NEVER4" ${FW_GATEWAYS[@]+"${FW_GATEWAYS[@]}"} ${FW_HOST4[@]+"${FW_HOST4[@]}"}
  fw_join private4 "$FW_PRIVATE4" ${FW_SUBNETS[@]+"${FW_SUBNETS[@]}"}
  fw_routes 6
  fw_join never6 "$FW_NEVER6" ${FW_GATEWAYS[@]+"${FW_GATEWAYS[@]}"} ${FW_HOST6[@]+"${FW_HOST6[@]}"}
  fw_join private6 "$FW_PRIVATE6" ${FW_SUBNETS[@]+"${FW_SUBNETS[@]}"}
  case "$upstream" in
    "$FW_DOCKER_DNS")
      up_match="ct original ip daddr $upstream"
      fw_senders spoofed "ip saddr $FW_DOCKER_DNS"
      # Docker's DNS server forwards names it does not know to the host's resolvers from a
      # root socket inside this namespace: that (and only root) may reach port 53 elsewhere.
      docker_forward="meta skuid root meta skgid root meta l4proto { tcp, udp } th dport 53 accept" ;;
    *:*)
      [ "$FW_REDIRECT_DNS" != yes ] || fw_fail "the sandbox's resolver is IPv6 ($upstream): running the agent as root needs an IPv4 one"
      up_match="ct original ip6 daddr $upstream"
      fw_senders spoofed "ip saddr $FW_DOCKER_DNS"
      fw_senders spoofed "ip6 saddr $upstream" ;;
    *)
      up_match="ct original ip daddr $upstream"
      fw_senders spoofed "ip saddr { $FW_DOCKER_DNS, $upstream }" ;;
  esac
  # Root mode: resolv.conf is read-only, so lookups sent to the upstream are redirected to our
  # resolver instead (and accepted here, before the rules that refuse the upstream).
  local resolver_chain="" redirected=""
  if [ "$FW_REDIRECT_DNS" = yes ]; then
    # Before Docker's own NAT (priority -100), which would otherwise claim 127.0.0.11.
    resolver_chain="chain resolver {
    type nat hook output priority -150; policy accept;
    meta skuid != \"$FW_DNS_USER\" ip daddr $upstream meta l4proto { tcp, udp } th dport 53 redirect to :53
  }"
    redirected="meta l4proto { tcp, udp } ip daddr 127.0.0.1 th dport 53 $up_match accept"
  fi
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
  # One that is already there (a network namespace that outlived a start) is emptied, not
  # deleted: deleting a table in a transaction makes the kernel wait for a grace period (~10 ms
  # a start), while a new namespace has none. Its rules go with the flush, its learned and
  # counted addresses below; the chains and sets are declared again as they must be (a set of
  # another type, or a conflicting element, fails the load: nothing is loaded then).
  fw_text <<EOF
add table inet $FW_TABLE
flush table inet $FW_TABLE
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
    $redirected
    ct original ip daddr $FW_DOCKER_DNS reject
    $up_match reject
    $docker_forward
    oif "lo" accept
    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept
    # Host ports (CXGEN_HOST_PORTS): these TCP ports of the Docker host, and no other.
    $host_ports
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

  $resolver_chain
}
flush set inet $FW_TABLE allow4
flush set inet $FW_TABLE allow6
flush set inet $FW_TABLE denied4
flush set inet $FW_TABLE denied6
flush set inet $FW_TABLE seen4
flush set inet $FW_TABLE seen6
EOF
}

# The resolver's fixed configuration. Which names it forwards is in the servers file (re-read on
# SIGHUP: live allow, lockdown); every answer it forwards fills the allow sets, and every name it
# does not forward is answered locally as non-existent. It logs into a FIFO without ever
# blocking on it (log-async drops lines when the reader lags).
fw_dnsmasq_config() {
  local sets="4#inet#$FW_TABLE#allow4,6#inet#$FW_TABLE#allow6"
  fw_text <<EOF
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
# state kept across `docker restart`. The project's saved lockdown holds at every start: it locks
# the sandbox down (lockdown off NAME lifts it for this session until its next start), and once
# lifted (lockdown off --save) it lifts the lockdown it made, never one of this session's own.
fw_load_state() {
  local domain project="${CXGEN_LOCKDOWN:-off}"
  # (A `docker restart` keeps /run: the last start's mark is not this one's.)
  fw_remove "$FW_READY"
  [ -d "$FW_STATE_DIR" ] || fw_owned_dir 0700 "$FW_STATE_DIR"
  if [ -e "$FW_PROJECT_LOCKDOWN" ]; then
    project=""
    read -r project <"$FW_PROJECT_LOCKDOWN" || true
  fi
  fw_lockdown_state
  case "$project" in
    on) printf 'project\n' >"$FW_STATE_DIR/lockdown" ;;
    off) [ "$FW_LOCKDOWN_BY" != project ] || rm -f "$FW_STATE_DIR/lockdown" ;;
    *) fw_fail "invalid project lockdown '$project' (expected on or off)" ;;
  esac
  fw_lockdown_state
  [ -f "$FW_STATE_DIR/allowed" ] || return 0
  while IFS= read -r domain; do
    FW_DOMAINS+=("$domain")
  done <"$FW_STATE_DIR/allowed"
}

# Sets FW_LOCKDOWN (on, off) and FW_LOCKDOWN_BY: project (the project's saved lockdown) or
# session (lockdown on NAME).
fw_lockdown_state() {
  local by=""
  FW_LOCKDOWN=off FW_LOCKDOWN_BY=""
  [ -f "$FW_STATE_DIR/lockdown" ] || return 0
  read -r by <"$FW_STATE_DIR/lockdown" || true
  FW_LOCKDOWN=on FW_LOCKDOWN_BY=session
  [ "$by" != project ] || FW_LOCKDOWN_BY=project
}

# fw_valid_domains DOMAIN...: all of them match FW_DOMAIN_RE. One match over the joined list
# (bash's =~ compiles its pattern on every test, and grep would cost a fork); only when that
# fails, one by one, to name the bad one. Names hold no spaces (split on them), so the join is
# unambiguous.
fw_valid_domains() {
  local domain list_re="^(${FW_DOMAIN_RE:1:${#FW_DOMAIN_RE}-2} )*\$" joined="$* "
  [ "$#" -gt 0 ] || return 0
  [[ "$joined" =~ $list_re ]] && return 0
  for domain in "$@"; do
    [[ "$domain" =~ $FW_DOMAIN_RE ]] || fw_fail "invalid allowed domain '$domain'"
  done
  fw_fail "invalid allowed domain list"
}

# fw_setup PRIVATE_MODE DOMAIN... : start loading the ruleset, start the resolver and its log's
# reader; fw_setup_wait waits for them and points resolv.conf at the resolver. Nothing of the
# agent's may run in between. FW_LEARN and FW_LOCKDOWN choose the mode.
FW_NFT_PID="" FW_RESOLVER_PID=""
fw_setup() {
  local private_mode="$1"; shift
  local upstream
  fw_valid_domains "$@"
  case "$private_mode" in deny|allowed-names) ;; *) fw_fail "invalid private_destinations '$private_mode'" ;; esac
  fw_upstream_resolver || fw_fail "no nameserver in /etc/resolv.conf"
  upstream="$FW_UPSTREAM"
  # Rules, resolver config and lookups are root's alone (the caller sets umask 077). The servers
  # file is the resolver's to read too (made below with its group; rewritten in place, which
  # keeps group and mode).
  [ -d "$FW_RUN_DIR" ] || fw_owned_dir 0700 "$FW_RUN_DIR"
  # A diagnostic of an earlier start (before a docker restart) says nothing about this one.
  fw_remove "$FW_DIAGNOSTIC" "$FW_DIAGNOSTIC.part"
  # The rules load first, while the rest is made and the resolver and its log's reader start
  # (the resolver needs the sets only when it answers); nothing else runs before all have
  # succeeded. nft -f is atomic: on any error nothing is loaded. With -e the kernel echoes what
  # it committed: the self-check reads the policy in force there (a second nft, to list it, cost
  # each start ~10 ms).
  fw_ruleset "$upstream" "$private_mode" >"$FW_RUN_DIR/rules.nft"
  nft -e -f "$FW_RUN_DIR/rules.nft" >"$FW_RUN_DIR/loaded.nft" 2>"$FW_RUN_DIR/nft.err" &
  FW_NFT_PID=$!
  if [ ! -f "$FW_SERVERS" ]; then
    # Its folder is setgid, its group the resolver's (the run script has Docker make it; else
    # here): the file, made with this umask, is the resolver's to read. No fork for it.
    [ -d "${FW_SERVERS%/*}" ] || fw_owned_dir 2750 "${FW_SERVERS%/*}" "$FW_DNS_USER"
    umask 027
    : >"$FW_SERVERS"
    umask 077
    # (A FUSE file system, as the image's own folder may be, need not pass the group on.)
    [ ! -G "$FW_SERVERS" ] || chgrp "$FW_DNS_USER" "$FW_SERVERS"
  fi
  fw_dnsmasq_config >"$FW_RUN_DIR/dnsmasq.conf"
  # The domains in force, for cxgen-ctl; the servers file is the resolver's to read too.
  printf '%s\n' "$@" >"$FW_RUN_DIR/domains"
  fw_servers "$upstream" "$@" >"$FW_SERVERS"
  fw_resolver_start
}

# fw_resolver_start: the resolver, logging into a FIFO that dnslog.awk reads (fw_log_reader_start),
# keeping a bounded summary (a FIFO never fills a disk).
FW_LOG_FD=""
fw_resolver_start() {
  # (Made here, not in the image: a FIFO from an image layer is copied up, to another pipe,
  # when the resolver takes it over.) Root's, 0600; the resolver makes it its own when it opens
  # it (0660, group root: no agent's group), in the firewall's 0700 folder. Held open here,
  # read-write, until the reader gets it: the resolver never waits for the reader, nor loses a
  # line (they wait in the pipe), and the reader never sees an end of file.
  [ -p "$FW_DNS_LOG" ] || mkfifo -m 0600 "$FW_DNS_LOG"
  exec {FW_LOG_FD}<>"$FW_DNS_LOG"
  dnsmasq --conf-file="$FW_RUN_DIR/dnsmasq.conf" 2>"$FW_RUN_DIR/dnsmasq.err" {FW_LOG_FD}<&- &
  FW_RESOLVER_PID=$!
}

# fw_log_reader_start: the resolver's log reader, once the firewall is proven: it is needed only
# once something else asks for names, and until then it would only compete with the start for
# the CPU. It runs as the firewall's account, without capabilities: an agent running as uid 0
# (root mode) can neither signal nor trace it.
fw_log_reader_start() {
  [ -n "$FW_LOG_FD" ] || return 0
  command -v mawk >/dev/null || fw_fail "mawk is missing from the image (Debian's awk)"
  setpriv --reuid="$FW_OWNER" --regid="$FW_OWNER" --clear-groups --inh-caps=-all --bounding-set=-all -- \
    mawk -W interactive -v dir="$FW_RUN_DIR" -v learn="$FW_LEARN" -f /usr/local/lib/cxgen/dnslog.awk \
    <&"$FW_LOG_FD" >/dev/null 2>"$FW_RUN_DIR/dnslog.err" {FW_LOG_FD}<&- &
  exec {FW_LOG_FD}<&-
  FW_LOG_FD=""
}

# fw_setup_wait: fw_setup's rules loaded and its resolver started, or the start stops here. The
# self-check's lookup of a blocked name starts as soon as the resolver answers, while the rules
# may still be loading (in root mode, whose lookups reach the resolver through the ruleset's
# redirect, once they are loaded); fw_selfcheck waits for it.
FW_BLOCKED_PID=""
fw_setup_wait() {
  local resolver_status=0
  wait "$FW_RESOLVER_PID" || resolver_status=$?
  if [ "$resolver_status" -ne 0 ]; then
    # (Without NET_ADMIN the resolver fails too, for its sets: say what nft says of it.)
    wait "$FW_NFT_PID" || fw_rules_failed
    fw_fail "the resolver did not start: $(head -n 3 "$FW_RUN_DIR/dnsmasq.err" | tr '\n' ' ')"
  fi
  # Replace the file's content (it is a bind mount, so it cannot be renamed over); in root mode
  # it is read-only and the ruleset redirects lookups instead.
  if [ "$FW_REDIRECT_DNS" != yes ]; then
    printf 'nameserver 127.0.0.1\noptions attempts:2 timeout:2\n' >/etc/resolv.conf
    fw_blocked_lookup_start
  fi
  wait "$FW_NFT_PID" || fw_rules_failed
  [ "$FW_REDIRECT_DNS" != yes ] || fw_blocked_lookup_start
}

# fw_rules_failed: nft's error, in one line.
fw_rules_failed() {
  if grep -qi 'operation not permitted' "$FW_RUN_DIR/nft.err"; then
    fw_fail "the firewall needs the NET_ADMIN capability; start the sandbox with run_in_container.sh, not a plain docker run"
  fi
  fw_fail "loading the firewall rules failed: $(head -n 3 "$FW_RUN_DIR/nft.err" | tr '\n' ' ')"
}

# A name outside the allowlist, looked up through resolv.conf as the agent's lookups go (learn
# mode forwards every name: then it would leave the sandbox, and prove nothing).
fw_blocked_lookup_start() {
  FW_BLOCKED_PID=""
  [ "$FW_LEARN" != yes ] || return 0
  getent hosts "cxgen-selfcheck.invalid" >/dev/null 2>&1 &
  FW_BLOCKED_PID=$!
}

# fw_selfcheck : prove the firewall is in force before anything starts; every check here
# protects, so every one blocks the start. Forks are few on purpose: this runs on every start.
# The ruleset is read as the kernel echoed it when it committed it (fw_setup's nft -e): the
# output chain's default-deny policy must be there.
# Whether the allowed names resolve is not checked here (fw_diagnose does, beside the agent): an
# address the resolver did not put in the allow sets is refused anyway.
fw_selfcheck() {
  local pid="" line="" table="" port_start=""
  # The agent must not be able to serve on port 53 (127.0.0.11:53 is the upstream's address).
  read -r port_start <"$FW_PORT_START_FILE" || true
  if ! [[ "$port_start" =~ ^[0-9]+$ ]] || [ "$port_start" -lt "$FW_MIN_PORT_START" ]; then
    fw_fail "self-check: unprivileged processes may bind ports from ${port_start:-?} up, so the agent could pose as the resolver; start the sandbox with run_in_container.sh, or pass --sysctl net.ipv4.ip_unprivileged_port_start=$FW_MIN_PORT_START to docker run"
  fi
  read -r pid <"$FW_RUN_DIR/dnsmasq.pid" 2>/dev/null || true
  if ! [[ "$pid" =~ ^[0-9]+$ ]] || ! kill -0 "$pid" 2>/dev/null; then
    fw_fail "self-check: the resolver is not running"
  fi
  if [ -n "$FW_BLOCKED_PID" ] && wait "$FW_BLOCKED_PID"; then
    fw_fail "self-check: a name outside the allowlist resolved"
  fi
  while IFS= read -r line; do
    case "$line" in *" chain inet $FW_TABLE output "*) table="$line" ;; esac
  done <"$FW_RUN_DIR/loaded.nft"
  case "$table" in
    *"type filter hook output priority"*"policy drop;"*) ;;
    *) fw_fail "self-check: the default-deny policy is not in force" ;;
  esac
  : >"$FW_READY"
}

# fw_diagnose DOMAIN... : a diagnostic, not a guard (it never stops anything): warn about allowed
# names that do not resolve and about answers the firewall did not learn (connections to those
# are refused). Runs as root beside the agent; lookups in at most FW_LOOKUPS parallel getent
# calls (getent exits 2 when any of its names is dead). Writes only to stderr, one line each.
fw_diagnose() {
  local domain address _rest i size table chunk=() names=() pids=() dead=() resolved=0
  local out="$FW_RUN_DIR/lookup"
  for domain in "$@"; do
    case "$domain" in \*.*) ;; *) names+=("$domain") ;; esac
  done
  [ "${#names[@]}" -gt 0 ] || return 0
  size=$(( (${#names[@]} + FW_LOOKUPS - 1) / FW_LOOKUPS ))
  for ((i = 0; i * size < ${#names[@]}; i++)); do
    getent ahosts "${names[@]:$((i * size)):$size}" >"$out.$i" 2>/dev/null &
    pids+=("$!")
  done
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
  table=$(nft list table inet "$FW_TABLE" 2>&1) || table=""
  table=" ${table//[,\{\}$'\n'$'\t']/ } "
  for ((i = 0; i < ${#pids[@]}; i++)); do
    while read -r address _rest; do
      case "$table" in
        *" $address "*) resolved=$((resolved + 1)) ;;
        *) fw_warn "an allowed name resolved to $address but the firewall did not learn it: connections there are refused" ;;
      esac
    done <"$out.$i"
  done
  for domain in ${dead[@]+"${dead[@]}"}; do
    fw_warn "allowed domain '$domain' does not resolve (dead, or the upstream resolver is down)"
  done
  [ "$resolved" -gt 0 ] || fw_warn "none of the allowed domains resolves: the sandbox has no network access"
}
