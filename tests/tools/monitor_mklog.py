#!/usr/bin/env python3
"""Builds and takes apart C2SP tlog-tiles directories for the monitor tests,
independently of the C library (so a bug in one is not hidden by the other).

  monitor_mklog.py entries DIR OUT
      Writes the entries of the served directory DIR (size from DIR/checkpoint
      line 2, bundles from DIR/tile/entries/...) to OUT/00000000, OUT/00000001...

  monitor_mklog.py build OUT ORIGIN ENTRYDIR
      Writes the entry bundles and every hash tile (full and partial, every
      level) of the log whose entries are the files of ENTRYDIR in name order,
      and the UNSIGNED checkpoint body OUT/checkpoint.txt ("ORIGIN\\nSIZE\\nROOT\\n").
      The test signs it with `ktaudit sign --key LOG.key`.

  monitor_mklog.py gen OUT ORIGIN N EVERY
      Builds (as `build` does) a log of N keydir/v1 entries: new labels
      "user-<k>" (version 1), except that every EVERY-th entry (0 = never)
      updates label user-<i / EVERY> with a fresh key set and no auth line,
      an unauthorized update. Deterministic (seeded).

  monitor_mklog.py root ENTRYDIR
      Prints the base64 RFC 9162 root of the entries.

Paths follow tlog-tiles: tile/<L>/<N>[.p/<W>], N in 3-digit groups with all
but the last prefixed by 'x'.
"""
import base64
import hashlib
import os
import random
import struct
import sys

W = 256


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def index_path(n):
    s = "%d" % n
    s = "0" * ((3 - len(s) % 3) % 3) + s
    groups = [s[i:i + 3] for i in range(0, len(s), 3)]
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


def tile_path(level, n, width):
    lv = "entries" if level < 0 else str(level)
    p = "tile/%s/%s" % (lv, index_path(n))
    if width != W:
        p += ".p/%d" % width
    return p


def mth(hashes):
    """RFC 9162 MTH over leaf hashes, iteratively (compact range)."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    stack = []  # (height, hash)
    for h in hashes:
        cur, ht = h, 0
        while stack and stack[-1][0] == ht:
            cur = node_hash(stack.pop()[1], cur)
            ht += 1
        stack.append((ht, cur))
    root = stack.pop()[1]
    while stack:
        root = node_hash(stack.pop()[1], root)
    return root


def write(out, rel, data):
    path = os.path.join(out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def read_entry_files(d):
    names = sorted(os.listdir(d))
    res = []
    for n in names:
        with open(os.path.join(d, n), "rb") as f:
            res.append(f.read())
    return res


def build(out, origin, entries):
    size = len(entries)
    # entry bundles
    for t in range((size + W - 1) // W):
        chunk = entries[t * W:(t + 1) * W]
        data = b"".join(struct.pack(">H", len(e)) + e for e in chunk)
        write(out, tile_path(-1, t, len(chunk)), data)
    # hash tiles, level by level: level L holds the hashes of complete
    # subtrees of 256**L leaves
    level_hashes = [leaf_hash(e) for e in entries]
    level = 0
    while level_hashes:
        n = len(level_hashes)
        for t in range((n + W - 1) // W):
            chunk = level_hashes[t * W:(t + 1) * W]
            write(out, tile_path(level, t, len(chunk)), b"".join(chunk))
        # next level: one hash per complete tile
        level_hashes = [mth(level_hashes[t * W:(t + 1) * W]) for t in range(n // W)]
        level += 1
    root = mth([leaf_hash(e) for e in entries])
    write(out, "checkpoint.txt",
          ("%s\n%d\n%s\n" % (origin, size, base64.b64encode(root).decode())).encode())


def entries_of(d, out):
    with open(os.path.join(d, "checkpoint"), "rb") as f:
        size = int(f.read().split(b"\n")[1])
    os.makedirs(out, exist_ok=True)
    i = 0
    for t in range((size + W - 1) // W):
        width = min(W, size - t * W)
        p = os.path.join(d, tile_path(-1, t, width))
        if not os.path.exists(p):
            p = os.path.join(d, tile_path(-1, t, W))
        with open(p, "rb") as f:
            data = f.read()
        pos = 0
        for _ in range(width):
            (ln,) = struct.unpack(">H", data[pos:pos + 2])
            with open(os.path.join(out, "%08d" % i), "wb") as g:
                g.write(data[pos + 2:pos + 2 + ln])
            pos += 2 + ln
            i += 1


def gen(n, every):
    rnd = random.Random(20251126)
    versions = {}
    entries = []
    created = 0
    for i in range(n):
        if every and i % every == every - 1:
            label = "user-%d" % (i // every)
        else:
            label = "user-%d" % created
            created += 1
        v = versions.get(label, 0) + 1
        versions[label] = v
        keys = sorted([("ed25519", rnd.randbytes(32), "phone"),
                       ("x25519", rnd.randbytes(32), "phone")],
                      key=lambda k: (k[0], k[1]))
        text = "keydir/v1\nlabel %s\nversion %d\ntime %d\n" % (label, v, 1764143000 + i)
        for alg, pub, dev in keys:
            text += "key %s %s %s\n" % (alg, base64.b64encode(pub).decode(), dev)
        entries.append(text.encode())
    return entries


def main(argv):
    if len(argv) == 4 and argv[1] == "entries":
        entries_of(argv[2], argv[3])
    elif len(argv) == 5 and argv[1] == "build":
        build(argv[2], argv[3], read_entry_files(argv[4]))
    elif len(argv) == 6 and argv[1] == "gen":
        build(argv[2], argv[3], gen(int(argv[4]), int(argv[5])))
    elif len(argv) == 3 and argv[1] == "root":
        print(base64.b64encode(mth([leaf_hash(e) for e in read_entry_files(argv[2])])).decode())
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
