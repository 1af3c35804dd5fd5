#!/usr/bin/env python3
"""Serves the demo's directories over HTTP on loopback.

  serve.py PORTFILE NAME=DIR [NAME=DIR...]

Binds 127.0.0.1 on a port the kernel chooses (no race with anything else
on the machine), writes the port number to PORTFILE once listening, and
serves each DIR under /NAME/ until killed. As docs/publisher.md asks of a
key directory's web server, no path component may start with "." (the
publisher's private .ktaudit/ is never served) and directories are not
listed. Files are looked up on every request, so a publish shows at once.
"""
import http.server
import os
import posixpath
import sys
import urllib.parse


class Handler(http.server.SimpleHTTPRequestHandler):
    roots = {}

    def translate_path(self, path):
        path = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
        parts = [p for p in posixpath.normpath(path).split("/") if p]
        if len(parts) < 2 or parts[0] not in self.roots or any(
                p.startswith(".") for p in parts):
            return "/nonexistent/"
        return os.path.join(self.roots[parts[0]], *parts[1:])

    def list_directory(self, path):
        self.send_error(404)
        return None

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # The monitor's fetcher opens several connections at once: the default
    # listen backlog of 5 would drop SYNs, which are resent only after 1 s.
    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hangs up is not an error here


def main(argv):
    if len(argv) < 3 or any("=" not in a for a in argv[2:]):
        sys.stderr.write(__doc__)
        return 2
    Handler.roots = dict(a.split("=", 1) for a in argv[2:])
    srv = Server(("127.0.0.1", 0), Handler)
    with open(argv[1] + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(argv[1] + ".tmp", argv[1])
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
