#!/usr/bin/env python3
"""Catalog sources run concurrently: organisations list their pages at the
same time (each source's pages in order), per-model requests start while
listings are still running, HFHUB_CONCURRENCY bounds the requests in
flight, and none of it changes the result: the same apps, warnings and
errors as one request at a time, whatever order the answers arrive in, and
no request more. The emulator's added latency and its request log (each
request's time, taken after the latency) show what overlapped."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Emulator, Test, clean_env, fixtures, run  # noqa: E402

LATENCY = 0.3
ORGS = ["ONEnextgen", "acme-ai", "mistral-emu", "northwind-labs"]


def author_of(req):
    for kv in req["query"].split("&"):
        if kv.startswith("author="):
            return kv[len("author="):]
    return None


def routes(stats):
    return {k: v for k, v in stats["by_route"].items() if v}


def main():
    t = Test()
    fx = fixtures()
    slugs = [c["slug"] for c in fx["collections"]]

    # -- overlap in time ----------------------------------------------------------------------
    # 5 entries a page: ONEnextgen lists 3 pages, the others 2. One after another, the
    # listings alone would take 9 round trips.
    want_pages = [-(-sum(1 for m in fx["models"] if m["author"] == o and not m["private"]) // 5) for o in ORGS]
    emu = Emulator(t.tmp, "--latency-ms", str(int(LATENCY * 1000)), "--page-size", "5")
    args = ["--org", ",".join(ORGS), "--limit", "100", "--full", "1", "--quiet"]
    emu.reset()
    r = run("hf_catalog", args, clean_env(emu))
    reqs = sorted(emu.stats()["requests"], key=lambda q: q["ts"])
    lists = [q for q in reqs if q["route"] == "list_models"]
    pages = {o: [q for q in lists if author_of(q) == o] for o in ORGS}
    firsts = [pages[o][0]["ts"] for o in ORGS if pages[o]]
    t.ok(r.rc == 0 and len(firsts) == 4 and max(firsts) - min(firsts) < LATENCY / 2,
         "the first pages of the 4 organisations are fetched at the same time (one after another they "
         "would lie 2-3 round trips apart)", r.diag() + "\nfirst pages at %s" % firsts)
    in_order = all("cursor=" not in pages[o][0]["query"] and
                   all(b["ts"] - a["ts"] >= LATENCY * 0.9 for a, b in zip(pages[o], pages[o][1:]))
                   for o in ORGS if pages[o])
    t.ok(in_order and [len(pages[o]) for o in ORGS] == want_pages == [3, 2, 2, 2],
         "each organisation's pages come one after another, first page first",
         {o: [(round(q["ts"] - reqs[0]["ts"], 2), q["query"][-30:]) for q in pages[o]] for o in ORGS})
    infos = [q for q in reqs if q["route"] == "model_info"]
    t.ok(infos and lists and infos[0]["ts"] < lists[-1]["ts"] - LATENCY / 2,
         "per-model requests start while listings are still running (for the models certain to be "
         "in the catalog)", [(q["route"], round(q["ts"] - reqs[0]["ts"], 2)) for q in reqs][:20])
    span = reqs[-1]["ts"] - reqs[0]["ts"] + LATENCY if reqs else 0
    t.ok(r.rc == 0 and span < len(lists) * LATENCY,
         "the whole catalog (%d listing pages, %d per-model requests) takes less time than its listing "
         "pages one after another" % (len(lists), len(reqs) - len(lists)), "%.2f s" % span)

    # -- the same result, and the same requests, as one request at a time ------------------
    seq = run("hf_catalog", args, clean_env(emu, HFHUB_CONCURRENCY="1"))
    t.ok(seq.rc == 0 and seq.out == r.out, "the same apps as HFHUB_CONCURRENCY=1", seq.diag())
    emu.reset()
    run("hf_catalog", args, clean_env(emu, HFHUB_CONCURRENCY="1"))
    st_seq = routes(emu.stats())
    st_conc = {}
    for q in reqs:
        st_conc[q["route"]] = st_conc.get(q["route"], 0) + 1
    t.ok(st_seq == st_conc, "concurrent and one-at-a-time runs make the same requests, route by route "
         "(no per-model request is wasted)", (st_conc, st_seq))

    # -- HFHUB_CONCURRENCY bounds the requests in flight -----------------------------------
    # A request takes at least the latency, so within any shorter window each connection can
    # finish at most one: the finishing times show how many ran at once.
    emu.config(latency_ms=200)
    emu.reset()
    r3 = run("hf_catalog", ["--org", ",".join(ORGS), "--limit", "12", "--quiet"],
             clean_env(emu, HFHUB_CONCURRENCY="3"))
    ts = sorted(q["ts"] for q in emu.stats()["requests"])
    most = max(sum(1 for x in ts if a <= x < a + 0.16) for a in ts) if ts else 0
    t.ok(r3.rc == 0 and most == 3, "HFHUB_CONCURRENCY=3: at most 3 requests at a time, and 3 are used "
         "(%d finished within 0.16 s at most)" % most, r3.diag())
    emu.config(latency_ms=0)

    # -- order of arrival does not matter ---------------------------------------------------
    # The first source's first answer comes last; its entries still come first among equals,
    # and an organisation given twice is listed once.
    def both(argv, **env):
        c = run("hf_catalog", argv, clean_env(emu, **env))
        s = run("hf_catalog", argv, clean_env(emu, HFHUB_CONCURRENCY="1", **env))
        return c, s

    matrix = []
    for sort in ("downloads", "likes", "lastModified"):
        for direction in ("-1", "1"):
            for limit in ("1", "6", "100"):
                matrix.append(["--org", ",".join(ORGS + ["meta-llama-emu"]), "--sort", sort,
                               "--direction", direction, "--limit", limit, "--output", "json"])
    matrix += [["--org", "acme-ai,ONEnextgen,acme-ai", "--limit", "9", "--output", "json"],
               ["--collection", ",".join(slugs), "--full", "1", "--output", "json"],
               ["--org", "ONEnextgen,quiet-labs-emu,emu-granted", "--full", "1", "--output", "json"],
               ["--org", ",".join(ORGS), "--task", "text-generation", "--search", "e", "--output", "json"]]
    diffs = []
    for argv in matrix:
        first = argv[1].split(",")[0]
        if argv[0] == "--collection":
            emu.faults({"route": "collection", "kind": "stall", "stall_s": 0.5, "count": 1, "match": first})
        else:
            emu.faults({"route": "list_models", "kind": "stall", "stall_s": 0.5, "count": 1,
                        "match": "author=" + first})
        c, s = both(argv)
        emu.faults()
        if c.rc != 0 or c.out != s.out or c.err != s.err:
            diffs.append((argv, c.rc, s.rc, c.err[-300:], s.err[-300:]))
    t.ok(not diffs, "%d catalogs (every sort, both directions, limits, a duplicated organisation, "
         "collections, empty sources, filters), the first source answering last: output and messages "
         "identical to one request at a time" % len(matrix), diffs)

    # an independent oracle for two of them
    def oracle(orgs, key, desc, limit):
        ms = [m for m in fx["models"] if m["author"] in orgs and not m["private"]]
        ms.sort(key=lambda m: m["id"])
        ms.sort(key=lambda m: m[key], reverse=desc)
        return [m["id"] for m in ms][:limit]
    for key, desc in (("likes", True), ("downloads", False)):
        emu.faults({"route": "list_models", "kind": "stall", "stall_s": 0.5, "count": 1, "match": "author=ONEnextgen"})
        c = run("hf_catalog", ["--org", ",".join(ORGS), "--sort", key, "--direction", "-1" if desc else "1",
                               "--limit", "10", "--output", "json", "--quiet"], clean_env(emu))
        emu.faults()
        got = [m["id"] for m in json.loads(c.out)] if c.rc == 0 else None
        t.ok(got == oracle(ORGS, key, desc, 10), "--sort %s %s over 4 organisations: the fixtures' order"
             % (key, "descending" if desc else "ascending"), (got, c.diag()))

    # -- a failing source decides only once the sources before it are complete --------------
    # ONEnextgen's first page answers after 1 s and its second page fails; the misspelt
    # organisation after it fails at once. One after another, ONEnextgen's error is the one
    # reported, and so it is here; given the other way round, the misspelling is.
    emu.config(page_size=5)
    stall_then_fail = [{"route": "list_models", "kind": "stall", "stall_s": 1, "count": 1,
                        "match": "author=ONEnextgen"},
                       {"route": "list_models", "kind": "503", "count": 100, "match": "author=ONEnextgen"}]
    emu.faults(*stall_then_fail)
    r = run("hf_catalog", ["--org", "ONEnextgen,no-such-org-emu"], clean_env(emu, HFHUB_MAX_RETRIES="1"))
    t.ok(r.clean_failure(1, "organisation ONEnextgen: the Hub failed with HTTP 503") and r.elapsed >= 1.0,
         "the first source's error is reported, though a later source failed first; no APP printed",
         r.diag())
    emu.faults(*stall_then_fail)
    r = run("hf_catalog", ["--org", "no-such-org-emu,ONEnextgen"], clean_env(emu, HFHUB_MAX_RETRIES="1"))
    t.ok(r.clean_failure(1, "organisation no-such-org-emu: no organisation or user of that name")
         and r.elapsed < 1.0,
         "a failing first source ends the run at once, without waiting for the stalled one", r.diag())
    emu.faults({"route": "list_models", "kind": "503", "count": 100, "match": "author=northwind-labs"})
    c, s = both(["--org", ",".join(ORGS)], HFHUB_MAX_RETRIES="1")
    emu.faults()
    t.ok(c.clean_failure(1, "organisation northwind-labs: the Hub failed with HTTP 503") and c.err == s.err,
         "a failing source among four: exit 1, no APP line, the message of one request at a time", c.diag())
    emu.stop()
    t.done()


if __name__ == "__main__":
    main()
