# shellcheck shell=bash
# Shared helpers for the CLI tests (sourced). Each test script runs the real
# binary ($KTAUDIT) and asserts exit codes and parts of stdout/stderr.
set -u
: "${KTAUDIT:?KTAUDIT must point at the ktaudit binary}"
: "${KTA_SRCDIR:?}"
: "${KTA_TESTDATA:?}"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PASS=0
FAIL=0
# shellcheck disable=SC2034 # used by the scripts that source this file
MERKLE="python3 $KTA_SRCDIR/tests/tools/merkle.py"

# expect CODE DESC -- CMD...: runs CMD, requires exit CODE; output in $T/out, $T/err.
expect() {
  local want=$1 desc=$2
  shift 3
  set +e
  "$@" >"$T/out" 2>"$T/err"
  local got=$?
  set -e
  # a sanitizer's report fails the check whatever the exit code: LSan and
  # UBSan exit 1 by default, which is also ktaudit's "invalid"
  if grep -qE "ERROR: (Address|Leak|Undefined|Memory)Sanitizer|runtime error: " "$T/err"; then
    FAIL=$((FAIL + 1))
    echo "FAIL: $desc: a sanitizer reported an error: $*" >&2
    grep -m 5 -E "Sanitizer|runtime error: " "$T/err" | sed 's/^/  stderr: /' >&2
  elif [ "$got" -eq "$want" ]; then
    PASS=$((PASS + 1))
  else
    FAIL=$((FAIL + 1))
    echo "FAIL: $desc: exit $got, want $want: $*" >&2
    sed 's/^/  stdout: /' "$T/out" | head -5 >&2
    sed 's/^/  stderr: /' "$T/err" | head -5 >&2
  fi
}

# has FILE SUBSTRING DESC: the last command's out/err contains SUBSTRING.
has() {
  if grep -qF -- "$2" "$T/$1"; then
    PASS=$((PASS + 1))
  else
    FAIL=$((FAIL + 1))
    echo "FAIL: $3: $1 lacks \"$2\"" >&2
    sed "s/^/  $1: /" "$T/$1" | head -5 >&2
  fi
}

finish() {
  echo "$PASS passed, $FAIL failed"
  [ "$FAIL" -eq 0 ]
}
