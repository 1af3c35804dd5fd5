# Helpers for the monitor tests (sourced after tests/cli/lib.sh): directories
# served over HTTP on loopback, keys, configurations, alert assertions.
MKLOG="python3 $KTA_SRCDIR/tests/tools/monitor_mklog.py"
ALERTS="python3 $KTA_SRCDIR/tests/tools/monitor_alerts.py"
K=$KTAUDIT
SERVERS=""
BGPIDS=""

mon_cleanup() {
  local p
  set +e
  for p in $SERVERS $BGPIDS; do kill -9 "$p"; done 2>/dev/null
  for p in $SERVERS $BGPIDS; do wait "$p"; done 2>/dev/null
  rm -rf "$T"
}
trap mon_cleanup EXIT

# serve DIR: serves DIR over HTTP; sets URL (base URL) and SRV (server pid).
serve() {
  local pf i
  pf=$(mktemp -u "$T/port.XXXXXX")
  python3 "$KTA_SRCDIR/tests/tools/monitor_serve.py" "$1" "$pf" &
  SRV=$!
  SERVERS="$SERVERS $SRV"
  for i in $(seq 1 200); do
    [ -s "$pf" ] && break
    sleep 0.05
  done
  [ -s "$pf" ] || { echo "server for $1 did not start" >&2; exit 1; }
  URL="http://127.0.0.1:$(cat "$pf")/"
}

# unserve PID: stops a server.
unserve() {
  { kill -9 "$1" && wait "$1"; } 2>/dev/null || true
}

# randkey: a fresh 32-byte public key in base64 (need not be a valid point).
randkey() {
  head -c 32 /dev/urandom | base64 -w0
  echo
}

# labelkey NAME: makes $T/NAME.key (Ed25519) and prints its public key (base64).
labelkey() {
  local v
  $K keygen --name "$1" --out "$T/$1.key" >"$T/$1.vkey"
  v=$(cat "$T/$1.vkey")
  v=${v#*+}
  # vkey = name+id+base64(0x01 || key): drop the type byte
  echo "${v#*+}" | base64 -d | tail -c 32 | base64 -w0
  echo
}

# [LOG=L] mkconf NAME URL [LINE...]: writes $T/NAME.conf for one log
# (section and origin example.com/L, key $T/L.log.vkey; L defaults to NAME)
# with state $T/NAME.state and a file sink $T/NAME.alerts; extra lines go
# into the log section.
mkconf() {
  local name=$1 url=$2 log=${LOG:-$1}
  shift 2
  {
    echo "state_dir $T/$name.state"
    echo "sink file $T/$name.alerts"
    echo "log example.com/$log"
    echo "url $url"
    echo "key $(cat "$T/$log.log.vkey")"
    for l in "$@"; do echo "$l"; done
  } >"$T/$name.conf"
}

# newdir NAME: a log key $T/NAME.log.key and an empty directory $T/NAME.d.
newdir() {
  $K keygen --name "example.com/$1" --out "$T/$1.log.key" >"$T/$1.log.vkey"
  $K dir init "$T/$1.d" --origin "example.com/$1" --key "$T/$1.log.key" >/dev/null
}

# showalerts NAME: "ID KIND SEVERITY label=L version=V leaf=N" per alert of
# NAME's sink file, cached (one python run per change of the file).
showalerts() {
  local f="$T/$1.alerts" c="$T/$1.show" key
  key=$(stat -c '%s %y' "$f" 2>/dev/null || echo none)
  if [ ! -e "$c" ] || [ "$(head -n 1 "$c")" != "$key" ]; then
    { echo "$key"; $ALERTS show "$f"; } >"$c.tmp"
    mv "$c.tmp" "$c"
  fi
  tail -n +2 "$c"
}

# alerts NAME: the alerts of NAME's sink file, one summary line each.
alerts() {
  showalerts "$1" | cut -d' ' -f2-
}

# has_alert NAME LINE DESC: NAME's sink has exactly this alert line.
has_alert() {
  alerts "$1" >"$T/alerts.txt"
  if grep -qxF -- "$2" "$T/alerts.txt"; then
    PASS=$((PASS + 1))
  else
    FAIL=$((FAIL + 1))
    echo "FAIL: $3: no alert \"$2\"" >&2
    sed 's/^/  have: /' "$T/alerts.txt" >&2
  fi
}

# nalerts NAME N DESC: NAME's sink holds exactly N alerts, no id twice.
nalerts() {
  local n d
  showalerts "$1" >"$T/alerts.txt"
  n=$(wc -l <"$T/alerts.txt")
  d=$(cut -d' ' -f1 "$T/alerts.txt" | sort | uniq -d | wc -l)
  if [ "$n" -eq "$2" ] && [ "$d" -eq 0 ]; then
    PASS=$((PASS + 1))
  else
    FAIL=$((FAIL + 1))
    echo "FAIL: $3: $n alerts (want $2), $d ids repeated" >&2
    sed 's/^/  have: /' "$T/alerts.txt" >&2
  fi
}

# ok COND DESC: a shell condition as an assertion.
ok() {
  if eval "$1"; then
    PASS=$((PASS + 1))
  else
    FAIL=$((FAIL + 1))
    echo "FAIL: $2 ($1)" >&2
  fi
}

# waitfor COND DESC: polls the shell condition COND (every 0.1 s, at most
# 60 s: a bound, not a timing assumption) and asserts that it became true.
waitfor() {
  local i
  for i in $(seq 1 600); do
    if eval "$1"; then
      PASS=$((PASS + 1))
      return 0
    fi
    sleep 0.1
  done
  FAIL=$((FAIL + 1))
  echo "FAIL: $2: timed out waiting for: $1" >&2
  return 0
}
