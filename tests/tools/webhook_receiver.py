#!/usr/bin/env python3
"""A webhook receiver for the sink and delivery tests (Python 3 stdlib only).

Listens on 127.0.0.1 (port 0 = any free port), answers POST requests and
records each one as a JSON line in --log:

    {"n": 1, "method": "POST", "path": "/hook", "status": 500,
     "headers": {"content-type": "application/json", "idempotency-key": "..."},
     "body": "<the request body as text>"}

Header names are lowercased. The port is written to --port-file (atomically,
via rename) once the socket listens, so a test can wait for that file.

Behaviour:
  --fail-first N      answer the first N requests with --fail-status (500)
  --fail-file PATH    while PATH exists, answer every request with --fail-status
                      (a test creates and removes it to make the receiver fail
                      and recover)
  --status CODE       status for the other requests (default 200)
  --redirect URL      answer every request with 302 and this Location
  --response-size N   send a response body of N bytes ("x" * N)

Runs until killed (SIGTERM or SIGKILL).
"""

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--fail-status", type=int, default=500)
    ap.add_argument("--fail-file")
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--redirect")
    ap.add_argument("--response-size", type=int, default=0)
    args = ap.parse_args()

    state = {"n": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # keep test output quiet
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length > 0 else b""
            state["n"] += 1
            n = state["n"]
            status = args.status
            extra = {}
            if n <= args.fail_first or (args.fail_file and os.path.exists(args.fail_file)):
                status = args.fail_status
            elif args.redirect:
                status = 302
                extra["Location"] = args.redirect
            rec = {
                "n": n,
                "method": self.command,
                "path": self.path,
                "status": status,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("utf-8", "replace"),
            }
            with open(args.log, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
            out = b"x" * args.response_size if args.response_size else (
                b"accepted\n" if 200 <= status < 300 else b"failing on purpose\n")
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            try:
                self.wfile.write(out)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_PUT = do_POST

    srv = HTTPServer(("127.0.0.1", args.port), Handler)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
