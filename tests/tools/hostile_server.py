#!/usr/bin/env python3
"""A deliberately misbehaving HTTP(S) server for the fetch tests (stdlib only).

Usage: hostile_server.py --dir DIR [--tls-cert PEM --tls-key PEM]

Listens on 127.0.0.1 on free ports and prints one line to stdout:
"<http_port> <https_port>" (https_port is 0 without --tls-cert). Exits when
its standard input reaches EOF, so it never outlives the test that started
it, even if that test crashes.

Paths (every counter is per exact path, so each test uses its own path):
  /files/NAME[?g=GROUP&delay_ms=N]  serve DIR/NAME (404 if missing); GROUP
                                    counts distinct connections, N delays
  /stats?g=GROUP                    "conns=C inflight_max=M" for GROUP
  /status/CODE                      reply CODE with a short body
  /ua                               reply with the request's User-Agent
  /refuse                           close the connection without a reply
  /garbage                          reply with bytes that are not HTTP
  /hang                             read the request, never answer
  /trickle                          Content-Length 100000, 1 byte / 200 ms
  /truncated                        Content-Length 1000, 10 bytes, close
  /big/N                            N bytes with an honest Content-Length
  /bigclose/N                       N bytes, no Content-Length, close
  /flaky/CODE/N/TAG[?ra=VALUE]      CODE (with Retry-After: VALUE) for the
                                    first N requests, then 200 "ok:TAG"
  /gzip/N                           N zero bytes, sent gzip-compressed
  /redirect?to=URL                  302 to URL
  /loop                             302 to /loop forever

Scripted logs, for a client that cannot be pointed at a new path each time
(the monitor daemon polls one configured URL):
  /m/NAME/REST                      a log: by default serves DIR/NAME/REST;
                                    a scripted behaviour, if one is set and
                                    REST contains its ONLY text, is applied
                                    to the request instead, N times
  /ctl/set?s=NAME&b=BEH&n=N[&arg=A][&only=TEXT][&ra=V]
                                    the next N matching requests of NAME get
                                    BEH (replaces any behaviour left):
                                      refuse, garbage, truncated  as above
                                      hang      read, wait A s (default 3600),
                                                close without a reply
                                      trickle   Content-Length 100000, A bytes
                                                (default 20) 1 / 50 ms, close
                                      big       A bytes with Content-Length
                                      bigclose  A bytes, no Content-Length
                                      status    HTTP A (Retry-After: V if ra)
                                      redirect  302 to A
                                      alt       serve DIR/A/REST (wrong data)
                                      ok        serve DIR/NAME/REST
  /ctl/log?s=NAME                   one line per request of NAME so far:
                                    "<unix time, ms> <behaviour> <REST>"
                                    (/m/ answers with Connection: close, so
                                    each request is one attempt of the client)
"""

import argparse
import gzip
import http.server
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse

LOCK = threading.Lock()
COUNTS = {}  # path -> requests seen
SCRIPTS = {}  # log name -> {"b", "n", "arg", "only", "ra"}
REQLOG = {}  # log name -> ["<time> <behaviour> <rest>", ...]
GROUPS = {}  # group -> {"conns": set(), "inflight": int, "max": int}
CONN_IDS = iter(range(1, 1 << 62))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hostile/1"
    root = "."

    def setup(self):
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        super().setup()
        with LOCK:
            self.conn_id = next(CONN_IDS)

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        if getattr(self, "one_shot", False):
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = url.path.split("/")[1:]
        head = parts[0] if parts else ""
        try:
            getattr(self, "h_" + head, self.h_default)(parts, query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def h_default(self, parts, query):
        self.reply(404, b"no such behaviour\n")

    def h_files(self, parts, query):
        group = query.get("g", [None])[0]
        if group is not None:
            with LOCK:
                g = GROUPS.setdefault(group, {"conns": set(), "inflight": 0, "max": 0})
                g["conns"].add(self.conn_id)
                g["inflight"] += 1
                g["max"] = max(g["max"], g["inflight"])
        try:
            delay = int(query.get("delay_ms", ["0"])[0])
            if delay:
                time.sleep(delay / 1000.0)
            name = "/".join(parts[1:])
            if not name or ".." in parts or name.startswith("/"):
                self.reply(404, b"bad name\n")
                return
            path = os.path.join(self.root, name)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                self.reply(404, b"not found\n")
                return
            self.reply(200, data, [("Content-Type", "application/octet-stream")])
        finally:
            if group is not None:
                with LOCK:
                    GROUPS[group]["inflight"] -= 1

    def h_stats(self, parts, query):
        group = query.get("g", [""])[0]
        with LOCK:
            g = GROUPS.get(group, {"conns": set(), "max": 0})
            body = "conns=%d inflight_max=%d" % (len(g["conns"]), g["max"])
        self.reply(200, body.encode())

    def h_ua(self, parts, query):
        self.reply(200, (self.headers.get("User-Agent") or "").encode())

    def h_status(self, parts, query):
        code = int(parts[1])
        # 1xx, 204 and 304 have no body (RFC 9110 6.4.1).
        self.reply(code, b"" if code in (204, 304) or code < 200 else b"status body\n")

    def h_refuse(self, parts, query):
        self.close_connection = True
        self.request.shutdown(socket.SHUT_RDWR)

    def h_garbage(self, parts, query):
        self.close_connection = True
        self.wfile.write(b"\x00\xffnot http at all\r\n\r\n")

    def h_hang(self, parts, query):
        time.sleep(3600)

    def h_trickle(self, parts, query):
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        for _ in range(100000):
            self.wfile.write(b"t")
            self.wfile.flush()
            time.sleep(0.2)

    def h_truncated(self, parts, query):
        self.send_response(200)
        self.send_header("Content-Length", "1000")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.wfile.flush()
        self.close_connection = True

    def h_big(self, parts, query):
        self.reply(200, b"a" * int(parts[1]))

    def h_bigclose(self, parts, query):
        n = int(parts[1])
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"b" * 65536
        while n > 0:
            k = min(n, len(chunk))
            self.wfile.write(chunk[:k])
            n -= k
        self.close_connection = True

    def h_flaky(self, parts, query):
        code, n, tag = int(parts[1]), int(parts[2]), parts[3]
        with LOCK:
            seen = COUNTS.get(self.path, 0)
            COUNTS[self.path] = seen + 1
        if seen < n:
            headers = []
            if "ra" in query:
                headers.append(("Retry-After", query["ra"][0]))
            self.reply(code, b"try again\n", headers)
        else:
            self.reply(200, ("ok:" + tag).encode())

    def h_gzip(self, parts, query):
        # A small body that inflates to N bytes: a decompression bomb for large N.
        body = gzip.compress(b"\0" * int(parts[1]))
        self.reply(200, body, [("Content-Encoding", "gzip")])

    def h_redirect(self, parts, query):
        self.reply(302, b"", [("Location", query["to"][0])])

    def h_loop(self, parts, query):
        self.reply(302, b"", [("Location", "/loop")])

    def serve_file(self, path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            self.reply(404, b"not found\n")
            return
        self.reply(200, data, [("Content-Type", "application/octet-stream")])

    def h_ctl(self, parts, query):
        name = query.get("s", [""])[0]
        op = parts[1] if len(parts) > 1 else ""
        if op == "set":
            with LOCK:
                SCRIPTS[name] = {
                    "b": query["b"][0],
                    "n": int(query.get("n", ["1"])[0]),
                    "arg": query.get("arg", [None])[0],
                    "only": query.get("only", [""])[0],
                    "ra": query.get("ra", [None])[0],
                }
            self.reply(200, b"ok\n")
        elif op == "log":
            with LOCK:
                body = "".join(l + "\n" for l in REQLOG.get(name, []))
            self.reply(200, body.encode())
        else:
            self.reply(404, b"no such control\n")

    def h_m(self, parts, query):
        if len(parts) < 2 or not parts[1] or ".." in parts:
            self.reply(404, b"bad name\n")
            return
        name, rest = parts[1], "/".join(parts[2:])
        # One request per connection: a client's attempts are then exactly
        # the requests logged (libcurl silently resends a request once when
        # a reused keep-alive connection turns out to be closed).
        self.one_shot = True
        beh, arg, ra = "ok", None, None
        with LOCK:
            sc = SCRIPTS.get(name)
            if sc is not None and sc["n"] > 0 and sc["only"] in rest:
                sc["n"] -= 1
                beh, arg, ra = sc["b"], sc["arg"], sc["ra"]
            REQLOG.setdefault(name, []).append("%.3f %s %s" % (time.time(), beh, rest))
        if beh == "ok":
            self.serve_file(os.path.join(self.root, name, rest))
        elif beh == "alt":
            self.serve_file(os.path.join(self.root, arg, rest))
        elif beh == "refuse":
            self.h_refuse(parts, query)
        elif beh == "garbage":
            self.h_garbage(parts, query)
        elif beh == "truncated":
            self.h_truncated(parts, query)
        elif beh == "hang":
            time.sleep(float(arg or 3600))
            self.close_connection = True
        elif beh == "trickle":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(int(arg or 20)):
                self.wfile.write(b"t")
                self.wfile.flush()
                time.sleep(0.05)
            self.close_connection = True
        elif beh == "big":
            self.h_big([None, arg], query)
        elif beh == "bigclose":
            self.h_bigclose([None, arg], query)
        elif beh == "status":
            headers = [("Retry-After", ra)] if ra is not None else []
            self.reply(int(arg), b"status body\n", headers)
        elif beh == "redirect":
            self.reply(302, b"", [("Location", arg)])
        else:
            self.reply(500, ("unknown behaviour " + beh + "\n").encode())


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # clients that hang up or reject our certificate are expected


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args()
    Handler.root = os.path.abspath(args.dir)

    servers = [Server(("127.0.0.1", 0), Handler)]
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        tls = Server(("127.0.0.1", 0), Handler)
        # Handshake in the handler thread, so a stuck client cannot block accept().
        tls.socket = ctx.wrap_socket(tls.socket, server_side=True, do_handshake_on_connect=False)
        servers.append(tls)
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    ports = [s.server_address[1] for s in servers] + [0]
    sys.stdout.write("%d %d\n" % (ports[0], ports[1]))
    sys.stdout.flush()
    # Parent gone (or done): stdin reaches EOF.
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
