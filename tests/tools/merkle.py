#!/usr/bin/env python3
"""Independent RFC 9162 Merkle tree (section 2.1) for tests: roots and proofs
computed straight from the spec's recursive definitions, so the CLI tests
compare two implementations that share no code.

  merkle.py root FILE...                 base64 root of the leaves (file contents)
  merkle.py inclusion --index I FILE...  {"leaf_index":I,"audit_path":[...]}
  merkle.py consistency --old M FILE...  {"consistency":[...]}
  merkle.py leafhash FILE                base64 leaf hash
"""
import base64
import hashlib
import json
import sys


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = split(n)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def path(m, leaves):
    n = len(leaves)
    if n <= 1:
        return []
    k = split(n)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m, leaves, b):
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = split(n)
    if m <= k:
        return subproof(m, leaves[:k], b) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def consistency(m, leaves):
    if m == 0 or m == len(leaves):
        return []
    return subproof(m, leaves, True)


def b64(h):
    return base64.b64encode(h).decode()


def main(argv):
    cmd = argv[1]
    args = argv[2:]
    opt = None
    if args and args[0] in ("--index", "--old"):
        opt = int(args[1])
        args = args[2:]
    leaves = [leaf_hash(open(f, "rb").read()) for f in args]
    if cmd == "root":
        print(b64(mth(leaves)))
    elif cmd == "leafhash":
        print(b64(leaves[0]))
    elif cmd == "inclusion":
        print(json.dumps({"leaf_index": opt, "audit_path": [b64(h) for h in path(opt, leaves)]}))
    elif cmd == "consistency":
        print(json.dumps({"consistency": [b64(h) for h in consistency(opt, leaves)]}))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
