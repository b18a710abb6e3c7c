#!/usr/bin/env bash
# Runs one libFuzzer target briefly from its seed corpus (a smoke run in
# `make check`; long runs are by hand:
# build/fuzz/<target> build/fuzz/corpus-<target> tests/fuzz/seeds/<target>; libFuzzer
# writes new inputs to the first directory, never to the committed seeds).
set -u
fuzzer="$1"
name=$(basename "$fuzzer")
work="build/fuzz/corpus-$name"
mkdir -p "$work"
cp -n tests/fuzz/seeds/"$name"/* "$work"/ 2>/dev/null
case "$name" in
    fuzz_layout) runs=${FUZZ_RUNS:-300} ;;  # every tree runs mke2fs
    fuzz_sizing) runs=${FUZZ_RUNS:-3000} ;; # an input stands for up to 4000 files
    *) runs=${FUZZ_RUNS:-20000} ;;
esac
if "$fuzzer" -runs="$runs" -max_len=4096 -timeout=10 "$work" >"build/fuzz/$name.log" 2>&1; then
    echo "ok - $name: $runs inputs without a crash, leak, timeout or sanitizer report"
else
    echo "not ok - $name found a problem (see build/fuzz/$name.log)"
    tail -n 30 "build/fuzz/$name.log" | sed 's/^/# /'
    exit 1
fi
