#!/usr/bin/env bash
# ktaudit's main job on the bundled example: install what is missing, build,
# then verify a real log's signed checkpoint, an inclusion proof and a
# consistency proof, and show that a tampered proof and a forged checkpoint
# are caught (exit 1), as an auditor would.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build/plain -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/plain --target ktaudit_cli -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
K=build/plain/ktaudit
E=testdata/example-log
VKEY=$(cat $E/log.vkey)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() {
  echo "\$ ktaudit ${*:2}" | sed "s|$VKEY|\"\$(cat $E/log.vkey)\"|"
  set +e
  "$@"
  rc=$?
  set -e
  echo "  (exit $rc)"
  echo
  return 0
}

echo "== the log's signed checkpoint (Ed25519, C2SP signed-note)"
run $K verify checkpoint $E/checkpoint --log-key "$VKEY" --origin example.com/testdata
echo "== leaf 3 is in the tree of size 15 (RFC 9162 inclusion proof)"
run $K verify inclusion --proof $E/inclusion-3-in-15.json --entry $E/entries/03 \
    --checkpoint $E/checkpoint --log-key "$VKEY" --origin example.com/testdata
echo "== the size-15 tree extends the size-5 tree (RFC 9162 consistency proof)"
run $K verify consistency --proof $E/consistency-5-to-15.json \
    --old-checkpoint $E/checkpoint.5 --new-checkpoint $E/checkpoint --log-key "$VKEY" --origin example.com/testdata

echo "== an attacker's view: a different entry at index 3 (must fail, exit 1)"
printf 'not four' > "$tmp/forged"
run $K verify inclusion --proof $E/inclusion-3-in-15.json --entry "$tmp/forged" \
    --checkpoint $E/checkpoint --log-key "$VKEY" --origin example.com/testdata
echo "== a checkpoint whose root was changed after signing (must fail, exit 1)"
sed '3s/^r/R/' $E/checkpoint > "$tmp/forged.cp"
run $K verify checkpoint "$tmp/forged.cp" --log-key "$VKEY" --origin example.com/testdata
