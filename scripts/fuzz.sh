#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan+UBSan) and runs each on a
# scratch copy of its seed corpus for SECONDS (default 10), with its
# dictionary when there is one. The CI mode is a short fixed time per
# target, e.g. `scripts/fuzz.sh 5`. Crashes are written to fuzz/ and make
# the script fail.
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]     (TARGET: fuzz_<name>)
# Environment: KTA_FUZZ_BUILD  build directory (default build/fuzz)
#
# Harness fuzz_<name> uses fuzz/corpus/<name>/ and fuzz/<name>.dict; when
# they do not exist, those of the longest prefix of <name> ending before a
# '_' that has them (fuzz_entry_fast uses the entry corpus and dictionary).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
secs=${1:-10}
shift || true
case $secs in '' | *[!0-9]*)
  echo "fuzz.sh: SECONDS must be a number, got '$secs'" >&2
  exit 2
  ;;
esac
build=${KTA_FUZZ_BUILD:-build/fuzz}
cmake -S . -B "$build" -DKTA_FUZZ=ON -DKTA_TESTS=OFF -DCMAKE_C_COMPILER=clang \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}" >/dev/null

# fuzz/<kind>/<name> (kind "corpus" is a directory, "dict" a file), else the
# same for the longest '_'-prefix of name that exists; empty when none does.
find_for() {
  local name=$1 kind=$2 p
  while :; do
    if [ "$kind" = corpus ]; then p=fuzz/corpus/$name; [ -d "$p" ] && { echo "$p"; return; }
    else p=fuzz/$name.dict; [ -f "$p" ] && { echo "$p"; return; }; fi
    case $name in *_*) name=${name%_*} ;; *) return 0 ;; esac
  done
}

failed=()
for t in "${targets[@]}"; do
  name=${t#fuzz_}
  corpus=$(find_for "$name" corpus)
  dict=$(find_for "$name" dict)
  args=()
  [ -n "$dict" ] && args+=(-dict="$dict")
  work=$(mktemp -d)
  echo "== $t: ${secs}s on ${corpus:-an empty corpus}${dict:+ with $dict}"
  # A scratch copy of the corpus: new inputs found in CI are not written back.
  [ -n "$corpus" ] && cp -r "$corpus"/. "$work"/
  rc=0
  "$build/$t" "${args[@]}" -max_total_time="$secs" -max_len=70000 -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix=fuzz/ -print_final_stats=1 "$work" \
      >"$work.log" 2>&1 || rc=$?
  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+[[:space:]]+DONE)|ERROR|SUMMARY|check failed' \
      "$work.log" || true
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    echo "fuzz: $t exited with $rc; last lines of its log:" >&2
    tail -n 30 "$work.log" >&2
  fi
  rm -rf "$work" "$work.log"
done
if [ ${#failed[@]} -gt 0 ] || ls fuzz/crash-* fuzz/leak-* fuzz/timeout-* fuzz/oom-* >/dev/null 2>&1; then
  echo "fuzz: failed: ${failed[*]:-}" >&2
  ls fuzz/crash-* fuzz/leak-* fuzz/timeout-* fuzz/oom-* 2>/dev/null >&2 || true
  exit 1
fi
echo "fuzz: ${#targets[@]} harnesses, ${secs}s each, no crash"
