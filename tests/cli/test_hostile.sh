#!/usr/bin/env bash
# CLI tests: `ktaudit verify tiles URL` and `ktaudit verify lookup URL`
# against a hostile HTTP server (tests/tools/hostile_server.py) on loopback:
# refused connections, hangs, trickles, bodies cut short, oversize bodies,
# garbage, valid-looking wrong data, 404/429/500/503 with and without
# Retry-After, redirects to file:// and redirect loops. Each run must end
# (every command is bounded by `timeout`; --timeout 2 bounds each fetch
# attempt), name what went wrong on stderr, and exit 3 when the log could
# not be fetched, 1 when it served data that does not verify, 2 when it
# served something that is not even well-formed. Nothing a server sends is
# ever accepted as valid unless it is the real log.
set -eu
. "$(dirname "$0")/lib.sh"
K=$KTAUDIT
TOOLS=$KTA_SRCDIR/tests/tools
SRV=$T/srv
mkdir -p "$SRV"

cleanup() {
	if [ -n "${HS_PID:-}" ]; then kill "$HS_PID" 2>/dev/null || true; fi
	rm -rf "$T"
}
trap cleanup EXIT

# bounded CODE DESC MAXSECS -- CMD...: expect, with the command killed after
# 120 s (exit 124, a failure) and its run time checked against MAXSECS.
bounded() {
	local want=$1 desc=$2 max=$3 t0 t1
	shift 4
	t0=$(date +%s)
	expect "$want" "$desc" -- timeout -k 5 120 "$@"
	t1=$(date +%s)
	if [ $((t1 - t0)) -le "$max" ]; then
		PASS=$((PASS + 1))
	else
		FAIL=$((FAIL + 1))
		echo "FAIL: $desc: took $((t1 - t0)) s, more than $max s" >&2
	fi
}

# A real key directory, published by the reference publisher.
$K keygen --name example.com/dir --out "$T/log.key" >"$T/log.vkey"
VK=$(cat "$T/log.vkey")
PUB=$(python3 -c 'import base64; print(base64.b64encode(bytes([7]) * 32).decode())')
$K dir init "$SRV/good" --origin example.com/dir --key "$T/log.key" >/dev/null
# Labels that need no percent-encoding: hostile_server.py serves paths undecoded.
for l in alice bob carol; do
	$K dir add "$SRV/good" --label "$l" --key "ed25519:$PUB:phone" --time 1764143000 >/dev/null
done
$K dir publish "$SRV/good" >/dev/null
rm -rf "$SRV/good/.ktaudit"

# Valid-looking wrong data: the same log with one byte of one entry changed
# (the bundle still parses; its entries no longer hash to the signed root),
# and a lookup answer whose entry is another label's.
cp -r "$SRV/good" "$SRV/wrong"
python3 - "$SRV/wrong" <<'PY'
import glob, os, sys
b = [p for p in glob.glob(sys.argv[1] + "/tile/entries/**", recursive=True) if os.path.isfile(p)][0]
d = bytearray(open(b, "rb").read())
i = d.index(b"alice")
d[i] = ord("A")
open(b, "wb").write(bytes(d))
PY
cp "$SRV/good/lookup/bob" "$SRV/wrong/lookup/alice"

coproc HS { exec python3 "$TOOLS/hostile_server.py" --dir "$SRV"; }
HS_PID=$HS_PID
read -r PORT _ <&"${HS[0]}"
H="http://127.0.0.1:$PORT"
TO="--timeout 2"

# --- the honest log, for contrast ----------------------------------------------------
bounded 0 "honest log over HTTP" 30 -- $K verify tiles "$H/files/good/" --log-key "$VK" $TO
has out "OK: example.com/dir size 3: 3 entries" "honest verdict"
bounded 0 "honest lookup over HTTP" 30 -- $K verify lookup "$H/files/good/" --label alice --log-key "$VK" $TO
has out "OK: alice version 1" "honest lookup verdict"

# --- verify tiles ---------------------------------------------------------------------
bounded 1 "tiles: changed entry" 30 -- $K verify tiles "$H/files/wrong/" --log-key "$VK" $TO
has err "entries" "names the entry bundle"
bounded 3 "tiles: connection closed without a reply" 30 -- $K verify tiles "$H/refuse/" --log-key "$VK" $TO
has err "$H/refuse/checkpoint" "refuse: names the URL"
bounded 3 "tiles: server hangs" 40 -- $K verify tiles "$H/hang/" --log-key "$VK" $TO
has err "$H/hang/checkpoint" "hang: names the URL"
has err "4 attempts" "hang: says it retried"
bounded 3 "tiles: server trickles" 40 -- $K verify tiles "$H/trickle/" --log-key "$VK" $TO
has err "$H/trickle/checkpoint" "trickle: names the URL"
bounded 3 "tiles: body cut short" 30 -- $K verify tiles "$H/truncated/" --log-key "$VK" $TO
has err "$H/truncated/checkpoint" "truncated: names the URL"
bounded 3 "tiles: not HTTP" 30 -- $K verify tiles "$H/garbage/" --log-key "$VK" $TO
has err "$H/garbage/checkpoint" "garbage: names the URL"
bounded 2 "tiles: oversize checkpoint" 30 -- $K verify tiles "$H/big/2000000/" --log-key "$VK" $TO
has err "over the limit" "oversize: says so"
bounded 2 "tiles: oversize body without Content-Length" 60 -- $K verify tiles "$H/bigclose/40000000/" --log-key "$VK" $TO
has err "limit" "oversize stream: says so"
bounded 2 "tiles: garbage checkpoint body" 30 -- $K verify tiles "$H/big/100/" --log-key "$VK" $TO
has err "checkpoint" "garbage body: names the checkpoint"
for code in 500 503 429; do
	bounded 3 "tiles: HTTP $code" 30 -- $K verify tiles "$H/status/$code/" --log-key "$VK" $TO
	has err "HTTP $code" "HTTP $code: says so"
	has err "4 attempts" "HTTP $code: retried"
done
bounded 3 "tiles: HTTP 404 (not retried)" 10 -- $K verify tiles "$H/status/404/" --log-key "$VK" $TO
has err "HTTP 404" "404: says so"
bounded 3 "tiles: redirect loop" 10 -- $K verify tiles "$H/loop/" --log-key "$VK" $TO
has err "redirect" "loop: says so"

# --- verify lookup URL ----------------------------------------------------------------
bounded 1 "lookup: another label's answer" 30 -- $K verify lookup "$H/files/wrong/" --label alice --log-key "$VK" $TO
has err "bob" "wrong label: names the label served"
bounded 3 "lookup: refused" 30 -- $K verify lookup "$H/refuse/x" --log-key "$VK" $TO
has err "$H/refuse/x" "lookup refuse: names the URL"
bounded 3 "lookup: hang" 40 -- $K verify lookup "$H/hang/x" --log-key "$VK" $TO
bounded 3 "lookup: trickle" 40 -- $K verify lookup "$H/trickle/x" --log-key "$VK" $TO
bounded 3 "lookup: cut short" 30 -- $K verify lookup "$H/truncated/x" --log-key "$VK" $TO
bounded 3 "lookup: garbage" 30 -- $K verify lookup "$H/garbage/x" --log-key "$VK" $TO
bounded 2 "lookup: oversize answer" 30 -- $K verify lookup "$H/big/300000" --log-key "$VK" $TO
has err "limit" "lookup oversize: says so"
bounded 2 "lookup: not JSON" 30 -- $K verify lookup "$H/big/100" --log-key "$VK" $TO
# Retry-After: honoured, but never beyond --timeout; a server that recovers is read.
bounded 2 "lookup: 503 twice with Retry-After: 1, then a body" 30 -- $K verify lookup "$H/flaky/503/2/ra1?ra=1" --log-key "$VK" $TO
has err "lookup" "recovered body is checked as a lookup answer"
bounded 2 "lookup: 429 twice without Retry-After, then a body" 30 -- $K verify lookup "$H/flaky/429/2/nora" --log-key "$VK" $TO
bounded 3 "lookup: 503 forever with Retry-After: 3600" 30 -- $K verify lookup "$H/flaky/503/100/ra3600?ra=3600" --log-key "$VK" $TO
has err "HTTP 503" "Retry-After 3600: says so"
bounded 3 "lookup: 429 forever with an HTTP-date Retry-After" 30 -- $K verify lookup "$H/flaky/429/100/date?ra=Fri,%2031%20Dec%202099%2023:59:59%20GMT" --log-key "$VK" $TO
bounded 3 "lookup: 500 forever" 30 -- $K verify lookup "$H/status/500" --log-key "$VK" $TO
bounded 3 "lookup: redirect to file://" 10 -- $K verify lookup "$H/redirect?to=file://$SRV/good/lookup/alice" --log-key "$VK" $TO
has err "redirect to another scheme refused" "file:// redirect: says so"
bounded 3 "lookup: redirect to file:///etc/passwd" 10 -- $K verify lookup "$H/redirect?to=file:///etc/passwd" --log-key "$VK" $TO
has err "redirect to another scheme refused" "passwd redirect: says so"
bounded 3 "lookup: redirect loop" 10 -- $K verify lookup "$H/loop" --log-key "$VK" $TO
# Same-scheme redirects to the real answer are followed.
bounded 0 "lookup: http redirect to the answer" 30 -- $K verify lookup "$H/redirect?to=$H/files/good/lookup/alice" --log-key "$VK" $TO

# --- the --timeout option itself ------------------------------------------------------
expect 2 "--timeout 0" -- $K verify tiles "$H/files/good/" --log-key "$VK" --timeout 0
has err "--timeout" "bad --timeout named"
expect 2 "--timeout not a number" -- $K verify lookup "$H/files/good/" --label a --log-key "$VK" --timeout 1s

finish
