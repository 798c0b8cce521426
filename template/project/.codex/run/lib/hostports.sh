# shellcheck shell=bash
# Host ports (--host-port, the host_ports answer): exactly these TCP ports of the Docker host are
# open to the sandbox, at the host's address on the sandbox's own network (that network's IPv4
# gateway), which the sandbox knows as host.docker.internal. (Docker's own "host-gateway" is
# docker0's address, which a container on another network, an --internal one above all, cannot
# reach.) The firewall inside opens that address for these TCP ports only (CXGEN_HOST_PORTS);
# every other port and address of the host stays refused, UDP included, and lockdown refuses
# these too. The answer's ports are part of the accepted policy (lib/policy.sh); --host-port is
# your own choice for one session.

# Sets SESSION_HOST_PORTS: the answer's ports, then --host-port's, once each.
session_host_ports() {
  local port
  SESSION_HOST_PORTS=()
  for port in ${DEFAULT_HOST_PORTS[@]+"${DEFAULT_HOST_PORTS[@]}"} ${HOST_PORTS[@]+"${HOST_PORTS[@]}"}; do
    case " ${SESSION_HOST_PORTS[*]+${SESSION_HOST_PORTS[*]}} " in
      *" $port "*) ;;
      *) SESSION_HOST_PORTS+=("$port") ;;
    esac
  done
}

# host_port_args: the name and the firewall's ports, at GATEWAY (docker_gateway's; on a default
# bridge that names none, Docker's host-gateway, docker0's address: the same).
host_port_args() {
  # Only a bridge's gateway is this machine: a macvlan's or ipvlan's is your LAN's router.
  if [ -n "${NETWORK_DRIVER:-}" ] && [ "$NETWORK_DRIVER" != bridge ]; then
    die "host ports (--host-port, host_ports): network ${NETWORK:-bridge} has the driver $NETWORK_DRIVER, whose gateway is not this machine (on macvlan or ipvlan, your LAN's router); use a bridge network" "$EXIT_USAGE"
  fi
  DOCKER_ARGS+=(--add-host "host.docker.internal:${GATEWAY:-host-gateway}" -e "CXGEN_HOST_PORTS=${SESSION_HOST_PORTS[*]}")
  [ -z "$GATEWAY" ] || host_ports_listening
}

# host_ports_listening: a warning for each port nothing answers on at GATEWAY, when GATEWAY is
# an address of this machine (HOST_ADDRESSES; a remote engine's or Docker Desktop's is not,
# and is not tried). A connection from bash itself to this machine's own address: no waiting.
host_ports_listening() {
  local port
  case " $HOST_ADDRESSES " in *" $GATEWAY "*) ;; *) return 0 ;; esac
  for port in "${SESSION_HOST_PORTS[@]}"; do
    (: <>"/dev/tcp/$GATEWAY/$port") 2>/dev/null \
      || say "warning: host port $port: nothing listens at $GATEWAY:$port, where the sandbox reaches this machine (a service on 127.0.0.1 alone is out of its reach: have it listen on 0.0.0.0 or $GATEWAY, e.g. OLLAMA_HOST=0.0.0.0)"
  done
}
