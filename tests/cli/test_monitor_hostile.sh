#!/usr/bin/env bash
# The monitor DAEMON against a hostile log server (issue 8 "Faults"):
# tests/tools/hostile_server.py serves a real key directory under /m/log/
# and, when told to (/ctl/set), misbehaves for the next N requests: refuses,
# hangs, trickles, closes mid-body, sends more than the size limit, garbage,
# a checkpoint signed by another key, tiles with wrong hashes, 429/500/503
# with and without Retry-After, a redirect to file://. For each, the daemon
# (poll 1) must keep running, log a line naming the URL and the cause, retry
# a bounded number of times with growing waits (the server's request log
# gives the count and the times), back off across cycles, never adopt wrong
# data (the stored checkpoint is unchanged; the right alert or none), and
# audit normally at the next cycle once the server behaves. Then the same
# for `monitor --once` (exit codes), and SIGTERM during an endless hang.
set -eu
. "$(dirname "$0")/lib.sh"
. "$KTA_SRCDIR/tests/tools/monitor_lib.sh"

ms() { date +%s%3N; }
TSTART=$(ms)

# --- a real log, served by the hostile server -------------------------------------
newdir hl
for l in alice bob; do
	$K dir add "$T/hl.d" --label "$l" --key "ed25519:$(randkey):phone" --time 1764143000 >/dev/null
done
$K dir publish "$T/hl.d" >/dev/null
mkdir -p "$T/srv"
ln -s "$T/hl.d" "$T/srv/log"
# the same checkpoint text signed by another key with the log's name
$K keygen --name example.com/hl --out "$T/other.key" >/dev/null
mkdir -p "$T/srv/otherkey"
sed '/^$/,$d' "$T/hl.d/checkpoint" >"$T/cp.txt"
$K sign --key "$T/other.key" --out "$T/srv/otherkey/checkpoint" "$T/cp.txt"

coproc HS { exec python3 "$KTA_SRCDIR/tests/tools/hostile_server.py" --dir "$T/srv"; }
SERVERS="$SERVERS $HS_PID"
read -r PORT _ <&"${HS[0]}"
H="http://127.0.0.1:$PORT"
LURL="$H/m/log/"

# ctl QUERY: script the next requests of the log (hostile_server.py /ctl/set)
ctl() { curl -fsS -o /dev/null "$H/ctl/set?s=log&$1"; }
# reqlog: every request of the log so far, "<time> <behaviour> <path>"
reqlog() { curl -fsS "$H/ctl/log?s=log"; }
nreq() { reqlog | wc -l; }
beats() { if [ -e "$T/beats" ]; then wc -l <"$T/beats"; else echo 0; fi; }
# logstate DB: the stored checkpoint (origin, size, root, compact range, note)
logstate() {
	python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
for r in db.execute("SELECT origin, size, hex(root), hex(range), hex(checkpoint) FROM logs"):
    print("logs " + "|".join(str(x) for x in r))' "$1"
}
cpstate() { logstate "$T/d.state/state.db"; }
# kinds: "KIND SEVERITY" of every alert of the daemon's sink, sorted, unique
kinds() { alerts d | cut -d' ' -f1,2 | sort -u; }

printf '#!/bin/sh\necho beat >>"%s"\n' "$T/beats" >"$T/beat.sh"
chmod +x "$T/beat.sh"
LOG=hl mkconf d "$LURL" "poll 1"
sed -i "1a heartbeat_exec $T/beat.sh" "$T/d.conf"

$K monitor --config "$T/d.conf" 2>"$T/d.err" &
DPID=$!
BGPIDS="$BGPIDS $DPID"
waitfor '[ "$(beats)" -ge 1 ]' "honest log: a good round"
sleep 1
CP0=$(cpstate)
ok '[[ "$CP0" == "logs example.com/hl|2|"* ]]' "the daemon verified size 2"

# gaps FROM BEH: the times between consecutive BEH requests after request
# number FROM, in ms, one per line; then the gap from the last BEH request
# to the next request of another behaviour (the next cycle), if any.
gaps() {
	reqlog | tail -n +$(($1 + 1)) | python3 -c '
import sys
beh = sys.argv[1]
rows = [l.split() for l in sys.stdin]
t = [float(r[0]) for r in rows if r[1] == beh]
for a, b in zip(t, t[1:]):
    print(int((b - a) * 1000))
last = max(i for i, r in enumerate(rows) if r[1] == beh)
if last + 1 < len(rows):
    print("next", int((float(rows[last + 1][0]) - t[-1]) * 1000))
' "$2"
}

# phase DESC N BEH QUERY WANT: the next N requests get BEH; waits until they
# were made and (WANT not empty) the daemon logged WANT and "could not
# audit"; then a good round must follow. Sets R0 (requests before) for
# the caller's checks. The daemon must be alive and the checkpoint the same.
phase() {
	local desc=$1 n=$2 beh=$3 q=$4 want=$5 e0 b
	R0=$(nreq)
	e0=$(wc -l <"$T/d.err")
	ctl "n=$n&b=$beh&$q"
	waitfor '[ "$(reqlog | tail -n +$((R0 + 1)) | grep -c " $beh ")" -ge "$n" ]' "$desc: the daemon made the $n requests"
	if [ -n "$want" ]; then
		waitfor 'tail -n +$((e0 + 1)) "$T/d.err" | grep -qF -- "$want"' "$desc: logs \"$want\""
		waitfor 'tail -n +$((e0 + 1)) "$T/d.err" | grep -qF -- "$LURL"' "$desc: the log line names the URL"
	fi
	# shellcheck disable=SC2034 # read by waitfor's eval'd condition
	b=$(beats)
	waitfor '[ "$(beats)" -gt "$b" ]' "$desc: a good round once the server behaves"
	echo "phase \"$desc\": done at $(($(ms) - TSTART)) ms"
	ok 'kill -0 "$DPID"' "$desc: the daemon is running"
	if [ "$(cpstate)" = "$CP0" ]; then
		PASS=$((PASS + 1))
	else
		FAIL=$((FAIL + 1))
		echo "FAIL: $desc: the stored checkpoint changed: $(cpstate)" >&2
	fi
}

# between LO HI DESC -- VALUES: every value within [LO, HI]
between() {
	local lo=$1 hi=$2 desc=$3 v
	shift 4
	for v in "$@"; do
		ok '[ "$v" -ge "$lo" ] && [ "$v" -le "$hi" ]' "$desc: $v ms within [$lo, $hi]"
	done
}

# --- transient failures for a whole cycle: 4 attempts, backoff, next cycle -----------
# fetch.h: waits before retries 1..3 are jittered in [d/2, d] for d = 0.5, 1,
# 2 s; the daemon then waits poll * 2 = 2 s (+-10%) before the next cycle.
# The lower bounds are the point (it does wait, and longer each time); the
# upper bounds leave room for a loaded machine.
check_backoff() {
	local desc=$1 beh=$2 lo1=$3 hi1=${4:-} g
	mapfile -t g < <(gaps "$R0" "$beh")
	ok '[ "${#g[@]}" -eq 4 ]' "$desc: 4 attempts in the cycle, then the next cycle (${g[*]})"
	if [ "${#g[@]}" -eq 4 ]; then
		if [ "$lo1" = backoff ]; then
			between 200 2000 "$desc: wait before retry 1" -- "${g[0]}"
			between 450 3000 "$desc: wait before retry 2" -- "${g[1]}"
			between 950 5000 "$desc: wait before retry 3" -- "${g[2]}"
		else
			between "$lo1" "$hi1" "$desc: waits before retries" -- "${g[0]}" "${g[1]}" "${g[2]}"
		fi
		between 1700 10000 "$desc: next cycle after the daemon's backoff" -- "${g[3]#next }"
	fi
}
phase "connection closed without a reply" 4 refuse "only=checkpoint" "Empty reply from server"
has_line() { grep -qF -- "$1" "$T/d.err"; }
ok 'has_line "after 4 attempts"' "refuse: says it made 4 attempts"
ok 'has_line "could not audit (1 in a row): next cycle in 2 s"' "refuse: says when it tries again"
check_backoff refuse refuse backoff
phase "HTTP 503 without Retry-After" 4 status "arg=503&only=checkpoint" "HTTP 503, after 4 attempts"
check_backoff 503 status backoff
phase "HTTP 429 with Retry-After: 3600" 4 status "arg=429&ra=3600&only=checkpoint" "HTTP 429, after 4 attempts"
# Retry-After is honoured but capped at the poll interval (1 s here)
check_backoff "429 Retry-After 3600" status 900 3000
# a server that holds each request 1 s and then hangs up
phase "hang" 4 hang "arg=1&only=checkpoint" "after 4 attempts"
mapfile -t g < <(gaps "$R0" hang)
ok '[ "${#g[@]}" -eq 4 ]' "hang: 4 attempts (${g[*]})"

# --- transient failures that stop within the cycle: retried, then read -----------------
for spec in "trickle:arg=20" "truncated:" "status:arg=500"; do
	beh=${spec%%:*}
	phase "$spec twice, then the real checkpoint" 2 "$beh" "${spec#*:}&only=checkpoint" ""
	ok '[ "$(reqlog | tail -n +$((R0 + 1)) | sed -n 3p | cut -d" " -f2,3)" = "ok checkpoint" ]' "$spec: the third attempt reads the checkpoint"
done
phase "503 with Retry-After: 1, then the real checkpoint" 1 status "arg=503&ra=1&only=checkpoint" ""
mapfile -t g < <(gaps "$R0" status)
between 900 3000 "Retry-After: 1 honoured" -- "${g[0]#next }"

# --- not retried ------------------------------------------------------------------------
# not HTTP at all (libcurl: "Received HTTP/0.9"): a protocol error, left to the next cycle
phase "not HTTP" 1 garbage "only=checkpoint" "curl error 1"
phase "redirect to file:///etc/passwd" 1 redirect "arg=file:///etc/passwd&only=checkpoint" "redirect to another scheme refused"
ok '[ "$(reqlog | tail -n +$((R0 + 1)) | grep -c " redirect ")" -eq 1 ]' "redirect: not retried"
phase "40 MB without Content-Length (over the 32 MiB limit)" 1 bigclose "arg=40000000&only=checkpoint" "exceeds the limit"
ok '[ "$(reqlog | tail -n +$((R0 + 1)) | grep -c " bigclose ")" -eq 1 ]' "oversize: not retried"

# --- data that is wrong: a critical finding, nothing adopted ---------------------------
phase "garbage with status 200" 1 big "arg=100&only=checkpoint" "does not verify"
phase "checkpoint over 64 KiB" 1 big "arg=100000&only=checkpoint" "checkpoint larger than"
phase "checkpoint signed by another key" 1 alt "arg=otherkey&only=checkpoint" "key ID mismatch"
kinds >"$T/kinds"
ok 'grep -qx "bad_signature critical" "$T/kinds"' "wrong checkpoints: bad_signature critical"
ok '[ "$(alerts d | grep -c "^bad_signature")" -eq 3 ]' "one bad_signature alert per wrong checkpoint"
ok '! grep -qv -e "^bad_signature critical" -e "^unreachable warning" "$T/kinds"' "no other kind of alert so far"

# Tiles with wrong hashes: the log grows to size 4 while its tiles are
# served from a copy with one hash changed. Nothing is adopted; once the
# real tiles are served, the daemon catches up to size 4.
cp -a "$T/hl.d" "$T/grow.d"
for l in carol dave; do
	$K dir add "$T/grow.d" --label "$l" --key "ed25519:$(randkey):phone" --time 1764143000 >/dev/null
done
$K dir publish "$T/grow.d" >/dev/null
cp -a "$T/grow.d" "$T/srv/badtiles"
python3 - "$T/srv/badtiles/tile/0/000.p/4" <<'PY'
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
d[40] ^= 1  # leaf hash 1
open(p, "wb").write(bytes(d))
PY
ctl "n=1000&b=alt&arg=badtiles&only=tile/"
# shellcheck disable=SC2034 # read by ok's eval'd condition
e0=$(wc -l <"$T/d.err")
ln -s "$T/grow.d" "$T/srv/log.new"
mv -T "$T/srv/log.new" "$T/srv/log"
waitfor 'alerts d | grep -q "critical"' "wrong tiles: a critical finding"
waitfor '[ "$(reqlog | grep -c " alt tile/")" -ge 2 ]' "wrong tiles: read twice (two cycles)"
alerts d | grep critical | grep -v bad_signature | cut -d' ' -f1 | sort -u >"$T/crit"
ok '[ "$(cat "$T/crit")" = root_mismatch ]' "wrong tiles: root_mismatch ($(cat "$T/crit" | tr '\n' ' '))"
ok '[ "$(cpstate)" = "$CP0" ]' "wrong tiles: nothing adopted"
ok 'tail -n +$((e0 + 1)) "$T/d.err" | grep -q "tile"' "wrong tiles: the log line names the tiles"
ctl "n=0&b=ok"
waitfor 'cpstate | grep -q "^logs example.com/hl|4|"' "the real tiles: caught up to size 4"
ok 'kill -0 "$DPID"' "the daemon survived every phase"

# Same state as a fresh monitor that only ever saw the honest log.
LOG=hl mkconf ref "file://$T/grow.d/" "poll 1"
expect 0 "reference: monitor --once over the honest log" -- timeout 60 $K monitor --config "$T/ref.conf" --once
ok '[ "$(logstate "$T/ref.state/state.db")" = "$(cpstate)" ]' "the daemon's checkpoint equals the honest one"
# Every alert is one of the expected kinds, each warning once per URL, class, day.
kinds >"$T/kinds"
ok '[ "$(cat "$T/kinds" | tr "\n" ,)" = "bad_signature critical,root_mismatch critical,unreachable warning," ]' "alert kinds: $(tr '\n' , <"$T/kinds")"
nalerts d "$(showalerts d | wc -l)" "no alert id twice"
alerts d | grep unreachable >"$T/unr" || true
ok '[ "$(wc -l <"$T/unr")" -le 8 ]' "unreachable: one warning per error class and day ($(wc -l <"$T/unr"))"

# SIGTERM while a request hangs for an hour: prompt, clean exit. R0 is
# counted before the hang is set, as in phase(): counted after, it missed
# the hanging request when the daemon's next poll came first (a loaded run).
R0=$(nreq)
ctl "n=1&b=hang&arg=3600&only=checkpoint"
waitfor '[ "$(reqlog | tail -n +$((R0 + 1)) | grep -c " hang ")" -ge 1 ]' "endless hang: the daemon is waiting"
t0=$(ms)
kill -TERM "$DPID"
rc=0
timeout 30 tail --pid="$DPID" -f /dev/null || true
wait "$DPID" || rc=$?
ok '[ "$rc" -eq 0 ]' "SIGTERM during a hang: exit 0 (got $rc)"
ok '[ $(($(ms) - t0)) -lt 5000 ]' "SIGTERM during a hang: exits within 5 s ($(($(ms) - t0)) ms)"
ctl "n=0&b=ok"

# --- monitor --once: exit codes and bounded run time ---------------------------------------
LOG=hl mkconf once "$LURL" "poll 1"
once() {
	local want=$1 desc=$2 max=$3 t0
	t0=$(ms)
	expect "$want" "--once: $desc" -- timeout -k 5 60 $K monitor --config "$T/once.conf" --once
	ok '[ $(($(ms) - t0)) -le $((max * 1000)) ]' "--once: $desc: within $max s"
}
once 0 "honest log" 20
cp "$T/once.state/state.db" "$T/once.db.0"
ctl "n=4&b=refuse&only=checkpoint"
once 3 "refused 4 times" 20
has err "${LURL}checkpoint" "--once refused: names the URL"
has err "after 4 attempts" "--once refused: says it retried"
ctl "n=4&b=status&arg=503&ra=Fri,%2031%20Dec%202099%2023:59:59%20GMT&only=checkpoint"
once 3 "503 with an HTTP-date Retry-After in 2099 (capped at poll 1 s)" 20
has err "HTTP 503" "--once 503: says so"
ctl "n=1&b=alt&arg=otherkey&only=checkpoint"
once 1 "checkpoint signed by another key" 20
has err "key ID mismatch" "--once other key: says so"
ctl "n=1&b=redirect&arg=file:///etc/passwd&only=checkpoint"
once 3 "redirect to file://" 20
has err "redirect to another scheme refused" "--once redirect: says so"
once 0 "honest again" 20
if [ "$FAIL" -ne 0 ]; then
	sed 's/^/  daemon: /' "$T/d.err" | tail -80 >&2
	reqlog | tail -40 | sed 's/^/  server: /' >&2
fi
ok 'logstate "$T/once.state/state.db" | grep -q "^logs example.com/hl|4|"' "--once: state at the honest size 4"
finish
