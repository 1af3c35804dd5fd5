#!/usr/bin/env bash
# CT replay benchmark: a fake RFC 6962 log on loopback (tests/tools/fake_ct_log.py)
# of N entries built from ~1.2 kB certificates made here, replayed by
# `ktaudit ct replay` (fetch, base64, leaf parse, SHA-256, pre-filtered
# certificate parsing for one watched domain, root check) on one core, and by
# certspotter (Debian package, if installed) on the same log and core.
#   bench/bench_ct.sh KTAUDIT_BINARY [ENTRIES]
set -eu
K=${1:?usage: bench_ct.sh KTAUDIT_BINARY [ENTRIES]}
N=${2:-200000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d)
trap 'kill ${SRV:-0} 2>/dev/null; rm -rf "$T"' EXIT
mkdir "$T/certs"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/log.key" 2>/dev/null
openssl ec -in "$T/log.key" -pubout -out "$T/log.pub" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -subj "/CN=Bench CA" -days 30 2>/dev/null
for i in $(seq 0 31); do
  openssl req -new -newkey rsa:2048 -nodes -keyout "$T/k$i" -subj "/C=US/O=Bench Organisation $i/OU=Benchmarking/CN=host$i.bench.test" -out "$T/c$i.csr" 2>/dev/null
  printf 'subjectAltName=DNS:host%d.bench.test,DNS:www.host%d.bench.test,DNS:mail.host%d.bench.test,DNS:api.host%d.bench.test,DNS:cdn.host%d.bench.test,DNS:static.host%d.bench.test,DNS:login.host%d.bench.test,DNS:admin.host%d.bench.test\n' $i $i $i $i $i $i $i $i >"$T/e$i"
  openssl x509 -req -in "$T/c$i.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -set_serial "$((1000 + i))" -days 30 \
    -extfile "$T/e$i" -outform der -out "$T/certs/$(printf %02d "$i").der" 2>/dev/null
done
size=$(stat -c %s "$T/certs/00.der")
echo '{"page": 1000}' >"$T/ctl.json"
python3 "$SRC/tests/tools/fake_ct_log.py" --certs "$T/certs" --key "$T/log.key" --entries "$N" \
  --control "$T/ctl.json" --port-file "$T/port" &
SRV=$!
for _ in $(seq 600); do [ -s "$T/port" ] && break; sleep 0.2; done
U="http://127.0.0.1:$(cat "$T/port")/"
# Warm the server's caches (root, signature) so both clients measure replay only.
curl -s "${U}ct/v1/get-sth" >/dev/null
echo "log: $N entries, certificates of $size bytes, loopback $U"

# A first pass fills the server's page cache (unmeasured), so both clients see the same server.
"$K" ct replay "$U" --log-key "$T/log.pub" --batch 1000 >/dev/null 2>&1 || true
t0=$(date +%s.%N)
/usr/bin/time -o "$T/kt.time" -f "%U %S" taskset -c 0 "$K" ct replay "$U" --log-key "$T/log.pub" --batch 1000 --domain host7.bench.test >/dev/null || true
t1=$(date +%s.%N)
kt=$(echo "$N / ($t1 - $t0)" | bc -l)
ktcpu=$(tail -1 "$T/kt.time" | awk '{print $1 + $2}')
ktc=$(echo "$N / $ktcpu" | bc -l)
printf 'ktaudit ct replay: %.2f s wall, %.0f entries/s; %.2f s CPU, %.0f entries per CPU second\n' \
  "$(echo "$t1 - $t0" | bc -l)" "$kt" "$ktcpu" "$ktc"

if command -v certspotter >/dev/null 2>&1; then
  # A v3 log list naming the loopback log; certspotter starts at entry 0 with a fresh state dir.
  B64=$(openssl ec -pubin -in "$T/log.pub" -outform der 2>/dev/null | base64 -w0)
  ID=$(openssl ec -pubin -in "$T/log.pub" -outform der 2>/dev/null | openssl dgst -sha256 -binary | base64 -w0)
  cat >"$T/loglist.json" <<JSON
{"version":"3.0","operators":[{"name":"bench","email":["b@bench.test"],"logs":[{"description":"bench","log_id":"$ID","key":"$B64","url":"$U","mmd":86400,"state":{"usable":{"timestamp":"2024-01-01T00:00:00Z"}}}],"tiled_logs":[]}]}
JSON
  echo "host7.bench.test" >"$T/watch"
  # certspotter is a daemon: time it until its state records the whole tree verified.
  t0=$(date +%s.%N)
  taskset -c 0 certspotter -logs "$T/loglist.json" -state_dir "$T/cs" -watchlist "$T/watch" \
    -stdout -no_save -verbose >"$T/cs.out" 2>"$T/cs.err" &
  CS=$!
  done_at=""
  for _ in $(seq 6000); do
    if grep -rqs "\"tree_size\": *$N\b\|\"verified_position\": *{[^}]*\"size\": *$N\b\|\"size\":$N\b" "$T/cs/logs" 2>/dev/null &&
      ! grep -rqs '"download_position"' /dev/null; then
      pos=$(python3 - "$T/cs/logs" "$N" <<'PY'
import json, os, sys
n = int(sys.argv[2])
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        if f.endswith(".json"):
            try:
                j = json.load(open(os.path.join(root, f)))
            except Exception:
                continue
            def find(o):
                if isinstance(o, dict):
                    for k, v in o.items():
                        if k in ("size", "tree_size") and v == n:
                            return True
                        if find(v):
                            return True
                return False
            vp = j.get("verified_position") if isinstance(j, dict) else None
            if vp is not None and find(vp):
                print("done")
PY
)
      if [ "$pos" = "done" ]; then done_at=$(date +%s.%N); break; fi
    fi
    kill -0 $CS 2>/dev/null || break
    sleep 0.1
  done
  # CPU time (utime + stime, clock ticks) of the daemon when it got there.
  cscpu=$(awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$CS/stat" 2>/dev/null || echo 0)
  kill $CS 2>/dev/null || true
  wait $CS 2>/dev/null || true
  if [ -n "$done_at" ]; then
    cs=$(echo "$N / ($done_at - $t0)" | bc -l)
    csc=$(echo "$N / $cscpu" | bc -l)
    printf 'certspotter 0.16: %.2f s wall, %.0f entries/s; %.2f s CPU, %.0f entries per CPU second\n' \
      "$(echo "$done_at - $t0" | bc -l)" "$cs" "$cscpu" "$csc"
    printf 'ratio ktaudit/certspotter: wall %.1f, CPU %.1f\n' "$(echo "$kt / $cs" | bc -l)" "$(echo "$ktc / $csc" | bc -l)"
    echo "(wall time is bound by the Python log server when it is slower than both clients;"
    echo " entries per CPU second is what each client costs on its core)"
  else
    echo "certspotter did not reach the end of the loopback log; ktaudit measured alone"
    tail -5 "$T/cs.err"
    find "$T/cs" -type f | head
  fi
else
  echo "certspotter is not installed (apt-get install certspotter); ktaudit measured alone"
fi
