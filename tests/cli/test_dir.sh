#!/usr/bin/env bash
# CLI tests for the reference publisher: `ktaudit dir init|add|publish`.
# Builds a directory, then checks it with the verify commands and with an
# independent Python reading of the served files (entry bundles split by
# hand, roots and consistency proofs from tests/tools/merkle.py): the
# checkpoint and its witness quorum, a lookup's inclusion proof, consistency
# between successive checkpoints; and the exit codes and messages of errors.
set -eu
. "$(dirname "$0")/lib.sh"
K=$KTAUDIT
cd "$T"

if ! $K dir init --help >/dev/null 2>&1; then
	echo "FAIL: 'dir init' is not in the command table (src/cli/main.c; see src/cli/cmd_dir.h)" >&2
	exit 1
fi

# raw32 VKEYFILE: the base64 of the 32-byte public key inside a vkey.
raw32() { python3 -c 'import base64,sys; print(base64.b64encode(base64.b64decode(open(sys.argv[1]).read().strip().split("+", 2)[2])[1:]).decode())' "$1"; }
rnd() { head -c 32 /dev/urandom | base64; }
# entries DIR OUTDIR: writes every entry of the served log to OUTDIR/NNNNNN
# (reading the checkpoint size and the tlog-tiles entry bundles directly).
entries() {
	python3 - "$1" "$2" <<'PY'
import os, sys
d, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
size = int(open(os.path.join(d, "checkpoint")).read().split("\n")[1])
def path(n):
    s = "%d" % n
    s = "0" * (-len(s) % 3) + s
    g = [s[i:i + 3] for i in range(0, len(s), 3)]
    return "/".join(["x" + x for x in g[:-1]] + [g[-1]])
k = 0
for t in range((size + 255) // 256):
    w = min(256, size - 256 * t)
    p = os.path.join(d, "tile/entries", path(t)) + ("" if w == 256 else ".p/%d" % w)
    b = open(p, "rb").read()
    i = 0
    for _ in range(w):
        n = int.from_bytes(b[i:i + 2], "big")
        open(os.path.join(out, "%06d" % k), "wb").write(b[i + 2:i + 2 + n])
        i += 2 + n
        k += 1
    assert i == len(b), p
PY
}
# split_lookup FILE PREFIX: PREFIX.proof.json, PREFIX.entry, PREFIX.checkpoint
split_lookup() {
	python3 - "$1" "$2" <<'PY'
import base64, json, sys
d = json.load(open(sys.argv[1]))
assert sorted(d) == ["audit_path", "checkpoint", "entry", "leaf_index"], sorted(d)
p = sys.argv[2]
json.dump({"leaf_index": d["leaf_index"], "audit_path": d["audit_path"]}, open(p + ".proof.json", "w"))
open(p + ".entry", "wb").write(base64.b64decode(d["entry"], validate=True))
open(p + ".checkpoint", "w").write(d["checkpoint"])
PY
}

$K keygen --name example.com/kd --out log.key >log.vkey
$K keygen --witness --name w1.example --out w1.key >w1.vkey
$K keygen --witness --name w2.example --out w2.key >w2.vkey
$K keygen --name alice --out alice.key >alice.vkey
$K keygen --name mallory --out mallory.key >mallory.vkey
LOGVK=$(cat log.vkey)
W1=$(cat w1.vkey)
W2=$(cat w2.vkey)
ALICE="ed25519:$(raw32 alice.vkey):phone"
AX="x25519:$(rnd):phone"

# --- init ---------------------------------------------------------------------------
expect 0 "init" -- $K dir init d --origin example.com/kd --key log.key
has out "initialized d" "init summary"
[ "$(stat -c %a d/.ktaudit)" = 700 ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: state dir mode" >&2; }
[ "$(stat -c %a d/.ktaudit/state.db)" = 600 ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: state.db mode" >&2; }
expect 0 "the empty log's checkpoint verifies" -- $K verify checkpoint d/checkpoint --log-key "$LOGVK"
has out "size 0" "size 0"
expect 2 "init on a non-empty directory" -- $K dir init d --origin example.com/kd --key log.key
has err "not empty" "says not empty"
expect 2 "init with a witness key" -- $K dir init d2 --origin example.com/kd --key w1.key
has err "witness" "names the key type"
expect 2 "init without --origin" -- $K dir init d2 --key log.key
expect 2 "init with a two-line origin" -- $K dir init d2 --origin "$(printf 'a\nb')" --key log.key
expect 3 "init with a missing key file" -- $K dir init d2 --origin x --key nope.key
[ ! -e d2 ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: a failed init left d2 behind" >&2; }
mkdir empty
expect 2 "add to a directory that was never initialized" -- $K dir add empty --label a --key "$ALICE"
has err "dir init" "says how to create one"
expect 2 "publish a directory that was never initialized" -- $K dir publish empty

# --- add ------------------------------------------------------------------------------
expect 0 "add alice" -- $K dir add d --label alice@example.org --key "$ALICE" --key "$AX" --time 1764143000
has out "queued alice@example.org version 1 (leaf 0)" "add summary"
expect 0 "add bob (json)" -- $K dir add d --label bob --key "ed25519:$(rnd):laptop" --json
has out '"version":1' "json version"
has out '"leaf_index":1' "json leaf index"
expect 2 "bad label" -- $K dir add d --label "a b" --key "$ALICE"
has err "label" "names the label"
expect 2 "key not base64" -- $K dir add d --label c --key "ed25519:not-base64!:phone"
has err "--key" "names the option"
expect 2 "key of 31 bytes" -- $K dir add d --label c --key "ed25519:$(head -c 31 /dev/urandom | base64):phone"
expect 2 "non-canonical base64" -- $K dir add d --label c --key "ed25519:$(raw32 alice.vkey | sed 's/.=$/B=/'):phone"
expect 2 "unknown algorithm" -- $K dir add d --label c --key "rsa:$(rnd):phone"
has err "unknown algorithm" "says unknown algorithm"
expect 2 "no device name" -- $K dir add d --label c --key "ed25519:$(rnd)"
has err "device" "says device"
expect 2 "the same key twice" -- $K dir add d --label c --key "$ALICE" --key "$ALICE"
expect 2 "--label and --from" -- $K dir add d --label c --from x.jsonl
expect 2 "neither --label nor --from" -- $K dir add d
expect 2 "--from with --time" -- $K dir add d --from x.jsonl --time 5
expect 2 "bad --time" -- $K dir add d --label c --key "$ALICE" --time 0x10
expect 3 "--auth-key file missing" -- $K dir add d --label c --key "$ALICE" --auth-key nope.key

# --- publish, cosign, verify ------------------------------------------------------------
expect 0 "publish with two witnesses" -- $K dir publish d --cosign w1.key --cosign w2.key
has out "published 2 entries: size 2, root " "publish summary"
expect 0 "checkpoint verifies with its log key" -- $K verify checkpoint d/checkpoint --log-key "$LOGVK"
expect 0 "witness quorum 2 of 2" -- $K verify checkpoint d/checkpoint --log-key "$LOGVK" --witness "$W1" --witness "$W2" --quorum 2
has out "2 of 2 witnesses" "both cosigned"
cp d/checkpoint cp2
expect 2 "--cosign with a log key" -- $K dir publish d --cosign log.key
expect 0 "nothing queued: a no-op" -- $K dir publish d
has out "nothing to publish: size 2" "no-op summary"
cmp -s d/checkpoint cp2 && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: a no-op publish changed the checkpoint" >&2; }

# The lookup answer: its proof verifies against the checkpoint it carries.
[ -f "d/lookup/alice%40example.org" ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: no lookup file for alice" >&2; }
split_lookup "d/lookup/alice%40example.org" a1
expect 0 "lookup inclusion proof" -- $K verify inclusion --proof a1.proof.json --entry a1.entry --checkpoint a1.checkpoint --log-key "$LOGVK"
has out "leaf 0 is in the tree of size 2" "verdict"
expect 0 "the lookup's checkpoint is cosigned" -- $K verify checkpoint a1.checkpoint --log-key "$LOGVK" --witness "$W1" --witness "$W2"
grep -q '^label alice@example.org$' a1.entry && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: lookup entry label" >&2; }
sed 's/^time 1764143000$/time 1764143001/' a1.entry >a1.bad
expect 1 "a changed entry does not verify" -- $K verify inclusion --proof a1.proof.json --entry a1.bad --checkpoint a1.checkpoint --log-key "$LOGVK"
if $K verify lookup --help >/dev/null 2>&1; then
	expect 0 "verify lookup accepts the answer" -- $K verify lookup "d/lookup/alice%40example.org" --log-key "$LOGVK" --label alice@example.org --witness "$W1" --witness "$W2"
	expect 0 "verify lookup through file:// and the label" -- $K verify lookup "file://$T/d/" --label alice@example.org --log-key "$LOGVK"
fi

# Entries and root, read independently from the bundles.
entries d e2
expect 0 "python root equals the checkpoint root" -- test "$($MERKLE root e2/*)" = "$(sed -n 3p d/checkpoint)"

# --- updates: authorized, unauthorized -------------------------------------------------
expect 0 "alice v2 signed by her key" -- $K dir add d --label alice@example.org --key "ed25519:$(rnd):phone" --auth-key alice.key
has out "version 2" "version 2"
if grep -q warning "$T/err"; then FAIL=$((FAIL + 1)); echo "FAIL: authorized update warned" >&2; else PASS=$((PASS + 1)); fi
expect 0 "alice v3 signed by mallory: queued with a warning" -- $K dir add d --label alice@example.org --key "ed25519:$(raw32 mallory.vkey):phone" --auth-key mallory.key
has err "warning" "warns"
has err "unauthorized" "says unauthorized"
has out "version 3" "version 3"
expect 0 "publish 2 more" -- $K dir publish d --cosign w1.key --json
has out '"published":2' "json published"
has out '"size":4' "json size"
has out '"lookups":1' "one label changed"
expect 0 "checkpoint 4 verifies" -- $K verify checkpoint d/checkpoint --log-key "$LOGVK" --witness "$W1"
entries d e4
$MERKLE consistency --old 2 e4/* >cons.json
expect 0 "consistency 2 -> 4" -- $K verify consistency --proof cons.json --old-checkpoint cp2 --new-checkpoint d/checkpoint --log-key "$LOGVK"
grep -q '^version 3$' e4/000003 && grep -q '^auth ed25519 ' e4/000003 && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: entry 3 is not alice v3 with an auth line" >&2; }
# bob was not updated: his lookup still carries the size-2 checkpoint and verifies.
split_lookup d/lookup/bob b
has_size2=$(sed -n 2p b.checkpoint)
expect 0 "bob's older lookup still verifies" -- $K verify inclusion --proof b.proof.json --entry b.entry --checkpoint b.checkpoint --log-key "$LOGVK"
[ "$has_size2" = 2 ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: bob's lookup checkpoint has size $has_size2" >&2; }

# --- --from -----------------------------------------------------------------------------
SK=$(cat alice.key)
cat >in.jsonl <<EOF
{"label":"carol","keys":["ed25519:$(rnd):laptop","x25519:$(rnd):laptop"],"time":1764143100}
{"label":"dave","keys":[]}
{"label":"carol","keys":["ed25519:$(rnd):phone"],"auth_key":"$SK"}
EOF
expect 0 "--from a JSON-lines file" -- $K dir add d --from in.jsonl
has out "queued 3 updates (1 unauthorized)" "from summary"
printf '{"label":"erin","keys":[]}\n{"label":"erin","keys":[],"colour":"red"}\n' >bad.jsonl
expect 2 "--from with a bad line" -- $K dir add d --from bad.jsonl
has err "bad.jsonl line 2" "names the file and line"
has err "colour" "names the member"
printf '{"label":"frank","keys":[]}\r\n' >crlf.jsonl
expect 2 "--from with CRLF" -- $K dir add d --from crlf.jsonl
has err "line 1" "names the line"
expect 3 "--from a missing file" -- $K dir add d --from nope.jsonl
expect 0 "--from standard input" -- sh -c "printf '{\"label\":\"gina\",\"keys\":[]}' | $K dir add d --from -"
has out "queued 1 update " "one update from stdin"
expect 0 "publish the --from updates" -- $K dir publish d
has out "published 4 entries: size 8" "four more"
entries d e8
expect 0 "root after --from" -- test "$($MERKLE root e8/*)" = "$(sed -n 3p d/checkpoint)"
for l in carol dave gina; do
	split_lookup "d/lookup/$l" "l_$l"
	expect 0 "lookup $l" -- $K verify inclusion --proof "l_$l.proof.json" --entry "l_$l.entry" --checkpoint "l_$l.checkpoint" --log-key "$LOGVK"
done
grep -q '^version 2$' l_carol.entry && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: carol's lookup is not version 2" >&2; }

# --- private data stays private -------------------------------------------------------
if grep -rqF "PRIVATE+KEY" d; then FAIL=$((FAIL + 1)); echo "FAIL: a secret key is in the directory" >&2; else PASS=$((PASS + 1)); fi
if find d -path d/.ktaudit -prune -o -type f -print | grep -q tmp; then FAIL=$((FAIL + 1)); echo "FAIL: staging files in the served tree" >&2; else PASS=$((PASS + 1)); fi

# --- damage is refused, not built upon -----------------------------------------------
$K dir add d --label hank --key "ed25519:$(rnd):x" >/dev/null
cp d/checkpoint cp8
printf 'garbage' >d/tile/0/000.p/8
expect 3 "a damaged tile" -- $K dir publish d
has err "tile" "names the tile"
cmp -s d/checkpoint cp8 && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: checkpoint changed after a refused publish" >&2; }

finish
