#!/usr/bin/env bash
# The monitor's first sync of the 1e6-entry directory (no auth lines),
# `ktaudit monitor --once` against `--once --exclusive` (ktaudit(1): the
# state held alone, with a rollback journal instead of the WAL), in ROUNDS
# alternating rounds (default 6), each on a fresh state directory: CPU
# seconds (user + system), wall seconds and entries per CPU-second of each
# run, then the medians and the per-round ratios exclusive/shared. The real
# CLI end to end: a signed checkpoint over bench/run.sh's tiles, read
# through a file:// URL, the label index, history and 1000 tofu watches
# written to SQLite.
# Usage: bench/exclusive.sh [ROUNDS], after bench/run.sh (its Release build
# in build-bench/ and its data in $KTA_BENCH_DATA, default /tmp/ktaudit-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
rounds=${1:-6}
DATA=${KTA_BENCH_DATA:-/tmp/ktaudit-bench}
K=$PWD/build-bench/ktaudit
P=$DATA/plain-1000000
if ! [ -x "$K" ] || ! [ -s "$P/bench-tree" ]; then
  echo "exclusive: run bench/run.sh first" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/srv"
ln -s "$P/tile" "$tmp/srv/tile"
"$K" keygen --name example.com/bench --out "$tmp/log.key" >"$tmp/log.vkey"
{ echo example.com/bench; sed -n 1p "$P/bench-tree"; sed -n 2p "$P/bench-tree" | xxd -r -p | base64; } \
  >"$tmp/srv/checkpoint.txt"
"$K" sign --key "$tmp/log.key" --out "$tmp/srv/checkpoint" "$tmp/srv/checkpoint.txt"
n=$(sed -n 1p "$P/bench-tree")
{
  echo "state_dir $tmp/state"
  echo "sink file $tmp/alerts"
  echo "log example.com/bench"
  echo "url file://$tmp/srv/"
  echo "key $(cat "$tmp/log.vkey")"
  # the watches of bench_audit: 1000 labels, trusted on first use
  python3 -c '
M = (1 << 64) - 1
for i in range(1000):
    x = (((i * 37) ^ 0x5555) + 0x9e3779b97f4a7c15) & M
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & M
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & M
    print("watch u%016x@example.org tofu" % (x ^ (x >> 31)))'
} >"$tmp/k.conf"
# one run: prints "CPU WALL" (seconds)
one() {
  rm -rf "$tmp/state" "$tmp/alerts"
  /usr/bin/time -f "%U %S %e" -o "$tmp/time" "$K" monitor --config "$tmp/k.conf" --once "$@" \
    2>"$tmp/err" || { cat "$tmp/err" >&2; exit 3; }
  grep -q "audited" "$tmp/err" || { cat "$tmp/err" >&2; exit 3; }
  awk '{ printf "%.2f %.2f\n", $1 + $2, $3 }' "$tmp/time"
}
echo "first sync of $n entries, ktaudit monitor --once (shared) and --once --exclusive"
: >"$tmp/s"
: >"$tmp/x"
for i in $(seq "$rounds"); do
  s=$(one)
  x=$(one --exclusive)
  echo "$s" >>"$tmp/s"
  echo "$x" >>"$tmp/x"
  awk -v s="$s" -v x="$x" -v n="$n" -v i="$i" -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
    split(s, a, " "); split(x, b, " ");
    printf "round %d (load %s): shared %.2f CPU-s %.2f s wall (%d /CPU-s); exclusive %.2f CPU-s %.2f s wall (%d /CPU-s); CPU ratio %.2f\n",
      i, l, a[1], a[2], n / a[1], b[1], b[2], n / b[1], a[1] / b[1] }'
done
for side in s x; do
  c=$(cut -d' ' -f1 "$tmp/$side" | median)
  w=$(cut -d' ' -f2 "$tmp/$side" | median)
  awk -v c="$c" -v w="$w" -v n="$n" -v side="$side" 'BEGIN {
    printf "%-9s median %.2f CPU-s (%d entries per CPU-second), %.2f s wall (%d entries/s)\n",
      side == "s" ? "shared" : "exclusive", c, n / c, w, n / w }'
done
paste -d' ' "$tmp/s" "$tmp/x" | awk '{ print $1 / $3 }' | median | awk '{ printf "per-round CPU ratio shared/exclusive: median %.2f\n", $1 }'
