#!/usr/bin/env bash
# Two builds of bench_audit against each other (issue 9; docs/performance.md):
# ROUNDS rounds (default 8), each running OLD then NEW back to back on a
# fresh state directory, `bench_audit kta` over the 1e6-entry directory; then
# each side's entries per CPU-second (sorted, and the median), its user and
# system time, its peak RSS, and the per-round ratios NEW/OLD with their
# median. On a shared machine only alternating rounds and their ratios
# compare two builds: one binary's rate moves by +-25% from run to run.
# Usage: bench/ab.sh OLD_BENCH_AUDIT NEW_BENCH_AUDIT [ROUNDS [MIB]]
#   e.g. git archive REV | tar -x -C /tmp/old && cmake -S /tmp/old -B /tmp/old/b
#   -DCMAKE_BUILD_TYPE=Release && make -C /tmp/old/b bench_audit, then
#   bench/ab.sh /tmp/old/b/bench_audit build-bench/bench_audit 10
# MIB: an index_cache for both (default: the default). The data comes from
# bench/run.sh ($KTA_BENCH_DATA, default /tmp/ktaudit-bench).
set -euo pipefail
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -ge 2 ] || { echo "usage: bench/ab.sh OLD NEW [ROUNDS [MIB]]" >&2; exit 2; }
old=$1 new=$2 rounds=${3:-8} mib=${4:-}
DATA=${KTA_BENCH_DATA:-/tmp/ktaudit-bench}
U=file://$DATA/plain-1000000/
if ! [ -x "$old" ] || ! [ -x "$new" ] || ! [ -d "$DATA/plain-1000000" ]; then
  echo "ab: need two bench_audit binaries and bench/run.sh's data" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One run: "rate user system rss".
one() {
  rm -rf "$tmp/st" && mkdir "$tmp/st"
  # shellcheck disable=SC2086 # $mib: no argument when empty
  "$1" kta "$U" "$tmp/st" $mib | head -2 | tr '\n' ' ' |
    sed -E 's/.* ([0-9]+) entries per CPU-second.*user ([0-9.]+), system ([0-9.]+).*peak RSS ([0-9.]+).*/\1 \2 \3 \4/'
}
for _ in $(seq "$rounds"); do
  echo "old $(one "$old")" >> "$tmp/runs"
  echo "new $(one "$new")" >> "$tmp/runs"
done
for side in old new; do
  col() { awk -v s="$side" -v c="$1" '$1 == s {print $c}' "$tmp/runs"; }
  echo "$side: $(col 2 | sort -n | tr '\n' ' ')| median $(col 2 | median)" \
    "| user $(col 3 | median) s, system $(col 4 | median) s (medians) | peak RSS $(col 5 | sort -n | tail -1) MiB"
done
paste -d' ' <(awk '$1 == "old" {print $2}' "$tmp/runs") <(awk '$1 == "new" {print $2}' "$tmp/runs") |
  awk '{printf "%.2f\n", $2 / $1}' > "$tmp/ratios"
echo "new/old per round: $(tr '\n' ' ' < "$tmp/ratios")| median $(median < "$tmp/ratios")"
