#!/usr/bin/env python3
"""A deliberately broken "Hub" for error-path tests: every request gets the
answer named by --mode. Prints "bad-hub ready http://127.0.0.1:PORT" when
listening. Modes:
  garbage      200 with a body that is not JSON
  not-a-list   200 with a JSON object where a list of models is expected
  huge         200 with a JSON list larger than 64 MiB (streamed)
  bad-types    200 with a model whose downloads is a string
  bad-id       200 with models whose ids are hostile ("../x", "a/b;rm -rf")
  foreign-link 200 with a Link rel="next" to another origin
  endless      200 with a non-empty page and a Link rel="next" to itself
  html         200 with an HTML page (a captive portal)
"""
import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD_MODEL = {"_id": "0" * 24, "id": "acme-ai/good-model", "downloads": 1, "likes": 1,
              "sha": "0123456789abcdef0123456789abcdef01234567", "tags": [],
              "lastModified": "2024-01-01T00:00:00.000Z"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = "garbage"

    def log_message(self, *args):
        pass

    def send(self, body, ctype="application/json", extra=None):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        m = self.mode
        port = self.server.server_address[1]
        if m == "garbage":
            self.send("{this is not json", "text/plain")
        elif m == "not-a-list":
            self.send(json.dumps({"error": None, "models": []}))
        elif m == "bad-types":
            self.send(json.dumps([dict(GOOD_MODEL, downloads="many")]))
        elif m == "bad-id":
            self.send(json.dumps([dict(GOOD_MODEL, id="../etc"), dict(GOOD_MODEL, id="a/b;rm -rf")]))
        elif m == "foreign-link":
            self.send(json.dumps([GOOD_MODEL]),
                      extra={"Link": '<http://127.0.0.2:%d/api/models?cursor=x>; rel="next"' % port})
        elif m == "endless":
            self.send(json.dumps([dict(GOOD_MODEL, id="acme-ai/m%d" % (hash(self.path) % 1000))]),
                      extra={"Link": '<http://127.0.0.1:%d/api/models?cursor=%s>; rel="next"'
                             % (port, len(self.path))})
        elif m == "html":
            self.send("<html><body>Please log in to the Wi-Fi</body></html>", "text/html")
        elif m == "huge":
            chunk = (json.dumps(GOOD_MODEL) + ",").encode() * 2000
            total = 70 << 20
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(total))
            self.end_headers()
            sent = 0
            try:
                self.wfile.write(b"[")
                sent = 1
                while sent + len(chunk) < total:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", required=True)
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    Handler.mode = a.mode
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print("bad-hub ready http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
