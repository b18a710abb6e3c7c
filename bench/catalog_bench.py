#!/usr/bin/env python3
"""Catalog benchmark (run by hand: `make bench`, not in CI).

hf_catalog --full 1 against the Hub emulator with 50 ms added to every
request, next to a one-request-at-a-time baseline measured in the same run
(the same program with HFHUB_CONCURRENCY=1):

- 4 organisations, paginated listings (5 entries a page: 10 listing pages);
- 2 collections (collections override organisations, so this is a run of
  its own);
- 1 organisation of 100 models (page size 100, as the real Hub serves
  large pages);

then a second run of each over the unchanged models with a warm cache,
which must make only listing requests. `--large` measures the monitor's cap
instead (ONE_MARKET_MAX_APPS, read from lib/one_app.h: 3000 today): --limit
CAP over CAP synthetic models (1000 a page), one run each after an
unmeasured one (the emulator's first answers cost it more), about 3 minutes. Peak RSS comes from GNU time. BENCH_BEFORE_BIN=<dir of an older build> adds that build as a
contender. Prints wall times, requests by route and the ratios. Absolute
times vary between machines; the ratios are what to compare."""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("HFHUB_TEST_BIN", os.path.join(ROOT, "build", "bin"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from harness import BIN, Emulator, Test, clean_env, fixtures  # noqa: E402

LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "50"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
BEFORE = os.environ.get("BENCH_BEFORE_BIN")
AIM = 6.0
GNU_TIME = "/usr/bin/time"
LISTING_ROUTES = {"list_models", "collection", "overview"}


def monitor_cap():
    """The monitor's cap on apps per marketplace, as the code defines it."""
    with open(os.path.join(ROOT, "lib", "one_app.h")) as f:
        m = re.search(r"#define ONE_MARKET_MAX_APPS (\d+)", f.read())
    if not m:
        sys.exit("bench: ONE_MARKET_MAX_APPS not found in lib/one_app.h")
    return int(m.group(1))


def run(bindir, args, env):
    """Runs hf_catalog under GNU time; returns wall s, peak RSS MB, stdout."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rss:
        t0 = time.monotonic()
        p = subprocess.run([GNU_TIME, "-f", "%M", "-o", rss.name, os.path.join(bindir, "hf_catalog")] + args,
                           env=env, stdout=out, stderr=err)
        wall = time.monotonic() - t0
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            sys.exit("bench: hf_catalog failed: " + err.read().decode(errors="replace"))
        return wall, int(rss.read().split()[-1]) / 1024.0, out.read()


def one(emu, bindir, args, env):
    emu.reset()
    wall, rss, out = run(bindir, args, env)
    st = emu.stats()
    return dict(wall=wall, rss=rss, out=out, total=st["total"],
                routes={k: v for k, v in st["by_route"].items() if v})


def scenario(t, emu, name, args, page_size, repeat, warmup=False):
    emu.config(page_size=page_size)
    if warmup:
        one(emu, BIN, args, clean_env(emu))
    contenders = [("hf_catalog", BIN, {}), ("baseline", BIN, {"HFHUB_CONCURRENCY": "1"})]
    if BEFORE:
        contenders.append(("before", BEFORE, {}))
    res = {c[0]: [] for c in contenders}
    for i in range(repeat):
        for cname, bindir, extra in contenders:
            cache = os.path.join(t.tmp, "%s-%s-%d" % (name.replace(" ", "_"), cname, i))
            res[cname].append(one(emu, bindir, args, clean_env(emu, cache=cache, **extra)))
    outs = {r["out"] for rs in res.values() for r in rs}
    if len(outs) != 1:
        sys.exit("bench: %s: the contenders' outputs differ" % name)
    warm = one(emu, BIN, args, clean_env(emu, cache=os.path.join(t.tmp, "%s-hf_catalog-0" % name.replace(" ", "_"))))
    med = {c: statistics.median(r["wall"] for r in rs) for c, rs in res.items()}
    print("%s: hf_catalog %s" % (name, " ".join(args)))
    for cname in res:
        r = res[cname][0]
        print("  %-12s %7.3f s  %4d requests  RSS %5.1f MB  %s" % (cname, med[cname], r["total"], r["rss"], r["routes"]))
    print("  %-12s %7.3f s  %4d requests  RSS %5.1f MB  %s" % ("warm cache", warm["wall"], warm["total"],
                                                               warm["rss"], warm["routes"]))
    print("  speed-up over the baseline: %.1fx%s; warm run makes only listing requests: %s" % (
        med["baseline"] / med["hf_catalog"],
        "" if "before" not in med else ", over the build before: %.1fx" % (med["before"] / med["hf_catalog"]),
        "yes" if set(warm["routes"]) <= LISTING_ROUTES else "NO"))
    return med


def main():
    large = "--large" in sys.argv[1:]
    cap = monitor_cap()
    t = Test()
    emu = Emulator(t.tmp, "--latency-ms", str(LATENCY_MS), "--synthetic-models", str(cap) if large else "150")
    fx = fixtures()
    slugs = ",".join(c["slug"] for c in fx["collections"])
    print("catalog benchmark: %d ms per request, median of %d" % (LATENCY_MS, 1 if large else REPEAT))
    if large:
        scenario(t, emu, "limit %d (the monitor's cap)" % cap,
                 ["--org", "bench-org", "--limit", str(cap), "--full", "1", "--quiet"],
                 1000, 1, warmup=True)
    else:
        orgs = scenario(t, emu, "4 organisations", ["--org", "ONEnextgen,acme-ai,mistral-emu,northwind-labs",
                                                    "--limit", "100", "--full", "1", "--quiet"], 5, REPEAT)
        colls = scenario(t, emu, "2 collections", ["--collection", slugs, "--limit", "100", "--full", "1",
                                                   "--quiet"], 5, REPEAT)
        both = (orgs["baseline"] + colls["baseline"]) / (orgs["hf_catalog"] + colls["hf_catalog"])
        print("4 organisations and 2 collections together: %.1fx over the baseline (aim: at least %.0fx): %s" % (
            both, AIM, "met" if both >= AIM else "NOT MET"))
        scenario(t, emu, "1 organisation", ["--org", "bench-org", "--limit", "100", "--full", "1", "--quiet"],
                 100, REPEAT)
    emu.stop()
    t.done()


if __name__ == "__main__":
    main()
