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
#   CXGEN_RELAY_ROUTES   "HOST KIND HOST KIND ...": the relayed hosts (host[:port]) and what
#                        each is: bearer, x-api-key (how a key is sent), openai (bearer; codex's
#                        API, whose /v1/ a ChatGPT sign-in's requests use too), chatgpt (where a
#                        ChatGPT sign-in's requests go), refresh (its OAuth token endpoint)
# and the file RELAY_KEYS_IN, "HOST KEY" lines for the hosts whose key you have set, and for a
# ChatGPT sign-in "HOST ACCESS REFRESH ACCOUNT ID" (its chatgpt host): read once and emptied here
# (a `docker restart` finds the relay's own copy). The sign-in's tokens then live in
# RELAY_CHATGPT, where relay.js uses and refreshes them.

readonly RELAY_USER=cxgen-relay RELAY_PORT=8700
readonly RELAY_DIR=/var/lib/cxgen-relay
readonly RELAY_KEYS_IN=/run/cxgen-relay-keys RELAY_CHATGPT=/var/lib/cxgen-relay/chatgpt.json
readonly RELAY_HOST_RE='^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$'
# What a key may hold: it is written into nginx's configuration, where quotes, backslashes,
# $ and ; would mean something; up to 8192 characters (relay_key_ok: no bounded repetition in the
# pattern, which glibc's regex expands into an automaton that takes seconds to build).
readonly RELAY_KEY_RE='^[A-Za-z0-9._~+/=:-]+$'

# relay_start: the relay's configuration (made once per container, from RELAY_KEYS_IN, which is
# emptied before anything of the agent's runs), then nginx, as the relay's account, detached:
# the command starts beside it, not after it (an agent's first API call comes long after nginx
# listens; one made earlier is refused and retried). Any failure leaves the relay down, said in
# one line: the agent's API calls fail, and nothing else ever carries a key (fail closed).
relay_start() {
  [ -n "${CXGEN_RELAY_ROUTES:-}" ] || return 0
  # (Its account, and that the agent is not it: agent_ids.)
  [ -d "$RELAY_DIR/run" ] && [ ! -L "$RELAY_DIR" ] && [ ! -L "$RELAY_DIR/run" ] \
    || fw_fail "$RELAY_DIR is not the relay's folder; rebuild the image"
  # Once per container, by a subshell: the keys are never in this shell's memory. A `docker
  # restart` keeps the relay's configuration; whatever its keys file holds then (it was emptied,
  # and the run script empties it again after the session) is emptied, never used.
  # A refresh's lock outlives a session whose command ended while the relay answered (the
  # container stops at once); at a start, no refresh is under way.
  [ ! -e "$RELAY_DIR/run/refresh.lock" ] || rm -f "$RELAY_DIR/run/refresh.lock"
  if [ ! -f "$RELAY_DIR/nginx.conf" ]; then
    (relay_configure) || { relay_failed "its configuration failed"; return 0; }
  elif [ -s "$RELAY_KEYS_IN" ]; then
    : >"$RELAY_KEYS_IN"
  fi
  (
    trap - ERR
    set +e
    { "${AS_RELAY[@]}" nginx -p "$RELAY_DIR/" -c "$RELAY_DIR/nginx.conf" -e "$RELAY_DIR/error.log" \
      </dev/null >/dev/null 2>"$RELAY_DIR/start.err" \
      || relay_failed "$(head -c 300 "$RELAY_DIR/start.err")"; } &
  )
}

# relay_failed WHY: the one line saying so.
relay_failed() {
  log "error: the API relay did not start (${1:-nginx failed}): the agent's API calls will fail; your keys stay outside"
}

# The relay's account, dropped to for good like the agent's.
# (Made, then marked: the entrypoint sources this file in a function, where bash 3.2's
# `readonly -a NAME=(...)` would make it local.)
AS_RELAY=(setpriv --reuid "$RELAY_USER" --regid "$RELAY_USER" --clear-groups
  --inh-caps=-all --bounding-set=-all --no-new-privs --)
readonly AS_RELAY

# relay_configure: nginx.conf in the relay's folder, readable by it alone, with the keys given
# (whole or not at all: relay_start makes it only when missing). RELAY_KEYS_IN is emptied
# whatever it held.
relay_configure() {
  local routes=() host key rest conf="$RELAY_DIR/nginx.conf" status=0
  local -a keys=()
  trap - ERR
  set +e
  read -r -a routes <<<"$CXGEN_RELAY_ROUTES"
  if [ -f "$RELAY_KEYS_IN" ] && [ ! -L "$RELAY_KEYS_IN" ]; then
    while read -r host key rest; do
      [ -n "$host" ] || continue
      if ! relay_routed "$host" || ! relay_key_ok "$key"; then
        log "error: the key for $host cannot be relayed (not a relayed host, or a character no key holds)"
        status=1
      elif [ -n "$rest" ]; then
        # shellcheck disable=SC2086 # "REFRESH ACCOUNT ID": words, each checked there
        relay_sign_in "$key" $rest || status=1
      fi
      keys+=("$host" "$key")
    done <"$RELAY_KEYS_IN"
    : >"$RELAY_KEYS_IN"
  fi
  [ "$status" -eq 0 ] || return 1
  umask 077
  # (A new container's: nothing reads it yet. Incomplete, nginx refuses it.)
  if ! { relay_conf ${keys[@]+"${keys[@]}"} >"$conf" && chown "$RELAY_USER" "$conf"; }; then
    rm -f "$conf"
    return 1
  fi
}

# relay_sign_in ACCESS REFRESH ACCOUNT ID: a ChatGPT sign-in's tokens (ACCOUNT "-": none), for relay.js (its own file,
# the relay's alone). (What a refresh brings goes to the run script's file, mounted in the
# relay's folder, where no agent reaches.)
relay_sign_in() {
  if ! { [ "$#" -eq 4 ] && relay_key_ok "$2" && [ "${#3}" -le 200 ] && [[ "$3" =~ ^[A-Za-z0-9_-]+$ ]] \
    && relay_key_ok "$4"; }; then
    log "error: the ChatGPT sign-in cannot be relayed (a token with a character no token holds)"
    return 1
  fi
  # ("chain": the refresh tokens it has had, this one first; see relay.js.)
  (umask 077 && printf '{"access":"%s","refresh":"%s","chain":"%s","account":"%s","id":"%s"}\n' \
    "$1" "$2" "$2" "${3#-}" "$4" >"$RELAY_CHATGPT") && chown "$RELAY_USER" "$RELAY_CHATGPT"
}

# emit: stdin to stdout, by bash itself (no fork: this runs at every start).
emit() {
  local line
  while IFS= read -r line; do printf '%s\n' "$line"; done
}

# relay_key_ok VALUE: VALUE is what a key or token may hold.
relay_key_ok() { [ "${#1}" -le 8192 ] && [[ "$1" =~ $RELAY_KEY_RE ]]; }

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
  local i host kind pattern auth prefix KEY resolver chatgpt=chatgpt.com signed_in=no
  resolver=$(relay_resolver)
  for ((i = 0; i < ${#routes[@]}; i += 2)); do
    [ "${routes[$((i + 1))]}" != chatgpt ] || chatgpt="${routes[$i]}"
  done
  [ ! -s "$RELAY_CHATGPT" ] || signed_in=yes
  [ "$signed_in" = no ] || printf 'load_module /usr/lib/nginx/modules/ngx_http_js_module.so;\n'
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
  # A ChatGPT sign-in's token the agent holds itself (a JWT): its /v1/X is /backend-api/codex/X.
  map \$http_authorization \$relay_chatgpt { "~^Bearer eyJ" 1; default 0; }
  map \$relay_chatgpt \$relay_openai_base { 1 /backend-api/codex; default /v1; }
EOF
  [ "$signed_in" = no ] || emit <<EOF
  # A ChatGPT sign-in the relay holds (relay.js): its tokens, as they are now.
  js_import relay from /usr/local/lib/cxgen/relay.js;
  js_set \$relay_chatgpt_bearer relay.bearer;
  js_set \$relay_chatgpt_account relay.account;
  js_fetch_trusted_certificate /etc/ssl/certs/ca-certificates.crt;
  client_body_buffer_size 64k;
EOF
  emit <<EOF
  server {
    listen 127.0.0.1:$RELAY_PORT;
    default_type text/plain;
    error_page 502 504 = @unreachable;
    location @unreachable {
      return 502 "cxgen relay: \$relay_host did not answer over verified TLS (allowed? ./run_in_container.sh denied)\n";
    }
EOF
  for ((i = 0; i < ${#routes[@]}; i += 2)); do
    host="${routes[$i]}" kind="${routes[$((i + 1))]}"
    [[ "$host" =~ $RELAY_HOST_RE ]] || { log "error: bad relayed host '$host'"; return 1; }
    pattern="${host//./\\.}"
    relay_key "$host" "$@"
    auth=""
    case "$kind" in
      bearer | openai) [ -z "$KEY" ] || auth="proxy_set_header Authorization \"Bearer $KEY\";" ;;
      x-api-key) [ -z "$KEY" ] || auth="proxy_set_header x-api-key \"$KEY\"; proxy_set_header Authorization \"\";" ;;
      chatgpt) [ "$signed_in" = no ] || auth="$RELAY_SIGN_IN_AUTH" ;;
      refresh) [ "$signed_in" = no ] || relay_refresh_location "$host" "$pattern" ;;
      *) log "error: bad relay kind '$kind'"; return 1 ;;
    esac
    # codex's API, when you gave no key: a ChatGPT sign-in's requests (codex sends them to its
    # openai_base_url, this route) go where that plan's go, the chatgpt route's host.
    if [ "$kind" = openai ] && [ -z "$KEY" ]; then
      relay_chatgpt_location "$host" "$pattern" "$chatgpt" "$signed_in"
    fi
    # A key goes only with the requests of the API's own path (any other path of the host is
    # passed on without it: a page that echoes headers, a proxy's key minting, the account's
    # other pages); a bearer of yours (the relay answer) with every path.
    case "$kind" in openai | x-api-key) prefix=v1/ ;; chatgpt) prefix=backend-api/ ;; *) prefix="" ;; esac
    if [ -n "$auth" ] && [ -n "$prefix" ]; then
      relay_host_location "/$host/$prefix" "$host"
      relay_proxy "^/$pattern(/.*)\$" "\$1" "$auth"
      auth=""
    fi
    relay_host_location "/$host/" "$host"
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

# The lines that put a ChatGPT sign-in's current token in place (relay.js's variables).
# shellcheck disable=SC2016 # nginx's variables
readonly RELAY_SIGN_IN_AUTH='proxy_set_header Authorization $relay_chatgpt_bearer; proxy_set_header chatgpt-account-id $relay_chatgpt_account;'

# relay_host_location PREFIX HOST: a location begun, its upstream HOST.
relay_host_location() {
  emit <<EOF
    location $1 {
      set \$relay_host $2;
      set \$relay_sni ${2%:*};
EOF
}

# relay_chatgpt_location HOST PATTERN CHATGPT SIGNED_IN: codex's /HOST/v1/ for a ChatGPT sign-in:
# the relay's (SIGNED_IN yes) always, else a JWT the agent holds, sent to CHATGPT's
# /backend-api/codex/.
relay_chatgpt_location() {
  local upstream="$1"
  [ "$4" = no ] || upstream="$3"
  relay_host_location "/$1/v1/" "$upstream"
  if [ "$4" = yes ]; then
    relay_proxy "^/$2/v1(/.*)\$" "/backend-api/codex\$1" "$RELAY_SIGN_IN_AUTH"
  else
    emit <<EOF
      if (\$relay_chatgpt) { set \$relay_host $3; set \$relay_sni ${3%:*}; }
EOF
    relay_proxy "^/$2/v1(/.*)\$" "\$relay_openai_base\$1"
  fi
}

# relay_refresh_location HOST PATTERN: the sign-in's refresh, made by relay.js.
relay_refresh_location() {
  emit <<EOF
    location = /$1/oauth/token {
      set \$relay_host $1;
      set \$relay_token_url https://$1/oauth/token;
      js_content relay.refresh;
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
