#!/usr/bin/env bash
# The README's first command, scripts/demo.sh, run with the binary under test
# (KTAUDIT: the demo then builds nothing): it must exit 0, and its output
# must show each attack's alerts (A1 key swap, A2 ghost device, A11
# unauthorized change, A3/A4 fork seen by both auditors), every evidence
# bundle passing `ktaudit verify evidence`, and the summary. No colours: the
# output is not a terminal. See docs/demo.md.
set -eu
. "$(dirname "$0")/lib.sh"

# line REGEX DESC: some line of the demo's stdout matches the extended REGEX.
line() {
  if grep -qE -- "$1" "$T/out"; then
    PASS=$((PASS + 1))
  else
    FAIL=$((FAIL + 1))
    echo "FAIL: $2: no line matches /$1/" >&2
  fi
}

expect 0 "scripts/demo.sh passes" -- env -u KTAUDIT_DEMO_KEEP KTAUDIT="$KTAUDIT" bash "$KTA_SRCDIR/scripts/demo.sh"
if [ "$FAIL" -gt 0 ]; then
  # the output's checks below would only repeat the failure
  sed 's/^/  demo: /' "$T/out" | tail -n 40 >&2
  sed 's/^/  demo stderr: /' "$T/err" | tail -n 20 >&2
  finish
  exit 1
fi
has out "from KTAUDIT; not building" "uses the given binary"
line '^  \[A\] ALERT +key_changed +alice@example\.org v2: replaced ed25519/phone, x25519/phone; not owner-signed$' \
  "A1: key_changed for alice, both keys replaced"
line '^  \[A\] ALERT +unauthorized_update +alice@example\.org v2: ' "A1: unauthorized_update for alice"
line '^  \[A\] ALERT +key_changed +bob@example\.org v2: added ed25519/ghost, x25519/ghost; not owner-signed$' \
  "A2: key_changed for bob, the ghost device added"
line '^  \[A\] ALERT +unauthorized_update +bob@example\.org v2: ' "A2: unauthorized_update for bob"
line '^  \[A\] ALERT +unauthorized_update +carol@example\.org v3: no auth line by a key of v2$' \
  "A11: unauthorized_update for carol, watched by nobody"
line '^  \[A\] CRITICAL fork +size ([0-9]+), root .* \(ours\) vs .* \(/auditor-b/' "A3/A4: A sees B's forked head"
line '^  \[B\] CRITICAL fork +size ([0-9]+), root .* \(ours\) vs .* \(/auditor-a/' "A3/A4: B sees A's head"
ok_lines=$(grep -c '^    PASS (exit 0)$' "$T/out" || true)
if [ "$ok_lines" -eq 2 ] && ! grep -q 'FAIL (exit' "$T/out"; then
  PASS=$((PASS + 1))
else
  FAIL=$((FAIL + 1))
  echo "FAIL: evidence: $ok_lines bundles passed, want 2 and no failure" >&2
fi
has out "the evidence holds: the log keys.example.org/demo signed two different trees" "verify evidence's statement"
has out "attacks detected: 4/4" "summary: attacks"
line '^  alerts: 7, each one expected' "summary: no unexpected alert"
has out "evidence bundles verified offline: 2/2" "summary: evidence"
line '^  time: [0-9]+\.[0-9] s' "summary: time"
has out "PASS: every attack raised its alerts" "final verdict"
if grep -q $'\033' "$T/out"; then
  FAIL=$((FAIL + 1))
  echo "FAIL: colour codes in output that is not a terminal" >&2
else
  PASS=$((PASS + 1))
fi
# nothing left behind: the work directory and every process using it
wd=$(sed -n 's/^  work directory \([^ ]*\) .*/\1/p' "$T/out")
# (the pattern, with "[.]", cannot match the cmdline of the grep that uses it)
left=$(grep -lsE -- "ktaudit-demo[.]${wd##*ktaudit-demo.}" /proc/[0-9]*/cmdline 2>/dev/null || true)
if [ -n "$wd" ] && [ ! -e "$wd" ] && [ -z "$left" ]; then
  PASS=$((PASS + 1))
else
  FAIL=$((FAIL + 1))
  echo "FAIL: left behind: work directory \"$wd\", processes: $left" >&2
fi
finish
