# shellcheck shell=bash
# Tables (list, images): each column as wide as its widest cell, two spaces apart, the last one
# unpadded. Cells lose their control characters (some come from labels and image names).

table_start() { TABLE_ROWS=() TABLE_WIDTHS=(); }

# table_row CELL...: one row.
table_row() {
  local LC_ALL=C i=0 cell row=""
  for cell in "$@"; do
    cell="${cell//[$'\001'-$'\037'$'\177']/}"
    [ "${#cell}" -le "${TABLE_WIDTHS[$i]:-0}" ] || TABLE_WIDTHS[i]=${#cell}
    row="$row$cell"$'\037'
    i=$((i + 1))
  done
  TABLE_ROWS+=("$row")
}

# The rows, on stdout.
table_print() {
  local LC_ALL=C row cells i last
  for row in ${TABLE_ROWS[@]+"${TABLE_ROWS[@]}"}; do
    IFS=$'\037' read -r -a cells <<<"$row"
    last=$((${#cells[@]} - 1))
    for ((i = 0; i < last; i++)); do printf '%-*s  ' "${TABLE_WIDTHS[$i]}" "${cells[$i]}"; done
    printf '%s\n' "${cells[$last]:-}"
  done
}
