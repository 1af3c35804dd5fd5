#!/usr/bin/env python3
"""Reads what the monitor produced, for the monitor tests.

  monitor_alerts.py show FILE      one line per alert of a JSON-lines sink file:
                                   "ID KIND SEVERITY label=L version=V leaf=N"
                                   ("-" for absent members), after checking
                                   every line against the alert schema
  monitor_alerts.py ids FILE       the alert ids, one per line, sorted, unique
  monitor_alerts.py dupes FILE     exit 1 (listing them) if an id repeats
  monitor_alerts.py count FILE     the number of alerts, or "N (duplicate ids)"
  monitor_alerts.py get FILE KIND MEMBER
                                   the member (JSON) of the first alert of KIND
  monitor_alerts.py state DB       a canonical dump of a monitor state database
                                   (checkpoint, compact range, label index,
                                   history, watches, alert ids) without the
                                   wall-clock columns, to compare two runs
"""
import base64
import hashlib
import json
import re
import sqlite3
import sys

KINDS = {
    "fork": "critical", "rollback": "critical", "root_mismatch": "critical",
    "version_equivocation": "critical", "version_skip": "critical",
    "bad_signature": "critical", "malformed_entry": "critical",
    "key_changed": "alert", "unauthorized_update": "alert",
    "bad_auth_signature": "alert", "unreachable": "warning", "stale": "warning",
    "quorum": "warning", "clock": "warning",
}
MEMBERS = {"id", "time", "severity", "kind", "log", "label", "version",
           "leaf_index", "size", "message", "details", "evidence"}


def load(path):
    out = []
    try:
        f = open(path, encoding="utf-8")
    except FileNotFoundError:
        return out
    with f:
        for n, line in enumerate(f, 1):
            a = json.loads(line)
            bad = set(a) - MEMBERS
            if bad:
                sys.exit("%s:%d: unknown members %s" % (path, n, sorted(bad)))
            for m in ("id", "time", "severity", "kind", "log", "size", "message"):
                if m not in a:
                    sys.exit("%s:%d: missing %s" % (path, n, m))
            if not re.fullmatch(r"[0-9a-f]{32}", a["id"]):
                sys.exit("%s:%d: bad id %r" % (path, n, a["id"]))
            if KINDS.get(a["kind"]) != a["severity"]:
                sys.exit("%s:%d: kind %s with severity %s" % (path, n, a["kind"], a["severity"]))
            if ("label" in a) != ("version" in a):
                sys.exit("%s:%d: label without version or the reverse" % (path, n))
            out.append(a)
    return out


AUTH_NAMES = ["first_version", "owner", "unauthorized", "bad_signature", "unknown"]


def varint(d, off):
    v, shift = 0, 0
    while True:
        c = d[off]
        off += 1
        v |= (c & 0x7F) << shift
        if not c & 0x80:
            return v, off
        shift += 7


def label_rows(db):
    """(origin, label, version, leaf_index, HEX(keys)) by origin, label. A row
    of schema 5 starts with 0x00 and keeps no leaf hash; schema 4's rows
    have none of that byte and a 32-byte leaf hash after the leaf index
    (not shown: the history rows hold the entries)."""
    out = []
    for origin, bucket, d in db.execute("SELECT origin, bucket, data FROM labels WHERE bucket >= 0"):
        off, hl = (1, 0) if d[:1] == b"\x00" else (0, 32)
        while off < len(d):
            ll, off = varint(d, off)
            label = d[off:off + ll].decode()
            off += ll
            ver, off = varint(d, off)
            leaf, off = varint(d, off)
            off += hl
            kl, off = varint(d, off)
            keys = d[off:off + kl]
            off += kl
            out.append((origin, label, ver, leaf, keys.hex().upper()))
    return sorted(out)


def unpack_entry(p, version):
    """The text of a packed entry (entry.h kta_entry_pack) with its version:
    written again here, apart from the C code, as the tests' own reading."""
    ll, off = varint(p, 0)
    label = p[off:off + ll]
    off += ll
    t, off = varint(p, off)
    nk, off = varint(p, off)
    out = b"keydir/v1\nlabel " + label + b"\nversion %d\ntime %d\n" % (version, t)
    for _ in range(nk):
        alg = {1: b"ed25519", 2: b"x25519"}[p[off]]
        pub = base64.b64encode(p[off + 1:off + 33])
        dl = p[off + 33]
        dev = p[off + 34:off + 34 + dl]
        off += 34 + dl
        out += b"key " + alg + b" " + pub + b" " + dev + b"\n"
    na, off = varint(p, off)
    for _ in range(na):
        out += (b"auth ed25519 " + base64.b64encode(p[off:off + 32]) + b" " +
                base64.b64encode(p[off + 32:off + 96]) + b"\n")
        off += 96
    if off != len(p):
        raise ValueError("packed entry: %d trailing bytes" % (len(p) - off))
    return out


def history_rows(db):
    """(origin, leaf_index, version, prev leaf + 1, HEX(entry), auth) by origin, leaf;
    a packed entry is rebuilt and must match the leaf hash bytes stored with it."""
    out = []
    for origin, chunk, d in db.execute("SELECT origin, chunk, data FROM label_history"):
        off = 0
        while off < len(d):
            delta, off = varint(d, off)
            auth = d[off]
            off += 1
            ver, off = varint(d, off)
            prev, off = varint(d, off)
            el, off = varint(d, off)
            entry = d[off:off + el]
            if auth & 0x80:
                text = unpack_entry(entry[4:], ver)
                if hashlib.sha256(b"\0" + text).digest()[:4] != entry[:4]:
                    raise ValueError("leaf %d: packed entry does not rebuild" % (chunk + delta))
                entry = text
            out.append((origin, chunk + delta, ver, prev, entry.hex().upper(),
                        AUTH_NAMES[auth & 0x7F]))
            off += el
    return sorted(out)


def main(argv):
    if len(argv) == 3 and argv[1] == "show":
        for a in load(argv[2]):
            print("%s %s %s label=%s version=%s leaf=%s" % (
                a["id"], a["kind"], a["severity"], a.get("label", "-"), a.get("version", "-"),
                a.get("leaf_index", "-")))
    elif len(argv) == 3 and argv[1] == "ids":
        for i in sorted({a["id"] for a in load(argv[2])}):
            print(i)
    elif len(argv) == 3 and argv[1] == "dupes":
        seen, dup = set(), []
        for a in load(argv[2]):
            if a["id"] in seen:
                dup.append(a["id"])
            seen.add(a["id"])
        if dup:
            print("\n".join(dup))
            return 1
    elif len(argv) == 3 and argv[1] == "count":
        al = load(argv[2])
        n = len({a["id"] for a in al})
        print(len(al) if n == len(al) else "%d (duplicate ids)" % len(al))
    elif len(argv) == 5 and argv[1] == "get":
        for a in load(argv[2]):
            if a["kind"] == argv[3]:
                print(json.dumps(a.get(argv[4]), sort_keys=True))
                return 0
        return 1
    elif len(argv) == 3 and argv[1] == "state":
        db = sqlite3.connect("file:%s?mode=ro" % argv[2], uri=True)
        q = [
            ("logs", "SELECT origin, size, hex(root), hex(range), hex(checkpoint) FROM logs ORDER BY origin"),
            ("watches", "SELECT origin, label, mode, hex(keys), approved_version FROM watches "
                        "ORDER BY origin, label"),
            ("alerts", "SELECT id FROM alerts ORDER BY id"),
            # a catch-up left pending (ktaudit.conf(5) commit_every); none
            # once a run finished
            ("pending", "SELECT origin, size, done, hex(root) FROM pending ORDER BY origin"),
        ]
        # the shard the database audits (ktaudit.conf(5) shard); none when
        # it audits every label, or when it predates the table
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'shards'").fetchone():
            q.append(("shards", "SELECT origin, k, n FROM shards ORDER BY origin"))
        for name, sql in q:
            for row in db.execute(sql):
                print(name, "|".join(str(c) for c in row))
        # the label index and history (state.h "Label index"): decoded, so
        # that the bucket layout (a per-database hash key) does not show
        for row in label_rows(db):
            print("labels", "|".join(str(c) for c in row))
        for row in history_rows(db):
            print("history", "|".join(str(c) for c in row))
        n, d = db.execute("SELECT count(*), count(DISTINCT id) FROM alerts").fetchone()
        print("alerts-count", n, d)
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
