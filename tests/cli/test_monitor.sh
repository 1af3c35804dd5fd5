#!/usr/bin/env bash
# Integration tests of `ktaudit monitor --once` (issue 4): directories built
# with the reference publisher (`ktaudit dir`) or by an independent Python
# tile writer (tests/tools/monitor_mklog.py), served over real HTTP on
# loopback; each attack of DESIGN.md is staged and the exact alert asserted
# (kind, severity, label, version, leaf index, from the JSON of a `sink
# file`), and an honest directory growing over many cycles raises none.
set -eu
. "$(dirname "$0")/lib.sh"
. "$KTA_SRCDIR/tests/tools/monitor_lib.sh"

once() { # once NAME WANT DESC: one monitor cycle of NAME's configuration
  expect "$2" "$3" -- $K monitor --config "$T/$1.conf" --once
}

# --- usage and configuration -----------------------------------------------------
expect 2 "monitor without --config" -- $K monitor --once
newdir cfg
mkconf cfg "http://127.0.0.1:9/"
expect 0 "check-config" -- $K monitor --config "$T/cfg.conf" --check-config
has out "OK: $T/cfg.conf: 1 log, 1 sink, 0 watches" "check-config summary"
printf 'state_dir %s\nlog a\nurl http://127.0.0.1:9/\nfrobnicate 1\n' "$T/x" >"$T/bad.conf"
expect 2 "check-config rejects a bad directive" -- $K monitor --config "$T/bad.conf" --check-config
has err "$T/bad.conf:4" "names file and line"
expect 3 "missing config file" -- $K monitor --config "$T/nope.conf" --once
expect 2 "--exclusive without --once" -- $K monitor --config "$T/cfg.conf" --exclusive
has err "exclusive needs --once" "says what --exclusive needs"
expect 2 "watch add: --key and --tofu" -- $K watch add alice --tofu --key "ed25519:$(randkey):phone" --config "$T/cfg.conf"
expect 2 "watch add: neither --key nor --tofu" -- $K watch add alice --config "$T/cfg.conf"
expect 2 "watch add: key without device" -- $K watch add alice --key "ed25519:$(randkey)" --config "$T/cfg.conf"
expect 2 "watch approve: bad version" -- $K watch approve alice v2 --config "$T/cfg.conf"
expect 2 "watch approve: label not watched" -- $K watch approve alice 2 --config "$T/cfg.conf"
expect 2 "history: unknown log" -- $K history alice --config "$T/cfg.conf" --log nope
has err "nope" "names the log"

# --- honest directory growing over many cycles: no alert, exit 0 -----------------
newdir h
A1=$(labelkey h-alice)
C0=$(labelkey h-carl0)
$K dir add "$T/h.d" --label alice --key "ed25519:$A1:phone" >/dev/null
$K dir add "$T/h.d" --label carl --key "ed25519:$C0:laptop" >/dev/null
$K dir publish "$T/h.d" >/dev/null
serve "$T/h.d"
mkconf h "$URL" "watch alice ed25519:$A1:phone"
once h 0 "honest: first run"
has err "first run: trusting the checkpoint of size 2" "first run says it trusts"
prev=carl0
for i in 1 2 3 4 5; do
  Ci=$(labelkey "h-carl$i")
  # carl (not watched) rotates his key, signing the update with the previous one
  $K dir add "$T/h.d" --label carl --key "ed25519:$Ci:laptop" --auth-key "$T/h-$prev.key" >/dev/null
  $K dir add "$T/h.d" --label "user$i" --key "ed25519:$(randkey):phone" --key "x25519:$(randkey):phone" >/dev/null
  $K dir publish "$T/h.d" >/dev/null
  if [ $((i % 2)) -eq 0 ]; then
    # the state held alone (a rollback journal), between shared runs
    expect 0 "honest: cycle $i, --exclusive" -- $K monitor --config "$T/h.conf" --once --exclusive
    ok '[ "$(python3 -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(\"PRAGMA journal_mode\").fetchone()[0])" "$T/h.state/state.db")" = wal ]' \
      "after an --exclusive run the state is in WAL mode again"
  else
    once h 0 "honest: cycle $i"
  fi
  prev=carl$i
done
once h 0 "honest: nothing new"
# --exclusive while another process keeps the state open (a reader that
# stays until it is killed): refused after the busy timeout (10 s), nothing
# changed
python3 -c 'import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
db.execute("SELECT COUNT(*) FROM logs").fetchone()
print("open", flush=True)
time.sleep(3600)' "$T/h.state/state.db" >"$T/holder" &
HOLDER=$!
BGPIDS="$BGPIDS $HOLDER"
while [ ! -s "$T/holder" ]; do
  kill -0 "$HOLDER" 2>/dev/null || { echo "FAIL: the state holder died" >&2; exit 1; }
  sleep 0.05
done
expect 3 "--exclusive while another process has the state open" -- \
  $K monitor --config "$T/h.conf" --once --exclusive
has err "exclusive mode needs the state database alone" "says why"
kill "$HOLDER" 2>/dev/null || true
wait "$HOLDER" 2>/dev/null || true
once h 0 "honest: nothing new, after the refusal"
nalerts h 0 "honest directory: no alert"
expect 0 "history of carl" -- $K history carl --config "$T/h.conf"
has out "version 1 leaf 1 auth=first_version" "history: first version"
has out "version 6 leaf 10 auth=owner keys: ed25519:$Ci:laptop" "history: latest, owner-authorized"
expect 0 "watch list" -- $K watch list --config "$T/h.conf"
has out "example.com/h alice pinned approved=pin ed25519:$A1:phone" "watch list: pin"
ok '[ "$(wc -l <"$T/out")" -eq 1 ]' "watch list: one watch"

# --- A1 silent key swap of a watched label: key_changed + unauthorized_update ----
newdir swap
S1=$(labelkey swap-alice1)
$K dir add "$T/swap.d" --label alice --key "ed25519:$S1:phone" >/dev/null
$K dir add "$T/swap.d" --label bob --key "ed25519:$(randkey):phone" >/dev/null
$K dir publish "$T/swap.d" >/dev/null
serve "$T/swap.d"
mkconf swap "$URL" "watch alice ed25519:$S1:phone"
once swap 0 "swap: before"
S2=$(labelkey swap-alice2)
$K dir add "$T/swap.d" --label alice --key "ed25519:$S2:phone" >/dev/null 2>&1
$K dir publish "$T/swap.d" >/dev/null
once swap 1 "A1 swap: misbehaviour"
has err "ALERT: alert key_changed" "swap: logged"
has_alert swap "key_changed alert label=alice version=2 leaf=2" "A1: key_changed"
has_alert swap "unauthorized_update alert label=alice version=2 leaf=2" "A1: unauthorized_update"
nalerts swap 2 "A1: exactly two alerts"
d=$($ALERTS get "$T/swap.alerts" key_changed details)
ok '[[ $d == *"\"replaced\": [{\"alg\": \"ed25519\", \"device\": \"phone\", \"new\": \"$S2\", \"old\": \"$S1\"}]"* ]]' "A1: details name the replaced key"
ok '[[ $d == *"\"authorized\": false"* ]]' "A1: not authorized"
once swap 0 "swap: alerts are not repeated"
nalerts swap 2 "A1: still two alerts after a restart"

# --- --exclusive: the state is shared again before the alerts are delivered --------
newdir xdel
X1=$(labelkey xdel-alice1)
$K dir add "$T/xdel.d" --label alice --key "ed25519:$X1:phone" >/dev/null
$K dir publish "$T/xdel.d" >/dev/null
serve "$T/xdel.d"
mkconf xdel "$URL" "watch alice ed25519:$X1:phone"
# an exec sink that reads the state without waiting for any lock
cat >"$T/probe.sh" <<'PROBE'
cat >/dev/null
if python3 -c 'import sqlite3, sys
sqlite3.connect(sys.argv[1], timeout=0).execute("SELECT COUNT(*) FROM alerts").fetchone()' "$1" 2>/dev/null
then echo read >>"$2"; else echo locked >>"$2"; fi
PROBE
sed -i "s|^sink file .*|sink exec /bin/sh $T/probe.sh $T/xdel.state/state.db $T/xdel.probe|" "$T/xdel.conf"
expect 0 "exclusive delivery: first run" -- $K monitor --config "$T/xdel.conf" --once --exclusive
X2=$(labelkey xdel-alice2)
$K dir add "$T/xdel.d" --label alice --key "ed25519:$X2:phone" >/dev/null 2>&1
$K dir publish "$T/xdel.d" >/dev/null
expect 1 "exclusive delivery: the swap found" -- $K monitor --config "$T/xdel.conf" --once --exclusive
ok '[ -s "$T/xdel.probe" ] && ! grep -q locked "$T/xdel.probe"' \
  "the sink read the state while the alerts were delivered ($(sort "$T/xdel.probe" | uniq -c | tr -s ' \n' ' '))"
# the owner approves version 2, then re-publishes the same set signed by it
expect 0 "approve alice 2" -- $K watch approve alice 2 --config "$T/swap.conf"
has out "approved alice version 2" "approve verdict"
$K dir add "$T/swap.d" --label alice --key "ed25519:$S2:phone" --auth-key "$T/swap-alice2.key" >/dev/null
$K dir publish "$T/swap.d" >/dev/null
once swap 0 "approved: no further alert for that key set"
nalerts swap 2 "approved: no new alert"
expect 0 "history of alice" -- $K history alice --config "$T/swap.conf"
has out "version 2 leaf 2 auth=unauthorized approved keys: ed25519:$S2:phone" "history: v2 approved"
has out "version 3 leaf 3 auth=owner keys: ed25519:$S2:phone" "history: v3 owner"
expect 2 "approve a version never replayed" -- $K watch approve alice 9 --config "$T/swap.conf"

# --- A2 ghost device (watched, authorized) and A11 (unwatched, unauthorized) ----
newdir ghost
G1=$(labelkey ghost-carol)
GX=$(randkey)
D1=$(randkey)
D2=$(randkey)
$K dir add "$T/ghost.d" --label carol --key "ed25519:$G1:phone" >/dev/null
$K dir add "$T/ghost.d" --label dave --key "ed25519:$D1:phone" >/dev/null
$K dir publish "$T/ghost.d" >/dev/null
serve "$T/ghost.d"
mkconf ghost "$URL" "watch carol tofu"
once ghost 0 "ghost: before"
# the old keys plus one more, signed by carol's own key: authorized, still a change
$K dir add "$T/ghost.d" --label carol --key "ed25519:$G1:phone" --key "ed25519:$GX:ghost" --auth-key "$T/ghost-carol.key" >/dev/null
$K dir add "$T/ghost.d" --label dave --key "ed25519:$D2:phone" >/dev/null 2>&1
$K dir publish "$T/ghost.d" >/dev/null
once ghost 1 "A2/A11: misbehaviour"
has_alert ghost "key_changed alert label=carol version=2 leaf=2" "A2: key_changed"
has_alert ghost "unauthorized_update alert label=dave version=2 leaf=3" "A11: unauthorized update of an unwatched label"
nalerts ghost 2 "A2/A11: nothing else (no unauthorized_update for carol, no key_changed for dave)"
d=$($ALERTS get "$T/ghost.alerts" key_changed details)
ok '[[ $d == *"\"added\": [{\"alg\": \"ed25519\", \"device\": \"ghost\", \"key\": \"$GX\"}]"* ]]' "A2: details list the added key"
ok '[[ $d == *"\"authorized\": true"* && $d == *"\"removed\": []"* ]]' "A2: authorized, nothing removed"
# a new watch applies at once, without a rescan: dave's current set is not the pin
expect 0 "watch add dave (pinned to another key)" -- $K watch add dave --key "ed25519:$(randkey):phone" --config "$T/ghost.conf"
has out "key_changed alert stored" "watch add reports the difference"
once ghost 0 "ghost: the stored alert is delivered"
has_alert ghost "key_changed alert label=dave version=2 leaf=3" "watch add: key_changed for the current version"
nalerts ghost 3 "ghost: three alerts"
expect 0 "watch add dave (tofu: current set)" -- $K watch add dave --tofu --config "$T/ghost.conf"
expect 0 "watch list --json" -- $K watch list --config "$T/ghost.conf" --json
has out '"label":"dave","mode":"tofu"' "json list"
has out '"approved_version":2' "tofu approved the current version"

# --- A4 fork: the same log key and origin, a different history ------------------
newdir fork
for v in a b c; do $K dir init "$T/fork.$v" --origin example.com/fork --key "$T/fork.log.key" >/dev/null; done
for l in x y z; do $K dir add "$T/fork.a" --label "$l" --key "ed25519:$(randkey):d" >/dev/null; done
for l in x y w; do $K dir add "$T/fork.b" --label "$l" --key "ed25519:$(randkey):d" >/dev/null; done
for l in x q r s t; do $K dir add "$T/fork.c" --label "$l" --key "ed25519:$(randkey):d" >/dev/null; done
for v in a b c; do $K dir publish "$T/fork.$v" >/dev/null; done
cp -a "$T/fork.a" "$T/fork.srv"
serve "$T/fork.srv"
mkconf fork "$URL"
once fork 0 "fork: first view"
rm -rf "$T/fork.srv" && cp -a "$T/fork.b" "$T/fork.srv"
once fork 1 "A4: same size, different root"
has_alert fork "fork critical label=- version=- leaf=-" "A4: fork"
ev=$($ALERTS get "$T/fork.alerts" fork evidence | tr -d '"')
ok '[ -s "$ev" ]' "A4: evidence bundle written"
once fork 1 "A4: still a fork after a restart"
nalerts fork 1 "A4: reported once"
rm -rf "$T/fork.srv" && cp -a "$T/fork.c" "$T/fork.srv"
once fork 1 "A4: larger but inconsistent"
nalerts fork 2 "A4: a second fork (sizes 3 and 5)"
ok '[ "$(ls "$T/fork.state/evidence" | wc -l)" -eq 2 ]' "A4: two evidence bundles"
for f in "$T"/fork.state/evidence/*.json; do
  expect 0 "A4: evidence verifies offline" -- $K verify evidence "$f" --log-key "$(cat "$T/fork.log.vkey")"
done
# A3: the url and a mirror show two views of the same size (first run)
serve "$T/fork.a"
URLA=$URL
serve "$T/fork.b"
LOG=fork mkconf mirror "$URLA" "mirror $URL"
once mirror 1 "A3: url and mirror disagree"
has_alert mirror "fork critical label=- version=- leaf=-" "A3: fork between vantage points"
nalerts mirror 1 "A3: one alert"

# --- A5 rollback, also after a restart -------------------------------------------
newdir rb
$K dir add "$T/rb.d" --label a --key "ed25519:$(randkey):d" >/dev/null
$K dir publish "$T/rb.d" >/dev/null
cp -a "$T/rb.d" "$T/rb.old"
$K dir add "$T/rb.d" --label b --key "ed25519:$(randkey):d" >/dev/null
$K dir publish "$T/rb.d" >/dev/null
cp -a "$T/rb.d" "$T/rb.srv"
serve "$T/rb.srv"
RBURL=$URL
mkconf rb "$URL"
once rb 0 "rollback: size 2 verified"
rm -rf "$T/rb.srv" && cp -a "$T/rb.old" "$T/rb.srv"
once rb 1 "A5: rollback"
has_alert rb "rollback critical label=- version=- leaf=-" "A5: rollback alert"
ok '[ "$($ALERTS get "$T/rb.alerts" rollback size)" = 1 ]' "A5: at the served size"
once rb 1 "A5: rollback again after a restart"
nalerts rb 1 "A5: reported once"
rm -rf "$T/rb.srv" && cp -a "$T/rb.d" "$T/rb.srv"
once rb 0 "A5: the log serves the verified head again"
# a smaller head of another history (the verified tiles still served): both
$K dir init "$T/rb.other" --origin example.com/rb --key "$T/rb.log.key" >/dev/null
$K dir add "$T/rb.other" --label z --key "ed25519:$(randkey):d" >/dev/null
$K dir publish "$T/rb.other" >/dev/null
cp "$T/rb.other/checkpoint" "$T/rb.srv/checkpoint"
once rb 1 "A5+A4: smaller and not a prefix"
has_alert rb "fork critical label=- version=- leaf=-" "A5+A4: fork"
nalerts rb 3 "A5+A4: a second rollback and a fork"
cp "$T/rb.d/checkpoint" "$T/rb.srv/checkpoint"
# a mirror that lags behind is not a rollback, if it is a prefix
serve "$T/rb.old"
LOG=rb mkconf lag "$RBURL" "mirror $URL"
once lag 0 "lagging mirror: first run"
once lag 0 "lagging mirror: second run"
nalerts lag 0 "lagging mirror: no alert"

# --- A7 entries that do not hash to the signed root ----------------------------
newdir rm
for l in a b c; do $K dir add "$T/rm.d" --label "$l" --key "ed25519:$(randkey):d" >/dev/null; done
$K dir publish "$T/rm.d" >/dev/null
serve "$T/rm.d"
mkconf rm "$URL"
once rm 0 "root mismatch: size 3 verified"
$K dir add "$T/rm.d" --label mallory --key "ed25519:$(randkey):d" >/dev/null
$K dir add "$T/rm.d" --label oscar --key "ed25519:$(randkey):d" >/dev/null
$K dir publish "$T/rm.d" >/dev/null
# change entry 4 in the bundle (same length), keep the tiles and the checkpoint
python3 - "$T/rm.d/tile/entries/000.p/5" <<'PY'
import sys
p = sys.argv[1]
b = open(p, "rb").read()
assert b.count(b"label oscar\n") == 1
open(p, "wb").write(b.replace(b"label oscar\n", b"label oscaR\n"))
PY
once rm 1 "A7: root mismatch"
has_alert rm "root_mismatch critical label=- version=- leaf=4" "A7: names the entry"
ev=$($ALERTS get "$T/rm.alerts" root_mismatch evidence | tr -d '"')
ok '[ -s "$ev" ]' "A7: evidence bundle written"
once rm 1 "A7: again, not advanced"
nalerts rm 1 "A7: reported once"
expect 0 "A7: nothing of the mismatching tree was replayed" -- $K history mallory --config "$T/rm.conf"
has err "no entries" "history empty"

# --- A8 version equivocation and a version skip (hand-built log) ----------------
newdir eq
$K dir add "$T/eq.d" --label bob --key "ed25519:$(randkey):phone" >/dev/null
$K dir add "$T/eq.d" --label erin --key "ed25519:$(randkey):phone" >/dev/null
$K dir publish "$T/eq.d" >/dev/null
$MKLOG entries "$T/eq.d" "$T/eq.entries"
printf 'keydir/v1\nlabel bob\nversion 1\ntime 1764143000\nkey ed25519 %s phone\n' "$(randkey)" >"$T/eq.entries/00000002"
printf 'keydir/v1\nlabel erin\nversion 3\ntime 1764143000\nkey ed25519 %s phone\n' "$(randkey)" >"$T/eq.entries/00000003"
$MKLOG build "$T/eq.bad" example.com/eq "$T/eq.entries"
$K sign --key "$T/eq.log.key" --out "$T/eq.bad/checkpoint" "$T/eq.bad/checkpoint.txt"
ok '[ "$(sed -n 3p "$T/eq.bad/checkpoint")" = "$($MKLOG root "$T/eq.entries")" ]' "python log: root"
serve "$T/eq.bad"
mkconf eq "$URL"
once eq 1 "A8: equivocation"
has_alert eq "version_equivocation critical label=bob version=1 leaf=2" "A8: equivocation"
has_alert eq "version_skip critical label=erin version=3 leaf=3" "A8: version skip"
has_alert eq "unauthorized_update alert label=erin version=3 leaf=3" "A8: the skipped update is unauthorized too"
nalerts eq 3 "A8: three alerts"
ev=$($ALERTS get "$T/eq.alerts" version_equivocation evidence | tr -d '"')
ok '[ -s "$ev" ]' "A8: evidence bundle written"
expect 0 "A8: evidence verifies offline" -- $K verify evidence "$ev" --log-key "$(cat "$T/eq.log.vkey")"
has out "two different entries for version 1 of label bob" "A8: says what it proves"
expect 0 "A7: evidence verifies offline" -- $K verify evidence "$($ALERTS get "$T/rm.alerts" root_mismatch evidence | tr -d '"')" --log-key "$(cat "$T/rm.log.vkey")"
expect 0 "A5: evidence verifies offline" -- $K verify evidence "$($ALERTS get "$T/rb.alerts" rollback evidence | tr -d '"')" --log-key "$(cat "$T/rb.log.vkey")"

# --- a state of schema 4 (label records with leaf hashes), upgraded -------------
# The first run's bucket rows are rewritten in the form schema 4 wrote (no
# leading 0x00, a 32-byte hash after each leaf index, here zeros: the hash
# is never read again) and the version set back to 4; the next run raises
# it to 5 and tells a repeat from an equivocation by the history alone.
newdir up
$K dir add "$T/up.d" --label bob --key "ed25519:$(randkey):phone" >/dev/null
$K dir add "$T/up.d" --label erin --key "ed25519:$(randkey):phone" >/dev/null
$K dir publish "$T/up.d" >/dev/null
serve "$T/up.d"
mkconf up "$URL"
once up 0 "schema 4: the first run"
python3 - "$T/up.state/state.db" "$KTA_SRCDIR/tests/tools" <<'PY'
import sqlite3, sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, sys.argv[2])
from monitor_alerts import varint

db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT rowid, data FROM labels WHERE bucket >= 0").fetchall()
assert rows and all(d[:1] == b"\x00" for _, d in rows), "rows not in the schema 5 form"
for rowid, d in rows:
    off, out = 1, b""
    while off < len(d):
        start = off
        ll, off = varint(d, off)
        off += ll
        _, off = varint(d, off)
        _, off = varint(d, off)  # leaf index: the hash followed it
        out += d[start:off] + bytes(32)
        start = off
        kl, off = varint(d, off)
        off += kl
        out += d[start:off]
    db.execute("UPDATE labels SET data = ? WHERE rowid = ?", (out, rowid))
db.execute("PRAGMA user_version = 4")
db.commit()
PY
$MKLOG entries "$T/up.d" "$T/up.entries"
cp "$T/up.entries/00000000" "$T/up.entries/00000002"
printf 'keydir/v1\nlabel bob\nversion 1\ntime 1764143000\nkey ed25519 %s phone\n' "$(randkey)" >"$T/up.entries/00000003"
$MKLOG build "$T/up.v2" example.com/up "$T/up.entries"
$K sign --key "$T/up.log.key" --out "$T/up.v2/checkpoint" "$T/up.v2/checkpoint.txt"
serve "$T/up.v2"
mkconf up "$URL"
once up 1 "schema 4: the next run"
sqlver() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$T/up.state/state.db" "$1"; }
ok '[ "$(sqlver "PRAGMA user_version")" = 5 ]' "schema 4: raised to 5"
ok '[ "$(sqlver "SELECT COUNT(*) FROM labels WHERE bucket >= 0 AND substr(data, 1, 1) = x'"'00'"'")" -ge 1 ]' \
  "schema 4: the changed bucket written in the new form"
has_alert up "version_skip critical label=bob version=1 leaf=2" "schema 4: the same bytes again: a repeat"
has_alert up "version_equivocation critical label=bob version=1 leaf=3" "schema 4: other bytes: an equivocation"
nalerts up 2 "schema 4: two alerts"
ev=$($ALERTS get "$T/up.alerts" version_equivocation evidence | tr -d '"')
expect 0 "schema 4: the equivocation's evidence verifies offline" -- $K verify evidence "$ev" --log-key "$(cat "$T/up.log.vkey")"
expect 0 "schema 4: history across the upgrade" -- $K history bob --config "$T/up.conf"
has out "leaf 3" "schema 4: history shows the last entry"

# --- A10 bad signature; witness quorum not met ----------------------------------
newdir sig
$K dir add "$T/sig.d" --label a --key "ed25519:$(randkey):d" >/dev/null
$K dir publish "$T/sig.d" >/dev/null
cp -a "$T/sig.d" "$T/sig.srv"
serve "$T/sig.srv"
mkconf sig "$URL"
once sig 0 "signature: good"
python3 - "$T/sig.srv/checkpoint" <<'PY'
import base64, os, sys
p = sys.argv[1]
lines = open(p).read().split("\n")
lines[2] = base64.b64encode(os.urandom(32)).decode()
open(p, "w").write("\n".join(lines))
PY
once sig 1 "A10: bad signature"
has_alert sig "bad_signature critical label=- version=- leaf=-" "A10: bad_signature"
once sig 1 "A10: again"
nalerts sig 1 "A10: reported once"
ok '[ "$($ALERTS get "$T/sig.alerts" bad_signature evidence)" = null ]' "A10: no evidence for an unattributable note"

$K keygen --witness --name w1.example --out "$T/w1.key" >"$T/w1.vkey"
newdir wq
$K dir add "$T/wq.d" --label a --key "ed25519:$(randkey):d" >/dev/null
$K dir publish "$T/wq.d" >/dev/null
serve "$T/wq.d"
mkconf wq "$URL" "witness $(cat "$T/w1.vkey")" "quorum 1"
once wq 3 "A10: quorum not met"
has_alert wq "quorum warning label=- version=- leaf=-" "A10: quorum warning"
expect 0 "quorum: nothing was adopted" -- $K history a --config "$T/wq.conf"
has err "no entries" "quorum: history empty"
$K sign --key "$T/w1.key" --out "$T/wq.d/checkpoint" "$T/wq.d/checkpoint"
once wq 0 "quorum met after the witness cosigned"
nalerts wq 1 "quorum: one warning"

# --- A9 stale: max_age with an old cosignature -----------------------------------
newdir st
$K dir add "$T/st.d" --label a --key "ed25519:$(randkey):d" >/dev/null
$K dir publish "$T/st.d" >/dev/null
cp "$T/st.d/checkpoint" "$T/st.bare"
now=$(date +%s)
$K sign --key "$T/w1.key" --time $((now - 7200)) --out "$T/st.d/checkpoint" "$T/st.bare"
serve "$T/st.d"
mkconf st "$URL" "witness $(cat "$T/w1.vkey")" "quorum 1" "max_age 3600"
once st 3 "A9: stale"
has_alert st "stale warning label=- version=- leaf=-" "A9: stale warning"
once st 3 "A9: stale again"
nalerts st 1 "A9: reported once"
$K sign --key "$T/w1.key" --out "$T/st.d/checkpoint" "$T/st.bare"
once st 0 "fresh cosignature"
nalerts st 1 "A9: nothing new"

# --- unreachable: warning, exit 3, once per day ---------------------------------
newdir ur
$K dir add "$T/ur.d" --label a --key "ed25519:$(randkey):d" >/dev/null
$K dir publish "$T/ur.d" >/dev/null
serve "$T/ur.d"
mkconf ur "$URL"
once ur 0 "reachable"
unserve "$SRV"
once ur 3 "unreachable"
has_alert ur "unreachable warning label=- version=- leaf=-" "unreachable warning"
has err "warning" "logged"
once ur 3 "still unreachable"
nalerts ur 1 "unreachable: one warning per day"

# --- A6: stale and outdated lookup answers, against the monitor's audit ----------
newdir lk
$K dir add "$T/lk.d" --label alice --key "ed25519:$(randkey):phone" >/dev/null
$K dir add "$T/lk.d" --label bob --key "ed25519:$(randkey):phone" >/dev/null
$K dir publish "$T/lk.d" >/dev/null
cp "$T/lk.d/lookup/alice" "$T/lk.alice.v1"
cp "$T/lk.d/lookup/bob" "$T/lk.bob"
# version 2 of alice (unsigned: an unauthorized_update, which is not the point here)
$K dir add "$T/lk.d" --label alice --key "ed25519:$(randkey):laptop" >/dev/null
$K dir publish "$T/lk.d" >/dev/null
mkconf lk "file://$T/lk.d/"
LKV=$(cat "$T/lk.log.vkey")
expect 3 "A6: --config before any audit: cannot tell" -- $K verify lookup "$T/lk.bob" --log-key "$LKV" --config "$T/lk.conf"
has err "cannot tell yet" "A6: says the audit has not reached the answer"
once lk 1 "A6: the audit (an unauthorized update)"
expect 0 "A6: the current answer is the latest" -- $K verify lookup "$T/lk.d/lookup/alice" --log-key "$LKV" --config "$T/lk.conf"
has out "version 2 is leaf 2" "A6: names the version"
has out "and its latest entry in the monitor's audit: verified up to size 3, stored 20" "A6: says how fresh the audit is"
expect 0 "A6: an unchanged label's older answer is still the latest" -- $K verify lookup "$T/lk.bob" --log-key "$LKV" --config "$T/lk.conf"
expect 0 "A6: --json says latest" -- $K verify lookup "$T/lk.bob" --log-key "$LKV" --config "$T/lk.conf" --json
has out '"latest":true' "A6: json latest"
has out '"audited_size":3' "A6: json audited size"
# the provider replays alice's first answer: valid alone, outdated against the audit
expect 0 "A6: the old answer verifies alone" -- $K verify lookup "$T/lk.alice.v1" --log-key "$LKV"
expect 1 "A6: the old answer is refused against the audit" -- $K verify lookup "$T/lk.alice.v1" --log-key "$LKV" --config "$T/lk.conf"
has err "outdated answer: version 1 at leaf 0 (tree size 2), but the audited log (size 3) holds a later entry of the label (version 2) at leaf 2" "A6: names the newer version"
has err "$T/lk.alice.v1" "A6: names the answer"
expect 2 "A6: --log without --config (before reading the answer)" -- $K verify lookup "$T/no-such-answer" --log-key "$LKV" --log lk
has err "--log needs --config" "A6: says what --log needs"
# the same origin under another key: not this configuration's log
$K keygen --name example.com/lk --out "$T/lk-other.key" >"$T/lk-other.vkey"
sed -e "s|^key .*|key $(cat "$T/lk-other.vkey")|" -e "s|^state_dir .*|state_dir $T/lkx.state|" "$T/lk.conf" >"$T/lkx.conf"
expect 2 "A6: a configuration with another key for the origin" -- $K verify lookup "$T/lk.bob" --log-key "$LKV" --config "$T/lkx.conf"
has err "under its own key" "A6: says the keys differ"
# a sharded audit answers only for its own labels (another shard's history
# is empty, which must not read as "another tree")
LOG=lk mkconf lks0 "file://$T/lk.d/" "shard 0/2"
LOG=lk mkconf lks1 "file://$T/lk.d/" "shard 1/2"
$K monitor --config "$T/lks0.conf" --once >/dev/null 2>&1 || true
$K monitor --config "$T/lks1.conf" --once >/dev/null 2>&1 || true
codes=""
for k in 0 1; do
	set +e
	$K verify lookup "$T/lk.d/lookup/alice" --log-key "$LKV" --config "$T/lks$k.conf" >/dev/null 2>"$T/lks$k.err"
	codes="$codes$?"
	set -e
done
ok '[ "$codes" = 02 ] || [ "$codes" = 20 ]' "A6: the answer is the latest in its shard, refused by the other ($codes)"
ok 'grep -q "shard" "$T/lks0.err" "$T/lks1.err"' "A6: the other shard's refusal names the shard"
# an answer of another log: refused, not checked against the wrong audit
expect 2 "A6: another log's answer" -- $K verify lookup "$T/lk.bob" --log-key "$LKV" --config "$T/ur.conf"
has err "audits" "A6: says which log the configuration audits"
# --- A3/A4: a split view seen through lookup answers --------------------------------
# fk.d is the audited log (a, b, c: size 3); the provider forks it for some
# users, each fork signed with the log's key: fky.d after a (b other: size 2),
# fkz.d after b (c other: size 3), fkx.d after b (c other, d, e: size 5)
newdir fk
FKV=$(cat "$T/fk.log.vkey")
# addpub DIR DEVICE LABEL...: each label gets a new key on DEVICE; one publish
addpub() {
	local d=$1 dev=$2 u
	shift 2
	for u in "$@"; do $K dir add "$d" --label "$u" --key "ed25519:$(randkey):$dev" >/dev/null; done
	$K dir publish "$d" >/dev/null
}
# evpath: the evidence bundle the last command's message names
evpath() { sed -n 's/.*: evidence in \([^ ]*\.json\) (.*/\1/p' "$T/err"; }
addpub "$T/fk.d" phone a
cp -a "$T/fk.d" "$T/fky.d"
addpub "$T/fk.d" phone b
cp -a "$T/fk.d" "$T/fkz.d"
cp -a "$T/fk.d" "$T/fkx.d"
addpub "$T/fk.d" phone c
addpub "$T/fky.d" ghost b
addpub "$T/fkz.d" ghost c
addpub "$T/fkx.d" ghost c d e
mkconf fk "file://$T/fk.d/"
once fk 0 "split view: the audit of the honest log"
for u in a b c; do
	expect 0 "split view: the honest answer for $u" -- $K verify lookup "$T/fk.d/lookup/$u" --log-key "$FKV" --config "$T/fk.conf"
done
ok '[ ! -e "$T/fk.state/evidence" ] || [ -z "$(ls "$T/fk.state/evidence")" ]' "split view: no evidence from honest answers"
# fkz: the same size, another root (c's entry differs at the audited leaf)
expect 0 "split view: the forked answer verifies alone" -- $K verify lookup "$T/fkz.d/lookup/c" --log-key "$FKV"
expect 1 "split view: one size, two roots" -- $K verify lookup "$T/fkz.d/lookup/c" --log-key "$FKV" --config "$T/fk.conf" --json
has err "(the audit in $T/fk.conf): evidence in $T/fk.state/evidence/lookup-fork-" "split view: names the evidence first"
has err "checks it with the log's key alone): split view: the answer's checkpoint and the audited one both have tree size 3 and different roots" "split view: says one size, two roots"
has out '"evidence":"'"$T/fk.state/evidence/lookup-fork-" "split view: --json names the evidence"
ev=$(sed -n 's/.*"evidence":"\([^"]*\)".*/\1/p' "$T/out")
expect 0 "split view: the evidence holds" -- $K verify evidence "$ev" --log-key "$FKV"
has out "signed two different trees of size 3" "split view: the evidence proves one size, two roots"
ok '[ "$(stat -c %a "$ev")" = 644 ]' "split view: the evidence is a public file (0644)"
# fkx: a larger tree whose leaves [2, 3) are not the audited ones
expect 1 "split view: a larger tree" -- $K verify lookup "$T/fkx.d/lookup/c" --log-key "$FKV" --config "$T/fk.conf"
has err "the answer's tree (size 5) and the audited tree (size 3) hash leaves [2, 3) differently" "split view: larger: names the leaves"
ev=$(evpath)
expect 0 "split view: larger: the evidence holds" -- $K verify evidence "$ev" --log-key "$FKV"
has out "a tree of size 3 and a tree of size 5 that cannot both be in one append-only log" "split view: larger: what it proves"
# ... a new label past the audit: its path gives the audited subtree [2, 3)
expect 1 "split view: a leaf past the audit, its path through the fork" -- $K verify lookup "$T/fkx.d/lookup/d" --log-key "$FKV" --config "$T/fk.conf"
has err "hash leaves [2, 3) differently" "split view: past the audit: names the leaves"
ev=$(evpath)
expect 0 "split view: past the audit: the evidence holds" -- $K verify evidence "$ev" --log-key "$FKV"
# ... one whose path holds no audited subtree shows nothing: it cannot tell
expect 3 "split view: a leaf past the audit, nothing to compare" -- $K verify lookup "$T/fkx.d/lookup/e" --log-key "$FKV" --config "$T/fk.conf"
# fky: a smaller tree that holds all of the audited subtree [0, 2)
expect 1 "split view: a smaller tree" -- $K verify lookup "$T/fky.d/lookup/b" --log-key "$FKV" --config "$T/fk.conf"
has err "(size 2) and the audited tree (size 3) hash leaves [0, 2) differently" "split view: smaller: names the leaves"
ev=$(evpath)
expect 0 "split view: smaller: the evidence holds" -- $K verify evidence "$ev" --log-key "$FKV"
# (c's and d's answers prove the same thing: one bundle, named by its hash)
ok '[ "$(ls "$T/fk.state/evidence" | wc -l)" -eq 3 ]' "split view: three bundles"
# a stored checkpoint whose signature no longer verifies: no bundle is
# written that would not hold (the verdict stands)
cp -a "$T/fk.state" "$T/fk4.state"
rm -rf "$T/fk4.state/evidence"
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
(cp,) = db.execute("SELECT checkpoint FROM logs").fetchone()
sig = cp.rstrip("\n").rsplit(" ", 1)
last = sig[1][-2]
sig[1] = sig[1][:-2] + ("A" if last != "A" else "B") + sig[1][-1]
db.execute("UPDATE logs SET checkpoint = ?", (" ".join(sig) + "\n",))
db.commit()' "$T/fk4.state/state.db"
sed "s|^state_dir .*|state_dir $T/fk4.state|" "$T/fk.conf" >"$T/fk4.conf"
expect 1 "split view: a stored checkpoint that does not verify" -- $K verify lookup "$T/fkz.d/lookup/c" --log-key "$FKV" --config "$T/fk4.conf"
has err "no evidence bundle (" "split view: no bundle that would not hold"
ok '[ ! -e "$T/fk4.state/evidence" ]' "split view: nothing written"
# run by another user than the state's owner (root, here): evidence_dir is
# not created, or the monitor could not write there
if [ "$(id -u)" = 0 ]; then
	cp -a "$T/fk.state" "$T/fk5.state"
	rm -rf "$T/fk5.state/evidence"
	chown 65534 "$T/fk5.state"
	sed "s|^state_dir .*|state_dir $T/fk5.state|" "$T/fk.conf" >"$T/fk5.conf"
	expect 1 "split view: not the state's owner" -- $K verify lookup "$T/fkz.d/lookup/c" --log-key "$FKV" --config "$T/fk5.conf"
	has err "does not exist, and the state directory belongs to uid 65534, not to this user (uid 0)" "split view: says whose state it is"
	ok '[ ! -e "$T/fk5.state/evidence" ]' "split view: evidence_dir not created"
	mkdir "$T/fk5.state/evidence"
	expect 1 "split view: not the owner, evidence_dir there" -- $K verify lookup "$T/fkz.d/lookup/c" --log-key "$FKV" --config "$T/fk5.conf"
	has err ": evidence in $T/fk5.state/evidence/lookup-fork-" "split view: writes into an existing evidence_dir"
fi
# an evidence_dir that cannot be written: the verdict stands, the message says why
printf 'not a directory\n' >"$T/fk.evfile"
sed "1i evidence_dir $T/fk.evfile/sub" "$T/fk.conf" >"$T/fk2.conf"
expect 1 "split view: evidence not writable" -- $K verify lookup "$T/fkz.d/lookup/c" --log-key "$FKV" --config "$T/fk2.conf"
has err "no evidence bundle (" "split view: says the bundle was not written"

# --json: a configuration or state that cannot be opened is a JSON error on
# stdout too, not only a line on stderr
printf 'state_dir %s\nlog x\n' "$T/nope.state" >"$T/broken.conf"
expect 2 "A6: --json, a broken configuration" -- $K verify lookup "$T/lk.bob" --log-key "$LKV" --config "$T/broken.conf" --json
has out '"valid":false' "A6: json, broken configuration: not valid"
has out "broken.conf" "A6: json, broken configuration: names the file"
expect 3 "A6: --json, no such configuration" -- $K verify lookup "$T/lk.bob" --log-key "$LKV" --config "$T/no-such.conf" --json
has out '"status":' "A6: json, no configuration: a status"
has out "no-such.conf" "A6: json, no configuration: names the file"
expect 2 "A6: --json, no such --log" -- $K verify lookup "$T/lk.bob" --log-key "$LKV" --config "$T/lk.conf" --log nosuch --json
has out '"valid":false' "A6: json, no such log: not valid"
expect 2 "watch add: neither --key nor --tofu" -- $K watch add alice --config "$T/lk.conf" --json
has out "give --key (one or more) or --tofu" "watch add --json: says what it needs on stdout"
has err "give --key (one or more) or --tofu" "watch add: and on stderr"
expect 2 "watch approve: version 0" -- $K watch approve alice 0 --config "$T/lk.conf"
has err 'VERSION must be a decimal >= 1, not "0"' "watch approve: says what VERSION must be"
expect 2 "watch approve: a version that is not a number" -- $K watch approve alice 2x --config "$T/lk.conf" --json
has out '"status":' "watch approve --json: the usage error on stdout"
for c in "history alice" "watch list" "watch approve alice 2" "watch add alice --tofu"; do
	expect 3 "$c --json, no such configuration (I/O)" -- $K $c --config "$T/no-such.conf" --json
	has out "no-such.conf" "$c --json: the error names the file on stdout"
	has err "no-such.conf" "$c --json: and on stderr"
done

finish
