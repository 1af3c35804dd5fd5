#!/usr/bin/env python3
"""Writes a static CT log (c2sp.org/static-ct-api) for tests (python3 stdlib +
the openssl CLI): data tiles of TileLeaf entries built from real DER
certificates, hash tiles, and a checkpoint signed with an RFC6962NoteSignature.

  static_ct_log.py --certs DIR --key PEM --origin ORIGIN --size N --out DIR
                   [--precert-every K] [--timestamp MS] [--fork] [--bad-entry I]

Entry i holds certificate i % (number of *.der in --certs, sorted); every K-th
entry (i % K == K - 1) is a precert_entry (TBSCertificate, issuer_key_hash, and
the certificate as pre_certificate). Every tile of the tree of size N is
written (full and partial, so older partial tiles of smaller sizes written
before stay, as a log would keep them until the full tile exists).

  --fork         entry 0 differs (a tree inconsistent with the honest one)
  --bad-entry I  after the tiles are hashed, flip a byte inside entry I's
                 certificate in its data tile (served entries do not match
                 the signed tree)
  --timestamp    the tree head timestamp (default 1700000000000 + N)
"""
import argparse
import base64
import glob
import hashlib
import os
import struct
import subprocess

W = 256


def der_len(b, i):
    length = b[i + 1]
    if length < 0x80:
        return length, 2
    n = length & 0x7F
    return int.from_bytes(b[i + 2:i + 2 + n], "big"), 2 + n


def tbs_of(cert):
    _, h = der_len(cert, 0)
    tl, th = der_len(cert, h)
    return cert[h:h + th + tl]


def u24(b):
    return len(b).to_bytes(3, "big") + b


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(hashes):
    stack = []
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


def index_path(n):
    s = "%d" % n
    s = "0" * ((3 - len(s) % 3) % 3) + s
    groups = [s[i:i + 3] for i in range(0, len(s), 3)]
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


def tile_path(level, n, width):
    p = "tile/%s/%s" % (level, index_path(n))
    if width != W:
        p += ".p/%d" % width
    return p


def write(out, rel, data):
    path = os.path.join(out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.rename(path + ".tmp", path)


def entry(i, cert, precert, fork):
    """Returns (TimestampedEntry, the TileLeaf's trailing fields)."""
    ts = 1700000000000 + i
    if fork and i == 0:
        ts += 1
    fp = hashlib.sha256(b"issuer").digest()
    if precert:
        te = struct.pack(">QH", ts, 1) + fp + u24(tbs_of(cert)) + b"\x00\x00"
        rest = u24(cert)
    else:
        te = struct.pack(">QH", ts, 0) + u24(cert) + b"\x00\x00"
        rest = b""
    return te, rest + struct.pack(">H", 32) + fp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--certs", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--origin", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--precert-every", type=int, default=0)
    ap.add_argument("--timestamp", type=int)
    ap.add_argument("--fork", action="store_true")
    ap.add_argument("--bad-entry", type=int)
    a = ap.parse_args()
    certs = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(a.certs, "*.der")))]
    size = a.size
    tes, leaves = [], []
    for i in range(size):
        pre = a.precert_every > 0 and i % a.precert_every == a.precert_every - 1
        te, rest = entry(i, certs[i % len(certs)], pre, a.fork)
        tes.append(te)
        leaves.append(te + rest)
    hashes = [leaf_hash(b"\x00\x00" + te) for te in tes]
    if a.bad_entry is not None:
        b = bytearray(leaves[a.bad_entry])
        b[40] ^= 1  # inside the certificate (after timestamp, type and length)
        leaves[a.bad_entry] = bytes(b)
    for t in range((size + W - 1) // W):
        chunk = leaves[t * W:(t + 1) * W]
        write(a.out, tile_path("data", t, len(chunk)), b"".join(chunk))
    level, lh = 0, hashes
    while lh:
        n = len(lh)
        for t in range((n + W - 1) // W):
            chunk = lh[t * W:(t + 1) * W]
            write(a.out, tile_path(level, t, len(chunk)), b"".join(chunk))
        lh = [mth(lh[t * W:(t + 1) * W]) for t in range(n // W)]
        level += 1
    root = mth(hashes)
    ts = a.timestamp if a.timestamp is not None else 1700000000000 + size
    msg = struct.pack(">BBQQ", 0, 1, ts, size) + root
    der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", a.key, "-binary"],
                         input=msg, capture_output=True, check=True).stdout
    spki = subprocess.run(["openssl", "pkey", "-in", a.key, "-pubout", "-outform", "der"],
                          capture_output=True, check=True).stdout
    log_id = hashlib.sha256(spki).digest()
    key_id = hashlib.sha256(a.origin.encode() + b"\n\x05" + log_id).digest()[:4]
    sig = key_id + struct.pack(">Q", ts) + bytes([4, 3]) + len(der).to_bytes(2, "big") + der
    body = "%s\n%d\n%s\n" % (a.origin, size, base64.b64encode(root).decode())
    note = body + "\n\u2014 %s %s\n" % (a.origin, base64.b64encode(sig).decode())
    write(a.out, "checkpoint", note.encode())


if __name__ == "__main__":
    main()
