#!/usr/bin/env bash
# CLI tests for `ktaudit verify tiles`: whole tlog-tiles logs written by an
# independent Python implementation (tests/tools/mklog.py) and signed with
# `ktaudit sign`, read over file://, over HTTP (python3 -m http.server on a
# free loopback port) and over HTTPS (tests/tools/hostile_server.py with a
# throwaway CA from tests/tools/mkca.sh). Sizes cross tile boundaries; every
# tampered, truncated or missing tile must be reported with the right exit
# code and the tile or entry named.
set -eu
. "$(dirname "$0")/lib.sh"
K=$KTAUDIT
TOOLS=$KTA_SRCDIR/tests/tools
MKLOG="python3 $TOOLS/mklog.py"
ORIGIN=example.org/tiles-test
SRV=$T/srv
mkdir -p "$SRV"

if ! $K verify tiles --help >/dev/null 2>&1; then
	echo "FAIL: 'verify tiles' is not in the command table (src/cli/main.c: add CMD_TLOG_COMMANDS from src/cli/cmd_tlog.h)" >&2
	exit 1
fi

HTTP_PID=
cleanup() {
	if [ -n "$HTTP_PID" ]; then kill "$HTTP_PID" 2>/dev/null || true; fi
	if [ -n "${HS_PID:-}" ]; then kill "$HS_PID" 2>/dev/null || true; fi
	rm -rf "$T"
}
trap cleanup EXIT

$K keygen --name "$ORIGIN" --out "$T/log.key" >"$T/log.vkey"
VK=$(cat "$T/log.vkey")
$K keygen --name "$ORIGIN" --out "$T/other.key" >"$T/other.vkey"
$K keygen --name witness.example.org --witness --out "$T/wit.key" >"$T/wit.vkey"

# mk NAME SIZE: a signed log under $SRV/NAME.
mk() {
	$MKLOG build "$SRV/$1" --size "$2" --origin "$ORIGIN"
	$K sign --key "$T/log.key" "$SRV/$1/checkpoint.txt" --out "$SRV/$1/checkpoint"
}

# --- file:// ------------------------------------------------------------------------
for n in 0 1 255 256 257 511 513 65536 65537; do
	mk "log$n" "$n"
	expect 0 "size $n over file://" -- $K verify tiles "file://$SRV/log$n/" --log-key "$VK"
	has out "OK: $ORIGIN size $n: $n entries" "verdict for size $n"
done
expect 0 "json verdict" -- $K verify tiles "file://$SRV/log257" --log-key "$VK" --json
has out '"valid":true' "json valid"
has out '"entries":257' "json entries"
has out '"tiles":3' "json tiles (tile/0/000, tile/0/001.p/1, tile/1/000.p/1)"
has out '"bundles":2' "json bundles"

# The example log of the keydir/v1 fixtures (testdata/entry/SOURCES.md).
EX=$KTA_TESTDATA/entry/example_log
expect 0 "fixture log" -- $K verify tiles "file://$EX/" --log-key "$(cat "$EX/log.vkey")"
has out "OK: example.org/keydir size 2: 2 entries" "fixture verdict"

# --- policy --------------------------------------------------------------------------
expect 1 "other key with the same name" -- $K verify tiles "file://$SRV/log257/" --log-key "$(cat "$T/other.vkey")"
has out "INVALID:" "text verdict"
has err "checkpoint" "names the checkpoint"
expect 1 "wrong origin" -- $K verify tiles "file://$SRV/log257/" --log-key "$VK" --origin example.org/other
expect 1 "witness quorum not met" -- $K verify tiles "file://$SRV/log257/" --log-key "$VK" --witness "$(cat "$T/wit.vkey")"
has err "quorum" "names the quorum"
cp -r "$SRV/log257" "$SRV/cosigned"
$K sign --key "$T/wit.key" "$SRV/log257/checkpoint" --out "$SRV/cosigned/checkpoint"
expect 0 "cosigned checkpoint meets the quorum" -- $K verify tiles "file://$SRV/cosigned/" --log-key "$VK" --witness "$(cat "$T/wit.vkey")"
expect 0 "quorum 0 with a witness listed" -- $K verify tiles "file://$SRV/log257/" --log-key "$VK" --witness "$(cat "$T/wit.vkey")" --quorum 0

# --- usage -----------------------------------------------------------------------------
expect 2 "missing --log-key" -- $K verify tiles "file://$SRV/log257/"
expect 2 "not a URL" -- $K verify tiles "$SRV/log257/" --log-key "$VK"
has err "URL" "says it wants a URL"
expect 2 "ftp URL" -- $K verify tiles "ftp://example.org/log/" --log-key "$VK"
expect 2 "--ca-file with file://" -- $K verify tiles "file://$SRV/log257/" --log-key "$VK" --ca-file /dev/null
expect 2 "query in the URL" -- $K verify tiles "file://$SRV/log257/?x=1" --log-key "$VK"
expect 2 "bad vkey" -- $K verify tiles "file://$SRV/log257/" --log-key "nope"
expect 2 "quorum above the witnesses" -- $K verify tiles "file://$SRV/log257/" --log-key "$VK" --quorum 1
expect 2 "two URLs" -- $K verify tiles "file://$SRV/log257/" "file://$SRV/log256/" --log-key "$VK"
expect 3 "no log there" -- $K verify tiles "file://$SRV/nothing/" --log-key "$VK"
has err "checkpoint" "names the checkpoint"
expect 0 "help" -- $K verify tiles --help
has out "--ca-file" "help lists options"

# --- tampering (copies of the 513 log) -------------------------------------------------
# fresh NAME: a copy of log513 to tamper with.
fresh() {
	rm -rf "${SRV:?}/$1"
	cp -r "$SRV/log513" "$SRV/$1"
}
# flip FILE OFFSET: xor one byte with 1.
flip() {
	python3 -c 'import sys; p, o = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, "rb").read()); b[o] ^= 1; open(p, "wb").write(b)' "$1" "$2"
}

fresh bundle
flip "$SRV/bundle/tile/entries/001" 10 # "entry 256\n" -> "entry 257\n"
expect 1 "changed entry" -- $K verify tiles "file://$SRV/bundle/" --log-key "$VK"
has err "do not hash to the signed root" "root mismatch"
has err "first difference: entry 256" "names the entry"
has err "tile/0/001" "names the tile it disagrees with"

fresh tile0
flip "$SRV/tile0/tile/0/000" 100 # hash 3
expect 1 "changed level-0 hash" -- $K verify tiles "file://$SRV/tile0/" --log-key "$VK"
has err "a served hash tile is wrong" "blames the tile, not the entries"
has err "hash 3 of file://$SRV/tile0/tile/0/000" "names the tile and hash"

fresh tile1
flip "$SRV/tile1/tile/1/000.p/2" 40 # hash 1: MTH of entries 256..511
expect 1 "changed level-1 hash" -- $K verify tiles "file://$SRV/tile1/" --log-key "$VK"
has err "entries 256..511" "names the range of the hash"

fresh trunc
head -c 8000 "$SRV/log513/tile/0/001" >"$SRV/trunc/tile/0/001"
expect 2 "truncated tile" -- $K verify tiles "file://$SRV/trunc/" --log-key "$VK"
has err "tile/0/001" "names the tile"

fresh truncb
head -c 100 "$SRV/log513/tile/entries/000" >"$SRV/truncb/tile/entries/000"
expect 2 "truncated bundle" -- $K verify tiles "file://$SRV/truncb/" --log-key "$VK"
has err "tile/entries/000" "names the bundle"

fresh missing
rm "$SRV/missing/tile/entries/001"
expect 3 "missing bundle" -- $K verify tiles "file://$SRV/missing/" --log-key "$VK"
has err "tile/entries/001" "names the bundle"

fresh forged
ROOT=$(sed -n 3p "$SRV/log513/checkpoint")
python3 -c 'import base64, sys; r = bytearray(base64.b64decode(sys.argv[1])); r[0] ^= 1; print(base64.b64encode(r).decode())' "$ROOT" >"$T/root"
printf '%s\n513\n%s\n' "$ORIGIN" "$(cat "$T/root")" >"$T/forged.txt"
$K sign --key "$T/log.key" "$T/forged.txt" --out "$SRV/forged/checkpoint"
expect 1 "signed root that the log does not have" -- $K verify tiles "file://$SRV/forged/" --log-key "$VK"
has err "do not hash to the signed root" "root mismatch"

# A partial tile deleted after the log grew: the full tile is used instead.
mk grown 768
cp -r "$SRV/log513" "$SRV/partial"
cp -r "$SRV/grown/tile" "$SRV/partial/"
rm "$SRV/partial/tile/0/002.p/1" "$SRV/partial/tile/entries/002.p/1"
expect 0 "partial tiles replaced by full ones" -- $K verify tiles "file://$SRV/partial/" --log-key "$VK"

# --- HTTP on loopback -------------------------------------------------------------------
# python3 -m http.server (HTTP/1.0, one connection per request, listen backlog 5:
# parallel connects beyond it wait for a SYN retry) for the small logs; the
# keep-alive test server below for the large one.
python3 -u -m http.server --bind 127.0.0.1 --directory "$SRV" 0 >"$T/http.log" 2>&1 &
HTTP_PID=$!
for _ in $(seq 100); do
	grep -q "port" "$T/http.log" 2>/dev/null && break
	sleep 0.1
done
PORT=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$T/http.log" | head -1)
[ -n "$PORT" ] || { echo "FAIL: http.server did not start" >&2; cat "$T/http.log" >&2; exit 1; }
H="http://127.0.0.1:$PORT"
for n in 0 1 256 257 513; do
	expect 0 "size $n over HTTP" -- $K verify tiles "$H/log$n/" --log-key "$VK"
	has out "size $n: $n entries" "HTTP verdict for size $n"
done
expect 0 "partial tiles replaced by full ones (HTTP 404)" -- $K verify tiles "$H/partial/" --log-key "$VK"
expect 1 "changed entry over HTTP" -- $K verify tiles "$H/bundle/" --log-key "$VK"
has err "first difference: entry 256" "names the entry"
expect 1 "changed hash tile over HTTP" -- $K verify tiles "$H/tile0/" --log-key "$VK"
has err "hash 3 of $H/tile0/tile/0/000" "names the tile URL"
expect 3 "missing bundle over HTTP" -- $K verify tiles "$H/missing/" --log-key "$VK"
has err "404" "names the HTTP status"
expect 2 "--ca-file with http://" -- $K verify tiles "$H/log1/" --log-key "$VK" --ca-file /dev/null
expect 3 "nothing listening" -- $K verify tiles "http://127.0.0.1:1/log1/" --log-key "$VK"

# --- HTTP keep-alive and HTTPS with a private CA (tests/tools/hostile_server.py) -------
sh "$TOOLS/mkca.sh" "$T/ca"
sh "$TOOLS/mkca.sh" "$T/otherca"
# The server exits when its standard input (the coprocess pipe) closes with this script.
coproc HS { exec python3 "$TOOLS/hostile_server.py" --dir "$SRV" --tls-cert "$T/ca/server.pem" --tls-key "$T/ca/server.key"; }
read -r HTTP2_PORT HTTPS_PORT <&"${HS[0]}"
H2="http://127.0.0.1:$HTTP2_PORT/files"
S="https://127.0.0.1:$HTTPS_PORT/files"
expect 0 "size 65537 over HTTP" -- $K verify tiles "$H2/log65537/" --log-key "$VK"
has out "size 65537: 65537 entries" "HTTP verdict"
expect 0 "size 65536 over HTTPS" -- $K verify tiles "$S/log65536/" --log-key "$VK" --ca-file "$T/ca/ca.pem"
has out "size 65536: 65536 entries" "HTTPS verdict"
expect 0 "size 257 over HTTPS" -- $K verify tiles "$S/log257/" --log-key "$VK" --ca-file "$T/ca/ca.pem"
expect 3 "HTTPS with the wrong CA" -- $K verify tiles "$S/log257/" --log-key "$VK" --ca-file "$T/otherca/ca.pem"
has err "$S/log257/checkpoint" "names the URL"
expect 3 "HTTPS with the system store" -- $K verify tiles "$S/log257/" --log-key "$VK"
expect 1 "changed entry over HTTPS" -- $K verify tiles "$S/bundle/" --log-key "$VK" --ca-file "$T/ca/ca.pem"
expect 2 "truncated tile over HTTPS" -- $K verify tiles "$S/trunc/" --log-key "$VK" --ca-file "$T/ca/ca.pem"

finish
