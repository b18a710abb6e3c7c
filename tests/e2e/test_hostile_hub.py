#!/usr/bin/env python3
"""hfhub_downloader against a hostile or broken Hub (emulator faults): redirects
to other schemes fail at once naming the scheme; a file longer than the file
list says fails naming the file and both sizes; hf://org/name@<commit> imports
that commit or nothing; the Hub's words reach stderr with control characters
escaped, in every program; a crawling transfer is replaced and a file that
never moves fails in bounded time (the low-speed rule); a link that cuts every
range still completes (progress is not failure); kill -9 loses at most about a
MiB per connection; the resume journal is only reused for the same endpoint."""
import base64
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BIN, Emulator, Test, clean_env, expected, fixtures, run, tree_digests  # noqa: E402

QWEN = "ONEnextgen/Qwen2.5-1.5B-Instruct-emu"
MIB = 1 << 20


def main():
    t = Test()
    emu = Emulator(t.tmp)
    fx = fixtures()
    by_id = {m["id"]: m for m in fx["models"]}
    qwen = by_id[QWEN]
    want = expected(qwen)
    files = {f["path"]: f for f in qwen["files"]}
    shard = files["model-00001-of-00002.safetensors"]
    env = clean_env(emu, HFHUB_STALL_TIMEOUT="3", HFHUB_RETRY_BASE_MS="50")

    def dest(name):
        return os.path.join(t.tmp, name)

    def timed_run(args, e, timeout):
        try:
            return run("hfhub_downloader", args, e, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def imported(r, d):
        got = tree_digests(d) if r is not None and r.rc == 0 else {}
        got.pop(".hfhub/manifest.json", None)
        return got

    def diag(r):
        return r.diag() if r is not None else "no answer before the test's timeout"

    # -- redirects to other schemes fail at once, naming the scheme --------------------------------
    for scheme, loc in [("file", "file:///etc/passwd"), ("ftp", "ftp://127.0.0.1/model.bin"),
                        ("gopher", "gopher://127.0.0.1:70/1")]:
        emu.faults({"route": "resolve", "kind": "redirect", "location": loc, "count": 100,
                    "match": "model-00001"})
        emu.reset()
        r = run("hfhub_downloader", ["hf://%s?format=dir" % QWEN, dest("scheme-" + scheme)], env, timeout=120)
        tries = sum(1 for q in emu.stats()["requests"] if q.get("fault") == "redirect")
        t.ok(r.rc == 1 and "a %s:// address" % scheme in r.err and "model-00001" in r.err and tries == 1
             and r.elapsed < 15 and not os.path.exists(dest("scheme-" + scheme)),
             "a redirect to %s:// fails at once (%d request, %.1f s), naming the scheme and the file"
             % (scheme, tries, r.elapsed), r.diag())
    emu.faults({"route": "model_info", "kind": "redirect", "location": "gopher://127.0.0.1:70/1", "count": 100})
    emu.reset()
    r = run("hfhub_downloader", ["hf://%s?format=dir" % QWEN, dest("scheme-api")], env)
    tries = sum(1 for q in emu.stats()["requests"] if q.get("fault") == "redirect")
    t.ok(r.rc == 1 and "a gopher:// address" in r.err and tries == 1,
         "a redirect of a metadata request to gopher:// fails at once, naming the scheme", r.diag())
    emu.faults()

    # -- a file longer than the file list says ------------------------------------------------------
    cfg = files["config.json"]
    emu.faults({"route": "resolve", "kind": "oversize", "extra_bytes": 100, "count": 100, "match": "/config.json",
                "keep_range": True})
    r = run("hfhub_downloader", ["hf://%s?format=dir" % QWEN, dest("oversize")], env)
    m = re.search(r"sends at least (\d+) bytes", r.err)
    t.ok(r.rc == 1 and " config.json has %d bytes in the file list" % cfg["size"] in r.err
         and m and int(m.group(1)) > cfg["size"] and "internal error" not in r.err
         and not os.path.exists(dest("oversize")),
         "a small file that goes on past its end (100 bytes more than the file list says): the file and both "
         "sizes", r.diag())
    emu.faults({"route": "resolve", "kind": "oversize", "extra_bytes": 100, "count": 100, "match": "/config.json"})
    r = run("hfhub_downloader", ["hf://%s?format=dir" % QWEN, dest("oversize2")], env)
    t.ok(r.rc == 1 and " config.json has %d bytes in the file list" % cfg["size"] in r.err
         and "sends %d bytes" % (cfg["size"] + 100) in r.err and not os.path.exists(dest("oversize2")),
         "a small file whose Content-Range claims 100 bytes more: the file and both sizes", r.diag())
    emu.faults({"route": "cdn", "kind": "oversize", "extra_bytes": 7, "count": 100, "match": shard["sha256"]})
    r = run("hfhub_downloader", ["hf://%s?format=dir" % QWEN, dest("oversize-cdn")], env)
    t.ok(r.rc == 1 and shard["path"] in r.err and "has %d bytes" % shard["size"] in r.err
         and "sends %d bytes" % (shard["size"] + 7) in r.err and "the CDN" in r.err,
         "an LFS file whose CDN range claims a longer file: the file and both sizes", r.diag())
    emu.faults()

    # -- hf://org/name@<commit> is a contract ---------------------------------------------------------
    v1 = qwen["revisions"]["v1.0"]["sha"]
    emu.faults({"route": "model_info", "kind": "rewrite", "find": qwen["sha"], "replace": v1, "count": 10})
    emu.reset()
    r = run("hfhub_downloader", ["hf://%s@%s?format=dir" % (QWEN, qwen["sha"]), dest("pinned")], env)
    fetched = [q for q in emu.stats()["requests"] if q["route"] in ("tree", "resolve", "resolve_cache", "cdn")]
    t.ok(r.rc == 1 and qwen["sha"] in r.err and v1 in r.err and "pins commit" in r.err and not fetched
         and not os.path.exists(dest("pinned")) and not os.path.exists(dest("pinned") + ".hfhub-part"),
         "@<commit> answered with another commit by the Hub: refused naming both, nothing fetched", r.diag())
    emu.faults()

    # -- the Hub's words reach stderr escaped, in every program -------------------------------------
    evil = "denied\x1b]0;pwned\x07\x1b[2J\x1b[31m red \u009b31m\x7f"

    def stderr_of(prog, args):
        p = subprocess.run([os.path.join(BIN, prog)] + args, env=env, capture_output=True, timeout=120)
        return p.returncode, p.stderr

    def escaped(err):
        """No raw control byte (ESC, BEL, DEL, the C1 CSI raw or in UTF-8), and the escapes are shown."""
        return (not any(c in err for c in (b"\x1b", b"\x07", b"\x7f", b"\x9b")) and b"\\x1b]0;pwned\\x07" in err
                and (b"\\x9b" in err))

    # the header carries U+009B as the byte 0x9b (latin-1), the JSON body as UTF-8 (C2 9B)
    emu.faults({"route": "resolve", "kind": "error", "status": 403, "error_code": "Evil", "message": evil,
                "count": 100, "match": "config.json"})
    rc, err = stderr_of("hfhub_downloader", ["hf://%s?format=dir" % QWEN, dest("evil")])
    t.ok(rc == 1 and escaped(err), "hfhub_downloader: X-Error-Message with ESC, BEL, DEL and a C1 CSI reaches "
         "stderr escaped", repr(err[-400:]))
    # a file name with a C1 CSI (the path checks refuse C0 and DEL, not U+009B): named in an error
    emu.faults({"route": "tree", "kind": "rewrite", "find": '"config.json"', "replace": '"conf\\u009b[31mig.json"',
                "count": 10})
    rc, err = stderr_of("hfhub_downloader", ["hf://%s?format=dir" % QWEN, dest("evil-name")])
    t.ok(rc == 1 and b"conf\\xc2\\x9b[31mig.json" in err and b"\x9b" not in err,
         "hfhub_downloader: a file name from the tree with a C1 CSI reaches stderr escaped", repr(err[-400:]))
    emu.faults({"route": "list_models", "kind": "error", "status": 400, "message": evil, "count": 100})
    rc, err = stderr_of("hf_catalog", ["--org", "ONEnextgen", "--quiet"])
    t.ok(rc != 0 and escaped(err), "hf_catalog: the same X-Error-Message reaches stderr escaped", repr(err[-400:]))
    emu.faults({"route": "list_models", "kind": "error", "status": 400, "message": evil, "count": 100,
                "json_only": True})
    rc, err = stderr_of("hf_catalog", ["--org", "ONEnextgen", "--quiet"])
    t.ok(rc != 0 and escaped(err) and b"\\xc2\\x9b" in err,
         "hf_catalog: the same text in a JSON error body (UTF-8) reaches stderr escaped", repr(err[-400:]))
    xml = ("<MARKET_DRIVER_ACTION_DATA><MARKETPLACE><ID>100</ID><NAME>HF</NAME><MARKET_MAD>hfhub</MARKET_MAD>"
           "<TEMPLATE><HFHUB_ORG>ONEnextgen</HFHUB_ORG><MARKET_MAD>hfhub</MARKET_MAD></TEMPLATE></MARKETPLACE>"
           "</MARKET_DRIVER_ACTION_DATA>")
    rc, err = stderr_of("hfhub_monitor", [base64.b64encode(xml.encode()).decode(), "100"])
    t.ok(rc != 0 and escaped(err), "hfhub_monitor: escaped too", repr(err[-400:]))
    emu.faults()

    # -- the low-speed rule ---------------------------------------------------------------------------
    slow = dict(env, HFHUB_LOW_SPEED_TIME="2", HFHUB_LOW_SPEED_LIMIT="4k", HFHUB_STALL_TIMEOUT="5")
    # a transfer that crawls (one byte a second: the stall timer never fires) is replaced
    emu.faults({"route": "cdn", "kind": "trickle", "after_bytes": 1000, "trickle_s": 1, "count": 2,
                "match": shard["sha256"]})
    emu.reset()
    r = timed_run(["hf://%s?format=dir" % QWEN, dest("crawl-once")], slow, 90)
    t.ok(r is not None and r.rc == 0 and imported(r, dest("crawl-once")) == want and r.elapsed < 30,
         "a crawling transfer (1 byte/s, twice) is replaced: complete and verified in %s"
         % ("%.1f s" % r.elapsed if r else "-"), diag(r))
    # a file that never moves fails in bounded time, with a clear message
    emu.faults({"route": "cdn", "kind": "trickle", "after_bytes": 1000, "trickle_s": 1, "count": 1000,
                "match": shard["sha256"]})
    r = timed_run(["hf://%s?format=dir" % QWEN, dest("crawl")], slow, 120)
    t.ok(r is not None and r.rc == 1 and shard["path"] in r.err and "without progress" in r.err
         and "low-speed limit" in r.err and "HFHUB_LOW_SPEED" in r.err and r.elapsed < 60
         and not os.path.exists(dest("crawl")),
         "a file that only ever trickles fails in bounded time (%s), naming the file and the rule"
         % ("%.1f s" % r.elapsed if r else "-"), diag(r))
    # a server that sends a few bytes of every range and hangs up: each attempt moves the file,
    # but by less than a low-speed window, so they count, and the file fails in bounded time
    emu.faults({"route": "cdn", "kind": "drop", "after_bytes": 10, "count": 100000, "match": shard["sha256"]})
    emu.reset()
    r = timed_run(["hf://%s?format=dir" % QWEN, dest("dribble")], dict(env, HFHUB_RETRY_BASE_MS="50"), 120)
    t.ok(r is not None and r.rc == 1 and shard["path"] in r.err and "without progress" in r.err
         and r.elapsed < 60 and not os.path.exists(dest("dribble")),
         "a server that sends 10 bytes of each range and hangs up: the file fails in bounded time (%s)"
         % ("%.1f s" % r.elapsed if r else "-"), diag(r))
    emu.faults()
    r = run("hfhub_downloader", ["hf://%s" % QWEN, dest("never")], dict(env, HFHUB_LOW_SPEED_LIMIT="fast"))
    t.ok(r.clean_failure(2, "HFHUB_LOW_SPEED_LIMIT: 'fast' is not a rate"), "a bad HFHUB_LOW_SPEED_LIMIT is "
         "refused", r.diag())
    r = run("hfhub_downloader", ["hf://%s" % QWEN, dest("never")], dict(env, HFHUB_LOW_SPEED_TIME="0"))
    t.ok(r.clean_failure(2, "HFHUB_LOW_SPEED_TIME must be"), "a bad HFHUB_LOW_SPEED_TIME is refused", r.diag())
    r = run("hfhub_downloader", ["--help"], env)
    t.ok(r.rc == 0 and "HFHUB_LOW_SPEED_LIMIT" in r.out and "HFHUB_LOW_SPEED_TIME" in r.out,
         "--help documents the low-speed knobs")

    # -- a flaky link: every range is cut after a third of it ---------------------------------------
    emu.faults({"route": "cdn", "kind": "drop", "after_fraction": 0.34, "count": 100000})
    emu.reset()
    r = timed_run(["hf://%s?format=dir" % QWEN, dest("flaky")], env, 150)
    drops = sum(1 for q in emu.stats()["requests"] if q.get("fault") == "drop")
    t.ok(r is not None and r.rc == 0 and imported(r, dest("flaky")) == want and drops > 20,
         "every range cut after a third (%d cut connections): the import completes, byte-identical" % drops,
         diag(r))
    emu.faults()

    # -- the resume journal is reused for the same endpoint only ---------------------------------------
    other = files["model-00002-of-00002.safetensors"]
    d = dest("endpoint")

    def cdn_bytes(sha):
        return sum(q["bytes"] for q in emu.stats()["requests"] if q["listener"] == "cdn" and sha in q["path"])

    emu.faults({"route": "cdn", "kind": "corrupt", "count": 100, "match": shard["sha256"]})
    emu.reset()
    r1 = run("hfhub_downloader", ["hf://%s?format=dir" % QWEN, d], env)
    first = cdn_bytes(other["sha256"])
    emu.reset()
    alias = dict(env, HF_ENDPOINT=emu.endpoint.replace("127.0.0.1", "localhost"))
    r2 = run("hfhub_downloader", ["hf://%s?format=dir" % QWEN, d], alias)
    again = cdn_bytes(other["sha256"])
    emu.faults()
    emu.reset()
    r3 = run("hfhub_downloader", ["hf://%s?format=dir" % QWEN, d], alias)
    third = cdn_bytes(other["sha256"])
    t.ok(r1.rc == 1 and first >= other["size"] and r2.rc == 1 and again >= other["size"],
         "work left by a run against one endpoint is not reused against another (HF_ENDPOINT spelled "
         "localhost: %s fetched again)" % other["path"], (r1.diag(), r2.diag()))
    t.ok(r3.rc == 0 and third == 0 and "resumed" in r3.err and imported(r3, d) == want,
         "the same endpoint reuses it (nothing of %s fetched again)" % other["path"], r3.diag())

    # -- kill -9 loses at most about 1 MiB per connection --------------------------------------------
    big = by_id["bench-org/big-model"]
    shard1 = next(f for f in big["files"] if f["path"].startswith("model-00001"))
    src = "hf://bench-org/big-model?format=dir&include=model-00001-of-*"
    for conns in (4, 1):
        d = dest("killed-%d" % conns)
        emu.config(cdn_rate_per_conn=2_000_000)
        emu.reset()
        proc = subprocess.Popen([os.path.join(BIN, "hfhub_downloader"), src, d, "--progress", "none",
                                 "--connections", str(conns)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        received = 0
        while time.monotonic() < deadline:  # until about 2 MB arrived on each connection
            time.sleep(0.2)
            reqs = [q for q in emu.stats()["requests"] if q["listener"] == "cdn"]
            received = sum(q["bytes"] for q in reqs)
            if received >= conns * 2_200_000:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(0.3)
        received = sum(q["bytes"] for q in emu.stats()["requests"] if q["listener"] == "cdn")
        emu.config(cdn_rate_per_conn=0)
        emu.reset()
        r = run("hfhub_downloader", [src, d, "--progress", "plain"], env, timeout=300)
        got = tree_digests(d) if r.rc == 0 else {}
        m = re.search(r"resumed with .* kept \((\d+) bytes\)", r.err)
        kept = int(m.group(1)) if m else 0
        lost = received - kept
        t.ok(r.rc == 0 and got.get(shard1["path"], (0, ""))[1] == shard1["sha256"]
             and received > conns * MIB and kept > 0 and lost <= (conns + 1) * MIB,
             "kill -9 after %.1f MB received on %d connection(s): the rerun kept %.1f MB and fetched %.2f MB of "
             "it again (at most about 1 MiB per connection), verifying every byte"
             % (received / 1e6, conns, kept / 1e6, lost / 1e6),
             r.diag())
        subprocess.run(["rm", "-rf", d])
    emu.stop()
    t.done()


if __name__ == "__main__":
    main()
