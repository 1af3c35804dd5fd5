#!/usr/bin/env python3
"""Shows the alerts the demo's auditors write to their `sink file`.

  alerts.py new OFFSETS SEEN [--color] NAME=SINK...
      prints every alert appended to each SINK (JSON lines, docs/alerts.md)
      since the last call, one line each: auditor, severity, kind, label and
      version, a short detail; remembers how far it read in OFFSETS and
      appends "NAME KIND LABEL" (label "-" when none) to SEEN per alert
  alerts.py evidence NAME=SINK...
      the evidence bundle named by each alert, one path per line

Only complete lines are read: the monitor appends one line per alert, and a
line still being written is picked up by the next call.
"""
import json
import os
import sys
import urllib.parse

COLORS = {"critical": "\033[1;31m", "alert": "\033[1;33m", "warning": "\033[36m"}


def short_url(u):
    """The path of a loopback URL: the port says nothing to a reader."""
    s = urllib.parse.urlsplit(u)
    return s.path if s.scheme in ("http", "https") else u


def keys(ks):
    return ", ".join("%s/%s" % (k["alg"], k["device"]) for k in ks)


def detail(a):
    d = a.get("details") or {}
    kind = a["kind"]
    if kind == "key_changed":
        parts = ["%s %s" % (w, keys(d[w])) for w in ("added", "removed", "replaced") if d.get(w)]
        parts.append("owner-signed" if d.get("authorized") else "not owner-signed")
        return "; ".join(parts)
    if kind == "unauthorized_update":
        n = len(d.get("signers", []))
        return "no auth line by a key of v%s%s" % (
            d.get("previous_version", "?"),
            "" if n == 0 else " (%d other signer%s)" % (n, "" if n == 1 else "s"))
    if kind == "fork":
        def side(u, r):
            return "%s.. (%s)" % (str(r)[:8], "ours" if u == "(verified)" else short_url(u))
        if d.get("size1") == d.get("size2"):
            return "size %s, root %s vs %s" % (d.get("size1"), side(d.get("url1"), d.get("root1")),
                                               side(d.get("url2"), d.get("root2")))
        return "size %s root %s vs size %s root %s" % (
            d.get("size1"), side(d.get("url1"), d.get("root1")),
            d.get("size2"), side(d.get("url2"), d.get("root2")))
    m = a.get("message", "")
    return m if len(m) <= 80 else m[:77] + "..."


def show(name, a, color):
    label = a.get("label")
    where = " %s v%s:" % (label, a.get("version")) if label is not None else ""
    sev = a["severity"].upper()
    if color:
        sev = "%s%-8s\033[0m" % (COLORS.get(a["severity"], ""), sev)
    else:
        sev = "%-8s" % sev
    print("  [%s] %s %-19s%s %s" % (name, sev, a["kind"], where, detail(a)))
    if a.get("evidence"):
        print("      evidence bundle: %s" % os.path.basename(a["evidence"]))


def sinks(args):
    out = []
    for s in args:
        name, _, path = s.partition("=")
        out.append((name, path))
    return out


def cmd_new(argv):
    offsets_path, seen_path = argv[0], argv[1]
    color = len(argv) > 2 and argv[2] == "--color"
    try:
        with open(offsets_path) as f:
            offsets = json.load(f)
    except FileNotFoundError:
        offsets = {}
    seen = []
    for name, path in sinks(argv[3 if color else 2:]):
        try:
            with open(path, "rb") as f:
                f.seek(offsets.get(path, 0))
                data = f.read()
        except FileNotFoundError:
            continue
        end = data.rfind(b"\n") + 1
        for raw in data[:end].splitlines():
            a = json.loads(raw)
            show(name, a, color)
            seen.append("%s %s %s\n" % (name, a["kind"], a.get("label", "-")))
        offsets[path] = offsets.get(path, 0) + end
    sys.stdout.flush()
    with open(seen_path, "a") as f:
        f.writelines(seen)
    with open(offsets_path + ".tmp", "w") as f:
        json.dump(offsets, f)
    os.replace(offsets_path + ".tmp", offsets_path)
    return 0


def cmd_evidence(argv):
    for _, path in sinks(argv):
        try:
            f = open(path)
        except FileNotFoundError:
            continue
        with f:
            for raw in f:
                ev = json.loads(raw).get("evidence")
                if ev:
                    print(ev)
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "new":
        return cmd_new(argv[2:])
    if len(argv) >= 2 and argv[1] == "evidence":
        return cmd_evidence(argv[2:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
