#!/usr/bin/env python3
"""Writes a C2SP tlog-tiles log for the CLI tests (python3 stdlib only), from
an implementation that shares no code with ktaudit: tiles and bundles per
c2sp.org/tlog-tiles, hashes per RFC 9162 (tests/tools/merkle.py). Signing is
left to `ktaudit sign`, so no Ed25519 is needed here.

  mklog.py build DIR --size N [--origin O] [--keydir]
      DIR/tile/<L>/<N>[.p/<W>], DIR/tile/entries/<N>[.p/<W>] and the
      unsigned checkpoint text DIR/checkpoint.txt. Entries are "entry <i>\\n",
      or keydir/v1 entries with --keydir (label user<i>@example.org, version
      1; entry 1 is "\\u00e8ve+tag@example.org" and, when the log has more
      than 4 entries, entry 4 is version 2 of user0@example.org).
  mklog.py lookups DIR
      For each label, the latest entry's lookup answer at
      DIR/lookup/<percent-encoded label>, with the signed checkpoint
      DIR/checkpoint (which must be for the whole log).
"""
import argparse
import base64
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import merkle  # noqa: E402


def tile_path(level, index, width):
    groups = ["%03d" % (index % 1000)]
    index //= 1000
    while index > 0:
        groups.insert(0, "x%03d" % (index % 1000))
        index //= 1000
    lvl = "entries" if level < 0 else str(level)
    path = "tile/%s/%s" % (lvl, "/".join(groups))
    if width < 256:
        path += ".p/%d" % width
    return path


def write(root, rel, data):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def b64(b):
    return base64.b64encode(b).decode()


def keydir_entry(i, size):
    """The keydir/v1 entry at index i (see the module doc)."""
    label, version = "user%d@example.org" % i, 1
    if i == 1:
        label = "\u00e8ve+tag@example.org"
    if i == 4 and size > 4:
        label, version = "user0@example.org", 2
    pub = hashlib.sha256(b"key %d" % i).digest()
    return ("keydir/v1\nlabel %s\nversion %d\ntime %d\nkey ed25519 %s phone\n"
            % (label, version, 1764000000 + i, b64(pub))).encode()


def entries(size, keydir):
    for i in range(size):
        yield keydir_entry(i, size) if keydir else b"entry %d\n" % i


def perfect_root(hashes):
    while len(hashes) > 1:
        hashes = [merkle.node_hash(hashes[k], hashes[k + 1]) for k in range(0, len(hashes), 2)]
    return hashes[0]


def build(args):
    data = list(entries(args.size, args.keydir))
    leaves = [merkle.leaf_hash(e) for e in data]
    for t in range(0, args.size, 256):
        chunk = data[t:t + 256]
        write(args.dir, tile_path(-1, t // 256, len(chunk)),
              b"".join(len(e).to_bytes(2, "big") + e for e in chunk))
    level, hashes = 0, leaves
    while hashes:
        full = len(hashes) // 256
        for t in range(0, len(hashes), 256):
            chunk = hashes[t:t + 256]
            write(args.dir, tile_path(level, t // 256, len(chunk)), b"".join(chunk))
        # Only full tiles are hashed into the level above (tlog-tiles "Partial Tiles").
        hashes = [perfect_root(hashes[t * 256:(t + 1) * 256]) for t in range(full)]
        level += 1
    root = merkle.mth(leaves) if len(leaves) < 4096 else compact_root(leaves)
    write(args.dir, "checkpoint.txt",
          ("%s\n%d\n%s\n" % (args.origin, args.size, b64(root))).encode())


def compact_root(leaves):
    """MTH without recursion depth trouble for large logs (RFC 9162 2.1.1)."""
    stack = []  # (size, hash), sizes strictly decreasing
    for h in leaves:
        node = (1, h)
        while stack and stack[-1][0] == node[0]:
            left = stack.pop()
            node = (left[0] * 2, merkle.node_hash(left[1], node[1]))
        stack.append(node)
    if not stack:
        return hashlib.sha256(b"").digest()
    root = stack[-1][1]
    for size, h in reversed(stack[:-1]):
        root = merkle.node_hash(h, root)
    return root


def label_file_name(label):
    """kta_entry_label_encode: [A-Za-z0-9._~-] literal (not a leading '.'), else %XX."""
    out = []
    for k, byte in enumerate(label.encode()):
        ch = chr(byte)
        if (ch.isascii() and (ch.isalnum() or ch in "._~-")) and not (k == 0 and ch == "."):
            out.append(ch)
        else:
            out.append("%%%02X" % byte)
    return "".join(out)


def read_bundles(root):
    data, t = [], 0
    while True:
        for width in [256] + list(range(255, 0, -1)):
            path = os.path.join(root, tile_path(-1, t, width))
            if os.path.exists(path):
                break
        else:
            return data
        blob = open(path, "rb").read()
        pos = 0
        while pos < len(blob):
            n = int.from_bytes(blob[pos:pos + 2], "big")
            data.append(blob[pos + 2:pos + 2 + n])
            pos += 2 + n
        if width < 256:
            return data
        t += 1


def lookups(args):
    note = open(os.path.join(args.dir, "checkpoint"), "rb").read().decode()
    data = read_bundles(args.dir)
    leaves = [merkle.leaf_hash(e) for e in data]
    latest = {}
    for i, e in enumerate(data):
        label = e.decode().split("\n")[1][len("label "):]
        latest[label] = i
    for label, i in latest.items():
        ans = {"checkpoint": note, "leaf_index": i, "entry": b64(data[i]),
               "audit_path": [b64(h) for h in merkle.path(i, leaves)]}
        write(args.dir, "lookup/" + label_file_name(label), json.dumps(ans).encode())


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("dir")
    b.add_argument("--size", type=int, required=True)
    b.add_argument("--origin", default="example.org/tlog")
    b.add_argument("--keydir", action="store_true")
    lk = sub.add_parser("lookups")
    lk.add_argument("dir")
    args = ap.parse_args()
    if args.cmd == "build":
        build(args)
    else:
        lookups(args)


if __name__ == "__main__":
    main()
