#!/usr/bin/env bash
# CLI tests for `ktaudit verify checkpoint|inclusion|consistency`, `keygen`
# and `sign`: exit codes, verdicts and error messages, against the bundled
# real log, the shared vectors, and trees built by an independent Python
# implementation of RFC 9162 (tests/tools/merkle.py).
set -eu
. "$(dirname "$0")/lib.sh"
K=$KTAUDIT
E=$KTA_TESTDATA/example-log
VK=$(cat "$E/log.vkey")

# --- checkpoints of a real log -------------------------------------------------
for i in $(seq 0 15); do
  expect 0 "real checkpoint.$i verifies" -- $K verify checkpoint "$E/checkpoint.$i" --log-key "$VK" --origin example.com/testdata
done
has out "OK: example.com/testdata size 15" "verdict names origin and size"
expect 0 "stdin checkpoint" -- sh -c "$K verify checkpoint - --log-key '$VK' --origin example.com/testdata < '$E/checkpoint'"
expect 0 "json verdict" -- $K verify checkpoint "$E/checkpoint" --log-key "$VK" --origin example.com/testdata --json
has out '"valid":true' "json valid"
has out '"size":15' "json size"

$K keygen --name astra --out "$T/astra.key" >"$T/astra.vkey"
expect 1 "same name, other key: key ID differs" -- $K verify checkpoint "$E/checkpoint" --log-key "$(cat "$T/astra.vkey")"
has err "astra" "message names the key"
$K keygen --name example.com/other --out "$T/other.key" >"$T/other.vkey"
expect 1 "unknown signer only: no signature by the key" -- $K verify checkpoint "$E/checkpoint" --log-key "$(cat "$T/other.vkey")"
has out "INVALID:" "text verdict on stdout"
has err "no signature by" "names the missing signature"
expect 1 "invalid json verdict" -- $K verify checkpoint "$E/checkpoint" --log-key "$(cat "$T/other.vkey")" --json
has out '"valid":false' "json invalid"

sed '2s/15/16/' "$E/checkpoint" >"$T/cp.size"
expect 1 "size changed after signing" -- $K verify checkpoint "$T/cp.size" --log-key "$VK" --origin example.com/testdata
sed '3s/^r/R/' "$E/checkpoint" >"$T/cp.root"
expect 1 "root changed after signing" -- $K verify checkpoint "$T/cp.root" --log-key "$VK" --origin example.com/testdata
sed '2s/15/015/' "$E/checkpoint" >"$T/cp.zero"
expect 2 "size with a leading zero is malformed" -- $K verify checkpoint "$T/cp.zero" --log-key "$VK" --origin example.com/testdata
sed 's/$/\r/' "$E/checkpoint" >"$T/cp.crlf"
expect 2 "CRLF note is malformed" -- $K verify checkpoint "$T/cp.crlf" --log-key "$VK" --origin example.com/testdata
head -c 60 "$E/checkpoint" >"$T/cp.trunc"
expect 2 "truncated note is malformed" -- $K verify checkpoint "$T/cp.trunc" --log-key "$VK" --origin example.com/testdata
head -c 2000000 /dev/zero | tr '\0' 'a' >"$T/cp.huge"
expect 2 "oversized note" -- $K verify checkpoint "$T/cp.huge" --log-key "$VK" --origin example.com/testdata
has err "limit" "names the limit"
expect 2 "bad vkey" -- $K verify checkpoint "$E/checkpoint" --log-key "astra+cad5a3d2+AZJqeuyE"
has err "--log-key" "names the option"
expect 2 "vkey with wrong key ID" -- $K verify checkpoint "$E/checkpoint" --log-key "astra+cad5a3d3+AZJqeuyE/GnknsCNh1eCtDtwdAwKBddOlS8M2eI1Jt4b"
expect 3 "missing file" -- $K verify checkpoint "$T/nope" --log-key "$VK" --origin example.com/testdata
has err "$T/nope" "names the file"
expect 2 "missing --log-key" -- $K verify checkpoint "$E/checkpoint"
expect 2 "duplicate option" -- $K verify checkpoint "$E/checkpoint" --log-key "$VK" --origin example.com/testdata --log-key "$VK" --origin example.com/testdata
expect 2 "unknown option" -- $K verify checkpoint "$E/checkpoint" --log-key "$VK" --origin example.com/testdata --frobnicate
expect 2 "unknown command" -- $K verify frobnicate
expect 2 "no command" -- $K
expect 0 "help" -- $K verify inclusion --help
has out "--leaf-hash" "help lists options"

# every command's --help works and lists its options (the table is the man page's source)
$K --help | sed -n 's/^  \([a-z][a-z]*\( [a-z][a-z]*\)\?\)  .*/\1/p' >"$T/cmds"
while read -r c; do
  expect 0 "help of $c" -- $K $c --help
  has out "usage: ktaudit $c" "usage line of $c"
  if grep -q "internal error" "$T/out"; then FAIL=$((FAIL + 1)); echo "FAIL: $c option table too long" >&2; fi
done <"$T/cmds"
[ "$(wc -l <"$T/cmds")" -ge 17 ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: command list parse" >&2; }

# --- inclusion -------------------------------------------------------------------
expect 0 "inclusion against the signed checkpoint" -- $K verify inclusion --proof "$E/inclusion-3-in-15.json" --entry "$E/entries/03" --checkpoint "$E/checkpoint" --log-key "$VK" --origin example.com/testdata
has out "OK: leaf 3 is in the tree of size 15" "inclusion verdict"
ROOT=$(sed -n 3p "$E/checkpoint")
ROOTHEX=$(echo "$ROOT" | base64 -d | od -An -tx1 | tr -d ' \n')
LH=$($MERKLE leafhash "$E/entries/03")
expect 0 "inclusion with --leaf-hash and hex root" -- $K verify inclusion --proof "$E/inclusion-3-in-15.json" --leaf-hash "$LH" --size 15 --root "$ROOTHEX"
expect 1 "wrong entry" -- $K verify inclusion --proof "$E/inclusion-3-in-15.json" --entry "$E/entries/04" --size 15 --root "$ROOT"
has err "root" "says the root does not match"
expect 1 "wrong index" -- $K verify inclusion --proof "$E/inclusion-3-in-15.json" --entry "$E/entries/03" --index 2 --size 15 --root "$ROOT"
# (sizes 14..16 share index 3's proof shape: only the signed (size, root) pair binds them)
expect 1 "wrong size" -- $K verify inclusion --proof "$E/inclusion-3-in-15.json" --entry "$E/entries/03" --size 8 --root "$ROOT"
expect 1 "index beyond size" -- $K verify inclusion --proof "$E/inclusion-3-in-15.json" --entry "$E/entries/03" --index 15 --size 15 --root "$ROOT"
python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); p["audit_path"]=p["audit_path"][:-1]; print(json.dumps(p))' "$E/inclusion-3-in-15.json" >"$T/short.json"
expect 1 "truncated path" -- $K verify inclusion --proof "$T/short.json" --entry "$E/entries/03" --size 15 --root "$ROOT"
python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); p["audit_path"].append(p["audit_path"][0]); print(json.dumps(p))' "$E/inclusion-3-in-15.json" >"$T/long.json"
expect 1 "overlong path" -- $K verify inclusion --proof "$T/long.json" --entry "$E/entries/03" --size 15 --root "$ROOT"
echo '{"leaf_index":3,"audit_path":["not base64!"]}' >"$T/bad.json"
expect 2 "malformed proof" -- $K verify inclusion --proof "$T/bad.json" --entry "$E/entries/03" --size 15 --root "$ROOT"
has err "audit_path" "names the field"
echo '{"audit_path":[]}' >"$T/noidx.json"
expect 2 "no index anywhere" -- $K verify inclusion --proof "$T/noidx.json" --entry "$E/entries/03" --size 15 --root "$ROOT"
expect 2 "both --entry and --leaf-hash" -- $K verify inclusion --proof "$E/inclusion-3-in-15.json" --entry "$E/entries/03" --leaf-hash "$LH" --size 15 --root "$ROOT"
expect 2 "both --checkpoint and --size" -- $K verify inclusion --proof "$E/inclusion-3-in-15.json" --entry "$E/entries/03" --size 15 --root "$ROOT" --checkpoint "$E/checkpoint" --log-key "$VK" --origin example.com/testdata
expect 2 "--checkpoint without --log-key" -- $K verify inclusion --proof "$E/inclusion-3-in-15.json" --entry "$E/entries/03" --checkpoint "$E/checkpoint"
expect 2 "bad root hash" -- $K verify inclusion --proof "$E/inclusion-3-in-15.json" --entry "$E/entries/03" --size 15 --root "abc"
expect 2 "bad size" -- $K verify inclusion --proof "$E/inclusion-3-in-15.json" --entry "$E/entries/03" --size 0x15 --root "$ROOT"
expect 1 "checkpoint signed by someone else" -- $K verify inclusion --proof "$E/inclusion-3-in-15.json" --entry "$E/entries/03" --checkpoint "$E/checkpoint" --log-key "$(cat "$T/other.vkey")"

# The real CT inclusion proof (22 hashes, size 3630887) from the shared vectors.
python3 - "$KTA_TESTDATA/merkle/ct_real_inclusion_proof.json" "$T" <<'PY'
import base64, json, sys
d = json.load(open(sys.argv[1]))
def b(h): return base64.b64encode(bytes.fromhex(h)).decode()
keys = {k: v for k, v in d.items() if not k.startswith("_")}
path = keys.get("sha256_audit_path_hex") or keys.get("audit_path_hex") or keys.get("sha256_audit_path")
json.dump({"leaf_index": keys["leaf_index"], "audit_path": [b(h) for h in path]}, open(sys.argv[2] + "/ct.json", "w"))
open(sys.argv[2] + "/ct.leaf", "wb").write(bytes.fromhex(keys["leaf_input_hex"]))
open(sys.argv[2] + "/ct.args", "w").write("%d %s\n" % (keys["tree_size"], keys["root_hash_hex"]))
PY
read -r CTSIZE CTROOT <"$T/ct.args"
expect 0 "real CT proof (22 hashes)" -- $K verify inclusion --proof "$T/ct.json" --entry "$T/ct.leaf" --size "$CTSIZE" --root "$CTROOT"
expect 1 "real CT proof, index off by one" -- $K verify inclusion --proof "$T/ct.json" --entry "$T/ct.leaf" --index 848048 --size "$CTSIZE" --root "$CTROOT"
expect 1 "real CT proof, size halved" -- $K verify inclusion --proof "$T/ct.json" --entry "$T/ct.leaf" --size "$((CTSIZE / 2))" --root "$CTROOT"

# --- consistency -----------------------------------------------------------------
expect 0 "consistency between signed checkpoints" -- $K verify consistency --proof "$E/consistency-5-to-15.json" --old-checkpoint "$E/checkpoint.5" --new-checkpoint "$E/checkpoint" --log-key "$VK" --origin example.com/testdata
has out "consistent" "consistency verdict"
ROOT5=$(sed -n 3p "$E/checkpoint.5")
expect 0 "consistency with explicit sizes" -- $K verify consistency --proof "$E/consistency-5-to-15.json" --old-size 5 --old-root "$ROOT5" --new-size 15 --new-root "$ROOT"
expect 1 "swapped roots" -- $K verify consistency --proof "$E/consistency-5-to-15.json" --old-size 5 --old-root "$ROOT" --new-size 15 --new-root "$ROOT5"
expect 1 "wrong old size" -- $K verify consistency --proof "$E/consistency-5-to-15.json" --old-size 6 --old-root "$ROOT5" --new-size 15 --new-root "$ROOT"
expect 1 "old checkpoint of another size" -- $K verify consistency --proof "$E/consistency-5-to-15.json" --old-checkpoint "$E/checkpoint.6" --new-checkpoint "$E/checkpoint" --log-key "$VK" --origin example.com/testdata
expect 1 "old larger than new" -- $K verify consistency --proof "$E/consistency-5-to-15.json" --old-size 15 --old-root "$ROOT" --new-size 5 --new-root "$ROOT5"
echo '{"consistency":[]}' >"$T/empty.json"
expect 0 "equal trees, empty proof" -- $K verify consistency --proof "$T/empty.json" --old-size 15 --old-root "$ROOT" --new-size 15 --new-root "$ROOT"
expect 1 "same size, different root (a fork)" -- $K verify consistency --proof "$T/empty.json" --old-size 15 --old-root "$ROOT" --new-size 15 --new-root "$ROOT5"
expect 2 "consistency proof file is an inclusion proof" -- $K verify consistency --proof "$E/inclusion-3-in-15.json" --old-size 5 --old-root "$ROOT5" --new-size 15 --new-root "$ROOT"
expect 2 "missing --new-root" -- $K verify consistency --proof "$E/consistency-5-to-15.json" --old-size 5 --old-root "$ROOT5" --new-size 15

# --- differential: random trees from the Python implementation -------------------
mkdir -p "$T/leaves"
for i in $(seq 0 39); do printf 'leaf %d %s' "$i" "$(printf '%*s' "$i" '' | tr ' ' x)" >"$T/leaves/$(printf %03d "$i")"; done
for n in 1 2 3 7 8 9 16 17 31 33 40; do
  files=$(ls "$T"/leaves/* | head -n "$n")
  r=$($MERKLE root $files)
  for i in 0 $((n / 2)) $((n - 1)); do
    $MERKLE inclusion --index "$i" $files >"$T/p.json"
    expect 0 "python inclusion $i/$n" -- $K verify inclusion --proof "$T/p.json" --entry "$(echo $files | cut -d' ' -f$((i + 1)))" --size "$n" --root "$r"
  done
  for m in 1 $((n / 2 + 1)) "$n"; do
    [ "$m" -le "$n" ] || continue
    old=$(ls "$T"/leaves/* | head -n "$m")
    $MERKLE consistency --old "$m" $files >"$T/c.json"
    expect 0 "python consistency $m->$n" -- $K verify consistency --proof "$T/c.json" --old-size "$m" --old-root "$($MERKLE root $old)" --new-size "$n" --new-root "$r"
  done
done

# --- keygen, sign, cosign, witness policy ----------------------------------------
expect 0 "keygen log key" -- $K keygen --name example.com/log --out "$T/log.key"
LOGVK=$(cat "$T/out")
case "$LOGVK" in example.com/log+[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]+*) PASS=$((PASS + 1)) ;; *) FAIL=$((FAIL + 1)); echo "FAIL: vkey form: $LOGVK" >&2 ;; esac
[ "$(stat -c %a "$T/log.key")" = 600 ] && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: key file mode" >&2; }
grep -q '^PRIVATE+KEY+example.com/log+' "$T/log.key" && PASS=$((PASS + 1)) || { FAIL=$((FAIL + 1)); echo "FAIL: skey form" >&2; }
expect 3 "keygen refuses to overwrite" -- $K keygen --name example.com/log --out "$T/log.key"
expect 2 "keygen bad name" -- $K keygen --name "bad name" --out "$T/bad.key"
$K keygen --name w1.example --witness --out "$T/w1.key" >"$T/w1.vkey"
$K keygen --name w2.example --witness --out "$T/w2.key" >"$T/w2.vkey"
$K keygen --name w3.example --witness --out "$T/w3.key" >"$T/w3.vkey"
W1=$(cat "$T/w1.vkey"); W2=$(cat "$T/w2.vkey"); W3=$(cat "$T/w3.vkey")
files=$(ls "$T"/leaves/* | head -n 20)
printf 'example.com/log\n20\n%s\n' "$($MERKLE root $files)" >"$T/cp.txt"
expect 0 "sign a checkpoint" -- $K sign --key "$T/log.key" --out "$T/cp.signed" "$T/cp.txt"
expect 0 "signed checkpoint verifies" -- $K verify checkpoint "$T/cp.signed" --log-key "$LOGVK"
NOW=$(date +%s)
$K sign --key "$T/w1.key" --time "$NOW" "$T/cp.signed" >"$T/cp.w1"
$K sign --key "$T/w2.key" --time "$((NOW - 100))" "$T/cp.w1" >"$T/cp.w12"
expect 0 "2 of 2 witnesses" -- $K verify checkpoint "$T/cp.w12" --log-key "$LOGVK" --witness "$W1" --witness "$W2"
has out "2 of 2 witnesses" "counts witnesses"
expect 0 "2 of 3 with quorum 2" -- $K verify checkpoint "$T/cp.w12" --log-key "$LOGVK" --witness "$W1" --witness "$W2" --witness "$W3" --quorum 2
expect 1 "3 of 3 required, 2 present" -- $K verify checkpoint "$T/cp.w12" --log-key "$LOGVK" --witness "$W1" --witness "$W2" --witness "$W3"
has err "quorum" "says quorum"
expect 1 "duplicate witness counts once" -- $K verify checkpoint "$T/cp.w1" --log-key "$LOGVK" --witness "$W1" --witness "$W1" --quorum 2
expect 2 "quorum above witnesses given" -- $K verify checkpoint "$T/cp.w12" --log-key "$LOGVK" --witness "$W1" --quorum 2
expect 0 "fresh enough" -- $K verify checkpoint "$T/cp.w12" --log-key "$LOGVK" --witness "$W1" --witness "$W2" --max-age 60
$K sign --key "$T/w1.key" --time "$((NOW - 7200))" "$T/cp.signed" >"$T/cp.old"
expect 1 "too old" -- $K verify checkpoint "$T/cp.old" --log-key "$LOGVK" --witness "$W1" --max-age 3600
has err "old" "says too old"
expect 1 "no cosignature: age unknown" -- $K verify checkpoint "$T/cp.signed" --log-key "$LOGVK" --max-age 3600
$K sign --key "$T/w1.key" --time "$((NOW + 86400))" "$T/cp.signed" >"$T/cp.future"
expect 1 "cosignature from the future" -- $K verify checkpoint "$T/cp.future" --log-key "$LOGVK" --witness "$W1"
has err "future" "says future"
printf 'not a checkpoint\n' >"$T/text.txt"
$K sign --key "$T/log.key" "$T/text.txt" >"$T/text.signed"
expect 2 "a witness refuses to cosign a note that is not a checkpoint" -- $K sign --key "$T/w1.key" "$T/text.signed"
expect 2 "a witness refuses to cosign unsigned text" -- $K sign --key "$T/w1.key" "$T/cp.txt"
# a witness line whose signature was made over another checkpoint
printf 'example.com/log\n19\n%s\n' "$($MERKLE root $(ls "$T"/leaves/* | head -n 19))" >"$T/cp19.txt"
$K sign --key "$T/log.key" "$T/cp19.txt" >"$T/cp19.signed"
$K sign --key "$T/w3.key" --time "$NOW" "$T/cp19.signed" >"$T/cp19.w3"
{ cat "$T/cp.signed"; tail -n 1 "$T/cp19.w3"; } >"$T/cp.stolen"
expect 1 "cosignature moved from another checkpoint" -- $K verify checkpoint "$T/cp.stolen" --log-key "$LOGVK" --witness "$W3"
expect 0 "unlisted witness lines are ignored" -- $K verify checkpoint "$T/cp.stolen" --log-key "$LOGVK"
# a log signature line swapped with one from another checkpoint
{ cat "$T/cp.txt"; echo; tail -n 1 "$T/cp19.signed"; } >"$T/cp.swapped"
expect 1 "signature line swapped in from another checkpoint" -- $K verify checkpoint "$T/cp.swapped" --log-key "$LOGVK"
expect 1 "origin differs from the key name" -- $K verify checkpoint "$E/checkpoint" --log-key "$VK"
has err "origin" "names the origin"
expect 1 "origin mismatch" -- $K verify checkpoint "$T/cp.signed" --log-key "$LOGVK" --origin example.com/other
has err "origin" "names origin"
$MERKLE inclusion --index 7 $files >"$T/p7.json"
expect 0 "inclusion against a self-made cosigned checkpoint" -- $K verify inclusion --proof "$T/p7.json" --entry "$T/leaves/007" --checkpoint "$T/cp.w12" --log-key "$LOGVK"

finish
