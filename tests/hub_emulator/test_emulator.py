#!/usr/bin/env python3
"""Self-test of the Hub emulator: starts it and checks its HTTP behaviour against hub-api.md.

Plain python3, no pytest. Prints one `ok - ...` / `not ok - ...` line per check (TAP subset),
then a `N passed, N failed` line; exits 1 if any check failed.
"""

import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "hub_emulator.py")
sys.path.insert(0, HERE)
from fixtures import TOKEN_GRANTED, TOKEN_UNAPPROVED  # noqa: E402

GRANTED = {"Authorization": "Bearer " + TOKEN_GRANTED}
UNAPPROVED = {"Authorization": "Bearer " + TOKEN_UNAPPROVED}
INVALID = {"Authorization": "Bearer hf_NotAValidTokenAtAll000000000000000009"}
LINK_RE = re.compile(r'<(https?:[/][/][^>]+)>;\s+rel="([^"]+)"')   # HFJS parseLinkHeader

QWEN = "ONEnextgen/Qwen2.5-1.5B-Instruct-emu"
GATED_MANUAL = "meta-llama-emu/Llama-3.2-1B-Instruct"
PRIVATE = "acme-ai/internal-private-model"
DIFFUSERS = "ONEnextgen/stable-diffusion-emu"
ONNX = "ONEnextgen/bge-small-en-emu"


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, cond, desc, diag=None):
        if cond:
            self.passed += 1
            print("ok - " + desc)
        else:
            self.failed += 1
            print("not ok - " + desc)
            if diag is not None:
                for line in str(diag).splitlines()[:8]:
                    print("#   " + line)
        sys.stdout.flush()
        return cond


T = Results()


class Resp:
    def __init__(self, status, headers, body, error=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.error = error

    def h(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%s %s %r>" % (self.status, self.error, self.body[:200])


def request(method, url, headers=None, body=None, timeout=15, conn=None):
    """One HTTP request with http.client: no redirect following, errors returned not raised."""
    u = urllib.parse.urlsplit(url)
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    path = u.path + ("?" + u.query if u.query else "")
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        parts, err = [], None
        try:
            while True:   # read in pieces so a reset mid-body keeps what arrived
                piece = r.read1(65536)
                if not piece:
                    break
                parts.append(piece)
        except http.client.IncompleteRead as e:
            parts.append(e.partial)
            err = "incomplete"
        except (ConnectionResetError, ConnectionAbortedError) as e:
            err = type(e).__name__
        data = b"".join(parts)
        if err is None and r.length:   # http.client sets length to what is still missing
            err = "incomplete"
        r.close()   # read1 does not mark a complete response closed; keep-alive needs it
        return Resp(r.status, hdrs, data, err)
    except (http.client.RemoteDisconnected, ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as e:
        return Resp(0, {}, b"", type(e).__name__)
    finally:
        if own:
            conn.close()


class Emulator:
    def __init__(self, *args):
        self.tmp = tempfile.mkdtemp(prefix="emu-selftest-")
        ready = os.path.join(self.tmp, "ready.json")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, EMULATOR, "--port", "0", "--cdn-port", "0", "--ready-file",
                                      ready, "--quiet"] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.ready_line = self.proc.stdout.readline().strip()
        self.startup_s = time.monotonic() - t0
        with open(ready) as f:
            self.info = json.load(f)
        self.url = self.info["endpoint"]
        self.cdn = self.info["cdn"]

    def get(self, path, headers=None, **kw):
        return request("GET", self.url + path, headers, **kw)

    def head(self, path, headers=None):
        return request("HEAD", self.url + path, headers)

    def post(self, path, body, headers=None):
        return request("POST", self.url + path, headers, body)

    def config(self, obj):
        r = self.post("/_emulator/config", json.dumps(obj).encode(), {"Content-Type": "application/json"})
        assert r.status == 200, r
        return r.json()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.proc.stdout.close()
        self.proc.stderr.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def dump_fixtures():
    out = subprocess.run([sys.executable, EMULATOR, "--dump-fixtures"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def follow_pages(emu, path, headers=None):
    """GET path then every Link rel=next. Returns (items, pages, link headers)."""
    items, links, url = [], [], emu.url + path
    pages = 0
    while url:
        r = request("GET", url, headers)
        if r.status != 200:
            raise AssertionError("page %s: %r" % (url, r))
        pages += 1
        items += r.json()
        link = r.h("link")
        links.append(link)
        url = None
        if link:
            m = dict((rel, u) for u, rel in LINK_RE.findall(link))
            url = m.get("next")
        if pages > 500:
            raise AssertionError("pagination does not end")
    return items, pages, links


# ------------------------------------------------------------------------------------------------

def test_startup(emu):
    T.check(emu.startup_s < 1.0, "emulator is ready in under a second (%.2fs)" % emu.startup_s)
    T.check(re.fullmatch(r"hub-emulator ready endpoint=http://127\.0\.0\.1:\d+ cdn=http://127\.0\.0\.1:\d+",
                         emu.ready_line) is not None, "ready line format", emu.ready_line)
    T.check(set(emu.info) >= {"endpoint", "cdn", "pid"} and emu.info["pid"] == emu.proc.pid,
            "ready file has endpoint, cdn and pid")
    out = subprocess.run([sys.executable, EMULATOR, "--print-tokens"], capture_output=True, text=True)
    tok = json.loads(out.stdout)
    T.check(tok == {"granted": TOKEN_GRANTED, "unapproved": TOKEN_UNAPPROVED} and
            all(re.fullmatch(r"hf_[A-Za-z0-9]{34,}", t) for t in tok.values()), "--print-tokens")


def test_listing(emu, fx):
    emu.config({"page_size": 5})
    org = sorted(m["id"] for m in fx["models"] if m["author"] == "ONEnextgen" and not m["private"])
    items, pages, links = follow_pages(emu, "/api/models?author=ONEnextgen")
    T.check(sorted(i["id"] for i in items) == org, "author listing across pages returns every ONEnextgen model",
            (len(items), len(org)))
    T.check(pages == -(-len(org) // 5), "page cap 5 gives %d pages" % -(-len(org) // 5), pages)
    T.check(all(LINK_RE.fullmatch(link or "") for link in links[:-1]) and links[-1] is None,
            'Link: <absolute URL>; rel="next" on every page but the last', links)
    nxt = LINK_RE.fullmatch(links[0]).group(1)
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(nxt).query)
    T.check(q.get("author") == ["ONEnextgen"] and "cursor" in q, "next link keeps the query and adds a cursor", nxt)
    r = emu.get("/api/models?author=ONEnextgen&limit=3")
    T.check(len(r.json()) == 3 and r.h("link"), "limit below the cap sets the page size")
    r = emu.get("/api/models?author=ONEnextgen&limit=500")
    T.check(len(r.json()) == 5, "limit above the cap is capped")
    r = emu.get("/api/models?cursor=%21%21notbase64")
    T.check(r.status == 400 and "error" in r.json(), "bad cursor -> 400 JSON")

    public = sorted(m["id"] for m in fx["models"] if not m["private"])
    everything = sorted(m["id"] for m in fx["models"])
    emu.config({"page_size": 20})
    items, _, _ = follow_pages(emu, "/api/models")
    T.check(sorted(i["id"] for i in items) == public, "full anonymous listing = every public model (%d)" % len(public))
    items, _, _ = follow_pages(emu, "/api/models?limit=1000", GRANTED)
    T.check(sorted(i["id"] for i in items) == everything, "GRANTED listing also shows the private model")

    r = emu.get("/api/models?author=ONEnextgen&limit=1&search=qwen")
    first = r.json()[0]
    T.check(list(first) == ["_id", "id", "likes", "trendingScore", "private", "downloads", "tags", "pipeline_tag",
                            "library_name", "createdAt", "modelId"], "default listing fields and order", list(first))
    r = emu.get("/api/models?search=no-pipeline-emu")
    T.check(r.json() and "pipeline_tag" not in r.json()[0] and "library_name" not in r.json()[0],
            "pipeline_tag and library_name omitted when unknown")
    r = emu.get("/api/models?search=qwen2.5&expand=gated&expand[]=lastModified,sha")
    T.check(set(r.json()[0]) == {"_id", "id", "gated", "lastModified", "sha"}, "expand / expand[] / comma values",
            r.json()[0])
    r = emu.get("/api/models?expand=bogus")
    T.check(r.status == 400 and "error" in r.json() and r.h("x-error-message"), "unknown expand -> 400 JSON error")
    r = emu.get("/api/models?search=qwen2.5&full=True")
    e = r.json()[0]
    T.check(all(k in e for k in ("lastModified", "sha", "siblings", "gated", "cardData", "author")),
            "full=True adds lastModified, sha, siblings, gated, cardData", list(e))
    r = emu.get("/api/models?search=qwen2.5&cardData=1&config=true")
    T.check("cardData" in r.json()[0] and "config" in r.json()[0], "cardData=1 and config=true")

    want = sorted((m for m in fx["models"] if not m["private"]), key=lambda m: (-m["downloads"], m["id"]))
    items, _, _ = follow_pages(emu, "/api/models?sort=downloads&direction=-1")
    T.check([i["id"] for i in items] == [m["id"] for m in want], "sort=downloads is descending across pages")
    items, _, _ = follow_pages(emu, "/api/models?sort=lastModified&expand=lastModified")
    lm = [i["lastModified"] for i in items]
    T.check(lm == sorted(lm, reverse=True), "sort=lastModified descending")
    items, _, _ = follow_pages(emu, "/api/models?search=LLAMA")
    T.check(sorted(i["id"] for i in items) == sorted(m["id"] for m in fx["models"]
                                                     if "llama" in m["id"].lower() and not m["private"]),
            "search is a case-insensitive substring of the id")
    items, _, _ = follow_pages(emu, "/api/models?filter=gguf&filter=conversational")
    T.check(sorted(i["id"] for i in items) == sorted(m["id"] for m in fx["models"] if "gguf" in m["tags"]
                                                     and "conversational" in m["tags"]) and items,
            "repeated filter = AND of tags")
    items, _, _ = follow_pages(emu, "/api/models?pipeline_tag=text-to-image")
    T.check(sorted(i["id"] for i in items) == sorted(m["id"] for m in fx["models"]
                                                     if m["pipeline_tag"] == "text-to-image"), "pipeline_tag filter")
    items, _, _ = follow_pages(emu, "/api/models?gated=true&expand=gated")
    T.check(items and all(i["gated"] in ("auto", "manual") for i in items) and
            len(items) == sum(1 for m in fx["models"] if m["gated"]), "gated=true filter")
    r = emu.get("/api/models?sort=sideways")
    T.check(r.status == 400, "unknown sort -> 400")
    r = emu.head("/api/models?limit=2")
    T.check(r.status == 200 and r.body == b"" and int(r.h("content-length")) > 0, "HEAD on the listing")
    r = emu.get("/api/datasets?author=ONEnextgen")
    T.check(r.status == 200 and [d["id"] for d in r.json()] == ["ONEnextgen/emu-chat-instructions"],
            "dataset listing")


def test_model_info(emu, fx):
    m = {x["id"]: x for x in fx["models"]}
    r = emu.get("/api/models/" + QWEN)
    info = r.json()
    T.check(r.status == 200 and r.h("content-type").startswith("application/json"), "model info 200 JSON")
    need = {"_id", "id", "private", "pipeline_tag", "library_name", "tags", "downloads", "likes", "modelId", "author",
            "sha", "lastModified", "gated", "disabled", "widgetData", "model-index", "config", "cardData",
            "transformersInfo", "siblings", "spaces", "createdAt", "safetensors", "usedStorage"}
    T.check(need <= set(info), "model info default fields (§2.1)", need - set(info))
    T.check(info["sha"] == m[QWEN]["sha"] and sorted(s["rfilename"] for s in info["siblings"]) ==
            [f["path"] for f in m[QWEN]["files"]], "sha and siblings match the fixtures")
    T.check(info["usedStorage"] > m[QWEN]["total_size"], "usedStorage counts history")
    T.check("chat_template_jinja" in info["config"] and "tokenizer_config" in info["config"],
            "config carries chat_template_jinja and tokenizer_config")
    r = emu.get("/api/models/ONEnextgen/Llama-3.1-8B-Instruct-emu")
    T.check(isinstance(r.json()["config"]["tokenizer_config"].get("chat_template"), str),
            "string chat_template in config.tokenizer_config")
    r = emu.get("/api/models/ONEnextgen/Mistral-7B-Instruct-v0.3-emu")
    ct = r.json()["config"]["tokenizer_config"].get("chat_template")
    T.check(isinstance(ct, list) and [c["name"] for c in ct] == ["default", "tool_use"], "list chat_template")
    r = emu.get("/api/models/ONEnextgen/phi-3-mini-emu")
    T.check("tokenizer_config" not in r.json()["config"] and m["ONEnextgen/phi-3-mini-emu"]["has_chat_template"],
            "hidden-template model: no tokenizer_config in config, but the repo has a template")
    r = emu.get("/api/models/ONEnextgen/gemma-3-1b-it-GGUF-emu")
    T.check("chat_template" in r.json().get("gguf", {}), "GGUF model info has gguf.chat_template")
    r = emu.get("/api/models/%s?blobs=true" % QWEN)
    sib = {s["rfilename"]: s for s in r.json()["siblings"]}
    files = {f["path"]: f for f in m[QWEN]["files"]}
    ok = all(s["blobId"] == files[p]["oid"] and s["size"] == files[p]["size"] and
             (("lfs" in s) == files[p]["lfs"]) and (not files[p]["lfs"] or s["lfs"]["sha256"] == files[p]["sha256"])
             for p, s in sib.items())
    T.check(ok, "blobs=true: blobId, size, lfs.sha256/size/pointerSize")
    r = emu.get("/api/models/%s?expand=sha&expand=gguf" % QWEN)
    T.check(r.json() == {"_id": info["_id"], "id": QWEN, "sha": info["sha"]}, "model info expand: only those fields")
    r = emu.get("/api/models/%s?expand=nope" % QWEN)
    T.check(r.status == 400, "model info unknown expand -> 400")
    r = emu.get("/api/models/%s?securityStatus=True" % QWEN)
    T.check("securityRepoStatus" in r.json(), "securityStatus=True")

    v1 = m[QWEN]["refs"]["tags"]["v1.0"]
    r = emu.get("/api/models/%s/revision/v1.0" % QWEN)
    T.check(r.json()["sha"] == v1 != info["sha"] and sorted(s["rfilename"] for s in r.json()["siblings"]) ==
            [f["path"] for f in m[QWEN]["revisions"]["v1.0"]["files"]], "revision/v1.0 is the older commit")
    r = emu.get("/api/models/%s/revision/HEAD" % QWEN)
    T.check(r.json()["sha"] == info["sha"], "revision/HEAD = default branch")
    r = emu.get("/api/models/%s/revision/%s" % (QWEN, v1))
    T.check(r.json()["sha"] == v1, "revision/<40-hex commit>")
    r = emu.get("/api/models/%s/revision/refs%%2Fheads%%2Fmain" % QWEN)
    T.check(r.status == 200 and r.json()["sha"] == info["sha"], "revision refs%2Fheads%2Fmain (URL-encoded)")
    r = emu.get("/api/models/%s/revision/nope" % QWEN)
    T.check(r.status == 404 and r.h("x-error-code") == "RevisionNotFound", "bad revision -> 404 RevisionNotFound")
    r = emu.get("/api/models/ONEnextgen/old-llama-emu?expand=sha")
    T.check(r.status == 307 and r.h("location") == "/api/models/ONEnextgen/Llama-3.2-1B-Instruct-emu?expand=sha",
            "renamed repo -> 307 relative Location", r.h("location"))
    r = emu.get("/api/models/ONEnextgen/hostile-strings-emu")
    h = m["ONEnextgen/hostile-strings-emu"]
    T.check(r.json()["tags"] == h["tags"] and r.json()["cardData"]["license_name"] == h["license_name"] and
            h["license_name"].endswith("\\") and any("\n" in t for t in h["tags"]),
            "hostile strings survive JSON round trip")


def test_access(emu):
    # gated
    r = emu.get("/api/models/" + GATED_MANUAL)
    T.check(r.status == 200 and r.json()["gated"] == "manual", "gated model metadata is public")
    r = emu.get("/api/models/%s/revision/main" % GATED_MANUAL)
    T.check(r.status == 401 and r.h("x-error-code") == "GatedRepo" and "Please log in" in r.json()["error"],
            "gated /revision anonymous -> 401 GatedRepo")
    r = emu.get("/api/models/%s/revision/main" % GATED_MANUAL, UNAPPROVED)
    T.check(r.status == 403 and r.h("x-error-code") == "GatedRepo" and
            "not in the authorized list. Visit" in r.h("x-error-message"), "gated unapproved -> 403 GatedRepo")
    r = emu.get("/api/models/%s/revision/main" % GATED_MANUAL, GRANTED)
    T.check(r.status == 200, "gated GRANTED -> 200")
    r = emu.get("/%s/resolve/main/config.json" % GATED_MANUAL)
    T.check(r.status == 401 and r.h("x-error-code") == "GatedRepo" and
            r.h("content-type").startswith("text/plain"), "gated resolve anonymous -> 401 text")
    r = emu.get("/api/models/%s/tree/main" % GATED_MANUAL, UNAPPROVED)
    T.check(r.status == 403, "gated tree unapproved -> 403")
    r = emu.post("/api/models/%s/paths-info/main" % GATED_MANUAL, b"paths=config.json",
                 {"Content-Type": "application/x-www-form-urlencoded"})
    T.check(r.status == 401 and r.h("x-error-code") == "GatedRepo", "gated paths-info anonymous -> 401")
    codes = [emu.get("/api/models/%s/auth-check" % GATED_MANUAL, h).status for h in ({}, UNAPPROVED, GRANTED)]
    T.check(codes == [401, 403, 200], "auth-check anonymous/unapproved/granted", codes)
    # private
    r = emu.get("/api/models/" + PRIVATE)
    T.check(r.status == 401 and r.h("x-error-code") is None and r.h("www-authenticate") and
            r.json() == {"error": "Invalid username or password."}, "private anonymous -> 401 like a missing repo")
    r = emu.get("/api/models/" + PRIVATE, UNAPPROVED)
    T.check(r.status == 404 and r.h("x-error-code") == "RepoNotFound", "private, token without access -> 404")
    r = emu.get("/api/models/" + PRIVATE, GRANTED)
    T.check(r.status == 200 and r.json()["private"] is True, "private GRANTED -> 200")
    # unknown / invalid
    r = emu.get("/api/models/nobody/nothing")
    T.check(r.status == 401 and r.h("x-error-message") == "Invalid username or password.", "unknown repo anonymous -> 401")
    r = emu.get("/api/models/nobody/nothing", GRANTED)
    T.check(r.status == 404 and r.h("x-error-code") == "RepoNotFound" and r.json() == {"error": "Repository not found"},
            "unknown repo authenticated -> 404 RepoNotFound")
    r = emu.get("/nobody/nothing/resolve/main/x.bin")
    T.check(r.status == 401 and r.body == b"Invalid username or password.", "unknown repo resolve -> 401 text")
    r = emu.get("/api/models?limit=1", INVALID)
    T.check(r.status == 401 and r.h("x-error-message") == "Invalid username or password.", "invalid token -> 401")
    r = emu.get("/api/whoami-v2", GRANTED)
    T.check(r.status == 200 and r.json()["name"] == "emu-granted", "whoami-v2 with GRANTED")
    r = emu.get("/api/whoami-v2")
    T.check(r.status == 401, "whoami-v2 anonymous -> 401")


def test_robustness(emu):
    r = emu.get("/api/nothing/here")
    T.check(r.status == 404 and "error" in r.json(), "unknown /api route -> 404 JSON")
    r = emu.get("/api/models/%ZZ%C3/%FF?x=%G1")
    T.check(r.status in (401, 404), "bad percent-encoding handled", r)
    r = emu.get("/api/models?search=" + "a" * 30000)
    T.check(r.status == 200 and r.json() == [], "30 kB query handled")
    r = emu.get("/api/models?" + "&".join("filter=t%d" % i for i in range(3000)))
    T.check(r.status in (200, 400, 500) and r.status != 0, "thousands of query fields do not kill the server", r)
    r = emu.get("/" + "x" * 70000)
    T.check(r.status in (414, 400), "over-long request line -> 414", r)
    r = request("DELETE", emu.url + "/api/models/" + QWEN)
    T.check(r.status in (404, 405), "unsupported method -> error answer", r)
    conn = http.client.HTTPConnection("127.0.0.1", int(emu.url.rsplit(":", 1)[1]), timeout=5)
    a = request("GET", emu.url + "/api/models?limit=1", conn=conn)
    b = request("GET", emu.url + "/api/models/" + QWEN, conn=conn)
    conn.close()
    T.check(a.status == 200 and b.status == 200 and a.h("connection") != "close", "keep-alive: two requests, one connection")
    s = socket.create_connection(("127.0.0.1", int(emu.url.rsplit(":", 1)[1])))
    s.sendall(b"GARBAGE\r\n\r\n")
    s.settimeout(5)
    data = s.recv(1000)
    s.close()
    T.check(data.startswith(b"HTTP/1.1 400"), "garbage request line -> 400", data[:60])
    T.check(emu.get("/_emulator/health").status == 200, "server still alive after odd input")


def test_ratelimit(emu):
    r = emu.get("/api/models?limit=1")
    T.check(re.fullmatch(r'"api";r=\d+;t=\d+', r.h("ratelimit") or "") is not None and
            r.h("ratelimit-policy") == '"fixed window";"api";q=1000000;w=300', "RateLimit headers on API responses",
            (r.h("ratelimit"), r.h("ratelimit-policy")))
    r = emu.get("/%s/resolve/main/config.json" % QWEN)
    T.check((r.h("ratelimit") or "").startswith('"resolvers";'), "resolve uses the resolvers bucket")
    emu.config({"api_quota": 3, "window_s": 60})
    emu.post("/_emulator/reset", b"")
    codes = [emu.get("/api/models?limit=1") for _ in range(4)]
    T.check([c.status for c in codes] == [200, 200, 200, 429], "quota 3 -> 4th API request is 429",
            [c.status for c in codes])
    T.check([c.h("ratelimit").split(";")[1] for c in codes] == ["r=2", "r=1", "r=0", "r=0"] and
            codes[3].h("ratelimit-policy") == '"fixed window";"api";q=3;w=60', "remaining counts down, 429 has r=0",
            [c.h("ratelimit") for c in codes])
    T.check(emu.get("/%s/resolve/main/config.json" % QWEN).status == 307, "resolvers bucket is separate")
    emu.post("/_emulator/reset", b"")
    T.check(emu.get("/api/models?limit=1").status == 200, "reset clears the rate-limit window")
    emu.config({"api_quota": 1000000, "window_s": 300})


def test_tree(emu, fx):
    m = {x["id"]: x for x in fx["models"]}
    for rid in (QWEN, DIFFUSERS, ONNX):
        items, _, _ = follow_pages(emu, "/api/models/%s/tree/main?recursive=true" % rid)
        files = sorted((e["path"], e["size"], e["oid"], e.get("lfs", {}).get("oid")) for e in items if e["type"] == "file")
        want = sorted((f["path"], f["size"], f["oid"], f["sha256"] if f["lfs"] else None) for f in m[rid]["files"])
        T.check(files == want, "recursive tree of %s = fixture files (path, size, oid, lfs.oid)" % rid)
        T.check(not any("xetHash" in e for e in items), "no xetHash in %s tree" % rid)
    items, _, _ = follow_pages(emu, "/api/models/%s/tree/main?recursive=true" % ONNX)
    dirs = sorted(e["path"] for e in items if e["type"] == "directory")
    T.check(dirs == ["1_Pooling", "onnx", "onnx/quantized"] and
            all(re.fullmatch(r"[0-9a-f]{40}", e["oid"]) and e["size"] == 0 for e in items if e["type"] == "directory"),
            "recursive tree lists directories with a tree oid", dirs)
    r = emu.get("/api/models/%s/tree/main" % ONNX)
    T.check(sorted(e["path"] for e in r.json() if e["type"] == "directory") == ["1_Pooling", "onnx"] and
            not any("/" in e["path"] for e in r.json()), "non-recursive root tree")
    a = emu.get("/api/models/%s/tree/main/onnx/quantized" % ONNX).json()
    b = emu.get("/api/models/%s/tree/main/onnx%%2Fquantized" % ONNX).json()
    c = emu.get("/api/models/%s/tree/refs%%2Fheads%%2Fmain/onnx%%2Fquantized?recursive=False" % ONNX).json()
    T.check(a == b == c and [e["path"] for e in a] == ["onnx/quantized/model_q4.onnx"],
            "sub-path with / or %2F, rev with %2F; entries keep full paths", (a, b, c))
    r = emu.get("/api/models/%s/tree/main/additional_chat_templates?recursive=False&expand=False" % QWEN)
    T.check(r.status == 404 and r.h("x-error-code") == "EntryNotFound", "unknown tree path -> 404 EntryNotFound")
    r = emu.get("/api/models/%s/tree/nope" % QWEN)
    T.check(r.status == 404 and r.h("x-error-code") == "RevisionNotFound", "tree with bad revision -> 404")
    emu.config({"tree_page_size": 4})
    items, pages, links = follow_pages(emu, "/api/models/%s/tree/main?recursive=1" % DIFFUSERS)
    T.check(pages == -(-len(items) // 4) > 1 and LINK_RE.fullmatch(links[0]) and links[-1] is None,
            "tree pagination with Link (%d pages)" % pages)
    r = emu.get("/api/models/%s/tree/main?recursive=1&limit=2" % DIFFUSERS)
    T.check(len(r.json()) == 2, "tree limit")
    emu.config({"tree_page_size": 50})
    r = emu.get("/api/models/%s/tree/main?expand=true" % QWEN)
    lc = {e["path"]: e["lastCommit"]["id"] for e in r.json()}
    T.check(lc["README.md"] == m[QWEN]["refs"]["tags"]["v1.0"] and lc["chat_template.jinja"] == m[QWEN]["sha"] and
            all("securityFileStatus" in e for e in r.json() if e["type"] == "file"),
            "expand=true: lastCommit is where the file last changed, securityFileStatus")
    # paths-info, form and JSON bodies
    r = emu.post("/api/models/%s/paths-info/main" % ONNX, b"paths=onnx%2Fmodel.onnx&paths=missing.txt&paths=onnx&expand=false",
                 {"Content-Type": "application/x-www-form-urlencoded"})
    got = {e["path"]: e for e in r.json()}
    f = {x["path"]: x for x in m[ONNX]["files"]}["onnx/model.onnx"]
    T.check(set(got) == {"onnx/model.onnx", "onnx"} and got["onnx/model.onnx"]["lfs"]["oid"] == f["sha256"] and
            got["onnx"]["type"] == "directory", "paths-info (form): files and dirs, missing ignored", list(got))
    r = emu.post("/api/models/%s/paths-info/main" % QWEN, json.dumps({"paths": ["config.json"], "expand": True}).encode(),
                 {"Content-Type": "application/json"})
    T.check(r.status == 200 and r.json()[0]["path"] == "config.json" and "lastCommit" in r.json()[0],
            "paths-info (JSON body, expand)")
    r = emu.get("/api/models/%s/refs" % QWEN)
    T.check(r.json()["branches"] == [{"name": "main", "ref": "refs/heads/main", "targetCommit": m[QWEN]["sha"]}] and
            r.json()["tags"][0]["targetCommit"] == m[QWEN]["refs"]["tags"]["v1.0"], "refs")


def _files(fx, rid):
    return {f["path"]: f for f in next(x for x in fx["models"] if x["id"] == rid)["files"]}


def test_resolve(emu, fx):
    files = _files(fx, QWEN)
    sha = next(x for x in fx["models"] if x["id"] == QWEN)["sha"]
    r = emu.get("/%s/resolve/%s/config.json" % (QWEN, sha))
    T.check(r.status == 200 and r.h("etag") == '"%s"' % files["config.json"]["oid"] and
            r.h("x-repo-commit") == sha and r.h("accept-ranges") == "bytes" and
            int(r.h("content-length")) == files["config.json"]["size"] and
            hashlib.sha256(r.body).hexdigest() == files["config.json"]["sha256"], "resolve at a commit: 200 + headers")
    r = emu.head("/%s/resolve/main/config.json" % QWEN)
    loc = r.h("location") or ""
    T.check(r.status == 307 and loc.startswith("/api/resolve-cache/models/%s/%s/config.json?" % (QWEN, sha)),
            "resolve at a branch: 307 relative to resolve-cache", loc)
    r2 = emu.head(loc)
    r3 = emu.get(loc.split("?")[0])   # huggingface_hub re-issues with the path only
    T.check(r2.status == 200 and r2.h("x-repo-commit") == sha and r2.h("etag") == '"%s"' % files["config.json"]["oid"]
            and r3.status == 200 and hashlib.sha256(r3.body).hexdigest() == files["config.json"]["sha256"],
            "resolve-cache answers 200 with ETag and X-Repo-Commit")
    r = emu.get("/api/resolve-cache/models/%s/main/config.json" % QWEN)
    T.check(r.status == 400, "resolve-cache with a branch name -> 400")
    lfs = files["model-00001-of-00002.safetensors"]
    r = emu.head("/%s/resolve/main/model-00001-of-00002.safetensors" % QWEN)
    loc = r.h("location") or ""
    T.check(r.status == 302 and loc.startswith(emu.cdn + "/lfs/" + lfs["sha256"] + "?") and
            r.h("x-linked-etag") == '"%s"' % lfs["sha256"] and r.h("x-linked-size") == str(lfs["size"]) and
            r.h("x-repo-commit") == sha and r.h("etag") is None, "LFS: 302 to the CDN with X-Linked-*", dict(r.headers))
    c = request("GET", loc)
    T.check(c.status == 200 and len(c.body) == lfs["size"] and hashlib.sha256(c.body).hexdigest() == lfs["sha256"],
            "CDN serves the LFS bytes (sha256 matches lfs.oid)")
    c = request("GET", loc, {"Range": "bytes=100-199"})
    T.check(c.status == 206 and c.h("content-range") == "bytes 100-199/%d" % lfs["size"] and len(c.body) == 100,
            "CDN Range -> 206 + Content-Range")
    c = request("GET", loc, {"Range": "bytes=0-0"})
    T.check(c.status == 206 and c.h("content-range") == "bytes 0-0/%d" % lfs["size"], "CDN bytes=0-0 (hf-hub probe)")
    c = request("GET", loc, {"Range": "bytes=%d-" % (lfs["size"] + 5)})
    T.check(c.status == 416 and c.h("content-range") == "bytes */%d" % lfs["size"], "CDN unsatisfiable -> 416")
    c = request("GET", loc, {"Authorization": "Bearer " + TOKEN_GRANTED})
    T.check(c.status == 400 and b"<Code>InvalidArgument</Code>" in c.body and b"Only one auth mechanism" in c.body,
            "CDN refuses an Authorization header (400 InvalidArgument)")
    bad = re.sub(r"sig=[0-9a-f]+", "sig=" + "0" * 64, loc)
    c = request("GET", bad)
    T.check(c.status == 403 and b"SignatureDoesNotMatch" in c.body, "CDN bad signature -> 403")
    emu.config({"signed_url_ttl_s": 0})
    time.sleep(0.01)
    loc0 = emu.head("/%s/resolve/main/model-00001-of-00002.safetensors" % QWEN).h("location")
    time.sleep(1.05)
    c = request("GET", loc0)
    T.check(c.status == 403 and b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in c.body,
            "CDN expired URL -> 403 AccessDenied XML", c)
    emu.config({"signed_url_ttl_s": 3600})
    u = "/%s/resolve/%s/config.json" % (QWEN, sha)
    size = files["config.json"]["size"]
    r = emu.get(u, {"Range": "bytes=-5"})
    full = emu.get(u).body
    T.check(r.status == 206 and r.body == full[-5:] and r.h("content-range") == "bytes %d-%d/%d" % (size - 5, size - 1, size),
            "hub Range bytes=-5 -> 206")
    r = emu.get(u, {"Range": "bytes=10-"})
    T.check(r.status == 206 and r.body == full[10:], "hub Range bytes=10- -> 206")
    r = emu.get(u, {"Range": "bytes=99999-"})
    T.check(r.status == 416, "hub unsatisfiable range -> 416")
    r = emu.get(u, {"If-None-Match": '"%s"' % files["config.json"]["oid"]})
    T.check(r.status == 304 and r.body == b"", "If-None-Match -> 304")
    r = emu.get("/%s/resolve/main/nope.bin" % QWEN)
    T.check(r.status == 404 and r.h("x-error-code") == "EntryNotFound" and r.h("x-repo-commit") == sha and
            r.body == b"Entry not found", "missing file -> 404 EntryNotFound + X-Repo-Commit")
    r = emu.get("/%s/resolve/v9.9/config.json" % QWEN)
    T.check(r.status == 404 and r.h("x-error-code") == "RevisionNotFound", "resolve bad revision -> RevisionNotFound")
    old = next(x for x in fx["models"] if x["id"] == QWEN)["revisions"]["v1.0"]
    r = emu.get("/%s/resolve/%s/tokenizer_config.json" % (QWEN, old["sha"]))
    want = {f["path"]: f for f in old["files"]}["tokenizer_config.json"]
    T.check(r.status == 200 and hashlib.sha256(r.body).hexdigest() == want["sha256"] and b"chat_template" in r.body,
            "older commit serves its own file versions")
    r = emu.get("/%s/raw/main/model-00001-of-00002.safetensors" % QWEN)
    T.check(r.status == 200 and b"oid sha256:" + lfs["sha256"].encode() in r.body, "/raw/ serves the LFS pointer")
    r = emu.get("/ONEnextgen/old-llama-emu/resolve/main/config.json")
    T.check(r.status == 307 and r.h("location") == "/ONEnextgen/Llama-3.2-1B-Instruct-emu/resolve/main/config.json",
            "renamed repo resolve -> 307 relative")
    ds = next(d for d in fx["datasets"] if d["id"] == "ONEnextgen/emu-chat-instructions")
    dfiles = {f["path"]: f for f in ds["files"]}
    r = emu.get("/datasets/%s/resolve/main/data/test.jsonl" % ds["id"])
    r2 = emu.get(r.h("location") or "/x")
    T.check(r.status == 307 and r2.status == 200 and hashlib.sha256(r2.body).hexdigest() == dfiles["data/test.jsonl"]["sha256"],
            "dataset resolve (307 -> resolve-cache -> 200)")
    r = emu.head("/datasets/%s/resolve/main/data/train-00000-of-00002.parquet" % ds["id"])
    c = request("GET", r.h("location") or emu.cdn)
    T.check(r.status == 302 and hashlib.sha256(c.body).hexdigest() == dfiles["data/train-00000-of-00002.parquet"]["sha256"],
            "dataset LFS file via CDN")
    items, _, _ = follow_pages(emu, "/api/datasets/%s/tree/main?recursive=true" % ds["id"])
    T.check(sorted(e["path"] for e in items if e["type"] == "file") == sorted(dfiles), "dataset tree")


def test_faults(emu, fx):
    sha = next(x for x in fx["models"] if x["id"] == QWEN)["sha"]
    lfs = _files(fx, QWEN)["model-00001-of-00002.safetensors"]
    emu.config({"faults": [{"route": "list_models", "kind": "503", "count": 2}]})
    pend = emu.get("/_emulator/config").json()["faults"]
    T.check(pend == [{"route": "list_models", "kind": "503", "count": 2}], "GET /_emulator/config shows pending faults")
    codes = [emu.get("/api/models?limit=1") for _ in range(3)]
    T.check([c.status for c in codes] == [503, 503, 200] and codes[0].json().get("error"),
            "503 fault x2 (JSON error), then normal", [c.status for c in codes])
    T.check(emu.get("/_emulator/config").json()["faults"] == [], "consumed faults disappear")
    emu.config({"faults": [{"route": "model_info", "kind": "429", "retry_after": 7, "ratelimit_reset": 9}]})
    r = emu.get("/api/models/" + QWEN)
    T.check(r.status == 429 and r.h("retry-after") == "7" and r.h("ratelimit") == '"api";r=0;t=9',
            "429 fault with Retry-After and RateLimit r=0;t=9", dict(r.headers))
    emu.config({"faults": [{"route": "model_info", "kind": "500"}, {"route": "model_info", "kind": "502"}]})
    T.check([emu.get("/api/models/" + QWEN).status for _ in range(3)] == [500, 502, 200], "500 then 502 faults")
    emu.config({"faults": [{"route": "tree", "kind": "drop"}]})
    r = emu.get("/api/models/%s/tree/main" % QWEN)
    T.check(r.status == 0 and r.error, "drop: connection closed without a response", r)
    T.check(emu.get("/api/models/%s/tree/main" % QWEN).status == 200, "after drop, next request is fine")
    emu.config({"faults": [{"route": "model_info", "kind": "stall", "stall_s": 0.4}]})
    t0 = time.monotonic()
    r = emu.get("/api/models/" + QWEN)
    T.check(r.status == 200 and time.monotonic() - t0 >= 0.4, "stall before headers delays the answer")
    loc = emu.head("/%s/resolve/main/model-00001-of-00002.safetensors" % QWEN).h("location")
    emu.config({"faults": [{"route": "cdn", "kind": "stall", "stall_s": 0.4, "after_bytes": 1000}]})
    t0 = time.monotonic()
    c = request("GET", loc)
    T.check(c.status == 200 and time.monotonic() - t0 >= 0.4 and hashlib.sha256(c.body).hexdigest() == lfs["sha256"],
            "stall after 1000 body bytes, then the rest arrives intact")
    emu.config({"faults": [{"route": "cdn", "kind": "drop", "after_bytes": 5000}]})
    c = request("GET", loc)
    T.check(c.error is not None and len(c.body) == 5000, "drop after 5000 bytes (connection reset mid-body)", c.error)
    emu.config({"faults": [{"route": "cdn", "kind": "truncate", "after_bytes": 7000}]})
    c = request("GET", loc)
    T.check(c.error == "incomplete" and len(c.body) == 7000, "truncate: full Content-Length, 7000 bytes sent")
    emu.config({"faults": [{"route": "cdn", "kind": "corrupt"}]})
    c = request("GET", loc)
    c2 = request("GET", loc)
    T.check(c.status == 200 and len(c.body) == lfs["size"] and hashlib.sha256(c.body).hexdigest() != lfs["sha256"] and
            hashlib.sha256(c2.body).hexdigest() == lfs["sha256"], "corrupt: same length, flipped bytes, once")
    emu.config({"faults": [{"route": "cdn", "kind": "expire"}]})
    c = request("GET", loc)
    T.check(c.status == 403 and b"Request has expired" in c.body, "expire fault: CDN 403 S3 XML")
    emu.config({"faults": [{"route": "resolve", "kind": "truncate", "after_bytes": 10}]})
    r = emu.get("/%s/resolve/%s/config.json" % (QWEN, sha))
    T.check(r.error == "incomplete" and len(r.body) == 10, "truncate on a hub file download")
    emu.config({"faults": [{"route": "resolve", "kind": "503", "match": "tokenizer"}]})
    a = emu.get("/%s/resolve/%s/config.json" % (QWEN, sha)).status
    b = emu.get("/%s/resolve/%s/tokenizer.json" % (QWEN, sha)).status
    T.check((a, b) == (200, 503), "fault match restricts to paths containing the substring", (a, b))
    emu.config({"faults": [{"route": "any", "kind": "500", "count": 1}]})
    T.check(emu.get("/api/models/%s/refs" % QWEN).status == 500, "route any")
    # a hostile Hub: redirects to other schemes, error texts with control characters, a revision
    # answered with another sha, files longer than the tree says, a crawling server, cut ranges
    emu.config({"faults": [{"route": "resolve", "kind": "redirect", "location": "file:///etc/passwd"}]})
    r = emu.get("/%s/resolve/%s/config.json" % (QWEN, sha))
    T.check(r.status == 302 and r.h("location") == "file:///etc/passwd", "redirect fault: Location as given")
    emu.config({"faults": [{"route": "resolve", "kind": "error", "status": 403, "error_code": "Evil",
                            "message": "bad\x1b[31m red\x07"}]})
    r = emu.get("/%s/resolve/%s/config.json" % (QWEN, sha))
    T.check(r.status == 403 and r.h("x-error-code") == "Evil" and r.h("x-error-message") == "bad\x1b[31m red\x07"
            and r.json() == {"error": "bad\x1b[31m red\x07"}, "error fault: status, X-Error-Code, raw "
            "X-Error-Message and JSON error", r)
    other = "f" * 40
    emu.config({"faults": [{"route": "model_info", "kind": "rewrite", "find": sha, "replace": other}]})
    r = emu.get("/api/models/%s/revision/%s" % (QWEN, sha))
    T.check(r.status == 200 and r.json()["sha"] == other, "rewrite fault: the revision answers another sha")
    T.check(emu.get("/api/models/%s/revision/%s" % (QWEN, sha)).json()["sha"] == sha, "rewrite: once")
    emu.config({"faults": [{"route": "resolve", "kind": "oversize", "extra_bytes": 10}]})
    r = emu.get("/%s/resolve/%s/config.json" % (QWEN, sha))
    size = _files(fx, QWEN)["config.json"]["size"]
    T.check(r.status == 200 and len(r.body) == size + 10 and r.error is None,
            "oversize fault: 10 bytes more than the file has, Content-Length counts them", (len(r.body), size))
    emu.config({"faults": [{"route": "cdn", "kind": "oversize", "extra_bytes": 5}]})
    c = request("GET", loc, {"Range": "bytes=0-99"})
    T.check(c.status == 206 and len(c.body) == 105 and c.h("content-range") == "bytes 0-104/%d" % (lfs["size"] + 5),
            "oversize on a range: Content-Range claims the bigger file", c.h("content-range"))
    emu.config({"faults": [{"route": "cdn", "kind": "trickle", "after_bytes": 100, "trickle_s": 0.3}]})
    t0 = time.monotonic()
    c = request("GET", loc, {"Range": "bytes=0-102"})
    T.check(c.status == 206 and len(c.body) == 103 and time.monotonic() - t0 >= 0.85,
            "trickle: 100 bytes, then one byte every 0.3 s", (len(c.body), time.monotonic() - t0))
    emu.config({"faults": [{"route": "cdn", "kind": "drop", "after_fraction": 0.34, "count": 2}]})
    c = request("GET", loc, {"Range": "bytes=0-29999"})
    c2 = request("GET", loc, {"Range": "bytes=10000-10001"})
    T.check(c.error is not None and len(c.body) == 10200 and len(c2.body) == 1,
            "drop after_fraction: each range is cut after that part of it (at least one byte)",
            (len(c.body), len(c2.body)))
    r = emu.post("/_emulator/config", b'{"faults":[{"route":"x","kind":"500"}]}', {"Content-Type": "application/json"})
    T.check(r.status == 400, "invalid fault spec -> 400")
    emu.config({"faults": []})


def test_latency_and_bandwidth(emu, fx):
    emu.config({"latency_ms": 200})
    t0 = time.monotonic()
    emu.get("/api/models?limit=1")
    one = time.monotonic() - t0
    results = []
    t0 = time.monotonic()
    th = [threading.Thread(target=lambda: results.append(emu.get("/api/models?limit=1").status)) for _ in range(4)]
    [t.start() for t in th]
    [t.join() for t in th]
    four = time.monotonic() - t0
    emu.config({"latency_ms": 0})
    T.check(one >= 0.2 and four < 0.6 and results == [200] * 4, "latency 200 ms, concurrent requests overlap "
            "(1: %.2fs, 4 parallel: %.2fs)" % (one, four))
    loc = emu.head("/%s/resolve/main/model-00001-of-00002.safetensors" % QWEN).h("location")
    emu.config({"cdn_rate_per_conn": 500_000})
    t0 = time.monotonic()
    c = request("GET", loc)
    dt = time.monotonic() - t0
    emu.config({"cdn_rate_per_conn": 0})
    # ~294 kB at 500 kB/s with a 25 kB burst: about 0.54 s.
    T.check(c.status == 200 and 0.35 <= dt < 3, "cdn_rate_per_conn 500 kB/s slows a %d-byte download (%.2fs)"
            % (len(c.body), dt))


def test_collections(emu, fx):
    coll = fx["collections"][0]
    r = emu.get("/api/collections/" + coll["slug"])
    c = r.json()
    T.check(r.status == 200 and all(k in c for k in ("slug", "title", "owner", "items", "lastUpdated", "position",
                                                     "private", "theme", "upvotes", "description")),
            "collection has the keys huggingface_hub requires")
    T.check({i["type"] for i in c["items"]} == {"model", "dataset", "space", "paper", "collection"} and
            all({"_id", "id", "type", "position"} <= set(i) for i in c["items"]),
            "collection items of every type, each with _id/id/type/position")
    T.check([i["id"] for i in c["items"] if i["type"] == "model"] == coll["model_ids"], "collection model ids")
    nested = next(i for i in c["items"] if i["type"] == "collection")
    T.check(emu.get("/api/collections/" + nested["slug"]).status == 200, "nested collection item has a usable slug")
    both = set(fx["collections"][0]["model_ids"]) & set(fx["collections"][1]["model_ids"])
    T.check(QWEN in both, "one model is in both collections")
    r = emu.get("/api/collections/ONEnextgen/nothing-0123456789abcdef01234567")
    T.check(r.status == 404 and r.json() == {"error": "Collection not found"}, "unknown collection -> 404")
    r = emu.get("/api/collections?owner=ONEnextgen")
    T.check(r.status == 200 and len(r.json()) == 1 and len(r.json()[0]["items"]) == 4, "collections listing (4 items max)")


def test_overview(emu, fx):
    """/api/organizations|users/{name}/overview: 200 for a known name of that kind, else 404."""
    r = emu.get("/api/organizations/ONEnextgen/overview")
    T.check(r.status == 200 and r.json()["name"] == "ONEnextgen" and r.json()["type"] == "org" and
            r.json()["numModels"] == sum(1 for m in fx["models"] if m["author"] == "ONEnextgen" and not m["private"]),
            "organisation overview: name, type, model count")
    r = emu.get("/api/organizations/quiet-labs-emu/overview")
    T.check(r.status == 200 and r.json()["numModels"] == 0 and "quiet-labs-emu" in fx["organizations"] and
            not any(m["author"] == "quiet-labs-emu" for m in fx["models"]),
            "quiet-labs-emu: an organisation without models")
    user = fx["users"][0]
    r = emu.get("/api/users/%s/overview" % user)
    T.check(r.status == 200 and r.json()["user"] == user and r.json()["type"] == "user", "user overview")
    for path, what in (("/api/organizations/%s/overview" % user, "a user is not an organisation"),
                       ("/api/users/ONEnextgen/overview", "an organisation is not a user"),
                       ("/api/organizations/ONEnextegn/overview", "unknown organisation"),
                       ("/api/users/nobody-emu/overview", "unknown user"),
                       ("/api/organizations/onenextgen/overview", "names are case-sensitive")):
        r = emu.get(path)
        T.check(r.status == 404 and "not found" in r.json()["error"], "%s -> 404" % what, r.status)
    emu.post("/_emulator/reset", b"")
    emu.get("/api/users/%s/overview" % user)
    T.check(emu.get("/_emulator/stats").json()["by_route"].get("overview") == 1, "stats route 'overview'")


def test_stats(emu):
    emu.post("/_emulator/reset", b"")
    emu.get("/api/models?limit=1")
    emu.get("/api/models/" + QWEN, GRANTED)
    emu.get("/api/models/%s/tree/main" % QWEN, UNAPPROVED)
    emu.get("/api/models/x/y", INVALID)
    loc = emu.head("/%s/resolve/main/model-00001-of-00002.safetensors" % QWEN).h("location")
    request("GET", loc, {"Range": "bytes=0-0"})
    request("GET", loc, {"Authorization": "Bearer " + TOKEN_GRANTED})
    emu.head("/%s/resolve/main/config.json" % QWEN)
    r = emu.get("/_emulator/stats")
    s = r.json()
    br = s["by_route"]
    T.check(s["total"] == 8 and br["list_models"] == 1 and br["model_info"] == 2 and br["tree"] == 1 and
            br["resolve"] == 2 and br["cdn"] == 2 and sum(br.values()) == 8, "stats count by route", br)
    auths = [q["authorization"] for q in s["requests"]]
    T.check(auths == ["none", "granted", "unapproved", "invalid", "none", "none", "granted", "none"],
            "stats record authorization kinds (CDN: whether a token reached it)", auths)
    cdn = [q for q in s["requests"] if q["listener"] == "cdn"]
    T.check(cdn[0]["range"] == "bytes=0-0" and cdn[0]["status"] == 206 and cdn[1]["status"] == 400,
            "stats record range and status")
    T.check(TOKEN_GRANTED not in r.body.decode() and TOKEN_UNAPPROVED not in r.body.decode(),
            "stats never contain a raw token")
    T.check(set(s["requests"][0]) >= {"listener", "method", "path", "query", "route", "status", "authorization"},
            "request record fields")
    emu.post("/_emulator/reset", b"")
    T.check(emu.get("/_emulator/stats").json()["total"] == 0, "reset clears stats")


def test_synthetic():
    emu = Emulator("--synthetic-models", "12", "--page-size", "10")
    try:
        items, pages, _ = follow_pages(emu, "/api/models?author=bench-org&expand=sha")
        synth = [i for i in items if i["id"].startswith("bench-org/synthetic-model-")]
        T.check(len(synth) == 12 and pages == 2, "--synthetic-models 12 adds 12 bench-org models", (len(synth), pages))
        chat = 0
        for i in synth:
            cfg = emu.get("/api/models/%s?expand=config" % i["id"]).json()["config"]
            chat += "chat_template" in cfg.get("tokenizer_config", {})
        T.check(chat == 6, "half of the synthetic models have a chat template", chat)
        r = emu.get("/api/models/bench-org/big-model?expand=siblings&expand=usedStorage")
        T.check(r.status == 200 and len(r.json()["siblings"]) >= 5, "bench-org/big-model is listed")
    finally:
        emu.stop()


def main():
    t_start = time.monotonic()
    fx = dump_fixtures()
    T.check(len(fx["models"]) >= 40 and len({m["author"] for m in fx["models"]}) >= 3 and
            any(m["author"] == "ONEnextgen" for m in fx["models"]), "fixture set: >= 40 models, >= 3 orgs, ONEnextgen")
    T.check({m["gated"] for m in fx["models"]} >= {"auto", "manual", False} and any(m["private"] for m in fx["models"]),
            "fixture set: gated auto/manual and a private model")
    big = next(m for m in fx["models"] if m["id"] == "bench-org/big-model")
    T.check(big["total_size"] >= 2 * 1024 ** 3, "bench-org/big-model is >= 2 GiB")
    emu = Emulator()
    try:
        for fn, args in ((test_startup, (emu,)), (test_listing, (emu, fx)), (test_model_info, (emu, fx)),
                         (test_access, (emu,)), (test_robustness, (emu,)), (test_ratelimit, (emu,)),
                         (test_tree, (emu, fx)), (test_resolve, (emu, fx)), (test_faults, (emu, fx)),
                         (test_latency_and_bandwidth, (emu, fx)), (test_collections, (emu, fx)),
                         (test_overview, (emu, fx)), (test_stats, (emu,))):
            try:
                fn(*args)
            except Exception as e:  # a crash in one group is one failure, the others still run
                T.check(False, "%s ran without crashing" % fn.__name__, "%s: %s" % (type(e).__name__, e))
        T.check(emu.proc.poll() is None, "emulator still running at the end")
    finally:
        emu.stop()
    try:
        test_synthetic()
    except Exception as e:
        T.check(False, "test_synthetic ran without crashing", "%s: %s" % (type(e).__name__, e))
    print("# %.1fs" % (time.monotonic() - t_start))
    print("%d passed, %d failed" % (T.passed, T.failed))
    return 1 if T.failed else 0


if __name__ == "__main__":
    sys.exit(main())
