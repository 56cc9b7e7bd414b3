"""A tiny user service for the tests: an HTTP server that, on ``GET /``, asks its dependency
(``argv[2]``, given as ``{url.ehr}``) for ``/metadata`` and answers with what it got, plus its
own ``OWN`` environment variable. Listens on ``argv[3]`` (``{host}``; default 127.0.0.1). Prints
"relay listening" once it listens."""

import os
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Relay(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        try:
            with urllib.request.urlopen(sys.argv[2] + "/metadata", timeout=1) as answer:
                status, body = 200, f"ehr {answer.status} own={os.environ.get('OWN')}"
        except (urllib.error.URLError, OSError) as exc:
            status, body = 502, f"ehr unreachable: {exc}"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


server = ThreadingHTTPServer((sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1", int(sys.argv[1])), Relay)
print("relay listening", flush=True)
server.serve_forever()
