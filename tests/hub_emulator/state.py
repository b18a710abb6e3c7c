"""Mutable runtime state of the Hub emulator: knobs, request statistics, injected faults,
rate-limit windows and CDN bandwidth buckets. Shared by all handler threads, so every
method takes the lock it needs; nothing here does I/O.
"""

import collections
import threading
import time

ROUTES = ["list_models", "model_info", "tree", "paths_info", "refs", "collection", "overview", "resolve",
          "resolve_cache", "cdn", "other"]
FAULT_ROUTES = set(ROUTES) | {"any"}
FAULT_KINDS = {"429", "500", "502", "503", "drop", "stall", "corrupt", "expire", "truncate", "redirect", "error",
               "rewrite", "oversize", "trickle"}
# Faults that act on the bytes of a response body rather than before the response.
BODY_KINDS = {"corrupt", "truncate", "rewrite", "oversize", "trickle"}
# Body faults that only fit file content (200/206 on resolve, resolve-cache or the CDN).
FILE_KINDS = {"corrupt", "oversize", "trickle"}

CONFIG_KEYS = {
    "latency_ms": int, "page_size": int, "tree_page_size": int, "api_quota": int, "resolver_quota": int,
    "window_s": int, "cdn_rate_per_conn": int, "cdn_rate_total": int, "signed_url_ttl_s": int,
}


class ConfigError(ValueError):
    pass


class Fault:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise ConfigError("a fault must be a JSON object")
        self.route = str(spec.get("route", "any"))
        self.kind = str(spec.get("kind", ""))
        if self.route not in FAULT_ROUTES:
            raise ConfigError("unknown fault route %r (one of %s)" % (self.route, ", ".join(sorted(FAULT_ROUTES))))
        if self.kind not in FAULT_KINDS:
            raise ConfigError("unknown fault kind %r (one of %s)" % (self.kind, ", ".join(sorted(FAULT_KINDS))))
        try:
            self.count = int(spec.get("count", 1))
            self.retry_after = _opt_num(spec.get("retry_after"))
            self.ratelimit_reset = _opt_num(spec.get("ratelimit_reset"))
            self.stall_s = float(spec.get("stall_s", 10))
            self.after_bytes = None if spec.get("after_bytes") is None else int(spec["after_bytes"])
            self.after_fraction = None if spec.get("after_fraction") is None else float(spec["after_fraction"])
            self.status = int(spec.get("status", 403))
            self.extra_bytes = int(spec.get("extra_bytes", 100))
            self.trickle_s = float(spec.get("trickle_s", 10))
        except (TypeError, ValueError) as e:
            raise ConfigError("bad fault field: %s" % e)
        if self.after_fraction is not None and not 0 < self.after_fraction < 1:
            raise ConfigError("after_fraction must be between 0 and 1")
        if not 100 <= self.status <= 599:
            raise ConfigError("status must be an HTTP status")
        # redirect: where to; error: X-Error-Code, X-Error-Message (sent as given: a hostile Hub);
        # rewrite: text replaced in a JSON or text body
        self.location = str(spec.get("location", ""))
        self.error_code = spec.get("error_code")
        self.message = str(spec.get("message", "injected by the emulator"))
        self.find = str(spec.get("find", ""))
        self.replace = str(spec.get("replace", ""))
        self.json_only = bool(spec.get("json_only", False))    # error: no X-Error-Message header
        self.keep_range = bool(spec.get("keep_range", False))  # oversize: Content-Range as it was
        if self.kind == "redirect" and not self.location:
            raise ConfigError("a redirect fault needs a location")
        if self.kind == "rewrite" and not self.find:
            raise ConfigError("a rewrite fault needs find")
        self.match = spec.get("match")
        if self.match is not None:
            self.match = str(self.match)
        if self.count < 1:
            raise ConfigError("fault count must be >= 1")

    def acts_on_body(self):
        """True when the fault needs the body being sent (so it only fits GETs that send one)."""
        return self.kind in BODY_KINDS or (self.kind in ("drop", "stall") and
                                           (self.after_bytes is not None or self.after_fraction is not None))

    def matches(self, route, path):
        if self.route != "any" and self.route != route and not (self.route == "resolve" and route == "resolve_cache"):
            return False
        return self.match is None or self.match in path

    def to_json(self):
        d = {"route": self.route, "kind": self.kind, "count": self.count}
        for k in ("retry_after", "ratelimit_reset", "after_bytes", "after_fraction", "match"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.kind == "stall":
            d["stall_s"] = self.stall_s
        extra = {"redirect": ("location",), "error": ("status", "error_code", "message", "json_only"),
                 "rewrite": ("find", "replace"), "oversize": ("extra_bytes", "keep_range"), "trickle": ("trickle_s",)}
        for k in extra.get(self.kind, ()):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        return d


def _opt_num(v):
    if v is None:
        return None
    f = float(v)
    return int(f) if f == int(f) else f


class TokenBucket:
    """Bandwidth limiter: take(n) blocks until n bytes may be sent. rate 0 = unlimited."""

    def __init__(self, rate):
        self.lock = threading.Lock()
        self.set_rate(rate)

    def set_rate(self, rate):
        with self.lock:
            self.rate = max(0, int(rate))
            # A 50 ms burst keeps throughput smooth without letting a client run far ahead.
            self.capacity = max(16384, self.rate // 20)
            self.tokens = self.capacity
            self.stamp = time.monotonic()

    def take(self, n):
        while True:
            with self.lock:
                if self.rate <= 0:
                    return
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                # A chunk bigger than the bucket (the rate was lowered mid-transfer) may go
                # into debt once the bucket is full, instead of waiting forever.
                need = min(n, self.capacity)
                if self.tokens >= need:
                    self.tokens -= n
                    return
                wait = (need - self.tokens) / self.rate
            time.sleep(min(wait, 0.25))


class RateWindow:
    """Fixed-window counter for one RateLimit bucket ("api" or "resolvers")."""

    def __init__(self, quota, window_s):
        self.quota = quota
        self.window_s = window_s
        self.reset()

    def reset(self):
        self.start = time.monotonic()
        self.used = 0

    def hit(self):
        """Count one request. Returns (allowed, remaining, seconds_to_reset)."""
        now = time.monotonic()
        if now - self.start >= self.window_s:
            # Windows are aligned on the first window's start, like a wall-clock fixed window.
            elapsed = int((now - self.start) // self.window_s)
            self.start += elapsed * self.window_s
            self.used = 0
        self.used += 1
        remaining = max(0, self.quota - self.used)
        left = max(1, int(self.window_s - (now - self.start) + 0.999))
        return self.used <= self.quota, remaining, left


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.cfg = {
            "latency_ms": args.latency_ms, "page_size": args.page_size, "tree_page_size": args.tree_page_size,
            "api_quota": args.api_quota,
            "resolver_quota": args.resolver_quota if args.resolver_quota is not None else args.api_quota,
            "window_s": args.window_s, "cdn_rate_per_conn": args.cdn_rate_per_conn,
            "cdn_rate_total": args.cdn_rate_total, "signed_url_ttl_s": args.signed_url_ttl,
        }
        self.faults = []
        self.windows = {"api": RateWindow(self.cfg["api_quota"], self.cfg["window_s"]),
                        "resolvers": RateWindow(self.cfg["resolver_quota"], self.cfg["window_s"])}
        self.cdn_total = TokenBucket(self.cfg["cdn_rate_total"])
        self._reset_stats()

    # -- config ---------------------------------------------------------------------------
    def get(self, key):
        return self.cfg[key]

    def config_json(self):
        with self.lock:
            d = dict(self.cfg)
            d["faults"] = [f.to_json() for f in self.faults]
            return d

    def apply_config(self, body):
        if not isinstance(body, dict):
            raise ConfigError("config body must be a JSON object")
        unknown = set(body) - set(CONFIG_KEYS) - {"faults", "add_faults"}
        if unknown:
            raise ConfigError("unknown config key(s): %s" % ", ".join(sorted(unknown)))
        new = {}
        for k, typ in CONFIG_KEYS.items():
            if k in body:
                try:
                    new[k] = typ(body[k])
                except (TypeError, ValueError):
                    raise ConfigError("%s must be an integer" % k)
                if new[k] < 0 or (k in ("page_size", "tree_page_size", "window_s") and new[k] < 1):
                    raise ConfigError("%s out of range" % k)
        faults = None
        if "faults" in body:
            if not isinstance(body["faults"], list):
                raise ConfigError("faults must be a list")
            faults = [Fault(f) for f in body["faults"]]
        added = []
        if "add_faults" in body:
            if not isinstance(body["add_faults"], list):
                raise ConfigError("add_faults must be a list")
            added = [Fault(f) for f in body["add_faults"]]
        with self.lock:
            self.cfg.update(new)
            if faults is not None:
                self.faults = faults
            self.faults.extend(added)
            for name, key in (("api", "api_quota"), ("resolvers", "resolver_quota")):
                self.windows[name].quota = self.cfg[key]
                self.windows[name].window_s = self.cfg["window_s"]
        if "cdn_rate_total" in new:
            self.cdn_total.set_rate(new["cdn_rate_total"])

    # -- faults ---------------------------------------------------------------------------
    def take_fault(self, route, path, body_phase, has_body=False, is_file=False):
        """Consume and return the first pending fault matching this request, or None.

        body_phase False: faults acting before the response (status codes, drop, stall, expire).
        body_phase True: faults acting on the body being sent; only offered when there is one.
        """
        with self.lock:
            for f in self.faults:
                if not f.matches(route, path):
                    continue
                if f.acts_on_body() != body_phase:
                    continue
                if body_phase and not has_body:
                    continue
                if f.kind in FILE_KINDS and not is_file:
                    continue  # only file bytes; keep it for the next download
                if f.kind == "rewrite" and is_file:
                    continue  # rewrites JSON and text answers, not file bytes
                if f.kind == "expire" and route != "cdn":
                    continue
                f.count -= 1
                if f.count <= 0:
                    self.faults.remove(f)
                return f
        return None

    # -- rate limits ----------------------------------------------------------------------
    def rate_hit(self, bucket):
        with self.lock:
            w = self.windows[bucket]
            allowed, remaining, left = w.hit()
            return allowed, remaining, left, w.quota, w.window_s

    # -- stats ----------------------------------------------------------------------------
    def _reset_stats(self):
        self.total = 0
        self.by_route = {r: 0 for r in ROUTES}
        self.requests = collections.deque(maxlen=10000)

    def reset(self):
        with self.lock:
            self._reset_stats()
            for w in self.windows.values():
                w.reset()

    def record(self, rec):
        with self.lock:
            self.total += 1
            self.by_route[rec["route"]] = self.by_route.get(rec["route"], 0) + 1
            self.requests.append(rec)

    def stats_json(self):
        with self.lock:
            return {"total": self.total, "by_route": dict(self.by_route), "requests": [dict(r) for r in self.requests]}
