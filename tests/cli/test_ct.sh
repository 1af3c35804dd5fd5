#!/usr/bin/env bash
# CLI tests for Certificate Transparency: `verify sth` on real tree heads,
# `verify inclusion`/`verify consistency` on saved CT responses, and
# `ct replay` / `ct cycle` against a fake RFC 6962 log on loopback
# (tests/tools/fake_ct_log.py) serving certificates made here with the
# openssl CLI and misbehaving on request.
set -eu
. "$(dirname "$0")/lib.sh"
K=$KTAUDIT
D=$KTA_TESTDATA/ct

# --- saved responses: real data -------------------------------------------------
expect 0 "real Pilot STH verifies (PEM file)" -- $K verify sth "$D/pilot_get-sth_3721782.json" --log-key "$D/google-ct-pilot-server-key-public.pem"
has out "OK: STH size 3721782" "verdict names the size"
ARGON=MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHblsqctplMVc5ramA7vSuNxUQxcomQwGAVAdnWTAWUYr3MgDHQW0LagJ95lB7QT75Ve6JgT2EVLOFGU7L3YrwA==
expect 0 "real Argon2024 STH verifies (base64 DER key)" -- $K verify sth "$D/argon2024_get-sth_1267285836.json" --log-key "$ARGON"
expect 0 "log ID matches" -- $K verify sth "$D/argon2024_get-sth_1267285836.json" --log-key "$ARGON" --log-id eecdd064d5db1acec55cb79db4cd13a23287467cbcecdec351485946711fb59b
expect 1 "log ID differs" -- $K verify sth "$D/argon2024_get-sth_1267285836.json" --log-key "$ARGON" --log-id 7s3QZNXbGs7FXLedtM0TojKHRny87N7DUUhZRnEftZ0=
has err "log ID" "names the log ID"
expect 1 "wrong log key" -- $K verify sth "$D/argon2024_get-sth_1267285836.json" --log-key "$D/google-ct-pilot-server-key-public.pem"
has out "INVALID:" "verdict on stdout"
sed 's/"tree_size": 3721782/"tree_size": 3721783/' "$D/pilot_get-sth_3721782.json" >"$T/sth.size"
expect 1 "tampered size" -- $K verify sth "$T/sth.size" --log-key "$D/google-ct-pilot-server-key-public.pem"
sed 's/"timestamp": 1396609800587/"timestamp": 1396609800588/' "$D/pilot_get-sth_3721782.json" >"$T/sth.ts"
expect 1 "tampered timestamp" -- $K verify sth "$T/sth.ts" --log-key "$D/google-ct-pilot-server-key-public.pem"
sed 's/"SxKO/"SxKP/' "$D/pilot_get-sth_3721782.json" >"$T/sth.root"
expect 1 "tampered root" -- $K verify sth "$T/sth.root" --log-key "$D/google-ct-pilot-server-key-public.pem"
head -c 100 "$D/pilot_get-sth_3721782.json" >"$T/sth.trunc"
expect 2 "truncated JSON" -- $K verify sth "$T/sth.trunc" --log-key "$D/google-ct-pilot-server-key-public.pem"
sed 's/}$/, "extra": 1}/' "$D/pilot_get-sth_3721782.json" >"$T/sth.extra"
expect 2 "unknown member" -- $K verify sth "$T/sth.extra" --log-key "$D/google-ct-pilot-server-key-public.pem"
has err "unknown member" "names it"
expect 2 "key is not a key" -- $K verify sth "$D/pilot_get-sth_3721782.json" --log-key "$D/pilot_get-sth_3721782.json"
expect 2 "missing --log-key" -- $K verify sth "$D/pilot_get-sth_3721782.json"
expect 3 "--log-key: no such file" -- $K verify sth "$D/pilot_get-sth_3721782.json" --log-key "$T/no-such.pem"
has err "ktaudit: --log-key: $T/no-such.pem: No such file or directory" "--log-key: no such file: named once"

# static-ct-api: a checkpoint with the log's RFC6962NoteSignature (0x05).
ROME=rome.ct.filippo.io/2024h1+78f4abae+BTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABAFzPC3fap+uINc1RQ4eRbYMUt84+bKkA8GDLN8KwVdzAgYhYSv4kS8XSheGLAHCWhIJTJbuC3sL88bNMTtrsBM=
expect 0 "static-ct checkpoint (0x05) verifies" -- $K verify checkpoint "$D/rome_ct_filippo_io_2024h1_115474666.note" --log-key "$ROME"
has out "size 115474666" "names the size"
sed '2s/115474666/115474667/' "$D/rome_ct_filippo_io_2024h1_115474666.note" >"$T/rome.size"
expect 1 "static-ct checkpoint with another size" -- $K verify checkpoint "$T/rome.size" --log-key "$ROME"

# verify inclusion accepts a saved get-proof-by-hash response and the leaf_input as it is.
ROOT=eDFqBcm88Uo6RUj1uFSprfzUakwDRAGzzn63rC8dDss=
P=$D/real_get-proof-by-hash_848049_3630887.json
expect 0 "real CT inclusion proof (saved response)" -- $K verify inclusion --proof "$P" --entry "$D/real_leaf_input.bin" --size 3630887 --root "$ROOT"
expect 1 "wrong tree size" -- $K verify inclusion --proof "$P" --entry "$D/real_leaf_input.bin" --size 2000000 --root "$ROOT"
python3 -c "import sys; b=bytearray(open(sys.argv[1],'rb').read()); b[200]^=1; open(sys.argv[2],'wb').write(b)" "$D/real_leaf_input.bin" "$T/leaf.bad"
expect 1 "tampered leaf_input" -- $K verify inclusion --proof "$P" --entry "$T/leaf.bad" --size 3630887 --root "$ROOT"
sed 's/"leaf_index": 848049/"leaf_index": 848048/' "$P" >"$T/p.idx"
expect 1 "wrong leaf index" -- $K verify inclusion --proof "$T/p.idx" --entry "$D/real_leaf_input.bin" --size 3630887 --root "$ROOT"
# The ct-go get-sth-consistency body, escaped slash included, parses as a consistency proof.
python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['get-sth-consistency_body_raw'])" "$D/ct-go_logclient_test_responses.json" >"$T/cons.json"
expect 1 "ct-go consistency body parses (not tied to these roots)" -- $K verify consistency --proof "$T/cons.json" --old-size 3 --old-root "$ROOT" --new-size 8 --new-root "$ROOT"
has err "consistency" "verification, not a parse error"

# --- a fake log on loopback -------------------------------------------------------
. "$KTA_SRCDIR/tests/tools/ct_lib.sh"
ct_make_certs

echo '{}' >"$T/ctl.json"
python3 "$KTA_SRCDIR/tests/tools/fake_ct_log.py" --certs "$T/certs" --key "$T/log.key" --entries 23 \
  --precert-every 4 --control "$T/ctl.json" --log "$T/req.log" --port-file "$T/port" &
SRV=$!
trap 'kill $SRV 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
U="http://127.0.0.1:$(cat "$T/port")/"
KEY="$T/log.pub"
ctl() { echo "$1" >"$T/ctl.json"; }

expect 0 "replay, no watches" -- $K ct replay "$U" --log-key "$KEY"
has out "OK: 23 entries hash to the signed root" "all entries"
ctl '{"page": 3}'
: >"$T/req.log"
expect 0 "replay pages by what comes back" -- $K ct replay "$U" --log-key "$KEY" --batch 10
has out "OK: 23 entries" "paged replay complete"
n=$(grep -c '^get-entries' "$T/req.log")
[ "$n" -eq 8 ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: expected 8 pages of 3, got $n" >&2; }
ctl '{"rate_limit": 2}'
: >"$T/req.log"
expect 0 "replay survives 429 with Retry-After" -- $K ct replay "$U" --log-key "$KEY"
has out "OK: 23 entries" "rate-limited replay complete"
grep -q '^429' "$T/req.log" && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: no 429 served" >&2; }
ctl '{"bad_entry": 5}'
expect 1 "served entry differs from the signed tree" -- $K ct replay "$U" --log-key "$KEY"
has err "do not hash to the signed root" "root mismatch"
ctl '{"bad_sig": true}'
expect 1 "bad STH signature" -- $K ct replay "$U" --log-key "$KEY"
ctl '{}'
expect 1 "watched domain with an unapproved key" -- $K ct replay "$U" --log-key "$KEY" --domain ".example.org=$GOOD"
has out "login.example.org" "names the certificate"
has out "UNAPPROVED" "says the key is not approved"
has out "mail.example.org" "reports approved subdomain certificates too"
expect 0 "both keys approved" -- $K ct replay "$U" --log-key "$KEY" --domain ".example.org=$GOOD,$EVIL" --domain "example.org=$GOOD"
has out "approved" "reported"
expect 0 "exact watch does not match subdomains or lookalikes" -- $K ct replay "$U" --log-key "$KEY" --domain "example.org=$GOOD"
if grep -q "badexample\|login.example" "$T/out"; then FAIL=$((FAIL + 1)); echo "FAIL: exact watch matched too much" >&2; else PASS=$((PASS + 1)); fi
has out "precert" "precertificate entries are parsed"

# --- ct cycle: state, consistency, alerts once ------------------------------------
S="$T/state"
ctl '{"size": 10}'
expect 0 "first cycle at size 10" -- $K ct cycle "$U" --log-key "$KEY" --state "$S" --name fake --domain "example.org=$GOOD"
has out "replayed 10 entries (0..10)" "progress"
ctl '{"size": 23}'
expect 1 "second cycle finds the unapproved key" -- $K ct cycle "$U" --log-key "$KEY" --state "$S" --name fake --domain ".example.org=$GOOD" --max-entries 7 --batch 2
has err "1 new alert" "one alert"
has out "login.example.org" "reported"
expect 0 "third cycle: the same certificate (as a precert too) does not alert again" -- $K ct cycle "$U" --log-key "$KEY" --state "$S" --name fake --domain ".example.org=$GOOD"
has out "replayed 6 entries (17..23)" "resumed where it stopped"
expect 0 "nothing new" -- $K ct cycle "$U" --log-key "$KEY" --state "$S" --name fake
has out "replayed 0 entries (23..23)" "idempotent"
ctl '{"size": 23, "fork": true}'
expect 1 "same size, other root: fork" -- $K ct cycle "$U" --log-key "$KEY" --state "$S" --name fake
has err "fork" "fork reported"
ctl '{"size": 20}'
expect 1 "smaller head: rollback" -- $K ct cycle "$U" --log-key "$KEY" --state "$S" --name fake
has err "rollback" "rollback reported"
n=$(ls "$S/evidence" | wc -l)
[ "$n" -eq 2 ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: $n evidence bundles, want 2 (fork, rollback)" >&2; }
for f in "$S"/evidence/*.json; do
  expect 0 "ct cycle evidence verifies ($(basename "$f"))" -- $K verify evidence "$f" --log-key "$KEY"
done
expect 1 "evidence with another log's key" -- $K verify evidence "$f" --log-key "$ARGON"
S2="$T/state2"
ctl '{"size": 10}'
expect 0 "fresh state at 10" -- $K ct cycle "$U" --log-key "$KEY" --state "$S2" --name f2
ctl '{"size": 23, "fork": true}'
expect 1 "inconsistent larger head: consistency proof fails" -- $K ct cycle "$U" --log-key "$KEY" --state "$S2" --name f2
has err "not consistent" "fork via consistency"
ctl '{"size": 23, "bad_entry": 12}'
expect 1 "consistent head but bad served entries: replay catches it" -- $K ct cycle "$U" --log-key "$KEY" --state "$S2" --name f2
has err "do not hash" "root mismatch"
ctl '{}'
expect 0 "honest log again: progress resumes" -- $K ct cycle "$U" --log-key "$KEY" --state "$S2" --name f2
has out "(10..23)" "resumed from the last verified size"
sqlite3 "$S/state.db" "SELECT json FROM alerts" >"$T/alerts" 2>/dev/null || python3 -c "
import sqlite3,sys; [print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute('SELECT json FROM alerts')]" "$S/state.db" >"$T/alerts"
has alerts '"kind":"key_changed"' "unapproved key alert stored"
has alerts '"kind":"fork"' "fork alert stored"
has alerts '"kind":"rollback"' "rollback alert stored"
n=$(grep -c key_changed "$T/alerts")
[ "$n" -eq 1 ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: $n key_changed alerts, want 1" >&2; }
finish
