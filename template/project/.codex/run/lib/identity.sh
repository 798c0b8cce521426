# shellcheck shell=bash
# Paths' identities: device and inode (the same folder under another name is the same tree), and
# owner, in as few forks as a start can do with.

# path_ids VAR PATH...: sets VAR to "DEVICE:INODE" of each PATH that exists, one a line.
path_ids() {
  # (Names of their own: VAR is the caller's.)
  local path_ids_facts path_ids_line path_ids_out=""
  path_facts path_ids_facts "${@:2}"
  for path_ids_line in $path_ids_facts; do path_ids_out="$path_ids_out${path_ids_line%:*:*}"$'\n'; done
  printf -v "$1" '%s' "${path_ids_out%$'\n'}"
}

# The facts of the paths this run looked up (path_facts), "PATH<tab>FACTS" lines (a path with a
# tab or a newline is never kept), until an agent has run (forget_path_facts): a start asks
# about the same folders in several checks, and each stat costs it a fork.
PATH_FACTS=$'\n'
forget_path_facts() { PATH_FACTS=$'\n'; }

# path_facts VAR PATH...: sets VAR to "DEVICE:INODE:UID:GID" of each PATH that exists (symlinks
# followed), one a line: one fork (GNU stat, or BSD's on macOS) for those not known yet.
path_facts() {
  # (Names of their own: VAR is the caller's.)
  local pf_path pf_rest pf_out="" pf_lines pf_asked=() pf_i=0 IFS=$' \t\n'
  for pf_path in "${@:2}"; do
    case "$pf_path" in
      *[$'\t\n']*) pf_asked+=("$pf_path") ;;
      *)
        case "$PATH_FACTS" in
          *$'\n'"$pf_path"$'\t'*)
            pf_rest="${PATH_FACTS#*$'\n'"$pf_path"$'\t'}"
            pf_out="$pf_out${pf_rest%%$'\n'*}"$'\n' ;;
          *) pf_asked+=("$pf_path") ;;
        esac ;;
    esac
  done
  if [ "${#pf_asked[@]}" -gt 0 ]; then
    if ! pf_lines=$(stat -L -c '%d:%i:%u:%g' -- "${pf_asked[@]}" 2>/dev/null) && [ -z "$pf_lines" ]; then
      # (BSD's stat, or none of the paths exists.)
      pf_lines=$(stat -L -f '%d:%i:%u:%g' -- "${pf_asked[@]}" 2>/dev/null) || :
    fi
    case "$pf_lines" in *[!0-9:$'\n']*) pf_lines="" ;; esac
    pf_out="$pf_out$pf_lines"
    # Kept when every path answered: then line N is path N's.
    IFS=$'\n'
    # shellcheck disable=SC2206 # digits and colons only
    pf_lines=($pf_lines)
    if [ "${#pf_lines[@]}" -eq "${#pf_asked[@]}" ]; then
      for pf_path in "${pf_asked[@]}"; do
        case "$pf_path" in *[$'\t\n']*) ;; *) PATH_FACTS="$PATH_FACTS$pf_path"$'\t'"${pf_lines[$pf_i]}"$'\n' ;; esac
        pf_i=$((pf_i + 1))
      done
    fi
  fi
  printf -v "$1" '%s' "${pf_out%$'\n'}"
}
