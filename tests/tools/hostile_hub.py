#!/usr/bin/env python3
"""A Hub whose models claim sizes and trees meant to make hfhub's sizing and
layout work unbounded, for tests/e2e/test_hostile_sizes.py. It serves one
organisation, hostile-org, through the routes hf_catalog, hfhub_monitor and
hfhub_downloader --size-only use: the listing (/api/models?author=...), model
info (/api/models/{id}?blobs=true), revisions (/api/models/{id}/revision/{rev})
and trees (/api/models/{id}/tree/{commit}?recursive=true). No file content.
Prints "hostile-hub ready http://127.0.0.1:PORT" when listening.

The models (--list prints them as JSON: id, files, and whether an image of
them must be refused):
  good            two small files (the control)
  huge-1e17       a file of 10^17 bytes
  max-int64       a file of 2^63-1 bytes, the largest JSON integer
  over-file-limit a file one byte over ext4's 16 TiB - 4 KiB
  exact-file-limit a file of exactly 16 TiB - 4 KiB (fits)
  sum-over-limit  13 files of 16 TiB - 4 KiB: each fits, together over 192 TiB
  dir-overflow    two files of 2^62 bytes (fit nowhere: the directory form's
                  total passes 2^63; the image form refuses each file)
  many-dirs       100,000 files in 100,000 directories
  deep            400 files, each 500 directories deep in a chain of its own
"""
import argparse
import hashlib
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ORG = "hostile-org"
FILE_LIMIT = (2 ** 32 - 1) * 4096


def _models():
    deep = "/".join(["a"] * 500)
    return {
        "good": ([("config.json", 700), ("model.safetensors", 1000000)], False),
        "huge-1e17": ([("config.json", 700), ("weights/model.safetensors", 10 ** 17)], True),
        "max-int64": ([("config.json", 700), ("model.safetensors", 2 ** 63 - 1)], True),
        "over-file-limit": ([("config.json", 700), ("model.safetensors", FILE_LIMIT + 1)], True),
        "exact-file-limit": ([("config.json", 700), ("model.safetensors", FILE_LIMIT)], False),
        "sum-over-limit": ([("config.json", 700)] +
                           [("model-%05d-of-00013.safetensors" % (i + 1), FILE_LIMIT) for i in range(13)],
                           True),
        "dir-overflow": ([("a.safetensors", 2 ** 62), ("b.safetensors", 2 ** 62)], True),
        "many-dirs": ([("d%06d/f.json" % i, 1000) for i in range(100000)], False),
        "deep": ([("%03d/%s/f.json" % (i, deep), 10) for i in range(400)], False),
    }


MODELS = _models()


def sha_of(name):
    return hashlib.sha1(name.encode()).hexdigest()


def listing_entry(name):
    return {"_id": hashlib.md5(name.encode()).hexdigest()[:24], "id": "%s/%s" % (ORG, name),
            "modelId": "%s/%s" % (ORG, name), "author": ORG, "downloads": 10, "likes": 1,
            "sha": sha_of(name), "tags": ["license:mit"], "private": False, "gated": False,
            "lastModified": "2024-01-01T00:00:00.000Z", "createdAt": "2024-01-01T00:00:00.000Z",
            "pipeline_tag": "text-generation", "library_name": "transformers"}


def info(name):
    d = listing_entry(name)
    d["siblings"] = [{"rfilename": p, "size": s} for p, s in MODELS[name][0]]
    return d


def tree(name):
    return [{"type": "file", "path": p, "size": s, "oid": hashlib.sha1(p.encode()).hexdigest()}
            for p, s in MODELS[name][0]]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        parts = u.path.strip("/").split("/")
        if parts[:2] != ["api", "models"]:
            return self.send(404, {"error": "not found"})
        if len(parts) == 2:
            if q.get("author", [""])[0] != ORG:
                return self.send(200, [])
            return self.send(200, [listing_entry(n) for n in MODELS])
        if len(parts) < 4 or parts[2] != ORG or parts[3] not in MODELS:
            return self.send(404, {"error": "Repository not found"})
        name = parts[3]
        if len(parts) == 4:
            return self.send(200, info(name))
        if len(parts) >= 6 and parts[4] == "revision":
            return self.send(200, info(name))
        if len(parts) >= 6 and parts[4] == "tree":
            return self.send(200, tree(name))
        return self.send(404, {"error": "not found"})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--list", action="store_true", help="print the models as JSON and exit")
    a = ap.parse_args()
    if a.list:
        print(json.dumps([{"id": "%s/%s" % (ORG, n), "refused": r,
                           "files": [{"path": p, "size": s} for p, s in f]}
                          for n, (f, r) in MODELS.items()]))
        return 0
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    print("hostile-hub ready http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
