#!/usr/bin/env bash
# The floors of the full audit (issue 9, figure 4; docs/performance.md "What
# bounds the full audit"): ROUNDS rounds (default 6), each running back to
# back, on 1,000,000 entries without auth lines:
#   auto   bench_audit kta: the monitor's configuration (replay threads auto,
#          the index prefetching ahead)
#   seq    the same with the sequential replay (KTA_BENCH_THREADS=0)
#   excl   auto in exclusive mode (KTA_BENCH_EXCLUSIVE=1: a rollback journal,
#          each byte written once; `ktaudit monitor --once --exclusive`)
#   null   the replay with an index that keeps nothing
#   write  the store's SQLite writes alone: the rows the round's `auto` run
#          left, written into a fresh state database
#   flat   the same with the history appended to a flat file instead
# Usage: bench/floors.sh [ROUNDS], after bench/run.sh (it reuses its Release
# build in build-bench/ and its data in $KTA_BENCH_DATA, default
# /tmp/ktaudit-bench). Prints entries per CPU-second, one line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-6}
DATA=${KTA_BENCH_DATA:-/tmp/ktaudit-bench}
A=build-bench/bench_audit
U=file://$DATA/plain-1000000/
[ -x "$A" ] && [ -d "$DATA/plain-1000000" ] || { echo "floors: run bench/run.sh first" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rate() { head -1 | sed -E 's/.* ([0-9]+) entries per CPU-second.*/\1/'; }
for i in $(seq "$rounds"); do
  rm -rf "$tmp"/*
  mkdir -p "$tmp/auto" "$tmp/seq" "$tmp/excl"
  echo "round $i $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
  echo "  auto  $("$A" kta "$U" "$tmp/auto" | rate)"
  echo "  excl  $(KTA_BENCH_EXCLUSIVE=1 "$A" kta "$U" "$tmp/excl" | rate)"
  echo "  seq   $(KTA_BENCH_THREADS=0 "$A" kta "$U" "$tmp/seq" | rate)"
  echo "  null  $("$A" null "$U" | rate)"
  echo "  write $("$A" write "$tmp/auto" "$tmp/write" | rate)"
  echo "  flat  $("$A" write "$tmp/auto" "$tmp/flat" flat | rate)"
done
