#!/usr/bin/env bash
# CLI tests for `ktaudit verify evidence`: bundles of every type, built here
# from checkpoints signed with `ktaudit sign` and trees and proofs computed by
# the independent Python RFC 9162 implementation (tests/tools/merkle.py), so
# the verifier is checked against code it shares nothing with. Exit codes:
# 0 holds, 1 does not hold, 2 malformed or bad usage, 3 cannot read.
set -eu
. "$(dirname "$0")/lib.sh"
K=$KTAUDIT
O=example.com/log

$K keygen --name $O --out "$T/log.key" >"$T/log.vkey"
VK=$(cat "$T/log.vkey")
$K keygen --name $O --out "$T/other.key" >"$T/other.vkey"
OVK=$(cat "$T/other.vkey")

# signcp SIZE ROOT OUT [KEY]: a checkpoint signed by the log (or KEY).
signcp() {
  printf '%s\n%s\n%s\n' "$O" "$1" "$2" >"$T/cp.txt"
  $K sign --key "${4:-$T/log.key}" --out "$3" "$T/cp.txt"
}

# A keydir/v1 entry: entry FILE LABEL VERSION KEYBYTE
entry() {
  local pub
  pub=$(python3 -c "import base64,sys; print(base64.b64encode(bytes([int(sys.argv[1])])*32).decode())" "$4")
  printf 'keydir/v1\nlabel %s\nversion %s\ntime 1764143000\nkey ed25519 %s phone\n' "$2" "$3" "$pub" >"$1"
}

# bundle OUT TYPE CHECKPOINT... [-- JSON-MEMBERS]: writes a bundle with python.
bundle() {
  python3 - "$@" <<'PY'
import json, sys
out, typ = sys.argv[1], sys.argv[2]
rest = sys.argv[3:]
extra = {}
if "--" in rest:
    i = rest.index("--")
    extra = json.loads(rest[i + 1])
    rest = rest[:i]
b = {"type": typ, "log": "example.com/log",
     "checkpoints": [open(p).read() for p in rest],
     "explanation": "test bundle"}
b.update(extra)
open(out, "w").write(json.dumps(b, indent=1))
PY
}

mkdir -p "$T/a" "$T/b"
for i in 0 1 2 3 4 5 6 7 8 9; do
  entry "$T/a/e$i" "user$i" 1 $((i + 1))
  cp "$T/a/e$i" "$T/b/e$i"
done
entry "$T/b/e3" user3 1 99
A8=$($MERKLE root "$T"/a/e[0-7])
B8=$($MERKLE root "$T"/b/e[0-7])
A5=$($MERKLE root "$T"/a/e[0-4])
B10=$($MERKLE root "$T"/b/e[0-9])
signcp 8 "$A8" "$T/cpA8"
signcp 8 "$B8" "$T/cpB8"
signcp 5 "$A5" "$T/cpA5"
signcp 10 "$B10" "$T/cpB10"
signcp 8 "$B8" "$T/cpB8.other" "$T/other.key"

# --- fork, same size -------------------------------------------------------------
bundle "$T/fork.json" fork "$T/cpA8" "$T/cpB8"
expect 0 "fork: two roots of size 8" -- $K verify evidence "$T/fork.json" --log-key "$VK"
has out "the evidence holds: the log $O signed two different trees of size 8" "fork verdict"
expect 0 "fork --json" -- $K verify evidence "$T/fork.json" --log-key "$VK" --json
has out '"valid":true' "json valid"
has out '"type":"fork"' "json type"
has out '"strong":true' "json strong"
bundle "$T/nofork.json" fork "$T/cpA8" "$T/cpA8"
expect 1 "the same checkpoint twice is no fork" -- $K verify evidence "$T/nofork.json" --log-key "$VK"
has out "INVALID:" "verdict on stdout"
has err "the evidence does not hold" "says it does not hold"
expect 1 "wrong log key" -- $K verify evidence "$T/fork.json" --log-key "$OVK"
bundle "$T/fork.other.json" fork "$T/cpA8" "$T/cpB8.other"
expect 1 "a checkpoint not signed by the log" -- $K verify evidence "$T/fork.other.json" --log-key "$VK"
has err "checkpoints[1]" "names the checkpoint"
# the root line of the first checkpoint changed after signing
python3 - "$T/fork.json" "$T/fork.bad.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
lines = b["checkpoints"][0].split("\n")
lines[2] = ("B" if lines[2][0] != "B" else "C") + lines[2][1:]
b["checkpoints"][0] = "\n".join(lines)
json.dump(b, open(sys.argv[2], "w"))
PY
expect 1 "tampered checkpoint" -- $K verify evidence "$T/fork.bad.json" --log-key "$VK"
expect 1 "--origin other than the log's" -- $K verify evidence "$T/fork.json" --log-key "$VK" --origin other.example
# A10-style mismatch: the bundle names another log
python3 -c "import json,sys; b=json.load(open(sys.argv[1])); b['log']='other.example'; json.dump(b, open(sys.argv[2],'w'))" "$T/fork.json" "$T/fork.log.json"
expect 1 "bundle names another log" -- $K verify evidence "$T/fork.log.json" --log-key "$VK"

# --- fork, two sizes: subtree [0, 4) of A5's range differs in B10 ---------------------
# A5 = subtrees [0,4) and [4,5); leaf 3 differs, so subtree 0 differs in B10.
R0=$($MERKLE root "$T"/a/e[0-3])
R1=$($MERKLE leafhash "$T/a/e4")
N0=$($MERKLE root "$T"/b/e[0-3])
# path of node [0,4) in B10 = inclusion path of leaf 0 without its first 2 hashes
P=$($MERKLE inclusion --index 0 "$T"/b/e[0-9])
PATH2=$(python3 -c "import json,sys; print(json.dumps(json.loads(sys.argv[1])['audit_path'][2:]))" "$P")
bundle "$T/fork2.json" fork "$T/cpA5" "$T/cpB10" -- \
  "{\"proofs\":{\"old_range\":[\"$R0\",\"$R1\"],\"range_index\":0,\"new_hash\":\"$N0\",\"audit_path\":$PATH2}}"
expect 0 "fork between sizes 5 and 10" -- $K verify evidence "$T/fork2.json" --log-key "$VK"
has out "leaves [0, 4)" "names the leaves"
bundle "$T/fork2.swap.json" fork "$T/cpB10" "$T/cpA5" -- \
  "{\"proofs\":{\"old_range\":[\"$R0\",\"$R1\"],\"range_index\":0,\"new_hash\":\"$N0\",\"audit_path\":$PATH2}}"
expect 1 "swapped checkpoints" -- $K verify evidence "$T/fork2.swap.json" --log-key "$VK"
bundle "$T/fork2.same.json" fork "$T/cpA5" "$T/cpB10" -- \
  "{\"proofs\":{\"old_range\":[\"$R0\",\"$R1\"],\"range_index\":0,\"new_hash\":\"$R0\",\"audit_path\":$PATH2}}"
expect 1 "new_hash equal to the old subtree" -- $K verify evidence "$T/fork2.same.json" --log-key "$VK"
bundle "$T/fork2.range.json" fork "$T/cpA5" "$T/cpB10" -- \
  "{\"proofs\":{\"old_range\":[\"$R1\",\"$R0\"],\"range_index\":0,\"new_hash\":\"$N0\",\"audit_path\":$PATH2}}"
expect 1 "old_range that is not A's" -- $K verify evidence "$T/fork2.range.json" --log-key "$VK"
has err "old_range" "names old_range"
bundle "$T/fork2.nopath.json" fork "$T/cpA5" "$T/cpB10" -- \
  "{\"proofs\":{\"old_range\":[\"$R0\",\"$R1\"],\"range_index\":0,\"new_hash\":\"$N0\",\"audit_path\":[]}}"
expect 1 "missing audit path" -- $K verify evidence "$T/fork2.nopath.json" --log-key "$VK"
bundle "$T/fork2.noproofs.json" fork "$T/cpA5" "$T/cpB10"
expect 2 "two sizes without proofs" -- $K verify evidence "$T/fork2.noproofs.json" --log-key "$VK"

# --- rollback ------------------------------------------------------------------------
bundle "$T/rb.json" rollback "$T/cpA8" "$T/cpA5"
expect 0 "rollback 8 then 5" -- $K verify evidence "$T/rb.json" --log-key "$VK"
has out "rollback as observed" "rollback verdict says what it is"
expect 0 "rollback --json" -- $K verify evidence "$T/rb.json" --log-key "$VK" --json
has out '"strong":false' "rollback is not strong"
bundle "$T/rb.swap.json" rollback "$T/cpA5" "$T/cpA8"
expect 1 "growing is no rollback" -- $K verify evidence "$T/rb.swap.json" --log-key "$VK"

# --- version equivocation --------------------------------------------------------------
mkdir -p "$T/q"
for i in 0 1 2 3 4 5; do entry "$T/q/e$i" "user$i" 1 $((i + 1)); done
entry "$T/q/e1" alice 1 7
entry "$T/q/e4" alice 1 8
entry "$T/q/e5" alice 2 8
Q6=$($MERKLE root "$T"/q/e[0-5])
signcp 6 "$Q6" "$T/cpQ6"
b64() { base64 -w0 "$1"; }
path() { $MERKLE inclusion --index "$1" "$T"/q/e[0-5] | python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)['audit_path']))"; }
P1=$(path 1)
P4=$(path 4)
P5=$(path 5)
bundle "$T/eq.json" version_equivocation "$T/cpQ6" -- \
  "{\"entries\":[{\"leaf_index\":1,\"entry\":\"$(b64 "$T/q/e1")\",\"audit_path\":$P1},{\"leaf_index\":4,\"entry\":\"$(b64 "$T/q/e4")\",\"audit_path\":$P4}]}"
expect 0 "equivocation of alice v1" -- $K verify evidence "$T/eq.json" --log-key "$VK"
has out "two different entries for version 1 of label alice, at leaves 1 and 4" "equivocation verdict"
bundle "$T/eq.ver.json" version_equivocation "$T/cpQ6" -- \
  "{\"entries\":[{\"leaf_index\":4,\"entry\":\"$(b64 "$T/q/e4")\",\"audit_path\":$P4},{\"leaf_index\":5,\"entry\":\"$(b64 "$T/q/e5")\",\"audit_path\":$P5}]}"
expect 1 "versions 1 and 2 are no equivocation" -- $K verify evidence "$T/eq.ver.json" --log-key "$VK"
bundle "$T/eq.path.json" version_equivocation "$T/cpQ6" -- \
  "{\"entries\":[{\"leaf_index\":1,\"entry\":\"$(b64 "$T/q/e1")\",\"audit_path\":$P4},{\"leaf_index\":4,\"entry\":\"$(b64 "$T/q/e4")\",\"audit_path\":$P4}]}"
expect 1 "wrong audit path" -- $K verify evidence "$T/eq.path.json" --log-key "$VK"
has err "not in the signed tree" "names the failing entry"
bundle "$T/eq.b64.json" version_equivocation "$T/cpQ6" -- \
  "{\"entries\":[{\"leaf_index\":1,\"entry\":\"not base64!\",\"audit_path\":$P1},{\"leaf_index\":4,\"entry\":\"$(b64 "$T/q/e4")\",\"audit_path\":$P4}]}"
expect 2 "entry not base64" -- $K verify evidence "$T/eq.b64.json" --log-key "$VK"

# --- root mismatch --------------------------------------------------------------------
entry "$T/served" user2 1 42
LH=$($MERKLE leafhash "$T/q/e2")
P2=$(path 2)
bundle "$T/rm.json" root_mismatch "$T/cpQ6" -- \
  "{\"entries\":[{\"leaf_index\":2,\"entry\":\"$(b64 "$T/served")\",\"leaf_hash\":\"$LH\",\"audit_path\":$P2}]}"
expect 0 "served entry is not the logged one" -- $K verify evidence "$T/rm.json" --log-key "$VK"
has out "it is not the logged entry" "root mismatch verdict"
bundle "$T/rm.same.json" root_mismatch "$T/cpQ6" -- \
  "{\"entries\":[{\"leaf_index\":2,\"entry\":\"$(b64 "$T/q/e2")\",\"leaf_hash\":\"$LH\",\"audit_path\":$P2}]}"
expect 1 "the logged entry itself" -- $K verify evidence "$T/rm.same.json" --log-key "$VK"
bundle "$T/rm.idx.json" root_mismatch "$T/cpQ6" -- \
  "{\"entries\":[{\"leaf_index\":3,\"entry\":\"$(b64 "$T/served")\",\"leaf_hash\":\"$LH\",\"audit_path\":$P2}]}"
expect 1 "leaf hash proven at another index" -- $K verify evidence "$T/rm.idx.json" --log-key "$VK"

# --- malformed, usage, I/O ---------------------------------------------------------------
echo '{"type": "fork",' >"$T/trunc.json"
expect 2 "truncated JSON" -- $K verify evidence "$T/trunc.json" --log-key "$VK"
has err "$T/trunc.json" "names the file"
echo '{"type": "spoon"}' >"$T/spoon.json"
expect 2 "unknown type" -- $K verify evidence "$T/spoon.json" --log-key "$VK"
has err "unknown type" "says why"
python3 -c "import json,sys; b=json.load(open(sys.argv[1])); b['extra']=1; json.dump(b, open(sys.argv[2],'w'))" "$T/fork.json" "$T/extra.json"
expect 2 "unknown member" -- $K verify evidence "$T/extra.json" --log-key "$VK"
head -c $((16 * 1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$T/huge.json"
expect 2 "bundle over 16 MiB" -- $K verify evidence "$T/huge.json" --log-key "$VK"
expect 3 "no such evidence file" -- $K verify evidence "$T/no-such.json" --log-key "$VK"
has err "evidence: $T/no-such.json: No such file or directory" "no such file: named once"
expect 2 "missing --log-key" -- $K verify evidence "$T/fork.json"
expect 2 "bad --log-key" -- $K verify evidence "$T/fork.json" --log-key "nope+0000+AA"
has err "--log-key" "names the option"
expect 2 "no file" -- $K verify evidence --log-key "$VK"
expect 3 "unreadable file" -- $K verify evidence "$T/does-not-exist.json" --log-key "$VK"
expect 0 "bundle on stdin" -- sh -c "$K verify evidence - --log-key '$VK' < '$T/fork.json'"

finish
