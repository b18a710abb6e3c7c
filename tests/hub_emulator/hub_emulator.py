#!/usr/bin/env python3
"""Hugging Face Hub emulator for the hfhub tests: a real HTTP/1.1 server on loopback.

Two listeners: the Hub (API, /resolve, /api/resolve-cache, /_emulator control routes) and a
"CDN" that serves LFS bytes from signed URLs, as huggingface.co does. Behaviour follows
shared/notes/hub-api.md (beside the repository); knobs (latency, page sizes, quotas, bandwidth) and faults can be
changed at run time through /_emulator/config. Standard library only.
"""

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import views  # noqa: E402
from content import FileSpec, READ_CHUNK  # noqa: E402
from fixtures import (TOKEN_GRANTED, TOKEN_UNAPPROVED, USERS, FixtureSet, classify_token,  # noqa: E402
                      namespace_kind, object_id)
from state import ConfigError, State, TokenBucket  # noqa: E402

MAX_BODY = 8 * 1024 * 1024
NOT_FOUND_MSG = "Sorry, we can't find the page you are looking for."
INVALID_CREDS = "Invalid username or password."
REPO_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
TEXT_SUFFIXES = (".json", ".md", ".txt", ".jinja", ".jsonl", ".gitattributes", ".py", ".yaml", ".yml")


def header_safe(s):
    """Header values must stay one ASCII line whatever a client put in the URL."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in str(s))


def truthy(v):
    return v is not None and v.strip().lower() in ("1", "true", "yes")


class Response:
    """What a route returns: status, headers, and a body of bytes or a byte range of a file."""

    def __init__(self, status, headers=None, body=b"", file=None, start=0, end=0):
        self.status = status
        self.headers = list(headers or [])
        self.body = body
        self.file = file
        self.start = start
        self.end = end
        self.drop = False  # close the connection without answering

    @property
    def length(self):
        return self.end - self.start if self.file is not None else len(self.body)

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def set_header(self, name, value):
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))


def json_response(status, obj, headers=None):
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(status, [("Content-Type", "application/json; charset=utf-8")] + list(headers or []), body)


def error_response(status, message, code=None, api=True, headers=None):
    """Hub error: status + X-Error-Code + X-Error-Message; JSON body on /api, text elsewhere."""
    h = list(headers or [])
    if code:
        h.append(("X-Error-Code", code))
    h.append(("X-Error-Message", header_safe(message)))
    if api:
        return json_response(status, {"error": message}, h)
    return Response(status, [("Content-Type", "text/plain; charset=utf-8")] + h, message.encode())


def s3_error(status, code, message, extra=""):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>%s'
            '<RequestId>%s</RequestId><HostId>hub-emulator-cdn</HostId></Error>'
            % (code, message, extra, os.urandom(8).hex().upper())).encode()
    return Response(status, [("Content-Type", "application/xml")], body)


def parse_range(value, size):
    """Single byte range -> (start, end_exclusive); None = ignore header; 'unsatisfiable'."""
    if not value:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", value)
    if not m or (m.group(1) == "" and m.group(2) == ""):
        return None  # malformed or multi-range: serve the whole file, as RFC 9110 allows
    a, b = m.group(1), m.group(2)
    if a == "":
        n = int(b)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size
    start = int(a)
    end = size - 1 if b == "" else min(int(b), size - 1)
    if b != "" and int(b) < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, end + 1


def encode_cursor(offset):
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_cursor(value):
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_" if "-" in value or "_" in value else None)
        off = int(json.loads(raw)["offset"])
        if off < 0:
            raise ValueError
        return off
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        return None


class Query:
    """Query string with repeated keys kept in order."""

    def __init__(self, qs):
        self.pairs = urllib.parse.parse_qsl(qs, keep_blank_values=True, errors="replace", max_num_fields=2000)

    def all(self, *keys):
        return [v for k, v in self.pairs if k in keys]

    def first(self, key, default=None):
        for k, v in self.pairs:
            if k == key:
                return v
        return default

    def without(self, *keys):
        return [(k, v) for k, v in self.pairs if k not in keys]


class Ctx:
    """One request as the route functions see it."""

    def __init__(self, handler, method, raw_path, query, body, auth):
        self.handler = handler
        self.method = method
        self.raw_path = raw_path
        self.query_string = query
        self.body = body
        self.auth = auth   # none | granted | unapproved | invalid
        self._q = None

    @property
    def q(self):
        if self._q is None:
            self._q = Query(self.query_string)
        return self._q

    def header(self, name):
        return self.handler.headers.get(name)

    def base_url(self):
        """Absolute base for Link headers: the Host the client used, if it looks like one."""
        host = self.header("Host") or ""
        if not re.fullmatch(r"[A-Za-z0-9.\-:\[\]]{1,255}", host):
            host = self.handler.server.app.hub_hostport
        return "http://" + host


class App:
    """Routes and behaviour shared by both listeners."""

    def __init__(self, args, fixtures):
        self.args = args
        self.fixtures = fixtures
        self.state = State(args)
        self.quiet = args.quiet
        self.secret = os.urandom(32)  # CDN URL signing key, new at every start
        self.cdn_objects = {}
        self.cdn_lock = threading.Lock()
        self.hub_hostport = None
        self.cdn_base = None
        self.req_counter = 0
        self._trees = {}

    # -- helpers ------------------------------------------------------------------------
    def request_id(self):
        with self.cdn_lock:
            self.req_counter += 1
            n = self.req_counter
        return "Root=1-%08x-%016x%08x" % (int(time.time()), os.getpid(), n)

    def tree_of(self, commit):
        t = self._trees.get(id(commit))
        if t is None:
            t = self._trees[id(commit)] = views.Tree(commit)
        return t

    def sign_cdn_url(self, f):
        sha = f.sha256
        with self.cdn_lock:
            self.cdn_objects[sha] = f
        expires = int(time.time()) + self.state.get("signed_url_ttl_s")
        sig = hmac.new(self.secret, ("%s:%d" % (sha, expires)).encode(), hashlib.sha256).hexdigest()
        return "%s/lfs/%s?expires=%d&sig=%s" % (self.cdn_base, sha, expires, sig)

    def visible(self, repo, auth):
        return repo is not None and (not repo.private or auth == "granted")

    def not_found(self, ctx, api=True):
        """Unknown or invisible repo: 401 anonymous, 404 RepoNotFound authenticated (hub-api.md §6.2)."""
        if ctx.auth == "none":
            return error_response(401, INVALID_CREDS, api=api, headers=[
                ("WWW-Authenticate", 'Bearer realm="Authentication required", charset="UTF-8"')])
        return error_response(404, "Repository not found", "RepoNotFound", api=api)

    def check_repo(self, ctx, repo_type, repo_id, files, api=True):
        """(repo, None) when accessible; (None, error Response) otherwise."""
        repo = self.fixtures.repo(repo_type, repo_id) if repo_type in ("model", "dataset") else None
        if not self.visible(repo, ctx.auth):
            return None, self.not_found(ctx, api)
        if files and repo.gated and ctx.auth != "granted":
            kind = "dataset" if repo_type == "dataset" else "model"
            if ctx.auth == "none":
                msg = ("Access to %s %s is restricted. You must have access to it and be authenticated to access it. "
                       "Please log in." % (kind, repo.id))
                return None, error_response(401, msg, "GatedRepo", api=api)
            msg = ("Access to %s %s is restricted and you are not in the authorized list. Visit "
                   "https://huggingface.co/%s%s to ask for access." % (
                       kind, repo.id, "datasets/" if kind == "dataset" else "", repo.id))
            return None, error_response(403, msg, "GatedRepo", api=api)
        return repo, None

    def rev_not_found(self, rev, api=True):
        return error_response(404, "Invalid rev id: %s" % rev, "RevisionNotFound", api=api)

    # -- routing ------------------------------------------------------------------------
    def route(self, listener, method, raw_path):
        """(route name, function, kwargs). Never raises on odd input."""
        if listener == "cdn":
            return "cdn", self.cdn_get, {}
        raw = raw_path.split("/")[1:]
        segs = [urllib.parse.unquote(s, errors="replace") for s in raw]
        n = len(segs)
        if n >= 1 and segs[0] == "api":
            if n == 2 and segs[1] in ("models", "datasets") and method in ("GET", "HEAD"):
                return ("list_models" if segs[1] == "models" else "other"), self.list_repos, \
                    {"repo_type": segs[1][:-1]}
            if n == 2 and segs[1] == "whoami-v2":
                return "other", self.whoami, {}
            if n == 2 and segs[1] == "collections" and method in ("GET", "HEAD"):
                return "other", self.list_collections, {}
            if n == 4 and segs[1] in ("organizations", "users") and segs[3] == "overview" \
                    and method in ("GET", "HEAD"):
                return "overview", self.overview, {"kind": "org" if segs[1] == "organizations" else "user",
                                                   "name": segs[2]}
            if n == 4 and segs[1] == "collections" and method in ("GET", "HEAD"):
                return "collection", self.get_collection, {"ns": segs[2], "slug": segs[3]}
            if n >= 7 and segs[1] == "resolve-cache" and segs[2] in ("models", "datasets"):
                return "resolve_cache", self.resolve_cache, {
                    "repo_type": segs[2][:-1], "ns": segs[3], "name": segs[4], "commit": segs[5],
                    "path": "/".join(segs[6:])}
            if n >= 4 and segs[1] in ("models", "datasets", "spaces"):
                rtype = segs[1][:-1]
                ns, name, rest = segs[2], segs[3], segs[4:]
                redirect = self.rename_redirect(rtype, ns, name, raw, 2)
                if redirect:
                    return "other", redirect, {}
                kw = {"repo_type": rtype, "repo_id": ns + "/" + name}
                if not rest and method in ("GET", "HEAD"):
                    return "model_info", self.repo_info, dict(kw, rev=None)
                if rest and rest[0] == "revision" and len(rest) >= 2 and method in ("GET", "HEAD"):
                    return "model_info", self.repo_info, dict(kw, rev="/".join(rest[1:]))
                if rest and rest[0] == "tree" and len(rest) >= 2 and method in ("GET", "HEAD"):
                    return "tree", self.tree, dict(kw, rest=rest[1:])
                if rest and rest[0] == "paths-info" and len(rest) >= 2 and method == "POST":
                    return "paths_info", self.paths_info, dict(kw, rev="/".join(rest[1:]))
                if rest == ["refs"] and method in ("GET", "HEAD"):
                    return "refs", self.refs, kw
                if rest and rest[0] == "auth-check" and len(rest) <= 2:
                    return "other", self.auth_check, kw
            if n == 3 and segs[1] in ("models", "datasets"):
                # Legacy single-segment id (e.g. "gpt2"): none exist here.
                return ("model_info", self.unknown_repo, {})
            return "other", self.api_not_found, {}
        # File routes: /{ns}/{name}/resolve/{rev}/{path} and /datasets/... and /spaces/...
        rtype, off = "model", 0
        if n >= 1 and segs[0] in ("datasets", "spaces"):
            rtype, off = segs[0][:-1], 1
        if n >= off + 5 and segs[off + 2] in ("resolve", "raw") and method in ("GET", "HEAD"):
            ns, name = segs[off], segs[off + 1]
            redirect = self.rename_redirect(rtype, ns, name, raw, off)
            if redirect:
                return ("resolve" if segs[off + 2] == "resolve" else "other"), redirect, {}
            return ("resolve" if segs[off + 2] == "resolve" else "other"), self.resolve, {
                "repo_type": rtype, "repo_id": ns + "/" + name, "rest": segs[off + 3:],
                "raw_mode": segs[off + 2] == "raw"}
        if raw_path == "/" and method in ("GET", "HEAD"):
            return "other", lambda ctx: Response(200, [("Content-Type", "text/plain; charset=utf-8")],
                                                 b"hub-emulator\n"), {}
        return "other", self.page_not_found, {}

    def rename_redirect(self, rtype, ns, name, raw, off):
        """307 with a relative Location for a renamed repo (hub-api.md §2.3)."""
        if rtype != "model" or ns + "/" + name not in self.fixtures.renamed:
            return None
        new_ns, new_name = self.fixtures.renamed[ns + "/" + name].split("/")

        def redirect(ctx):
            parts = list(raw)
            parts[off], parts[off + 1] = new_ns, new_name
            loc = "/" + "/".join(parts) + ("?" + ctx.query_string if ctx.query_string else "")
            return Response(307, [("Location", loc), ("Content-Type", "text/plain; charset=utf-8"),
                                  ("Vary", "Origin, Accept")],
                            ("Temporary Redirect. Redirecting to %s" % loc).encode())
        return redirect

    # -- generic errors -----------------------------------------------------------------
    def api_not_found(self, ctx):
        return error_response(404, NOT_FOUND_MSG)

    def page_not_found(self, ctx):
        return error_response(404, NOT_FOUND_MSG, api=False)

    def unknown_repo(self, ctx):
        return self.not_found(ctx)

    # -- /api/models, /api/datasets -------------------------------------------------------
    def parse_expand(self, ctx, repo_type):
        allowed = views.MODEL_EXPANDABLE if repo_type == "model" else views.DATASET_EXPANDABLE
        vals = []
        for raw in ctx.q.all("expand", "expand[]"):
            vals += [v.strip() for v in raw.split(",") if v.strip()]
        bad = [v for v in vals if v not in allowed]
        if bad:
            return None, error_response(400, '"expand" must be one of [%s]; got "%s"' % (
                ", ".join(allowed), bad[0]), "BadRequest")
        out = []
        for v in vals:
            if v not in out:
                out.append(v)
        return out, None

    def list_repos(self, ctx, repo_type):
        expand, err = self.parse_expand(ctx, repo_type)
        if err:
            return err
        q = ctx.q
        repos = self.fixtures.models if repo_type == "model" else self.fixtures.datasets
        repos = [r for r in repos if self.visible(r, ctx.auth)]
        author = q.first("author")
        if author:
            repos = [r for r in repos if r.author == author]
        for s in q.all("search"):
            s = s.lower()
            repos = [r for r in repos if s in r.id.lower()]
        pt = q.first("pipeline_tag")
        if pt:
            repos = [r for r in repos if r.pipeline_tag == pt]
        for raw in q.all("filter"):
            for tag in [t for t in raw.split(",") if t]:
                repos = [r for r in repos if tag in r.tags or tag == r.library_name]
        gated = q.first("gated")
        if gated is not None and gated != "":
            want = truthy(gated)
            repos = [r for r in repos if bool(r.gated) == want]
        sort = q.first("sort") or "trendingScore"
        keys = {"downloads": lambda r: r.downloads, "likes": lambda r: r.likes, "likes30d": lambda r: r.likes,
                "lastModified": lambda r: r.last_modified, "createdAt": lambda r: r.created_at,
                "trendingScore": lambda r: r.trending, "downloadsAllTime": lambda r: r.downloads,
                "id": lambda r: r.id.lower()}
        if sort not in keys:
            return error_response(400, "Invalid sort parameter: %s" % sort, "BadRequest")
        repos.sort(key=lambda r: r.id)
        repos.sort(key=keys[sort], reverse=True)  # always descending; stable, so ties stay by id
        cap = self.state.get("page_size")
        page = cap
        if q.first("limit"):
            try:
                page = max(1, min(int(q.first("limit")), cap))
            except ValueError:
                return error_response(400, "Invalid limit: must be an integer", "BadRequest")
        offset = 0
        if q.first("cursor"):
            offset = decode_cursor(q.first("cursor"))
            if offset is None:
                return error_response(400, "Invalid cursor", "BadRequest")
        elif q.first("skip"):
            try:
                offset = max(0, int(q.first("skip")))
            except ValueError:
                return error_response(400, "Invalid skip", "BadRequest")
        chunk = repos[offset:offset + page]
        body = [views.list_entry(r, expand=expand, full=truthy(q.first("full")), card=truthy(q.first("cardData")),
                                 config=truthy(q.first("config"))) for r in chunk]
        headers = [("X-Total-Count", str(len(repos)))]
        if offset + page < len(repos):
            nxt = q.without("cursor", "skip") + [("cursor", encode_cursor(offset + page))]
            url = "%s/api/%ss?%s" % (ctx.base_url(), repo_type, urllib.parse.urlencode(nxt))
            headers.append(("Link", '<%s>; rel="next"' % url))
        return json_response(200, body, headers)

    # -- model info -----------------------------------------------------------------------
    def repo_info(self, ctx, repo_type, repo_id, rev):
        # Metadata at the default branch stays public for gated repos; /revision/{rev} does not.
        repo, err = self.check_repo(ctx, repo_type, repo_id, files=rev is not None)
        if err:
            return err
        expand, err = self.parse_expand(ctx, repo_type)
        if err:
            return err
        commit = repo.head if rev is None else repo.resolve_rev(rev)
        if commit is None:
            return self.rev_not_found(rev)
        body = views.repo_info(repo, commit, expand=expand, blobs=truthy(ctx.q.first("blobs")),
                               security=truthy(ctx.q.first("securityStatus")))
        return json_response(200, body)

    # -- tree -----------------------------------------------------------------------------
    def split_rev(self, repo, rest):
        """rest = [rev, *path] where a raw-slash ref like refs/pr/1 may span segments."""
        for k in range(len(rest), 0, -1):
            cand = "/".join(rest[:k])
            if repo.resolve_rev(cand) is not None:
                return cand, "/".join(rest[k:])
        return rest[0], "/".join(rest[1:])

    def tree(self, ctx, repo_type, repo_id, rest):
        repo, err = self.check_repo(ctx, repo_type, repo_id, files=True)
        if err:
            return err
        rev, path = self.split_rev(repo, rest)
        commit = repo.resolve_rev(rev)
        if commit is None:
            return self.rev_not_found(rev)
        path = path.strip("/")
        tree = self.tree_of(commit)
        if path and path not in tree.dirs:
            return error_response(404, "Entry not found", "EntryNotFound", headers=[("X-Repo-Commit", commit.sha)])
        listing = tree.listing(path, truthy(ctx.q.first("recursive")))
        expand = truthy(ctx.q.first("expand"))
        cap = self.state.get("tree_page_size")
        page = cap
        if ctx.q.first("limit"):
            try:
                page = max(1, min(int(ctx.q.first("limit")), cap))
            except ValueError:
                return error_response(400, "Invalid limit: must be an integer", "BadRequest")
        offset = 0
        if ctx.q.first("cursor"):
            offset = decode_cursor(ctx.q.first("cursor"))
            if offset is None:
                return error_response(400, "Invalid cursor", "BadRequest")
        body = [views.tree_entry(repo, commit, tree, p, d, expand) for p, d in listing[offset:offset + page]]
        headers = [("X-Repo-Commit", commit.sha)]
        if offset + page < len(listing):
            nxt = ctx.q.without("cursor") + [("cursor", encode_cursor(offset + page))]
            headers.append(("Link", '<%s%s?%s>; rel="next"' % (ctx.base_url(), ctx.raw_path, urllib.parse.urlencode(nxt))))
        return json_response(200, body, headers)

    def paths_info(self, ctx, repo_type, repo_id, rev):
        repo, err = self.check_repo(ctx, repo_type, repo_id, files=True)
        if err:
            return err
        commit = repo.resolve_rev(rev)
        if commit is None:
            return self.rev_not_found(rev)
        ctype = (ctx.header("Content-Type") or "").lower()
        try:
            if "json" in ctype:
                data = json.loads(ctx.body or b"{}")
                paths = data.get("paths", [])
                if isinstance(paths, str):
                    paths = [paths]
                expand = data.get("expand") in (True, "true", "True", "1", 1)
            else:
                form = Query(ctx.body.decode("utf-8", "replace"))
                paths = form.all("paths")
                expand = truthy(form.first("expand"))
        except (ValueError, AttributeError):
            return error_response(400, "Invalid request body", "BadRequest")
        tree = self.tree_of(commit)
        out = []
        for p in paths:
            p = str(p).strip("/")
            if p in commit.files:
                out.append(views.tree_entry(repo, commit, tree, p, False, expand))
            elif p and p in tree.dirs:
                out.append(views.tree_entry(repo, commit, tree, p, True, expand))
        return json_response(200, out)

    def refs(self, ctx, repo_type, repo_id):
        repo, err = self.check_repo(ctx, repo_type, repo_id, files=True)
        if err:
            return err
        return json_response(200, views.refs(repo, truthy(ctx.q.first("include_prs"))))

    def auth_check(self, ctx, repo_type, repo_id):
        repo, err = self.check_repo(ctx, repo_type, repo_id, files=True)
        if err:
            return err
        return json_response(200, {"ok": True})

    def whoami(self, ctx):
        if ctx.auth not in ("granted", "unapproved"):
            return error_response(401, INVALID_CREDS)
        u = USERS[ctx.auth]
        return json_response(200, {
            "type": "user", "id": object_id("user", u["name"]), "name": u["name"], "fullname": u["fullname"],
            "email": u["name"] + "@example.com", "emailVerified": True, "canPay": False, "isPro": False,
            "periodEnd": None, "avatarUrl": "https://cdn-avatars.example/%s.png" % u["name"],
            "orgs": [{"type": "org", "name": o, "fullname": o, "id": object_id("org", o), "roleInOrg": "read"}
                     for o in u["orgs"]],
            "auth": {"type": "access_token", "accessToken": {"displayName": u["token_name"], "role": "read",
                                                             "createdAt": "2025-01-01T00:00:00.000Z"}}})

    # -- organisations and users ----------------------------------------------------------
    def overview(self, ctx, kind, name):
        """200 for a known organisation or user of that kind, else 404 as the Hub answers."""
        if namespace_kind(name) != kind:
            return error_response(404, "Organization not found" if kind == "org" else "User not found")
        return json_response(200, views.namespace_overview(self.fixtures, kind, name))

    # -- collections ----------------------------------------------------------------------
    def get_collection(self, ctx, ns, slug):
        m = re.search(r"([0-9a-f]{24})$", slug)
        c = self.fixtures.collections_by_id.get(m.group(1)) if m else None
        if c is None or c["owner"] != ns:
            return error_response(404, "Collection not found")
        return json_response(200, views.collection(self.fixtures, c))

    def list_collections(self, ctx):
        owners = ctx.q.all("owner")
        text = (ctx.q.first("q") or "").lower()
        items = ctx.q.all("item")
        out = []
        for c in self.fixtures.collections:
            if owners and c["owner"] not in owners:
                continue
            if text and text not in c["title"].lower() and text not in c["description"].lower():
                continue
            if items and not any(("%ss/%s" % (k, i)) in items or ("papers/%s" % i) in items
                                 for k, i in c["items"]):
                continue
            out.append(views.collection(self.fixtures, c, max_items=4))
        return json_response(200, out)

    # -- file routes ----------------------------------------------------------------------
    def file_headers(self, f, commit):
        ctype = "text/plain; charset=utf-8" if (f.path.endswith(TEXT_SUFFIXES) or f.name == ".gitattributes") \
            else "application/octet-stream"
        disp = "inline; filename*=UTF-8''%s; filename=\"%s\";" % (
            urllib.parse.quote(f.name), header_safe(f.name).replace('"', ""))
        return [("Content-Type", ctype), ("Content-Disposition", disp), ("Accept-Ranges", "bytes"),
                ("X-Repo-Commit", commit.sha)]

    def serve_bytes(self, ctx, f, headers, etag):
        """200 / 206 / 304 / 416 for file bytes, honouring Range and If-None-Match."""
        headers = list(headers) + [("ETag", '"%s"' % etag)]
        inm = ctx.header("If-None-Match")
        if inm and (inm.strip() == "*" or etag in inm):
            return Response(304, headers)
        rng = parse_range(ctx.header("Range"), f.size)
        if rng == "unsatisfiable":
            return Response(416, headers + [("Content-Range", "bytes */%d" % f.size),
                                            ("Content-Type", "text/plain; charset=utf-8")],
                            b"Requested Range Not Satisfiable")
        if rng is None:
            return Response(200, headers, file=f, start=0, end=f.size)
        start, end = rng
        return Response(206, headers + [("Content-Range", "bytes %d-%d/%d" % (start, end - 1, f.size))],
                        file=f, start=start, end=end)

    def lfs_redirect(self, ctx, f, commit):
        url = self.sign_cdn_url(f)
        return Response(302, [("Location", url), ("Content-Type", "text/plain; charset=utf-8"),
                              ("X-Linked-Etag", '"%s"' % f.sha256), ("X-Linked-Size", str(f.size)),
                              ("X-Repo-Commit", commit.sha), ("Accept-Ranges", "bytes"),
                              ("Cache-Control", "no-store"), ("Vary", "Origin, Accept")],
                        ("Found. Redirecting to %s" % url).encode())

    def resolve(self, ctx, repo_type, repo_id, rest, raw_mode):
        repo, err = self.check_repo(ctx, repo_type, repo_id, files=True, api=False)
        if err:
            return err
        rev, path = self.split_rev(repo, rest)
        commit = repo.resolve_rev(rev)
        if commit is None:
            return self.rev_not_found(rev, api=False)
        f = commit.files.get(path)
        if f is None:
            return error_response(404, "Entry not found", "EntryNotFound", api=False,
                                  headers=[("X-Repo-Commit", commit.sha)])
        if raw_mode:
            if f.lfs:  # /raw/ serves the git content: the pointer for LFS files
                f = FileSpec(f.path, f.pointer)
            return self.serve_bytes(ctx, f, self.file_headers(f, commit), f.git_oid)
        if f.lfs:
            return self.lfs_redirect(ctx, f, commit)
        if rev != commit.sha:
            # Branch or tag: the current Hub sends small files through resolve-cache (§5.3).
            prefix = "datasets" if repo_type == "dataset" else "models"
            orig = "/%s%s/resolve/%s/%s" % ("datasets/" if repo_type == "dataset" else "", repo.id, rev, path)
            loc = "/api/resolve-cache/%s/%s/%s/%s?%s" % (
                prefix, repo.id, commit.sha, urllib.parse.quote(path),
                urllib.parse.urlencode([(orig, ""), ("etag", '"%s"' % f.git_oid)]))
            return Response(307, [("Location", loc), ("Content-Type", "text/plain; charset=utf-8"),
                                  ("Vary", "Origin, Accept")],
                            ("Temporary Redirect. Redirecting to %s" % loc).encode())
        return self.serve_bytes(ctx, f, self.file_headers(f, commit), f.git_oid)

    def resolve_cache(self, ctx, repo_type, ns, name, commit, path):
        repo, err = self.check_repo(ctx, repo_type, ns + "/" + name, files=True, api=False)
        if err:
            return err
        if not HEX40.match(commit):
            return error_response(400, "Invalid commit hash: %s" % commit, "BadRequest", api=False)
        c = repo.resolve_rev(commit)
        if c is None:
            return self.rev_not_found(commit, api=False)
        f = c.files.get(path)
        if f is None:
            return error_response(404, "Entry not found", "EntryNotFound", api=False, headers=[("X-Repo-Commit", c.sha)])
        if f.lfs:
            return self.lfs_redirect(ctx, f, c)
        return self.serve_bytes(ctx, f, self.file_headers(f, c), f.git_oid)

    # -- CDN ------------------------------------------------------------------------------
    def cdn_get(self, ctx):
        m = re.fullmatch(r"/lfs/([0-9a-f]{64})", ctx.raw_path)
        if ctx.method not in ("GET", "HEAD"):
            return s3_error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
        if not m:
            return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        if ctx.header("Authorization") is not None:
            # Real S3 refuses a second auth mechanism next to a signed URL; this is how tests
            # prove that a client did not forward the Hub token to the CDN.
            return s3_error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm "
                            "query parameter, Signature query string parameter or the Authorization header "
                            "should be specified", "<ArgumentName>Authorization</ArgumentName>")
        sha = m.group(1)
        expires, sig = ctx.q.first("expires"), ctx.q.first("sig")
        if not expires or not sig or not expires.isdigit():
            return s3_error(403, "AccessDenied", "Query-string authentication requires the Signature and Expires "
                            "parameters")
        good = hmac.new(self.secret, ("%s:%s" % (sha, expires)).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(good, sig):
            return s3_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
                            "signature you provided.")
        if int(expires) < time.time():
            return self.cdn_expired(int(expires))
        with self.cdn_lock:
            f = self.cdn_objects.get(sha)
        if f is None:
            return s3_error(404, "NoSuchKey", "The specified key does not exist.")
        return self.serve_bytes(ctx, f, [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes"),
                                         ("Cache-Control", "public, max-age=604800, immutable"),
                                         ("x-amz-storage-class", "STANDARD")], f.sha256)

    def cdn_expired(self, expires):
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return s3_error(403, "AccessDenied", "Request has expired", "<X-Amz-Expires>3600</X-Amz-Expires>"
                        "<Expires>%s</Expires><ServerTime>%s</ServerTime>" % (
                            time.strftime(fmt, time.gmtime(expires)), time.strftime(fmt, time.gmtime())))

    # -- control API ----------------------------------------------------------------------
    def control(self, method, raw_path, body):
        if raw_path == "/_emulator/stats" and method in ("GET", "HEAD"):
            return json_response(200, self.state.stats_json())
        if raw_path == "/_emulator/reset" and method == "POST":
            self.state.reset()
            return json_response(200, {"ok": True})
        if raw_path == "/_emulator/config" and method in ("GET", "HEAD"):
            return json_response(200, self.state.config_json())
        if raw_path == "/_emulator/config" and method == "POST":
            try:
                self.state.apply_config(json.loads(body or b"{}"))
            except (ValueError, ConfigError) as e:
                return json_response(400, {"error": str(e)})
            return json_response(200, self.state.config_json())
        if raw_path == "/_emulator/fixtures" and method in ("GET", "HEAD"):
            return json_response(200, self.fixtures.dump())
        if raw_path == "/_emulator/health":
            return json_response(200, {"ok": True})
        return json_response(404, {"error": "unknown control route"})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hub-emulator/1.0"
    sys_version = ""
    timeout = 300          # idle keep-alive connections go away eventually
    listener = "hub"

    def setup(self):
        super().setup()
        try:
            # Headers and body go out in separate writes: without NODELAY, Nagle plus delayed
            # ACKs would add ~40 ms to keep-alive requests.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.conn_bucket = None

    @property
    def app(self):
        return self.server.app

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if not self.app.quiet:
            sys.stderr.write("%s [%s] %s\n" % (self.listener, time.strftime("%H:%M:%S"), fmt % args))

    def send_error(self, code, message=None, explain=None):
        # Malformed requests (bad request line, too-long URL/headers): still answer in JSON.
        self.close_connection = True
        try:
            self.write_response("GET", Response(code, [("Content-Type", "application/json; charset=utf-8")],
                                                json.dumps({"error": message or "Bad request"}).encode()))
        except OSError:
            pass

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    def read_body(self):
        """Request body (bytes), reading Content-Length or chunked; None if too large."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                if len(out) + size > MAX_BODY:
                    return None
                out += self.rfile.read(size)
                self.rfile.readline(1024)
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if n > MAX_BODY or n < 0:
            return None
        return self.rfile.read(n) if n else b""

    def auth_state(self):
        h = self.headers.get("Authorization")
        if h is None:
            return "none"
        parts = h.split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return "invalid"
        return classify_token(parts[1].strip())

    def dispatch(self, method):
        try:
            target = self.path
            if target.startswith(("http://", "https://")):   # absolute-form request target
                target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
            raw_path, _, query = target.partition("?")
            try:
                body = self.read_body()
            except ValueError:
                body = None
            if body is None:
                self.close_connection = True
                self.write_response(method, json_response(413, {"error": "Request body too large or malformed"}))
                return
            if self.listener == "hub" and raw_path.startswith("/_emulator/"):
                self.write_response(method, self.app.control(method, raw_path, body))
                return
            self.emulate(method, raw_path, query, body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout):
            self.close_connection = True
        except Exception:  # never let one request kill the server
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            try:
                self.write_response(method, json_response(500, {"error": "emulator internal error"}))
            except OSError:
                pass

    def emulate(self, method, raw_path, query, body):
        app, st = self.app, self.app.state
        lat = st.get("latency_ms")
        if lat > 0:
            time.sleep(lat / 1000.0)   # in this thread, so concurrent requests overlap
        auth = self.auth_state()
        ctx = Ctx(self, method, raw_path, query, body, auth)
        route, fn, kw = app.route(self.listener, method, raw_path)
        # Every key exists from the start: the record is published before the answer is sent
        # (so a client that reads stats right after a response sees it) and only values change.
        rec = {"listener": self.listener, "method": method, "path": raw_path, "query": query, "route": route,
               "status": 0, "authorization": auth, "range": self.headers.get("Range"), "bytes": 0,
               "fault": None, "ts": round(time.time(), 3)}
        recorded = False
        bucket = None
        if self.listener == "hub":
            bucket = "resolvers" if route in ("resolve", "resolve_cache") or "/raw/" in raw_path else "api"
        rl_headers = []
        allowed, left = True, 0
        if bucket:
            allowed, remaining, left, quota, window = st.rate_hit(bucket)
            rl_headers = [("RateLimit", '"%s";r=%d;t=%d' % (bucket, remaining, left)),
                          ("RateLimit-Policy", '"fixed window";"%s";q=%d;w=%d' % (bucket, quota, window))]
        file_route = route in ("resolve", "resolve_cache")
        try:
            fault = st.take_fault(route, raw_path + ("?" + query if query else ""), body_phase=False)
            resp = None
            if fault is not None:
                rec["fault"] = fault.kind
                resp = self.pre_fault(fault, route, bucket, rl_headers)
                if resp is not None and resp.drop:
                    st.record(rec)
                    recorded = True
                    self.abort_connection()
                    return
            if resp is None and not allowed:
                resp = error_response(429, "You have been rate-limited; you can retry this action in about %d "
                                      "seconds." % left, api=not file_route)
            if resp is None and self.listener == "hub" and auth == "invalid":
                resp = error_response(401, INVALID_CREDS, api=not file_route and raw_path.startswith("/api/"))
            if resp is None:
                resp = fn(ctx, **kw)
            for k, v in rl_headers:
                if resp.header(k) is None:
                    resp.headers.append((k, v))
            if self.listener == "hub":
                resp.headers.append(("X-Request-Id", app.request_id()))
            rec["status"] = resp.status
            st.record(rec)
            recorded = True
            rec["bytes"] = self.write_response(method, resp, route, rec)
        finally:
            if not recorded:
                st.record(rec)

    def pre_fault(self, fault, route, bucket, rl_headers):
        """Response for a fault that acts before the answer (or None to answer normally)."""
        api = route not in ("resolve", "resolve_cache")
        if fault.kind == "429":
            r = error_response(429, "Too Many Requests (injected by the emulator)", api=api)
            if fault.retry_after is not None:
                r.headers.append(("Retry-After", str(fault.retry_after)))
            if fault.ratelimit_reset is not None:
                r.headers.append(("RateLimit", '"%s";r=0;t=%s' % (bucket or "api", fault.ratelimit_reset)))
            return r
        if fault.kind in ("500", "502", "503"):
            code = int(fault.kind)
            msg = {500: "Internal Error", 502: "Bad Gateway", 503: "Service Unavailable"}[code]
            if self.listener == "cdn":
                return s3_error(code, "InternalError" if code == 500 else "ServiceUnavailable", msg)
            return json_response(code, {"error": msg + " (injected by the emulator)"}) if api else \
                error_response(code, msg + " (injected by the emulator)", api=False)
        if fault.kind == "drop":
            r = Response(0)
            r.drop = True
            return r
        if fault.kind == "stall":
            time.sleep(fault.stall_s)
            return None
        if fault.kind == "expire":
            return self.app.cdn_expired(int(time.time()) - 1)
        if fault.kind == "redirect":
            # a hostile Hub: the Location goes out as given (file://, ftp://, ...)
            return Response(302, [("Location", fault.location), ("Content-Type", "text/plain; charset=utf-8")],
                            b"Found.")
        if fault.kind == "error":
            # a hostile Hub: X-Error-Message and the JSON body carry the message as given,
            # control characters included (only CR and LF are left out of the header)
            h = [] if fault.json_only else [("X-Error-Message", fault.message.replace("\r", " ").replace("\n", " "))]
            if fault.error_code:
                h.append(("X-Error-Code", str(fault.error_code)))
            return json_response(fault.status, {"error": fault.message}, h)
        return None

    def abort_connection(self):
        """Close with a TCP reset and no response, like a peer that died."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def cdn_throttle(self):
        """(per-connection bucket, shared bucket) when CDN bandwidth caps are on."""
        st = self.app.state
        per = st.get("cdn_rate_per_conn")
        if self.conn_bucket is None or self.conn_bucket.rate != per:
            self.conn_bucket = TokenBucket(per)
        return self.conn_bucket, st.cdn_total

    def write_response(self, method, resp, route="other", rec=None):
        """Send status, headers and body; applies body faults and bandwidth caps. Returns body bytes sent."""
        st = self.app.state
        has_body = method != "HEAD" and resp.length > 0 and resp.status not in (204, 304)
        fault = None
        if rec is not None and has_body:
            fault = st.take_fault(route, rec["path"], body_phase=True, has_body=True, is_file=resp.file is not None)
            if fault is not None:
                rec["fault"] = fault.kind
        extra = b""       # oversize: bytes past the file's end
        if fault is not None and fault.kind == "rewrite":
            resp.body = resp.body.replace(fault.find.encode(), fault.replace.encode())
        if fault is not None and fault.kind == "oversize":
            # a server that sends more than the file has: the extra bytes follow the range, and
            # Content-Length and Content-Range count them
            extra = b"\0" * fault.extra_bytes
            cr = resp.header("Content-Range")
            m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", cr or "")
            if m and not fault.keep_range:
                resp.set_header("Content-Range", "bytes %s-%d/%d" % (m.group(1), int(m.group(2)) + len(extra),
                                                                     int(m.group(3)) + len(extra)))
        head = ["HTTP/1.1 %d %s" % (resp.status, self.responses.get(resp.status, ("Unknown",))[0])]
        head.append("Server: " + self.version_string())
        head.append("Date: " + self.date_time_string())
        for k, v in resp.headers:
            head.append("%s: %s" % (k, v))
        head.append("Content-Length: %d" % (resp.length + len(extra)))
        if self.close_connection:
            head.append("Connection: close")
        raw_head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1", "replace")
        self.log_request(resp.status, resp.length)
        if not has_body:
            self.wfile.write(raw_head)
            return 0
        total = resp.length
        cut = None        # stop after this many body bytes (truncate / drop)
        stall_at = None
        corrupt_at = None
        trickle_at = None
        if fault is not None:
            after = fault.after_bytes if fault.after_bytes is not None else total // 2
            if fault.after_fraction is not None:
                # a part of each response (at least one byte): a link that cuts every range
                after = max(1, -(-total * fault.after_fraction // 1))
                after = int(after)
            after = max(0, min(after, total))
            if fault.kind == "trickle":
                trickle_at = fault.after_bytes if fault.after_bytes is not None else 0
                trickle_at = max(0, min(trickle_at, total))
            if fault.kind in ("truncate", "drop"):
                cut = after
            elif fault.kind == "stall":
                stall_at = after
            elif fault.kind == "corrupt":
                corrupt_at = min(after, total - 1)
        buckets = self.cdn_throttle() if self.listener == "cdn" else None
        throttled = buckets is not None and (buckets[0].rate > 0 or buckets[1].rate > 0)
        chunk = READ_CHUNK
        if throttled:
            rates = [b.rate for b in buckets if b.rate > 0]
            chunk = max(4096, min(64 * 1024, min(rates) // 20))
        if resp.file is None:
            pieces = iter([resp.body[i:i + chunk] for i in range(0, total, chunk)] if throttled or fault else [resp.body])
        else:
            pieces = resp.file.iter_range(resp.start, resp.end, chunk)
        sent = 0
        first = True
        for piece in pieces:
            if corrupt_at is not None and sent <= corrupt_at < sent + len(piece):
                b = bytearray(piece)
                b[corrupt_at - sent] ^= 0xFF
                piece = bytes(b)
            if stall_at is not None and sent <= stall_at < sent + len(piece):
                k = stall_at - sent
                self._send(raw_head if first else b"", piece[:k], buckets if throttled else None)
                first = False
                time.sleep(fault.stall_s)
                sent += k
                piece = piece[k:]
                stall_at = None
            if cut is not None and sent + len(piece) >= cut:
                self._send(raw_head if first else b"", piece[:cut - sent], buckets if throttled else None)
                sent = cut
                if fault.kind == "drop":
                    # Let the client read what was sent before the reset: Linux discards
                    # unread data when an RST arrives, which would make the test racy.
                    time.sleep(0.05)
                    self.abort_connection()
                else:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                return sent
            if trickle_at is not None and sent <= trickle_at < sent + len(piece):
                # a crawling server: one byte every trickle_s seconds from here on
                k = trickle_at - sent
                self._send(raw_head if first else b"", piece[:k], None)
                first = False
                sent += k
                for i in range(k, len(piece)):
                    if rec is not None:
                        rec["bytes"] = sent
                    time.sleep(fault.trickle_s)
                    self._send(b"", piece[i:i + 1], None)
                    self.wfile.flush()
                    sent += 1
                trickle_at = sent  # and so on, to the end
                continue
            self._send(raw_head if first else b"", piece, buckets if throttled else None)
            first = False
            sent += len(piece)
            if rec is not None:
                rec["bytes"] = sent  # also counts what a client killed mid-transfer got
        if extra:
            self._send(raw_head if first else b"", extra, None)
            sent += len(extra)
        return sent

    def _send(self, head, data, buckets):
        if buckets:
            for b in buckets:
                b.take(len(data))
        if head and len(data) <= 65536:
            self.wfile.write(head + data)   # one segment for small answers
        else:
            if head:
                self.wfile.write(head)
            if data:
                self.wfile.write(data)


class HubHandler(Handler):
    listener = "hub"


class CdnHandler(Handler):
    listener = "cdn"


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    block_on_close = False

    def __init__(self, addr, handler, app):
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(addr, handler)


def default_cache_dir():
    env = os.environ.get("HFHUB_EMULATOR_CACHE")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "hfhub-emulator")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cdn-port", type=int, default=0)
    p.add_argument("--ready-file")
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--page-size", type=int, default=20)
    p.add_argument("--tree-page-size", type=int, default=50)
    p.add_argument("--synthetic-models", type=int, default=0)
    p.add_argument("--many-files", type=int, default=0, metavar="N",
                   help="add bench-org/many-files, N small files (imports of many files)")
    p.add_argument("--api-quota", type=int, default=1000000)
    p.add_argument("--resolver-quota", type=int, default=None, help="default: same as --api-quota")
    p.add_argument("--window-s", type=int, default=300)
    p.add_argument("--cdn-rate-per-conn", type=int, default=0, metavar="BYTES_PER_S")
    p.add_argument("--cdn-rate-total", type=int, default=0, metavar="BYTES_PER_S")
    p.add_argument("--signed-url-ttl", type=int, default=3600, help="validity of CDN URLs in seconds")
    p.add_argument("--cache-dir", default=None, help="where sha256 of big generated files are kept")
    p.add_argument("--no-prehash", action="store_true",
                   help="do not hash big files in the background at startup (they are hashed on first use)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--print-tokens", action="store_true")
    p.add_argument("--dump-fixtures", action="store_true")
    a = p.parse_args(argv)
    if a.page_size < 1 or a.tree_page_size < 1 or a.window_s < 1:
        p.error("page sizes and window must be >= 1")
    return a


def write_ready_file(path, info):
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".ready-", dir=d)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.print_tokens:
        print(json.dumps({"granted": TOKEN_GRANTED, "unapproved": TOKEN_UNAPPROVED}))
        return 0
    FileSpec.cache_dir = args.cache_dir or default_cache_dir()
    fixtures = FixtureSet(args.synthetic_models, args.many_files)
    if args.dump_fixtures:
        json.dump(fixtures.dump(), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
        return 0
    app = App(args, fixtures)
    hub = Server((args.host, args.port), HubHandler, app)
    cdn = Server((args.host, args.cdn_port), CdnHandler, app)
    host = args.host if ":" not in args.host else "[%s]" % args.host
    app.hub_hostport = "%s:%d" % (host, hub.server_address[1])
    app.cdn_base = "http://%s:%d" % (host, cdn.server_address[1])
    endpoint = "http://" + app.hub_hostport
    for srv in (hub, cdn):
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    if not args.no_prehash:
        big = [f for f in fixtures.big_files() if not f.sha256_ready()]
        threading.Thread(target=lambda: [f.sha256 for f in big], daemon=True, name="prehash").start()
    if args.ready_file:
        write_ready_file(args.ready_file, {"endpoint": endpoint, "cdn": app.cdn_base, "pid": os.getpid(),
                                           "tokens": {"granted": TOKEN_GRANTED, "unapproved": TOKEN_UNAPPROVED}})
    sys.stdout.write("hub-emulator ready endpoint=%s cdn=%s\n" % (endpoint, app.cdn_base))
    sys.stdout.flush()

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    hub.shutdown()
    cdn.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
