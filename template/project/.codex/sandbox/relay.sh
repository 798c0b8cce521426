# shellcheck shell=bash
# The API relay: your API keys never enter the sandbox. The agent gets a placeholder and sends
# its API requests to http://127.0.0.1:8700/HOST/...; nginx, run as an account of its own
# (cxgen-relay), sends them on to https://HOST/... (and only to the relayed hosts), verifying the
# server's certificate, with the key put in place of the agent's. The agent, another uid without
# capabilities (uid 0 too, in root mode), cannot read the relay's folder, its configuration or
# its memory, nor signal it. Sourced by the entrypoint, which runs relay_start as root before the
# agent exists.
#
# Environment (set by run_in_container.sh):
#   CXGEN_RELAY_ROUTES   "HOST HEADER HOST HEADER ...": the relayed hosts (host[:port]) and how
#                        a key is sent to each (bearer, x-api-key)
# and the file RELAY_KEYS_IN, "HOST KEY" lines for the hosts whose key you have set: read once
# and emptied here (a `docker restart` finds the relay's own copy).

readonly RELAY_USER=cxgen-relay RELAY_PORT=8700
readonly RELAY_DIR=/var/lib/cxgen-relay
readonly RELAY_KEYS_IN=/run/cxgen-relay-keys
readonly RELAY_HOST_RE='^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$'
# What a key may hold: it is written into nginx's configuration, where quotes, backslashes,
# $ and ; would mean something.
readonly RELAY_KEY_RE='^[A-Za-z0-9._~+/=:-]{1,4096}$'

# relay_start: the relay's configuration (made once per container, from RELAY_KEYS_IN, which is
# emptied before anything of the agent's runs), then nginx, as the relay's account, in the
# background (relay_check waits for it). Any failure leaves the relay down: the agent's API calls
# fail, and nothing else ever carries a key (fail closed).
relay_start() {
  RELAY_PID=""
  [ -n "${CXGEN_RELAY_ROUTES:-}" ] || return 0
  account_id /etc/passwd name "$RELAY_USER" || fw_fail "the relay's user $RELAY_USER is missing from the image; rebuild it"
  [ "$AGENT_UID" -ne "$ACCOUNT_ID" ] || fw_fail "uid $AGENT_UID is the relay's; run as another user"
  [ -d "$RELAY_DIR/run" ] && [ ! -L "$RELAY_DIR" ] && [ ! -L "$RELAY_DIR/run" ] \
    || fw_fail "$RELAY_DIR is not the relay's folder; rebuild the image"
  # A subshell reads the keys: they are never in this shell's memory.
  if [ -s "$RELAY_KEYS_IN" ] || [ ! -f "$RELAY_DIR/nginx.conf" ]; then
    (relay_configure) || { RELAY_FAILED="its configuration failed"; return 0; }
  fi
  "${AS_RELAY[@]}" nginx -p "$RELAY_DIR/" -c "$RELAY_DIR/nginx.conf" -e "$RELAY_DIR/error.log" \
    </dev/null >/dev/null 2>"$RELAY_DIR/start.err" &
  RELAY_PID=$!
}

# relay_check: after the relay's start, one line when it failed (the agent's API calls will).
RELAY_FAILED=""
relay_check() {
  local line=""
  if [ -n "$RELAY_PID" ] && ! wait "$RELAY_PID"; then
    IFS= read -r line <"$RELAY_DIR/start.err" || true
    RELAY_FAILED="${line:-nginx failed}"
  fi
  RELAY_PID=""
  [ -z "$RELAY_FAILED" ] || log "error: the API relay did not start ($RELAY_FAILED): the agent's API calls will fail; your keys stay outside"
}

# The relay's account, dropped to for good like the agent's.
readonly -a AS_RELAY=(setpriv --reuid "$RELAY_USER" --regid "$RELAY_USER" --clear-groups
  --inh-caps=-all --bounding-set=-all --no-new-privs --)

# relay_configure: nginx.conf in the relay's folder, readable by it alone, with the keys given.
# RELAY_KEYS_IN is emptied and handed to the relay's account (closed to the agent, uid 0 too)
# whatever it held.
relay_configure() {
  local routes=() host key conf="$RELAY_DIR/nginx.conf" status=0
  local -a keys=()
  trap - ERR
  set +e
  read -r -a routes <<<"$CXGEN_RELAY_ROUTES"
  if [ -f "$RELAY_KEYS_IN" ] && [ ! -L "$RELAY_KEYS_IN" ]; then
    while read -r host key; do
      [ -n "$host" ] || continue
      if ! relay_routed "$host" || ! [[ "$key" =~ $RELAY_KEY_RE ]]; then
        log "error: the key for $host cannot be relayed (not a relayed host, or a character no key holds)"
        status=1
      fi
      keys+=("$host" "$key")
    done <"$RELAY_KEYS_IN"
    # (A file system that keeps no owners, Docker Desktop's, has it emptied all the same.)
    : >"$RELAY_KEYS_IN"
  fi
  [ "$status" -eq 0 ] || return 1
  umask 077
  relay_conf ${keys[@]+"${keys[@]}"} >"$conf" || return 1
  chown "$RELAY_USER" "$conf" "$RELAY_KEYS_IN" 2>/dev/null
  # Root's no longer: the relay's (-O: owned by this shell's uid, root).
  [ ! -O "$conf" ]
}

# emit: stdin to stdout, by bash itself (no fork: this runs at every start).
emit() {
  local line
  while IFS= read -r line; do printf '%s\n' "$line"; done
}

# relay_routed HOST: HOST is one of CXGEN_RELAY_ROUTES's.
relay_routed() {
  local i
  for ((i = 0; i < ${#routes[@]}; i += 2)); do
    [ "${routes[$i]}" != "$1" ] || return 0
  done
  return 1
}

# relay_key HOST: the key for HOST among the "HOST KEY" words given, into KEY ("" when none).
relay_key() {
  local host="$1"
  shift
  KEY=""
  while [ "$#" -ge 2 ]; do
    if [ "$1" = "$host" ]; then KEY="$2"; return 0; fi
    shift 2
  done
}

# relay_resolver: the sandbox's resolver, as nginx names it (resolv.conf's first; ours, once the
# firewall is up; Docker's, with --no-firewall).
relay_resolver() {
  local key value _rest
  while read -r key value _rest; do
    [ "$key" = nameserver ] || continue
    case "$value" in *:*) printf '[%s]\n' "$value" ;; *) printf '%s\n' "$value" ;; esac
    return 0
  done </etc/resolv.conf
  printf '127.0.0.11\n'
}

# relay_conf HOST KEY ...: nginx's configuration. Each relayed host is a location of its own,
# /HOST/, whose upstream is fixed (a variable naming that host, so nginx resolves it when asked,
# through the sandbox's resolver and firewall); any other path is refused.
relay_conf() {
  local i host header pattern auth KEY resolver
  resolver=$(relay_resolver)
  emit <<EOF
# cxgen's API relay (made by the entrypoint; see /usr/local/lib/cxgen/relay.sh)
worker_processes 1;
pid $RELAY_DIR/run/nginx.pid;
error_log $RELAY_DIR/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  server_tokens off;
  client_body_temp_path $RELAY_DIR/run/body;
  proxy_temp_path $RELAY_DIR/run/proxy;
  fastcgi_temp_path $RELAY_DIR/run/fastcgi;
  uwsgi_temp_path $RELAY_DIR/run/uwsgi;
  scgi_temp_path $RELAY_DIR/run/scgi;
  resolver $resolver valid=30s;
  resolver_timeout 10s;
  client_max_body_size 0;
  proxy_http_version 1.1;
  proxy_buffering off;
  proxy_request_buffering off;
  proxy_read_timeout 1h;
  proxy_send_timeout 1h;
  proxy_ssl_verify on;
  proxy_ssl_verify_depth 5;
  proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;
  proxy_ssl_server_name on;
  proxy_ssl_protocols TLSv1.2 TLSv1.3;
  map \$http_upgrade \$relay_connection { default upgrade; '' ''; }
  # A ChatGPT sign-in's token (see the openai routes): its /v1/X is /backend-api/codex/X.
  map \$http_authorization \$relay_chatgpt { "~^Bearer eyJ" 1; default 0; }
  map \$relay_chatgpt \$relay_openai_base { 1 /backend-api/codex; default /v1; }
  server {
    listen 127.0.0.1:$RELAY_PORT;
    default_type text/plain;
    error_page 502 504 = @unreachable;
    location @unreachable {
      return 502 "cxgen relay: \$relay_host did not answer over verified TLS (allowed? ./run_in_container.sh denied)\n";
    }
EOF
  for ((i = 0; i < ${#routes[@]}; i += 2)); do
    host="${routes[$i]}" header="${routes[$((i + 1))]}"
    [[ "$host" =~ $RELAY_HOST_RE ]] || { log "error: bad relayed host '$host'"; return 1; }
    pattern="${host//./\\.}"
    relay_key "$host" "$@"
    auth=""
    case "$header" in
      bearer | openai) [ -z "$KEY" ] || auth="proxy_set_header Authorization \"Bearer $KEY\";" ;;
      x-api-key) [ -z "$KEY" ] || auth="proxy_set_header x-api-key \"$KEY\"; proxy_set_header Authorization \"\";" ;;
      *) log "error: bad relay header '$header'"; return 1 ;;
    esac
    # openai, when you gave no key: a ChatGPT sign-in's token (a JWT) that the agent holds goes
    # where that plan's requests go (codex sends them to its openai_base_url, this route):
    # https://chatgpt.com/backend-api/codex/X for /v1/X (this route's host, when it is not
    # api.openai.com: a stand-in, a proxy).
    if [ "$header" = openai ] && [ -z "$KEY" ]; then
      emit <<EOF
    location /$host/v1/ {
      set \$relay_host $host;
      set \$relay_sni ${host%:*};
EOF
      [ "$host" != api.openai.com ] || emit <<EOF
      if (\$relay_chatgpt) { set \$relay_host chatgpt.com; set \$relay_sni chatgpt.com; }
EOF
      relay_proxy "^/$pattern/v1(/.*)\$" "\$relay_openai_base\$1"
    fi
    emit <<EOF
    location /$host/ {
      set \$relay_host $host;
      set \$relay_sni ${host%:*};
EOF
    relay_proxy "^/$pattern(/.*)\$" "\$1" "$auth"
  done
  emit <<EOF
    location / {
      return 403 "cxgen relay: not a relayed API host (the relayed ones: $CXGEN_RELAY_ROUTES)\n";
    }
  }
}
EOF
}

# relay_proxy REGEX TARGET [AUTH]: the rest of a location begun: its path rewritten (REGEX to
# TARGET), sent on to https://$relay_host, whose certificate must name $relay_sni; AUTH, the lines that
# put a key in place.
relay_proxy() {
  emit <<EOF
      rewrite $1 $2 break;
      proxy_pass https://\$relay_host;
      proxy_ssl_name \$relay_sni;
      proxy_set_header Host \$relay_host;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$relay_connection;
      ${3:-}
    }
EOF
}
