"""A stand-in for a Supabase project's REST/Auth/Storage, for the pass-through tests.

Answers every request with JSON describing what it received (REST paths get a one-row
array, as PostgREST answers a select). Listens on 127.0.0.1 only.
Usage: python3 stub_upstream.py PORT
"""
import json
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
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Echo).serve_forever()
