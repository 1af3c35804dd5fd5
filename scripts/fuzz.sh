#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan+UBSan) and runs each on its
# seed corpus for SECONDS (default 10). Crashes are written to fuzz/ and make
# the script fail. Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
secs=${1:-10}
shift || true
cmake -S . -B build/fuzz -DKTA_FUZZ=ON -DKTA_TESTS=OFF -DCMAKE_C_COMPILER=clang \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
cmake --build build/fuzz -j"$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}" >/dev/null
for t in "${targets[@]}"; do
  corpus=fuzz/corpus/${t#fuzz_}
  work=$(mktemp -d)
  echo "== $t: ${secs}s on $corpus"
  # A scratch copy of the corpus: new inputs found in CI are not written back.
  cp -r "$corpus"/. "$work"/ 2>/dev/null || true
  build/fuzz/"$t" -max_total_time="$secs" -max_len=70000 -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix=fuzz/ -print_final_stats=1 "$work" 2>&1 |
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)|ERROR|SUMMARY' || true
  rm -rf "$work"
done
if ls fuzz/crash-* fuzz/leak-* fuzz/timeout-* >/dev/null 2>&1; then
  echo "fuzz: crashes found:" >&2
  ls fuzz/crash-* fuzz/leak-* fuzz/timeout-* >&2
  exit 1
fi
