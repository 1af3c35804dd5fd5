#!/usr/bin/env python3
"""Serves a directory over real HTTP on loopback for the monitor tests.

  monitor_serve.py DIR PORTFILE

Binds 127.0.0.1 on a free port chosen by the kernel (no race with other tests
running in parallel), writes the port number to PORTFILE once listening, and
serves DIR (looked up again on every request, so the test can replace the
tree) with http.server until killed. Request logging is off.
"""
import functools
import http.server
import os
import sys


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # socketserver's default listen backlog is 5: more parallel connections
    # (the fetcher opens 8) overflow it and the kernel drops the SYNs, which
    # the client resends only after a second.
    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a client that hangs up (a cancelled transfer) is not an error here
        pass


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    handler = functools.partial(Quiet, directory=sys.argv[1])
    srv = Server(("127.0.0.1", 0), handler)
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, sys.argv[2])
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
