#!/usr/bin/env bash
# ktaudit benchmark harness (issue 9): bench/run.sh [--quick]
#
# Builds a Release tree in build-bench/, generates the test directories once
# (cached in $KTA_BENCH_DATA, default /tmp/ktaudit-bench), and prints every
# figure with the SHA-256 bounds measured in the same process just before it,
# the ratio, the same-run baseline and the peak RSS:
#   1, 2  inclusion / consistency verifications/s at 2^20 and 2^40 (bench_merkle)
#   3     verify-only replay of 1,000,000 entries from a local directory
#   3     also: the same replay with the full parser (before) and with no
#         entry check (the floor), and the ratios between them
#   4     full audit replay: 1,000,000 entries without auth lines, and
#         100,000 entries that all carry an auth line, with the replay's
#         worker pool (one thread per CPU) and without, next to OpenSSL's
#         Ed25519 rate (openssl speed, one core and -multi) of the same run
#   5     first sync over loopback HTTP (nginx; installed with apt-get if missing)
#   6     peak RSS of 3 and 5 (printed with them) and of the idle daemon
# --quick: 200,000 entries for 3 to 5 and shorter rate loops.
# Environment: KTA_BENCH_DATA, KTA_BENCH_BUILD, KTA_BENCH_PORT, KTA_BENCH_NOBUILD.
# Never part of the test suite: timings on a shared machine are noise, which
# is why every figure comes with its same-run bound and baseline.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${KTA_BENCH_BUILD:-$SRC/build-bench}
DATA=${KTA_BENCH_DATA:-/tmp/ktaudit-bench}
N=1000000
NAUTH=100000
SECS=1.0
if [ "${1:-}" = "--quick" ]; then
  N=200000
  NAUTH=20000
  SECS=0.3
fi
PORT=${KTA_BENCH_PORT:-18089}

log() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# runs a bench_replay command and keeps its output in $OUT/NAME
OUT=$(mktemp -d)
keep() {
  name=$1
  shift
  printf '$ %s\n' "$*"
  "$@" | tee "$OUT/$name"
}
# from a kept output: its first "N entries per CPU-second"; its auth lines
# per wall second, and their ratio to OpenSSL on all threads (same process)
crate() {
  awk '/entries per CPU-second/ {
    for (i = 1; i + 2 <= NF; i++) if ($(i + 1) == "entries" && $(i + 2) == "per") { print $i; exit }
  }' "$OUT/$1"
}
authwall() { grep -m1 'auth lines per wall second' "$OUT/$1" | awk '{ print $6 }'; }
authall() { grep -m1 'auth lines per wall second' "$OUT/$1" | awk '{ print $8 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# KTA_BENCH_NOBUILD=1 uses the binaries already in $BUILD.
if [ -z "${KTA_BENCH_NOBUILD:-}" ]; then
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target bench_merkle bench_replay bench_audit ktaudit_cli >/dev/null
fi
B=$BUILD/bench_replay
K=$BUILD/ktaudit
mkdir -p "$DATA"
echo "ktaudit bench: $(date -u +%FT%TZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share these cores)"

for d in "plain:$N:0" "auth:$NAUTH:1"; do
  IFS=: read -r name n a <<<"$d"
  dir=$DATA/$name-$n
  if [ ! -s "$dir/bench-tree" ]; then
    rm -rf "$dir"
    run "$B" gen "$dir" "$n" "$a"
  fi
done
PLAIN=$DATA/plain-$N
AUTH=$DATA/auth-$NAUTH

log "1, 2: proof verification (one core)"
run "$BUILD/bench_merkle" "$SECS"

log "3: verify-only replay of a local directory ($N entries)"
# kta_entry_validate per entry (one pass, no allocation); the same run with
# the full parser (kta_entry_parse + free, the path before issue 9's
# validator), with no entry check at all (the floor: fetch, bundle parse,
# SHA-256), and the straightforward baseline.
keep root "$B" verify root "file://$PLAIN"
keep tiles "$B" verify tiles "file://$PLAIN"
echo "-- the full parser per entry instead (before):"
keep parse "$B" verify tiles-parse "file://$PLAIN"
echo "-- no entry check at all (the floor of this path):"
keep none "$B" verify tiles-none "file://$PLAIN"
echo "-- baseline (one EVP_Digest per hash):"
keep vbase "$B" verify base "file://$PLAIN"
echo "-- figure 3, per CPU-second: tiles $(crate tiles), root $(crate root); full parser $(crate parse), floor $(crate none), baseline $(crate vbase)"
echo "   tiles / baseline $(ratio "$(crate tiles)" "$(crate vbase)")x; tiles / full parser $(ratio "$(crate tiles)" "$(crate parse)")x; tiles / floor $(ratio "$(crate tiles)" "$(crate none)"); target 2,500,000: $(ratio "$(crate tiles)" 2500000)"

log "4: full audit replay (label index, version checks, auth, 1000 tofu watches)"
rm -rf "$DATA/state-"*
# auto: the monitor's default (the replay pipelines entries and the index
# prefetches ahead); 1: the sequential replay, for the same-run comparison
run "$B" audit kta "file://$PLAIN" "$DATA/state-plain" auto
run "$B" audit kta "file://$PLAIN" "$DATA/state-plain1" 1
echo "-- baseline (EVP_Digest per hash, one SELECT + one upsert per entry, COMMIT every 100,000):"
run "$B" audit base "file://$PLAIN" "$DATA/state-base-plain"
echo "-- the label index alone (bench_audit, replay threads auto: the state store, the same in exclusive mode (a rollback journal), then sequential; a free in-memory index; no index; one upsert + one history row per entry):"
run "$BUILD/bench_audit" kta "file://$PLAIN" "$DATA/state-audit"
KTA_BENCH_EXCLUSIVE=1 run "$BUILD/bench_audit" kta "file://$PLAIN" "$DATA/state-audit-x"
KTA_BENCH_THREADS=0 run "$BUILD/bench_audit" kta "file://$PLAIN" "$DATA/state-audit0"
echo "-- the store's SQLite writes alone (the rows of the run above into a fresh database): the floor of the writes"
run "$BUILD/bench_audit" write "$DATA/state-audit" "$DATA/state-write"
run "$BUILD/bench_audit" write "$DATA/state-audit" "$DATA/state-write-flat" flat
run "$BUILD/bench_audit" mem "file://$PLAIN"
run "$BUILD/bench_audit" null "file://$PLAIN"
run "$BUILD/bench_audit" base "file://$PLAIN" "$DATA/state-audit-base"

log "4 (auth lines): full audit of $NAUTH entries that all carry an auth line"
# The bound: OpenSSL's Ed25519 verification rate, one core and all cores,
# measured in the same run (openssl speed, and in bench_replay itself just
# before the replay: one core per CPU-second, all threads per wall second).
echo "-- openssl speed -seconds 3 ed25519; openssl speed -seconds 3 -multi $(nproc) ed25519:"
openssl speed -seconds 3 ed25519 2>/dev/null | tail -1 | tee "$OUT/speed1"
openssl speed -seconds 3 -multi "$(nproc)" ed25519 2>/dev/null | tail -1 | tee "$OUT/speedN"
# A wall-clock ratio over seconds moves by 10-20% between runs on these
# shared cores: three runs, each against OpenSSL measured just before and
# after it in the same process, and their median.
keep auth "$B" audit kta "file://$AUTH" "$DATA/state-auth" auto
keep auth2 "$B" audit kta "file://$AUTH" "$DATA/state-auth2" auto
keep auth3 "$B" audit kta "file://$AUTH" "$DATA/state-auth3" auto
AUTHMED=$(printf '%s\n' "$(authall auth)" "$(authall auth2)" "$(authall auth3)" | sort -n | sed -n 2p)
echo "-- the replay alternating with OpenSSL's own loop, 5 rounds (memory index: Ed25519 is ~98% of the work):"
if [ ! -s "$DATA/auth-10000/bench-tree" ]; then
  rm -rf "$DATA/auth-10000"
  "$B" gen "$DATA/auth-10000" 10000 1 >/dev/null
fi
keep apool "$B" authpool "file://$DATA/auth-10000" auto 5
echo "-- the same with one thread (the replay without a pool):"
keep auth1 "$B" audit kta "file://$AUTH" "$DATA/state-auth1" 1
echo "-- baseline (auth lines verified one by one, kta_ed25519_verify, SQLite upsert per entry):"
keep abase "$B" audit base "file://$AUTH" "$DATA/state-base-auth"
SPEEDN=$(awk '{ print $NF }' "$OUT/speedN")
echo "-- figure 4 with auth lines, auth lines per wall second: pool ($(nproc) threads) $(authwall auth), one thread $(authwall auth1), baseline $(authwall abase)"
echo "   pool / OpenSSL on all threads in the same process: $(authall auth), $(authall auth2), $(authall auth3): median $AUTHMED (target 0.90); pool / openssl speed -multi $(nproc) ($SPEEDN/s): $(ratio "$(authwall auth)" "$SPEEDN")"
echo "   alternating rounds: $(grep -m1 'median ratio' "$OUT/apool" | sed 's/.*median ratio/median ratio/')"
echo "   each against OpenSSL in its own process and minutes (the load moves between runs, so"
echo "   compare these, not the wall rates): pool $(authall auth) of OpenSSL on $(nproc) threads;"
echo "   one thread $(authall auth1) and baseline $(authall abase) of OpenSSL on 1 thread"
rm -rf "$DATA/state-"*

log "5: first sync over loopback HTTP"
NGINX=$(command -v nginx || true)
if [ -z "$NGINX" ] && [ -x /usr/sbin/nginx ]; then NGINX=/usr/sbin/nginx; fi
if [ -z "$NGINX" ]; then
  echo "nginx missing: apt-get install -y nginx-light"
  (apt-get install -y nginx-light >/dev/null 2>&1 ||
    { apt-get update >/dev/null 2>&1 && apt-get install -y nginx-light >/dev/null 2>&1; }) || true
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
fi
SRV_PID=
cleanup() {
  if [ -n "$SRV_PID" ]; then kill "$SRV_PID" 2>/dev/null || true; fi
  if [ -n "${DPID:-}" ]; then kill "$DPID" 2>/dev/null || true; fi
}
trap 'cleanup; rm -rf "$OUT"' EXIT
NG=$DATA/nginx
mkdir -p "$NG"
if [ -x "$NGINX" ]; then
  cat >"$NG/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/error.log;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  types { }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$PORT;
    root $DATA;
  }
}
EOF
  "$NGINX" -c "$NG/nginx.conf" -p "$NG" &
  SRV_PID=$!
  SERVER="nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///')"
else
  echo "nginx unavailable: falling back to python3 -m http.server (single-threaded, slower)"
  (cd "$DATA" && exec python3 -m http.server "$PORT" --bind 127.0.0.1 >/dev/null 2>&1) &
  SRV_PID=$!
  SERVER="python3 http.server"
fi
for _ in $(seq 50); do
  if curl -sf "http://127.0.0.1:$PORT/plain-$N/bench-tree" >/dev/null; then break; fi
  sleep 0.1
done
echo "server: $SERVER on 127.0.0.1:$PORT"
run "$B" verify tiles "http://127.0.0.1:$PORT/plain-$N/"
echo "-- baseline (one request at a time, EVP_Digest per hash):"
run "$B" verify base "http://127.0.0.1:$PORT/plain-$N/"

log "6: idle daemon"
# A published directory (ktaudit dir), a config polling it every 2 s; RSS
# is read after the first cycle, while the daemon sleeps between cycles.
D6=$DATA/daemon
rm -rf "$D6"
mkdir -p "$D6"
"$K" keygen --name example.com/bench --out "$D6/log.key" >"$D6/log.vkey"
"$K" dir init "$DATA/daemon-dir" --origin example.com/bench --key "$D6/log.key" >/dev/null 2>&1 ||
  { rm -rf "$DATA/daemon-dir"; "$K" dir init "$DATA/daemon-dir" --origin example.com/bench --key "$D6/log.key" >/dev/null; }
for i in $(seq 100); do
  pub=$(head -c 32 /dev/urandom | base64)
  "$K" dir add "$DATA/daemon-dir" --label "user$i@example.org" --key "ed25519:$pub:phone" >/dev/null
done
"$K" dir publish "$DATA/daemon-dir" >/dev/null
cat >"$D6/k.conf" <<EOF
state_dir $D6/state
sink file $D6/alerts
heartbeat $D6/hb
log example.com/bench
url http://127.0.0.1:$PORT/daemon-dir/
key $(cat "$D6/log.vkey")
poll 2
EOF
"$K" monitor --config "$D6/k.conf" 2>"$D6/err" &
DPID=$!
for _ in $(seq 100); do [ -s "$D6/hb" ] && break; sleep 0.1; done
sleep 3
grep -E "VmRSS|VmHWM" "/proc/$DPID/status" | sed 's/^/  idle daemon /'
kill "$DPID"
wait "$DPID" 2>/dev/null || true
DPID=
rm -rf "$DATA/daemon-dir" "$D6"
