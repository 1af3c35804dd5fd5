#!/usr/bin/env bash
# Disk full and read-only directories (issue 8 "Faults"): the monitor's
# SQLite state, its evidence directory and file sink, and the publisher's
# directory, each on a small tmpfs that is filled up (ENOSPC) or remounted
# read-only (EROFS; chmod would test nothing as root). Each fault must give
# exit 3 and a message naming the file or operation, leave the state intact
# (SQLite integrity_check, stored checkpoint unchanged, served directory
# still verifying), and once space returns (or the mount is writable again)
# the next run must continue and end with the same state and alerts as a
# run that never saw the fault.
#
# Needs root and mount(8) for tmpfs; otherwise prints SKIP and exits 0.
set -eu
. "$(dirname "$0")/lib.sh"
. "$KTA_SRCDIR/tests/tools/monitor_lib.sh"

MOUNTS=""
df_cleanup() {
	local m
	set +e
	for m in $MOUNTS; do umount -l "$m"; done 2>/dev/null
	mon_cleanup
}
trap df_cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: not root: cannot mount a small tmpfs to fill up"
	exit 0
fi
# mnt NAME SIZE: a tmpfs of SIZE at $T/NAME
mnt() {
	mkdir -p "$T/$1"
	mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$T/$1"
	MOUNTS="$T/$1 $MOUNTS"
}
mkdir -p "$T/probe"
if ! mount -t tmpfs -o size=1m tmpfs "$T/probe" 2>"$T/mount.err"; then
	echo "SKIP: cannot mount a tmpfs here: $(cat "$T/mount.err")"
	exit 0
fi
umount "$T/probe"

# later CMD...: runs CMD with the wall clock 60 s ahead (tests/tools/fakeclock.c;
# below the monitor's 300 s clock-skew bound): failed deliveries (backoff
# 10 s, deliver.h) are due again without the test sleeping.
SHIM=$T/fakeclock.so
if command -v cc >/dev/null; then
	cc -shared -fPIC -O2 -o "$SHIM" "$KTA_SRCDIR/tests/tools/fakeclock.c" -ldl
fi
later() {
	if [ -e "$SHIM" ]; then
		KTA_FAKECLOCK_OFFSET=60 LD_PRELOAD=$SHIM "$@"
	else
		sleep 11
		"$@"
	fi
}

# fill DIR [KB]: fills DIR's file system (a file DIR/fill) to the last
# byte, or to KB KiB of free space
fill() {
	local d=$1 kb=${2:-0}
	head -c 512M /dev/zero >"$d/fill" 2>/dev/null || true
	ok '[ "$(df --output=avail "$d" | tail -1)" -eq 0 ]' "$d is full"
	if [ "$kb" -gt 0 ]; then truncate -s "-${kb}K" "$d/fill"; fi
}
unfill() { rm -f "$1/fill"; }
ro() { mount -o remount,ro "$1"; }
rw() { mount -o remount,rw "$1"; }
# sql DB QUERY: one query on a copy of DB and its WAL (opening a WAL
# database needs its -shm file, which a full or read-only mount cannot give)
sql() {
	rm -rf "$T/sqlcopy"
	mkdir -p "$T/sqlcopy"
	cp "$1" "$T/sqlcopy/db"
	if [ -e "$1-wal" ]; then cp "$1-wal" "$T/sqlcopy/db-wal"; fi
	python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for r in db.execute(sys.argv[2]):
    print("|".join(str(x) for x in r))' "$T/sqlcopy/db" "$2"
}
intact() {
	local db=$1
	ok '[ "$(sql "$db" "PRAGMA integrity_check")" = ok ]' "$2: integrity_check ok"
}
# said DESC: prints the last command's first error line (for the record)
said() { echo "$1: $(grep -m1 -E "warning|error|cannot|full|space|read-only" "$T/err" || head -1 "$T/err")"; }
# same_ids FILE DESC: FILE has the reference's alert ids
same_ids() {
	if cmp -s "$T/ref.ids" "$1"; then
		PASS=$((PASS + 1))
	else
		FAIL=$((FAIL + 1))
		echo "FAIL: $2" >&2
		diff "$T/ref.ids" "$1" | head -5 >&2
	fi
}
logrow() { sql "$1" "SELECT origin, size, hex(root), hex(range), hex(checkpoint) FROM logs"; }

# --- the log: 2000 entries, then 6000 (a prefix-consistent extension); every
# 500th entry is an unauthorized update, so each step makes alerts; and the
# 2000 head served again after the 6000 one was verified is a rollback
# (critical, with an evidence file).
$K keygen --name example.com/df --out "$T/df.log.key" >"$T/df.log.vkey"
for n in 2000 6000; do
	$MKLOG gen "$T/srv$n" example.com/df "$n" 500
	$K sign --key "$T/df.log.key" --out "$T/srv$n/checkpoint" "$T/srv$n/checkpoint.txt"
done
ln -s "$T/srv2000" "$T/live"
serve "$T/live"
LURL=$URL
at() { ln -sfn "$T/srv$1" "$T/live"; }

# conf NAME STATE SINKFILE [EVIDENCE_DIR]: a monitor configuration
conf() {
	{
		echo "state_dir $2"
		if [ -n "${4:-}" ]; then echo "evidence_dir $4"; fi
		echo "sink file $3"
		echo "log example.com/df"
		echo "url $LURL"
		echo "key $(cat "$T/df.log.vkey")"
	} >"$T/$1.conf"
}
mon() {
	expect "$2" "$3" -- timeout -k 5 90 $K monitor --config "$T/$1.conf" --once
}
# mon_later NAME CODE DESC: the same, a minute later (retries due)
mon_later() {
	expect "$2" "$3" -- later timeout -k 5 90 $K monitor --config "$T/$1.conf" --once
}

# --- the reference: no fault ------------------------------------------------------------
conf ref "$T/ref.state" "$T/ref.alerts"
at 2000
mon ref 1 "reference: 2000 entries"
logrow "$T/ref.state/state.db" >"$T/ref.row2000"
at 6000
mon ref 1 "reference: 6000 entries"
logrow "$T/ref.state/state.db" >"$T/ref.row6000"
at 2000
mon ref 1 "reference: rollback"
has err "rollback" "reference: rollback found"
at 6000
mon ref 0 "reference: back to 6000"
$ALERTS ids "$T/ref.alerts" >"$T/ref.ids"
ok '[ "$(wc -l <"$T/ref.ids")" -ge 12 ]' "reference: $(wc -l <"$T/ref.ids") alerts"
ls "$T/ref.state/evidence" >"$T/ref.ev"
ok '[ "$(wc -l <"$T/ref.ev")" -eq 1 ]' "reference: one evidence file"

# --- disk full: state, evidence and sink on one small tmpfs -----------------------------
mnt full 16m
mnt ev 1m
conf full "$T/full/state" "$T/full/alerts" "$T/ev/evidence"
at 2000
fill "$T/full"
mon full 3 "full disk, first run: exit 3"
has err "$T/full/state" "full, first run: names the state directory or database"
said "monitor, disk full, first run"
ok 'grep -qiE "full|space" "$T/err"' "full, first run: says the disk is full"
unfill "$T/full"
mon full 1 "space back: the first run completes"
ok '[ "$(logrow "$T/full/state/state.db")" = "$(cat "$T/ref.row2000")" ]' "space back: the same checkpoint as the reference"
at 6000
# room to open the database, not for the transaction of 4000 entries
fill "$T/full" 400
mon full 3 "disk fills up during a 4000-entry catch-up: exit 3"
has err "state.db" "full, catch-up: names the database"
said "monitor, disk full, catch-up"
ok 'grep -qiE "full|space" "$T/err"' "full, catch-up: says the disk is full"
intact "$T/full/state/state.db" "full, catch-up"
ok '[ "$(logrow "$T/full/state/state.db")" = "$(cat "$T/ref.row2000")" ]' "full, catch-up: nothing half-committed (still 2000)"
unfill "$T/full"
mon full 1 "space back: the catch-up completes"
ok '[ "$(logrow "$T/full/state/state.db")" = "$(cat "$T/ref.row6000")" ]' "space back: the same checkpoint as the reference (6000)"
# a rollback whose evidence file cannot be written (evidence_dir full)
at 2000
fill "$T/ev"
# The critical alert is not held back by a full disk (exit 1, delivered);
# the evidence is written by the next cycle that finds the rollback.
mon full 1 "full evidence_dir: the rollback is still reported (exit 1)"
has err "cannot write the evidence for alert" "full evidence_dir: says the evidence was not written"
has err "$T/ev/evidence/" "full evidence_dir: names the evidence file"
ok 'grep -q "No space left on device" "$T/err"' "full evidence_dir: says why"
ok 'grep -qE "evidence|state" "$T/err"' "full, evidence: names the evidence file or the state"
said "monitor, disk full, evidence"
intact "$T/full/state/state.db" "full, evidence"
ok '[ "$(logrow "$T/full/state/state.db")" = "$(cat "$T/ref.row6000")" ]' "full, evidence: state unchanged"
unfill "$T/ev"
mon full 1 "space back: the rollback is found again"
has err "rollback" "space back: rollback found"
ok '[ -s "$T/ev/evidence/$(cat "$T/ref.ev")" ]' "space back: the evidence file is written now"
at 6000
mon full 0 "space back: 6000 again"
$ALERTS ids "$T/full/alerts" >"$T/full.ids"
same_ids "$T/full.ids" "full: the same alerts as the reference"
ok '[ "$(ls "$T/ev/evidence" | wc -l)" -eq 1 ]' "full: one evidence file"
ok '[ "$(ls "$T/ev/evidence")" = "$(cat "$T/ref.ev")" ]' "full: the same evidence file name"
ok '[ -z "$(find "$T/full/state" "$T/ev" -name "*.tmp.*")" ]' "full: no temporary file left"

# --- a full file sink (state elsewhere): delivery is retried later, nothing lost ---------
mnt sink 1m
conf sk "$T/sk.state" "$T/sink/alerts"
at 2000
fill "$T/sink"
mon sk 1 "full sink: the audit itself completes (exit 1: it found alerts)"
has err "$T/sink/alerts" "full sink: names the sink file"
said "monitor, full sink"
has err "not yet delivered" "full sink: says alerts are pending"
unfill "$T/sink"
at 6000
mon sk 1 "sink space back"
at 2000
mon sk 1 "sink: rollback"
at 6000
mon sk 0 "sink: 6000 again"
has err "1 alert not yet delivered" "sink: the alert that failed waits for its retry (backoff)"
mon_later sk 0 "sink: a minute later, the retry is due"
ok '! grep -q "not yet delivered" "$T/err"' "sink: nothing pending"
$ALERTS ids "$T/sink/alerts" >"$T/sk.ids"
same_ids "$T/sk.ids" "full sink: every alert delivered in the end"

# --- read-only state directory ----------------------------------------------------------
mnt rost 64m
conf ros "$T/rost/state" "$T/ros.alerts"
at 2000
mon ros 1 "read-only state: first run (writable)"
ro "$T/rost"
at 6000
mon ros 3 "read-only state: exit 3"
has err "$T/rost/state" "read-only state: names the state"
said "monitor, read-only state"
ok 'grep -qiE "read-only|readonly" "$T/err"' "read-only state: says read-only"
intact "$T/rost/state/state.db" "read-only state"
ok '[ "$(logrow "$T/rost/state/state.db")" = "$(cat "$T/ref.row2000")" ]' "read-only state: unchanged"
rw "$T/rost"
mon ros 1 "writable again: catch-up"
at 2000
mon ros 1 "writable again: rollback"
at 6000
mon ros 0 "writable again: 6000"
$ALERTS ids "$T/ros.alerts" >"$T/ros.ids"
same_ids "$T/ros.ids" "read-only state: the same alerts as the reference in the end"

# --- read-only sink file ---------------------------------------------------------------
mnt rosk 1m
conf rsk "$T/rsk.state" "$T/rosk/alerts"
ro "$T/rosk"
at 2000
mon rsk 1 "read-only sink: the audit completes"
has err "$T/rosk/alerts" "read-only sink: names the sink file"
said "monitor, read-only sink"
rw "$T/rosk"
at 6000
mon rsk 1 "read-only sink: writable again"
at 2000
mon rsk 1 "read-only sink: rollback"
at 6000
mon rsk 0 "read-only sink: 6000"
mon_later rsk 0 "read-only sink: a minute later, the retry is due"
ok '! grep -q "not yet delivered" "$T/err"' "read-only sink: nothing pending"
$ALERTS ids "$T/rosk/alerts" >"$T/rsk.ids"
same_ids "$T/rsk.ids" "read-only sink: every alert delivered in the end"

# --- the publisher ---------------------------------------------------------------------
$K keygen --name example.com/pub --out "$T/pub.log.key" >"$T/pub.log.vkey"
PVK=$(cat "$T/pub.log.vkey")
python3 - >"$T/upd.jsonl" <<'PY'
import base64, sys
for i in range(2000):
    k = base64.b64encode(i.to_bytes(4, "big") + bytes(28)).decode()
    sys.stdout.write('{"label":"u%04d","keys":["ed25519:%s:phone"],"time":1764143000}\n' % (i, k))
PY
listing() {
	(cd "$1" && find . -path ./.ktaudit -prune -o -type f -print0 | sort -z | xargs -0 sha256sum)
}
$K dir init "$T/pref" --origin example.com/pub --key "$T/pub.log.key" >/dev/null
$K dir add "$T/pref" --from "$T/upd.jsonl" >/dev/null
$K dir publish "$T/pref" >/dev/null
listing "$T/pref" >"$T/pref.list"

mnt pub 64m
$K dir init "$T/pub/d" --origin example.com/pub --key "$T/pub.log.key" >/dev/null
$K dir add "$T/pub/d" --from "$T/upd.jsonl" >/dev/null
fill "$T/pub"
expect 3 "publisher, disk full: exit 3" -- timeout 90 $K dir publish "$T/pub/d"
has err "$T/pub/d" "publisher, disk full: names the file"
said "publisher, disk full"
ok 'grep -qiE "space|full" "$T/err"' "publisher, disk full: says so"
expect 0 "publisher, disk full: the served directory still verifies" -- timeout 60 $K verify tiles "file://$T/pub/d/" --log-key "$PVK"
has out "size 0" "publisher, disk full: still the previous (empty) publication"
intact "$T/pub/d/.ktaudit/state.db" "publisher, disk full"
# room to open the state, not for the 2000 lookups, tiles and bundles
unfill "$T/pub"
fill "$T/pub" 300
expect 3 "publisher, disk fills up during the publish: exit 3" -- timeout 90 $K dir publish "$T/pub/d"
said "publisher, disk fills up during the publish"
ok 'grep -q "No space left on device" "$T/err"' "publisher, fills up: says so"
expect 0 "publisher, fills up: the served directory still verifies" -- timeout 60 $K verify tiles "file://$T/pub/d/" --log-key "$PVK"
has out "size 0" "publisher, fills up: still the previous (empty) publication"
unfill "$T/pub"
expect 0 "publisher, space back: publish completes" -- timeout 90 $K dir publish "$T/pub/d"
listing "$T/pub/d" >"$T/pub.list"
ok 'cmp -s "$T/pref.list" "$T/pub.list"' "publisher, space back: the same files as an undisturbed publish"
expect 0 "publisher, space back: verifies" -- timeout 60 $K verify tiles "file://$T/pub/d/" --log-key "$PVK"
has out "size 2000" "publisher: size 2000"

# read-only publisher directory
ro "$T/pub"
expect 3 "publisher, read-only: add exits 3" -- timeout 60 $K dir add "$T/pub/d" --label late --key "ed25519:$(randkey):x" --time 1764143000
ok 'grep -qiE "read-only|readonly" "$T/err"' "publisher, read-only add: says read-only"
said "publisher, read-only, add"
expect 3 "publisher, read-only: publish exits 3" -- timeout 60 $K dir publish "$T/pub/d"
has err "$T/pub/d" "publisher, read-only publish: names the directory or file"
said "publisher, read-only, publish"
rw "$T/pub"
expect 0 "publisher, writable again: nothing lost" -- timeout 60 $K dir publish "$T/pub/d"
has out "nothing to publish" "publisher, writable again: the queue is as it was"
intact "$T/pub/d/.ktaudit/state.db" "publisher, read-only"
finish
