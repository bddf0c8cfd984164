"""A stand-in for a Supabase project's REST/Auth/Storage, for the pass-through tests.

Answers every request with JSON describing what it received (REST paths get a one-row
array, as PostgREST answers a select). Listens on 127.0.0.1 only.
Usage: python3 stub_upstream.py PORT
"""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    # workerd's HTTP client drops HTTP/1.0 responses ("Network connection lost").
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        path, _, query = self.path.partition("?")
        seen = {
            "method": self.command,
            "path": path,
            "query": query,
            "apikey": self.headers.get("apikey"),
            "authorization": self.headers.get("authorization"),
            "body": body,
        }
        payload = json.dumps([seen] if path.startswith("/rest/v1/") else seen).encode()
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("x-stub-upstream", "yes")
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _answer

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    # Port 0 lets the system choose a free one (a fixed port in the ephemeral range can be
    # taken by any outgoing connection of the moment); the port chosen is written to the
    # file named by the second argument.
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo)
    if len(sys.argv) > 2:
        with open(sys.argv[2] + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    server.serve_forever()
