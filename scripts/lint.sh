#!/usr/bin/env bash
# Static analysis: cppcheck and clang-tidy (.clang-tidy) over the library,
# the CLI, the unit tests and the benchmarks (by default src/*.c src/cli/*.c
# tests/unit/*.c bench/*.c; the compile database in build/lint is configured
# with KTA_TESTS=ON so that it has the tests, and the bench_* targets are
# always defined). Fails on any finding; a false positive gets a
# NOLINTNEXTLINE(check) comment (clang-tidy) or an inline suppression
# (cppcheck) saying why. Usage: scripts/lint.sh [FILE...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
need=()
for p in cppcheck clang-tidy; do command -v "$p" >/dev/null || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "lint: install ${need[*]}" >&2; exit 3; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cmake -S . -B build/lint -DKTA_TESTS=ON -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(src/*.c src/cli/*.c tests/unit/*.c bench/*.c)
jobs=$(nproc 2>/dev/null || echo 2)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== cppcheck (${#files[@]} files)"
cppcheck --enable=warning,performance,portability --inline-suppr --std=c11 --error-exitcode=1 \
  -q -j"$jobs" -Iinclude -Isrc -D__GNUC__ -DKTA_VERSION_STRING=\"lint\" "${files[@]}" 2>"$out/cppcheck" || true
echo "== clang-tidy (${#files[@]} files, $jobs at a time)"
printf '%s\n' "${files[@]}" |
  xargs -P"$jobs" -I{} sh -c 'clang-tidy -p build/lint --quiet "$1" >"$2/tidy.$(echo "$1" | tr / _)" 2>/dev/null || true' _ {} "$out"
cat "$out"/tidy.* | grep -E ': (warning|error):' >"$out/tidy" || true
n_cpp=$(grep -cE ': (error|warning|style|performance|portability):' "$out/cppcheck" || true)
n_tidy=$(wc -l <"$out/tidy")
cat "$out/cppcheck" "$out/tidy"
echo "lint: cppcheck $n_cpp finding(s), clang-tidy $n_tidy finding(s)"
[ "$n_cpp" -eq 0 ] && [ "$n_tidy" -eq 0 ]
