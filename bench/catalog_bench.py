#!/usr/bin/env python3
"""Catalog benchmark (run by hand: `make bench`, not in CI).

hf_catalog --full 1 --limit 100 against the Hub emulator with 50 ms added
to every request, next to a one-request-at-a-time baseline measured in the
same run (the same program with HFHUB_CONCURRENCY=1), then a second run
over the unchanged models with a warm cache. Prints wall times, requests by
route and the ratios. Absolute times vary between machines; the ratios are
what to compare."""
import os
import statistics
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("HFHUB_TEST_BIN", os.path.join(ROOT, "build", "bin"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from harness import Emulator, Test, clean_env, run  # noqa: E402

LATENCY_MS = int(os.environ.get("BENCH_LATENCY_MS", "50"))
LIMIT = "100"
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))


def one(emu, env):
    emu.reset()
    t0 = time.monotonic()
    r = run("hf_catalog", ["--org", "bench-org", "--limit", LIMIT, "--full", "1", "--quiet"], env)
    wall = time.monotonic() - t0
    if r.rc != 0:
        sys.exit("bench: hf_catalog failed: " + r.err)
    st = emu.stats()
    return wall, st["total"], {k: v for k, v in st["by_route"].items() if v}, r.out


def main():
    t = Test()
    emu = Emulator(t.tmp, "--latency-ms", str(LATENCY_MS), "--synthetic-models", "150", "--page-size", "100")
    ours, base = [], []
    for i in range(REPEAT):
        cold = os.path.join(t.tmp, "cold-%d" % i)
        w, n, routes, out = one(emu, clean_env(emu, cache=cold))
        ours.append(w)
        bw, bn, broutes, bout = one(emu, clean_env(emu, cache=os.path.join(t.tmp, "base-%d" % i),
                                                   HFHUB_CONCURRENCY="1"))
        base.append(bw)
        assert out == bout, "parallel and sequential runs disagree"
    warm = os.path.join(t.tmp, "cold-0")
    ww, wn, wroutes, wout = one(emu, clean_env(emu, cache=warm))
    emu.stop()
    o, b = statistics.median(ours), statistics.median(base)
    print("catalog benchmark: --org bench-org --limit %s --full 1, %d ms per request, median of %d" %
          (LIMIT, LATENCY_MS, REPEAT))
    print("  baseline (one request at a time): %6.2f s  %3d requests  %s" % (b, bn, broutes))
    print("  hf_catalog (concurrent)         : %6.2f s  %3d requests  %s" % (o, n, routes))
    print("  speed-up                        : %6.1fx" % (b / o))
    print("  second run (warm cache)         : %6.2f s  %3d requests  %s" % (ww, wn, wroutes))
    print("  second run only lists           : %s" % ("yes" if set(wroutes) == {"list_models"} else "NO"))
    t.done()


if __name__ == "__main__":
    main()
