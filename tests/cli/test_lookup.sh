#!/usr/bin/env bash
# CLI tests for `ktaudit verify lookup`: a key directory of keydir/v1 entries
# written by tests/tools/mklog.py (lookup answers at lookup/<percent-encoded
# label>), signed and cosigned with `ktaudit sign`, read from files, stdin,
# file://, HTTP (python3 -m http.server) and HTTPS (hostile_server.py with a
# throwaway CA). Forged, malformed and missing answers must give exit codes
# 1, 2 and 3 with the member, label or URL named.
set -eu
. "$(dirname "$0")/lib.sh"
K=$KTAUDIT
TOOLS=$KTA_SRCDIR/tests/tools
MKLOG="python3 $TOOLS/mklog.py"
ORIGIN=keys.example.org/dir
SRV=$T/srv
D=$SRV/dir
mkdir -p "$SRV"

if ! $K verify lookup --help >/dev/null 2>&1; then
	echo "FAIL: 'verify lookup' is not in the command table (src/cli/main.c: add CMD_TLOG_COMMANDS from src/cli/cmd_tlog.h)" >&2
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
$K keygen --name witness2.example.org --witness --out "$T/wit2.key" >"$T/wit2.vkey"
WK=$(cat "$T/wit.vkey")

# 300 entries: user<i>@example.org v1, "ève+tag@example.org" at 1, user0 v2 at 4.
$MKLOG build "$D" --size 300 --origin "$ORIGIN" --keydir
$K sign --key "$T/log.key" "$D/checkpoint.txt" --out "$D/checkpoint.log"
$K sign --key "$T/wit.key" "$D/checkpoint.log" --out "$D/checkpoint"
$MKLOG lookups "$D"
U5="$D/lookup/user5%40example.org"
EVE="%C3%A8ve%2Btag%40example.org"

# --- files ------------------------------------------------------------------------------
expect 0 "answer from a file" -- $K verify lookup "$U5" --log-key "$VK" --label user5@example.org
has out "OK: user5@example.org version 1 is leaf 5 of $ORIGIN size 300" "verdict"
has out "label user5@example.org" "label line"
has out "version 1" "version line"
has out "time 1764000005" "time line"
has out "key ed25519 " "key line"
expect 0 "without --label" -- $K verify lookup "$U5" --log-key "$VK"
expect 0 "from stdin" -- sh -c "$K verify lookup - --log-key '$VK' --label user5@example.org < '$U5'"
expect 0 "latest version of a label" -- $K verify lookup "$D/lookup/user0%40example.org" --log-key "$VK" --label user0@example.org
has out "version 2 is leaf 4" "version 2 at leaf 4"
expect 0 "non-ASCII label" -- $K verify lookup "$D/lookup/$EVE" --log-key "$VK" --label "ève+tag@example.org"
expect 0 "json" -- $K verify lookup "$U5" --log-key "$VK" --label user5@example.org --json
has out '"valid":true' "json valid"
has out '"label":"user5@example.org"' "json label"
has out '"version":1' "json version"
has out '"keys":[{"alg":"ed25519","key":"' "json keys"
has out '"device":"phone"' "json device"
has out '"leaf_index":5' "json leaf index"
has out '"size":300' "json size"

# The example directory of the keydir/v1 fixtures (testdata/entry/SOURCES.md):
# written by an independent Python implementation.
EX=$KTA_TESTDATA/entry/example_log
expect 0 "fixture directory's answer" -- $K verify lookup "$EX/lookup/alice%40example.org" --log-key "$(cat "$EX/log.vkey")" --label alice@example.org
has out "OK: alice@example.org version 2 is leaf 1 of example.org/keydir size 2" "fixture verdict"
has out "key x25519 hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo= phone-1" "fixture key line"
expect 0 "fixture directory over file://" -- $K verify lookup "file://$EX/" --log-key "$(cat "$EX/log.vkey")" --label alice@example.org
expect 1 "fixture answer under our log key" -- $K verify lookup "$EX/lookup/alice%40example.org" --log-key "$VK"

# --- witness policy ---------------------------------------------------------------------
expect 0 "cosigned, quorum 1 of 1" -- $K verify lookup "$U5" --log-key "$VK" --witness "$WK"
expect 1 "quorum 2 of 2 not met" -- $K verify lookup "$U5" --log-key "$VK" --witness "$WK" --witness "$(cat "$T/wit2.vkey")"
has err "quorum" "names the quorum"
expect 0 "quorum 1 of 2" -- $K verify lookup "$U5" --log-key "$VK" --witness "$WK" --witness "$(cat "$T/wit2.vkey")" --quorum 1
expect 2 "quorum above the witnesses" -- $K verify lookup "$U5" --log-key "$VK" --quorum 2 --witness "$WK"

# --- forgeries: verification fails (exit 1) -----------------------------------------------
expect 1 "wrong label" -- $K verify lookup "$U5" --log-key "$VK" --label user6@example.org
has out "INVALID:" "text verdict"
has err 'for label "user5@example.org", not "user6@example.org"' "names both labels"
expect 1 "label prefix" -- $K verify lookup "$U5" --log-key "$VK" --label user5@example.or
expect 1 "other log key" -- $K verify lookup "$U5" --log-key "$(cat "$T/other.vkey")"
has err "checkpoint" "names the checkpoint"
expect 1 "wrong origin" -- $K verify lookup "$U5" --log-key "$VK" --origin keys.example.org/other
expect 1 "json invalid" -- $K verify lookup "$U5" --log-key "$VK" --label user6@example.org --json
has out '"valid":false' "json invalid"

# edit FILE PYTHON-EXPR: rewrites the answer a (a dict) with the expression, to stdout.
edit() {
	python3 -c 'import json, sys; a = json.load(open(sys.argv[1])); exec(sys.argv[2]); sys.stdout.write(json.dumps(a))' "$1" "$2"
}
edit "$U5" 'a["leaf_index"] = 6' >"$T/idx.json"
expect 1 "wrong leaf index" -- $K verify lookup "$T/idx.json" --log-key "$VK"
has err "not leaf 6" "names the index"
edit "$U5" 'a["entry"] = json.load(open(sys.argv[1].replace("user5", "user6")))["entry"]' >"$T/swap.json"
expect 1 "another label's entry under this proof" -- $K verify lookup "$T/swap.json" --log-key "$VK"
edit "$U5" 'a["audit_path"] = a["audit_path"][:-1]' >"$T/short.json"
expect 1 "truncated audit path" -- $K verify lookup "$T/short.json" --log-key "$VK"
edit "$U5" 'import base64; h = bytearray(base64.b64decode(a["audit_path"][0])); h[0] ^= 1; a["audit_path"][0] = base64.b64encode(h).decode()' >"$T/path.json"
expect 1 "flipped bit in the audit path" -- $K verify lookup "$T/path.json" --log-key "$VK"
edit "$U5" 'a["checkpoint"] = a["checkpoint"].replace("\n300\n", "\n301\n", 1)' >"$T/size.json"
expect 1 "checkpoint size changed after signing" -- $K verify lookup "$T/size.json" --log-key "$VK"
edit "$U5" 'import base64; e = base64.b64decode(a["entry"]).replace(b"phone", b"ghost"); a["entry"] = base64.b64encode(e).decode()' >"$T/ghost.json"
expect 1 "device renamed in the entry" -- $K verify lookup "$T/ghost.json" --log-key "$VK"

# --- malformed (exit 2) -----------------------------------------------------------------
edit "$U5" 'a["extra"] = 1' >"$T/extra.json"
expect 2 "unknown member" -- $K verify lookup "$T/extra.json" --log-key "$VK"
has err 'unknown member "extra"' "names the member"
has err "$T/extra.json" "names the file"
edit "$U5" 'del a["audit_path"]' >"$T/nopath.json"
expect 2 "missing member" -- $K verify lookup "$T/nopath.json" --log-key "$VK"
has err '"audit_path"' "names the member"
sed 's/^{/{"leaf_index": 5, /' "$U5" >"$T/dup.json"
expect 2 "duplicate member" -- $K verify lookup "$T/dup.json" --log-key "$VK"
# Non-zero pad bits: the same bytes in a second spelling (an answer whose entry is padded).
for f in "$D"/lookup/user*; do
	python3 -c '
import json, sys
A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
a = json.load(open(sys.argv[1]))
e = a["entry"].rstrip("=")
if len(e) == len(a["entry"]):
    sys.exit(1)
a["entry"] = e[:-1] + A[A.index(e[-1]) | 1] + a["entry"][len(e):]
sys.stdout.write(json.dumps(a))' "$f" >"$T/b64.json" && break
done
expect 2 "entry base64 with non-zero pad bits" -- $K verify lookup "$T/b64.json" --log-key "$VK"
has err "canonical" "says canonical"
edit "$U5" 'a["entry"] = a["entry"] + "\n"' >"$T/b64nl.json"
expect 2 "entry base64 with a newline" -- $K verify lookup "$T/b64nl.json" --log-key "$VK"
has err '"entry"' "names the member"
edit "$U5" 'a["leaf_index"] = -5' >"$T/neg.json"
expect 2 "negative leaf index" -- $K verify lookup "$T/neg.json" --log-key "$VK"
edit "$U5" 'a["leaf_index"] = 2**63' >"$T/big.json"
expect 2 "leaf index 2^63" -- $K verify lookup "$T/big.json" --log-key "$VK"
edit "$U5" 'import base64; a["entry"] = base64.b64encode(b"not a keydir entry\n").decode()' >"$T/notkd.json"
expect 2 "entry not keydir/v1" -- $K verify lookup "$T/notkd.json" --log-key "$VK"
has err '"entry"' "names the member"
echo '{"checkpoint": ' >"$T/trunc.json"
expect 2 "truncated JSON" -- $K verify lookup "$T/trunc.json" --log-key "$VK"
head -c 300000 /dev/zero | tr '\0' ' ' >"$T/huge.json"
expect 2 "oversized answer" -- $K verify lookup "$T/huge.json" --log-key "$VK"

# --- usage and I/O ------------------------------------------------------------------------
expect 2 "missing --log-key" -- $K verify lookup "$U5"
expect 2 "bad --log-key" -- $K verify lookup "$U5" --log-key nope
has err "--log-key" "names the option"
expect 2 "directory URL without --label" -- $K verify lookup "file://$D/" --log-key "$VK"
has err "--label" "asks for the label"
expect 2 "--ca-file with a file" -- $K verify lookup "$U5" --log-key "$VK" --ca-file /dev/null
expect 2 "label that cannot be a label" -- $K verify lookup "file://$D/" --log-key "$VK" --label "a b"
has err "--label" "names the option"
expect 2 "no argument" -- $K verify lookup --log-key "$VK"
expect 3 "missing file" -- $K verify lookup "$T/nope.json" --log-key "$VK"
has err "answer: $T/nope.json: No such file or directory" "names the file, once"
expect 0 "help" -- $K verify lookup --help
has out "DIR_URL/" "help explains the directory form"

# --- file:// ------------------------------------------------------------------------------
expect 0 "directory URL over file://" -- $K verify lookup "file://$D/" --log-key "$VK" --label user5@example.org
expect 0 "non-ASCII label over file://" -- $K verify lookup "file://$D/" --log-key "$VK" --label "ève+tag@example.org"
expect 0 "full file:// URL of the answer" -- $K verify lookup "file://$D/lookup/user7%2540example.org" --log-key "$VK" --label user7@example.org
expect 3 "label not in the directory" -- $K verify lookup "file://$D/" --log-key "$VK" --label nobody@example.org
has err "lookup/nobody%2540example.org" "names the URL"

# --- HTTP on loopback -----------------------------------------------------------------------
python3 -u -m http.server --bind 127.0.0.1 --directory "$SRV" 0 >"$T/http.log" 2>&1 &
HTTP_PID=$!
for _ in $(seq 100); do
	grep -q "port" "$T/http.log" 2>/dev/null && break
	sleep 0.1
done
PORT=$(sed -n 's/.* port \([0-9]*\).*/\1/p' "$T/http.log" | head -1)
[ -n "$PORT" ] || { echo "FAIL: http.server did not start" >&2; cat "$T/http.log" >&2; exit 1; }
H="http://127.0.0.1:$PORT/dir"
expect 0 "directory URL over HTTP" -- $K verify lookup "$H/" --log-key "$VK" --label user5@example.org
has out "label user5@example.org" "HTTP label line"
expect 0 "non-ASCII label over HTTP" -- $K verify lookup "$H/" --log-key "$VK" --label "ève+tag@example.org" --witness "$WK"
expect 0 "full URL over HTTP" -- $K verify lookup "$H/lookup/user9%2540example.org" --log-key "$VK" --label user9@example.org
expect 1 "wrong label over HTTP" -- $K verify lookup "$H/lookup/user9%2540example.org" --log-key "$VK" --label user8@example.org
expect 3 "label not found over HTTP" -- $K verify lookup "$H/" --log-key "$VK" --label nobody@example.org
has err "404" "names the status"
expect 2 "--ca-file with http://" -- $K verify lookup "$H/" --log-key "$VK" --label user5@example.org --ca-file /dev/null

# --- HTTPS with a private CA ----------------------------------------------------------------
sh "$TOOLS/mkca.sh" "$T/ca"
sh "$TOOLS/mkca.sh" "$T/otherca"
# The server exits when its standard input (the coprocess pipe) closes with this script.
coproc HS { exec python3 "$TOOLS/hostile_server.py" --dir "$SRV" --tls-cert "$T/ca/server.pem" --tls-key "$T/ca/server.key"; }
read -r _ HTTPS_PORT <&"${HS[0]}"
# hostile_server.py maps the URL path to a file name without percent-decoding
# it (a static server decodes once), so give it the files under their
# URL-escaped names ('%' -> "%25") in a copy of the directory.
mkdir -p "$SRV/raw/lookup"
cp "$D/checkpoint" "$SRV/raw/"
for f in "$D"/lookup/*; do
	b=$(basename "$f")
	cp "$f" "$SRV/raw/lookup/${b//%/%25}"
done
S="https://127.0.0.1:$HTTPS_PORT/files/raw"
expect 0 "directory URL over HTTPS" -- $K verify lookup "$S/" --log-key "$VK" --label user5@example.org --ca-file "$T/ca/ca.pem" --witness "$WK"
has out "OK: user5@example.org version 1" "HTTPS verdict"
expect 0 "non-ASCII label over HTTPS" -- $K verify lookup "$S/" --log-key "$VK" --label "ève+tag@example.org" --ca-file "$T/ca/ca.pem"
expect 3 "HTTPS with the wrong CA" -- $K verify lookup "$S/" --log-key "$VK" --label user5@example.org --ca-file "$T/otherca/ca.pem"
expect 3 "HTTPS with the system store" -- $K verify lookup "$S/" --log-key "$VK" --label user5@example.org
expect 3 "redirect to another scheme" -- $K verify lookup "https://127.0.0.1:$HTTPS_PORT/redirect?to=file://$U5" --log-key "$VK" --ca-file "$T/ca/ca.pem"

finish
