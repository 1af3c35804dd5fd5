#!/usr/bin/env python3
"""A fake RFC 6962 CT log on loopback for tests (python3 stdlib + the openssl CLI).

Serves /ct/v1/get-sth, get-sth-consistency, get-proof-by-hash and get-entries
over a tree of MerkleTreeLeaf entries built from real DER certificates
(--certs DIR/*.der, cycled to --entries leaves; every --precert-every-th entry
is a precert_entry carrying the certificate's TBSCertificate). STHs are signed
with an ECDSA P-256 key (--key PEM) through `openssl dgst -sha256 -sign`.

Misbehaviour is read from the JSON file --control on every request:
  size        publish the tree of this many leaves (default: all)
  page        at most this many entries per get-entries answer (default 1000)
  rate_limit  answer this many get-entries requests with 429 Retry-After: 1
              before serving one (counter kept per server)
  fork        sign a tree whose entry 0 differs (a head inconsistent with
              the honest tree)
  bad_entry   serve a different leaf at this index (the signed tree is honest)
  bad_sig     corrupt the STH signature
  raw_entries serve this exact text as every get-entries body
Requests are appended to --log (one line each) so tests can check paging.
The port is written to --port-file.
"""
import argparse
import base64
import glob
import hashlib
import json
import os
import struct
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import merkle  # noqa: E402


def der_len(b, i):
    """Returns (content length, header length) of the DER TLV at b[i]."""
    l = b[i + 1]
    if l < 0x80:
        return l, 2
    n = l & 0x7F
    return int.from_bytes(b[i + 2:i + 2 + n], "big"), 2 + n


def tbs_of(cert):
    _, h = der_len(cert, 0)
    tl, th = der_len(cert, h)
    return cert[h:h + th + tl]


def u24(b):
    return len(b).to_bytes(3, "big") + b


def leaf_input(i, cert, precert):
    ts = 1700000000000 + i
    if precert:
        body = struct.pack(">QH", ts, 1) + hashlib.sha256(b"issuer").digest() + u24(tbs_of(cert))
    else:
        body = struct.pack(">QH", ts, 0) + u24(cert)
    return b"\x00\x00" + body + b"\x00\x00"


def extra_data(cert, precert):
    if precert:
        return u24(cert) + u24(b"")
    return u24(b"")


class Log:
    def __init__(self, args):
        certs = [open(p, "rb").read() for p in sorted(glob.glob(os.path.join(args.certs, "*.der")))]
        if not certs:
            sys.exit("fake_ct_log: no certificates in " + args.certs)
        n = args.entries or len(certs)
        self.leaves, self.extras = [], []
        for i in range(n):
            c = certs[i % len(certs)]
            pre = args.precert_every > 0 and i % args.precert_every == args.precert_every - 1
            self.leaves.append(leaf_input(i, c, pre))
            self.extras.append(extra_data(c, pre))
        self.hashes = [merkle.leaf_hash(x) for x in self.leaves]
        # Pre-encoded entries and cached pages, so the server is not the bottleneck.
        self.json_entries = [('{"leaf_input":"%s","extra_data":"%s"}' % (
            base64.b64encode(l).decode(), base64.b64encode(e).decode())).encode()
            for l, e in zip(self.leaves, self.extras)]
        self.pages = {}
        self.key = args.key
        self.control = args.control
        self.logfile = args.log
        self.lock = threading.Lock()
        self.limited = 0
        self.sigs = {}
        self.roots = {}

    def ctl(self):
        if self.control and os.path.exists(self.control):
            with open(self.control) as f:
                return json.load(f)
        return {}

    def root(self, hashes, key):
        if key not in self.roots:
            self.roots[key] = merkle.mth(hashes)
        return self.roots[key]

    def sign(self, ts, size, root):
        msg = struct.pack(">BBQQ", 0, 1, ts, size) + root
        if msg not in self.sigs:
            der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key, "-binary"],
                                 input=msg, capture_output=True, check=True).stdout
            self.sigs[msg] = bytes([4, 3]) + len(der).to_bytes(2, "big") + der
        return self.sigs[msg]

    def log(self, line):
        if self.logfile:
            with open(self.logfile, "a") as f:
                f.write(line + "\n")


def make_handler(lg):
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def send(self, code, obj, headers=()):
            body = json.dumps(obj).encode() if obj is not None else b""
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            u = urlparse(self.path)
            q = {k: v[0] for k, v in parse_qs(u.query).items()}
            with lg.lock:
                c = lg.ctl()
                size = min(int(c.get("size", len(lg.leaves))), len(lg.leaves))
                hashes = lg.hashes[:size]
                if c.get("fork") and size > 0:
                    hashes = [merkle.leaf_hash(b"forked")] + hashes[1:]
                try:
                    self.route(u.path, q, c, size, hashes)
                except (KeyError, ValueError) as e:
                    self.send(400, {"error": str(e)})

        def route(self, path, q, c, size, hashes):
            if path == "/ct/v1/get-sth":
                ts = int(c.get("timestamp", 1700000000000 + size))
                root = lg.root(hashes, ("fork" if c.get("fork") else "ok", size))
                sig = bytearray(lg.sign(ts, size, root))
                if c.get("bad_sig"):
                    sig[-1] ^= 1
                lg.log("get-sth %d" % size)
                self.send(200, {"tree_size": size, "timestamp": ts,
                                "sha256_root_hash": merkle.b64(root),
                                "tree_head_signature": base64.b64encode(bytes(sig)).decode()})
            elif path == "/ct/v1/get-sth-consistency":
                first, second = int(q["first"]), int(q["second"])
                if not 0 < first <= second <= size:
                    return self.send(400, {"error": "bad range"})
                lg.log("get-sth-consistency %d %d" % (first, second))
                self.send(200, {"consistency": [merkle.b64(h) for h in
                                                merkle.consistency(first, hashes[:second])]})
            elif path == "/ct/v1/get-proof-by-hash":
                h = base64.b64decode(q["hash"])
                n = int(q["tree_size"])
                if h not in hashes[:n]:
                    return self.send(404, {"error": "not found"})
                i = hashes.index(h)
                self.send(200, {"leaf_index": i, "audit_path": [merkle.b64(x) for x in
                                                                 merkle.path(i, hashes[:n])]})
            elif path == "/ct/v1/get-entries":
                start, end = int(q["start"]), int(q["end"])
                if lg.limited < int(c.get("rate_limit", 0)):
                    lg.limited += 1
                    lg.log("429")
                    return self.send(429, {"error": "slow down"}, [("Retry-After", "1")])
                lg.limited = 0
                if c.get("raw_entries") is not None:
                    body = c["raw_entries"].encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    return self.wfile.write(body)
                if start > end or start >= size:
                    return self.send(400, {"error": "bad range"})
                end = min(end, size - 1, start + int(c.get("page", 1000)) - 1)
                out = []
                bad = c.get("bad_entry")
                if bad is None:
                    key = (start, end)
                    if key not in lg.pages:
                        if len(lg.pages) > 4096:
                            lg.pages.clear()
                        lg.pages[key] = b'{"entries":[' + b",".join(lg.json_entries[start:end + 1]) + b"]}"
                    body = lg.pages[key]
                    lg.log("get-entries %d %s %d" % (start, q["end"], end + 1 - start))
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    return self.wfile.write(body)
                for i in range(start, end + 1):
                    leaf = lg.leaves[i]
                    if bad is not None and i == int(bad):
                        leaf = leaf[:5] + bytes([leaf[5] ^ 1]) + leaf[6:]
                    out.append({"leaf_input": base64.b64encode(leaf).decode(),
                                "extra_data": base64.b64encode(lg.extras[i]).decode()})
                lg.log("get-entries %d %d %d" % (start, int(q["end"]), len(out)))
                self.send(200, {"entries": out})
            else:
                self.send(404, {"error": "no such endpoint"})
    return H


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--certs", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--entries", type=int, default=0)
    ap.add_argument("--precert-every", type=int, default=0)
    ap.add_argument("--control")
    ap.add_argument("--log")
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    lg = Log(args)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(lg))
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
