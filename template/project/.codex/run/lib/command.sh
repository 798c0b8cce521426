# shellcheck shell=bash
# Commands: how one runs (its options, the checks it declares, then cmd_NAME), and the help,
# read from each command file's header (# Usage:, # Summary:, then its text), so it cannot drift.

# command_main NAME ARGS...: the command's options and words, its own checks of them (args_NAME),
# the checks its file declares in CMD_NEEDS (in command_needs' order), then cmd_NAME.
command_main() {
  local name="$1"
  shift
  options_parse "$name" "$@"
  ! command_defined "args_$name" || "args_$name"
  command_needs " ${CMD_NEEDS:-} "
  "cmd_$name"
}

# (declare -F, not $(type -t): no subshell.)
command_defined() { declare -F "$1" >/dev/null; }

# command_needs " NEEDS ": docker (the CLI), control (the files that steer the host: no
# symlinks; the allowlist read, .codex/sandbox hashed), approval (the policy you accepted, asked
# when it changed), image-query and sandbox-queries (started early, answered when needed;
# image-seen: image-query, but a tag a start found before is taken as there, lib/imageseen.sh).
command_needs() {
  case "$1" in *" docker "*) need_docker ;; esac
  # The listing first: it takes longest.
  case "$1" in *" sandbox-queries "*) start_sandbox_queries ;; esac
  case "$1" in *" control "*) check_control_paths; collect_domains; context_hash_cached ;; esac
  case "$1" in *" approval "*) approve_policy ;; esac
  # An approval that showed changes may have waited for you: the listing must be fresh.
  case "$1" in *" sandbox-queries "*) [ "$POLICY_SHOWN" = no ] || start_sandbox_queries again ;; esac
  case "$1" in *" image-query "*) start_image_query ;; *" image-seen "*) start_image_query seen ;; esac
}

# help_header NAME: the comment header of cmd/NAME.sh, without its "# " (shellcheck lines left out).
help_header() {
  local line
  while IFS= read -r line; do
    case "$line" in
      "# shellcheck "*) ;;
      "#" | "# "*) line="${line#\#}"; printf '%s\n' "${line# }" ;;
      *) return 0 ;;
    esac
  done <"$RUN_DIR/cmd/$1.sh"
}

# help_command NAME: NAME's usage and options (the session options where its header says so).
help_command() {
  local line session=no
  while IFS= read -r line; do
    case "$line" in
      "Summary: "*) printf '%s\n\n' "${line#Summary: }" ;;
      "@start-options") session=yes; help_header run | sed -n '/^Options:/,$p' | sed 1d ;;
      *) printf '%s\n' "$line" ;;
    esac
  done < <(help_header "$1")
  [ "$1" != run ] && [ "$session" = no ] || help_project
}

# help_project: what the session options default to in this project.
help_project() {
  printf '\nHere: agents %s (default %s); git mode %s.\n' "$INSTALLED_AGENTS" "$DEFAULT_AGENT" "$DEFAULT_GIT_MODE"
}

# help_field NAME FIELD: the value of "FIELD: " in NAME's header.
help_field() { help_header "$1" | sed -n "s/^$2: //p" | head -n 1; }

# help_all: every command (COMMANDS, the entry's list), with its usage and summary, then what
# all of them share.
help_all() {
  local name usage
  printf 'Usage: ./run_in_container.sh [COMMAND] [OPTIONS] (the command is run by default)\n\n'
  printf 'Commands (./run_in_container.sh help COMMAND, or COMMAND --help, for its options):\n'
  for name in $COMMANDS; do
    usage=$(help_field "$name" Usage)
    printf '  %s\n      %s\n' "${usage#./run_in_container.sh }" "$(help_field "$name" Summary)"
  done
  printf '\nSession options (run, shell, exec, login):\n'
  help_header run | sed -n '/^Options:/,$p' | sed 1d
  help_project
  printf '\n'
  help_header help | sed -n '/^Notes:/,$p' | sed 1d
  printf 'Allowed domains: %s\n' "$DOMAINS_FILE"
}
