#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with -Werror, runs
# every test plain, then again under AddressSanitizer + UBSan (clang).
# Usage: scripts/test.sh [--quick]   (--quick skips the sanitizer pass)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (gcc, -Werror) and test"
cmake -S . -B build/plain -DKTA_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/plain -j"$jobs"
ctest --test-dir build/plain --output-on-failure -j"$jobs"

if [ "${1:-}" != "--quick" ]; then
  echo "== build (clang, -Werror, ASan+UBSan) and test"
  cmake -S . -B build/asan -DKTA_WERROR=ON -DKTA_SANITIZE=ON -DCMAKE_C_COMPILER=clang \
        -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build/asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build/asan --output-on-failure -j"$jobs"
fi
