#!/bin/sh
# Runs every benchmark in sequence, the ones behind each table of README
# "Benchmarks" (`make bench-all`, by hand, never in CI; 30-40 minutes on a
# 2-core machine, plus the one-time generation of the nginx repositories):
#   catalog_bench.py, catalog_bench.py --large, download_bench.py,
#   nginx_bench.py, scale_bench.py
# nginx and aria2c are needed by the last two: installed with apt-get when
# missing and run as root, else the script says what to install and stops.
# Every script's own environment variables pass through (BENCH_REPEAT, ...).
set -u
cd "$(dirname "$0")/.."
missing=
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
command -v aria2c >/dev/null 2>&1 || missing="$missing aria2"
[ -x /usr/bin/time ] || missing="$missing time"
if [ -n "$missing" ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "bench: installing$missing (apt-get)"
        apt-get install -y $missing >/dev/null || { echo "bench: apt-get install$missing failed" >&2; exit 1; }
    else
        echo "bench: needs$missing: run as root, or first: sudo apt-get install -y$missing" >&2
        exit 1
    fi
fi
failed=
for b in "catalog_bench.py" "catalog_bench.py --large" "download_bench.py" "nginx_bench.py" "scale_bench.py"; do
    echo "== bench/$b"
    # shellcheck disable=SC2086 # the argument of --large is split on purpose
    python3 bench/$b || failed="$failed $b;"
done
if [ -n "$failed" ]; then
    echo "bench: failed:$failed" >&2
    exit 1
fi
echo "bench: all done (JSON results in build/bench-*.json)"
