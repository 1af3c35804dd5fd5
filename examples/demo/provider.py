#!/usr/bin/env python3
"""The demo provider's updates, as JSON lines for `ktaudit dir add --from`.

  provider.py OUTDIR

Writes into OUTDIR (which must exist):

  base.jsonl     the directory before the demo: USERS users at version 1
                 (an ed25519 and an x25519 key on device "phone"), then
                 BASE_ROTATIONS of them and carol rotate their keys, each
                 update signed by the user's version-1 key (an `auth` line,
                 docs/protocol.md): honest traffic that must raise nothing
  step1.jsonl    HONEST owner-signed rotations, then the attack A1: alice's
                 keys silently replaced by the provider's (no owner signature)
  step2.jsonl    HONEST rotations, then A2: a ghost device added to bob
  step3.jsonl    HONEST rotations, then A11: carol (watched by nobody) gets
                 new keys that none of her previous keys signed
  fork.jsonl     the rewritten history the provider serves at its second URL
                 (A3/A4): the same updates as steps 1-3 in the same order and
                 with the same bytes, except that each attack is replaced by
                 an innocuous owner-signed rotation; as many entries as the
                 three steps together, so both views have the same size
  provider.env   shell assignments: the watched users' pinned key sets and
                 the entry counts

Only keys that sign something need to be real Ed25519 keys: their public key
is derived from the private seed below (pure Python, RFC 8032 section 5.1.5;
the `cryptography` package is used instead when it is installed). Every
other key is 32 random bytes, as a directory is free to publish. Private
keys are passed to `dir add` inline ("auth_key"), in ktaudit's key-file
format: PRIVATE+KEY+<name>+<key ID>+base64(0x01 || seed).
"""
import base64
import hashlib
import json
import os
import sys
import time

USERS = 10000
BASE_ROTATIONS = 300
HONEST = 25
WATCHED = ("alice@example.org", "bob@example.org")
VICTIM = "carol@example.org"

# ---- Ed25519 public keys from seeds (RFC 8032 5.1.5), fixed-base comb ----
P = 2**255 - 19
D = -121665 * pow(121666, P - 2, P) % P
D2 = 2 * D % P
ZERO = (0, 1, 1, 0)


def _add(p, q):
    """Extended twisted Edwards addition (RFC 8032 5.1.4)."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = D2 * t1 * t2 % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _table():
    """TAB[j][k] = k * 16^j * B: 64 additions per scalar multiplication."""
    by = 4 * pow(5, P - 2, P) % P
    xx = (by * by - 1) * pow(D * by * by + 1, P - 2, P) % P
    bx = pow(xx, (P + 3) // 8, P)
    if (bx * bx - xx) % P:
        bx = bx * pow(2, (P - 1) // 4, P) % P
    if bx % 2:
        bx = P - bx
    base, tab = (bx, by, 1, bx * by % P), []
    for _ in range(64):
        row = [ZERO, base]
        for _ in range(14):
            row.append(_add(row[-1], base))
        tab.append(row)
        base = _add(row[15], base)
    return tab


_TAB = None


def ed25519_public(seed):
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
            Encoding.Raw, PublicFormat.Raw)
    except ImportError:
        pass
    global _TAB
    if _TAB is None:
        _TAB = _table()
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little") & ((1 << 254) - 8) | 1 << 254
    r = ZERO
    for j in range(64):
        k = a >> (4 * j) & 15
        if k:
            r = _add(r, _TAB[j][k])
    x, y, z, _ = r
    zi = pow(z, P - 2, P)
    return (y * zi % P | (x * zi % P & 1) << 255).to_bytes(32, "little")


def b64(b):
    return base64.b64encode(b).decode()


class User:
    """A user whose current ed25519 key is real (it can sign an update)."""

    def __init__(self, label):
        self.label = label
        self.seed = os.urandom(32)
        self.pub = ed25519_public(self.seed)
        # key ID = SHA-256(name || 0x0A || 0x01 || public key)[:4] (signed-note)
        kid = hashlib.sha256(label.encode() + b"\n\x01" + self.pub).digest()[:4]
        self.skey = "PRIVATE+KEY+%s+%s+%s" % (label, kid.hex(), b64(b"\x01" + self.seed))
        self.keys = ["ed25519:%s:phone" % b64(self.pub), "x25519:%s:phone" % rnd()]


def rnd():
    return b64(os.urandom(32))


def line(label, keys, t, auth=None):
    o = {"label": label, "keys": keys, "time": t}
    if auth is not None:
        o["auth_key"] = auth
    return json.dumps(o, separators=(",", ":")) + "\n"


def rotate(u, t):
    """An honest key rotation: new random keys, signed by the user's key."""
    return line(u.label, ["ed25519:%s:phone" % rnd(), "x25519:%s:phone" % rnd()], t, u.skey)


def main(argv):
    if len(argv) != 2 or not os.path.isdir(argv[1]):
        sys.stderr.write(__doc__)
        return 2
    out = argv[1]
    now = int(time.time())
    t0 = now - 30 * 86400
    labels = list(WATCHED) + [VICTIM] + ["user%05d@example.org" % i
                                         for i in range(len(WATCHED) + 1, USERS)]
    # users with real keys: the watched ones, the victim, the rotations
    nreal = 3 + BASE_ROTATIONS + 3 * HONEST + 3
    real = {lb: User(lb) for lb in labels[:nreal]}
    rot = labels[3:3 + BASE_ROTATIONS]
    spare = iter(real[lb] for lb in labels[3 + BASE_ROTATIONS:nreal])

    with open(os.path.join(out, "base.jsonl"), "w") as f:
        for i, lb in enumerate(labels):
            keys = real[lb].keys if lb in real else ["ed25519:%s:phone" % rnd(),
                                                     "x25519:%s:phone" % rnd()]
            f.write(line(lb, keys, t0 + i))
        for i, lb in enumerate(rot + [VICTIM]):
            f.write(rotate(real[lb], t0 + USERS + i))

    alice, bob = real[WATCHED[0]], real[WATCHED[1]]
    attacks = [
        # A1: the provider's own keys for alice, same devices, no auth line
        line(alice.label, ["ed25519:%s:phone" % rnd(), "x25519:%s:phone" % rnd()], now),
        # A2: bob's keys plus a "ghost" device the provider controls
        line(bob.label, bob.keys + ["ed25519:%s:ghost" % rnd(), "x25519:%s:ghost" % rnd()],
             now + 1),
        # A11: carol's keys reset by the provider: unwatched, but unsigned
        line(VICTIM, ["ed25519:%s:phone" % rnd(), "x25519:%s:phone" % rnd()], now + 2),
    ]
    fork = []
    for s in range(3):
        honest = [rotate(next(spare), now + s) for _ in range(HONEST)]
        with open(os.path.join(out, "step%d.jsonl" % (s + 1)), "w") as f:
            f.writelines(honest + [attacks[s]])
        fork += honest + [rotate(next(spare), now + s)]
    with open(os.path.join(out, "fork.jsonl"), "w") as f:
        f.writelines(fork)

    with open(os.path.join(out, "provider.env"), "w") as f:
        f.write("ALICE='%s'\nALICE_KEYS='%s'\n" % (alice.label, " ".join(alice.keys)))
        f.write("BOB='%s'\nBOB_KEYS='%s'\n" % (bob.label, " ".join(bob.keys)))
        f.write("CAROL='%s'\n" % VICTIM)
        f.write("N_USERS=%d\nN_BASE=%d\nN_STEP=%d\nN_HONEST=%d\n" % (
            USERS, USERS + BASE_ROTATIONS + 1, HONEST + 1, HONEST))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
