#!/usr/bin/env bash
# Clock faults (issue 8): a local clock a day ahead or behind must give a
# clock warning, not false stale / quorum / critical findings, and must not
# poison the state (after the clock is fixed, normal audits, no spurious
# findings, and a log that really stops is still found stale). A genuinely
# stale log with a correct clock still gives a stale warning.
#
# The wrong clock is an LD_PRELOAD shim (tests/tools/fakeclock.c, built here
# with cc) that shifts time(), gettimeofday() and clock_gettime(CLOCK_REALTIME)
# of the monitor process only; the log server (monitor_serve.py) keeps the
# right time and sends it in its Date header, as any HTTP server does. A
# world where every clock is shifted alike (monitor and server under the
# shim) is a correct clock at another time.
set -eu
. "$(dirname "$0")/lib.sh"
. "$KTA_SRCDIR/tests/tools/monitor_lib.sh"

DAY=86400
SHIM=$T/fakeclock.so
if ! command -v cc >/dev/null; then
	echo "SKIP: no C compiler (cc) to build tests/tools/fakeclock.c"
	exit 0
fi
cc -shared -fPIC -O2 -o "$SHIM" "$KTA_SRCDIR/tests/tools/fakeclock.c" -ldl
# the shim works: date(1) under it is a day ahead, time(2) too (python)
a=$(date +%s)
b=$(KTA_FAKECLOCK_OFFSET=$DAY LD_PRELOAD=$SHIM date +%s)
ok '[ $((b - a)) -ge $((DAY - 5)) ] && [ $((b - a)) -le $((DAY + 5)) ]' "shim: date is a day ahead ($((b - a)) s)"

# skewed OFFSET CMD...: runs CMD with the process clock shifted by OFFSET s
skewed() {
	local off=$1
	shift
	KTA_FAKECLOCK_OFFSET=$off LD_PRELOAD=$SHIM "$@"
}
# once NAME CODE DESC [OFFSET]: monitor --once for NAME with its clock shifted
once() {
	expect "$2" "$3" -- timeout 60 env KTA_FAKECLOCK_OFFSET="${4:-0}" LD_PRELOAD="$SHIM" \
		$K monitor --config "$T/$1.conf" --once
}
# kinds NAME: the kinds of NAME's alerts, one line, sorted
kinds() { alerts "$1" | cut -d' ' -f1,2 | sort | tr '\n' ',' | sed 's/,$//'; }
# updated NAME: the stored checkpoint's "updated" time
updated() {
	python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute("SELECT updated FROM logs").fetchone()[0])' "$T/$1.state/state.db"
}
# size NAME: the stored checkpoint's size
size() {
	python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute("SELECT size FROM logs").fetchone()[0])' "$T/$1.state/state.db"
}

$K keygen --witness --name w1.example --out "$T/w1.key" >"$T/w1.vkey"
# grow NAME LABEL [SIGN-OFFSET]: a new entry, published; for the witnessed log
# cosigned by w1 at now + SIGN-OFFSET
grow() {
	$K dir add "$T/$1.d" --label "$2" --key "ed25519:$(randkey):d" >/dev/null
	$K dir publish "$T/$1.d" >/dev/null
	if [ "$1" = wit ]; then
		cp "$T/wit.d/checkpoint" "$T/wit.bare"
		$K sign --key "$T/w1.key" --time $(($(date +%s) + ${3:-0})) --out "$T/wit.d/checkpoint" "$T/wit.bare"
	fi
}

# wit: a witnessed log (quorum 1, max_age 1 h): ages from cosignature times.
# nowit: no witnesses (max_age 1 h): age since the tree was first seen.
newdir wit
grow wit a
serve "$T/wit.d"
mkconf wit "$URL" "witness $(cat "$T/w1.vkey")" "quorum 1" "max_age 3600"
newdir nowit
grow nowit a
serve "$T/nowit.d"
mkconf nowit "$URL" "max_age 3600"

for x in wit nowit; do
	once $x 0 "$x: correct clock: audited"
	ok '[ -z "$(kinds $x)" ]' "$x: correct clock: no alert"

	# --- a day ahead ---------------------------------------------------------------
	grow $x b
	once $x 3 "$x: clock a day ahead: a warning (exit 3), not a finding" $DAY
	has err "local clock is 864" "$x: +1 day: says how far off"
	has err "s ahead of the Date header of http://127.0.0.1:" "$x: +1 day: ahead of the server's Date"
	ok '[ "$(kinds $x)" = "clock warning" ]' "$x: +1 day: only a clock warning ($(kinds $x))"
	ok '[ "$(size $x)" = 2 ]' "$x: +1 day: the new checkpoint is adopted (signature and consistency checked)"
	u=$(updated $x)
	ok '[ "$u" -le $(($(date +%s) + 300)) ]' "$x: +1 day: stored time is not in the future ($u)"
	once $x 0 "$x: clock fixed: audited" 0
	ok '[ "$(kinds $x)" = "clock warning" ]' "$x: clock fixed: no new alert ($(kinds $x))"

	# --- a day behind ---------------------------------------------------------------
	grow $x c
	once $x 3 "$x: clock a day behind: a warning (exit 3)" -$DAY
	has err "s behind the Date header of http://127.0.0.1:" "$x: -1 day: behind the server's Date"
	ok '[ "$(kinds $x)" = "clock warning,clock warning" ]' "$x: -1 day: one more clock warning only ($(kinds $x))"
	ok '[ "$(size $x)" = 3 ]' "$x: -1 day: adopted (cosignature not taken for future-dated)"
	u=$(updated $x)
	ok '[ "$u" -ge $(($(date +%s) - 300)) ]' "$x: -1 day: stored time is not in the past ($u)"
	once $x 0 "$x: clock fixed again: audited" 0
	grow $x d
	once $x 0 "$x: clock fixed, the log grows: audited" 0
	ok '[ "$(kinds $x)" = "clock warning,clock warning" ]' "$x: no stale, quorum, rollback or critical alert ($(kinds $x))"
	ok '[ "$(size $x)" = 4 ]' "$x: caught up"
done

# --- a correct clock still finds a stale log ------------------------------------------
# wit: a checkpoint cosigned two hours ago
grow wit e -7200
once wit 3 "wit: genuinely stale (cosigned 2 h ago): exit 3" 0
has err "too old" "wit: stale: says so"
ok '[ "$(kinds wit)" = "clock warning,clock warning,stale warning" ]' "wit: a stale warning ($(kinds wit))"
ok '! grep -q "local clock" "$T/err"' "wit: stale: no clock warning with a correct clock"
ok '[ "$(size wit)" = 4 ]' "wit: the stale checkpoint is not adopted"
# nowit: the whole world two hours later (server and monitor under the
# shim): the tree has not changed for 2 h > max_age. This also shows the
# times stored during the clock faults were not poisoned: a time stored a
# day ahead would make the tree look fresh.
unserve "$SRV"
pf=$T/port.late
KTA_FAKECLOCK_OFFSET=7200 LD_PRELOAD=$SHIM python3 "$KTA_SRCDIR/tests/tools/monitor_serve.py" "$T/nowit.d" "$pf" &
SERVERS="$SERVERS $!"
waitfor '[ -s "$pf" ]' "late server started"
sed -i "s|^url .*|url http://127.0.0.1:$(cat "$pf")/|" "$T/nowit.conf"
once nowit 3 "nowit: genuinely stale (unchanged for 2 h, every clock 2 h later)" 7200
has err "has not changed for" "nowit: stale: says so"
ok '! grep -q "local clock" "$T/err"' "nowit: no clock warning when the clocks agree"
ok '[ "$(kinds nowit)" = "clock warning,clock warning,stale warning" ]' "nowit: a stale warning ($(kinds nowit))"
finish
