# cxgen: the sandbox resolver's log, summarised in bounded memory. dnsmasq (log-queries=extra)
# writes one line per event into a FIFO that this reads, as root:
#   "<date> dnsmasq[PID]: SERIAL ADDR/PORT query[A] NAME from ADDR"
#   "<date> dnsmasq[PID]: SERIAL ADDR/PORT config NAME is NXDOMAIN"    (a refused name)
#   "<date> dnsmasq[PID]: SERIAL ADDR/PORT reply NAME is ADDRESS"      (an answered name)
# dnsmasq prints a name with unprintable characters as "<name unprintable>", so a name cannot
# start a line of its own; names are lowercased and checked here too. Names asked are kept only
# in learn mode (-v learn=yes). cxgen-ctl asks for a
# summary by writing "\001dump NONCE" into the same FIFO; it is written to DIR/dump.NONCE, one
# tab-separated record a line, "end" last:
#   refused NAME COUNT | asked NAME COUNT | resolved NAME ADDRESS | dropped COUNT
# At most MAX names and MAX name-address pairs are kept; what comes after is only counted.
BEGIN { max = 2000; names = 0; pairs = 0; dropped = 0 }

index($0, "\001dump ") == 1 {
  nonce = substr($0, 7)
  if (nonce ~ /^[0-9A-Za-z-]+$/) dump(dir "/dump." nonce)
  next
}

{ gsub(/<name unprintable>/, "?") }

# Fields: 1-3 date, 4 "dnsmasq[PID]:", 5 serial, 6 client, 7 event, 8 name, 9 "is"/"from", 10 what.
$4 !~ /^dnsmasq\[[0-9]+\]:$/ || $5 !~ /^[0-9]+$/ { next }

$7 ~ /^query\[/ {
  name = clean($8)
  asked_by[$5] = name
  # Only recent queries' names are needed to match their answers.
  delete asked_by[$5 - 500]
  if (learn == "yes") count("asked", name)
  next
}

$7 == "config" && $9 == "is" && $10 ~ /^(NXDOMAIN|NODATA)/ { count("refused", clean($8)); next }

($7 == "reply" || $7 == "cached") && $9 == "is" && $10 ~ /^[0-9a-fA-F:.]+$/ && $10 ~ /[.:]/ {
  # The name that was asked (a CNAME's target answers for it).
  name = ($5 in asked_by) ? asked_by[$5] : clean($8)
  if ((name, $10) in resolved) next
  if (pairs >= max) { dropped++; next }
  pairs++
  resolved[name, $10] = 1
  next
}

# Lowercase, no trailing dot; anything but a plain host name becomes "?".
function clean(name) {
  name = tolower(name)
  sub(/\.$/, "", name)
  # No "*": a lookup never asks for one, only a forged query would (a pasted `allow *.co.uk`).
  return (name ~ /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/) ? name : "?"
}

function count(kind, name) {
  if ((kind, name) in counts) { counts[kind, name]++; return }
  if (names >= max) { dropped++; return }
  names++
  counts[kind, name] = 1
}

function dump(file,    key, part) {
  for (key in counts) {
    split(key, part, SUBSEP)
    print part[1] "\t" part[2] "\t" counts[key] > file
  }
  for (key in resolved) {
    split(key, part, SUBSEP)
    print "resolved\t" part[1] "\t" part[2] > file
  }
  print "dropped\t" dropped > file
  print "end" > file
  close(file)
}
