# shellcheck shell=bash disable=SC2034 # CMD_*: read by lib/command.sh
# Usage: ./run_in_container.sh [run] [OPTIONS] [-- AGENT_ARGS...]
# Summary: start the agent (the default one unless --agent)
# Options:
#   --agent NAME         agent to start (one of those installed here: see below)
#   --work-dir PATH      directory to work in (default: this project); mounted at /app<PATH>;
#                        never a shared or system folder (/tmp, your home, /etc...) or one above
#   --read-only PATH     also mount PATH read-only at /app<PATH> (repeatable)
#   --mount PATH         also mount the folder PATH writable at /app<PATH> (repeatable); outside
#                        the project and the work dir, overlapping no other mount; asks first
#   --yes                no question for a --mount or --sessions-path (without a terminal they
#                        are refused unless --yes)
#   --git MODE           readonly (the default unless the project's answer says otherwise),
#                        track (the agent commits to a repository of its own, which fetch brings
#                        here; diff / revert show and undo what the session changed), off (.git
#                        hidden) or writable (unsafe: the agent can plant code your git runs)
#   --network NAME       attach to this Docker network instead of the default bridge
#   --name NAME          session (container) name (default: cxgen-<project>-<hash>, one per project)
#   --parallel           start another session when NAME runs (NAME-2, NAME-3...); starts at the
#                        same moment get a name each
#   --keep               keep the container after exit (resume it with attach NAME)
#   --port [HOST:]PORT   publish the sandbox's PORT on 127.0.0.1:HOST (default HOST=PORT;
#                        repeatable); reachable from this machine only (Docker publishes none
#                        from an --internal network: warned)
#   --host-port PORT     let the sandbox reach TCP PORT of this machine (the Docker host), and
#                        no other, at host.docker.internal:PORT (repeatable; the project's
#                        host_ports answer opens some for every session); the service must
#                        listen on 0.0.0.0 or the network's gateway, not 127.0.0.1 alone
#   --ssh-agent          let the agent use your ssh-agent ($SSH_AUTH_SOCK) for this session:
#                        it can sign with your keys while it runs, never read them (warned)
#   --allow DOMAIN       allow one more domain for this run (repeatable)
#   --env NAME           pass the host variable NAME into the sandbox, by name (repeatable)
#   -T                   no terminal (TTY) even when stdin and stdout are terminals; your
#                        stdin goes in when it is a terminal, a pipe or a file (not /dev/null)
#   --init_script FILE   run FILE inside the sandbox before the command
#   --sessions-path DIR  keep agent sessions in DIR (asks first: it is writable)
#   --config DIR         agent config to seed from (default: $CODEX_CONFIG_DIR or ~/.codex)
#   --auth_file FILE     the agent's host login file to use (default: where its own CLI keeps it,
#                        e.g. ~/.codex/auth.json)
#   --credentials MODE   copy (default): import the host's login when the agent home has none or
#                        the host's changed; none: never; nothing goes back to the host (sync,
#                        the old default, is copy) (also: CXGEN_CREDENTIALS)
#   --memory SIZE        memory limit (default 8g; e.g. 4g, or none)
#   --pids-limit N       process limit (default 4096, or none)
#   --accept-changes     start even if the allowlist, .codex/sandbox, the init hook or the
#                        host ports changed since you accepted them (also: CXGEN_ACCEPT_CHANGES=1)
#   --no-firewall        no egress firewall at all (loud; for debugging only)
#   -h, --help           show this help

CMD_OPTIONS="@start --yes"
CMD_WORDS=0
CMD_DASHES=args
CMD_NEEDS="docker control approval image-seen sandbox-queries"

cmd_run() { start_session run; }
