#!/usr/bin/env python3
"""How a directory import reaches the disk before it exits 0, against the Hub emulator with
bench-org/many-files (--many-files): every file verified, and, watched with strace (skipped
without it), the flush it makes. Few files: one fsync per file (the manifest too) and per
directory, no syncfs. Many files (1000 and more) while the kernel holds little dirty data: one
syncfs of the file system instead of 1200 fsyncs; with much dirty data (other writers), the
fsyncs again. Both: DEST's parent is fsynced after the rename that makes DEST appear."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BIN, Emulator, Test, clean_env, expected, fixtures, run, tree_digests  # noqa: E402

MANY = 1200
# lib/hf_import_dir.c: syncfs while dirty + writeback <= 256 MiB + 64 KiB a file (files, config.json, manifest)
DIRTY_BUDGET = (256 << 20) + (MANY + 2) * (64 << 10)
QWEN = "ONEnextgen/Qwen2.5-1.5B-Instruct-emu"


def traced(t, args, env, name):
    """Runs hfhub_downloader under strace -f, tracing the calls that flush and rename; returns
    (rc, [(syscall, argument text)] in order)."""
    log = os.path.join(t.tmp, name + ".strace")
    env = dict(env, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")  # LSan cannot run under ptrace
    p = subprocess.run(["strace", "-f", "-qq", "-o", log, "-e", "trace=fsync,fdatasync,syncfs,sync,rename,renameat,renameat2",
                        os.path.join(BIN, "hfhub_downloader")] + args, env=env, capture_output=True, timeout=600)
    calls = []
    for line in open(log):
        m = re.match(r"^\d+\s+(\w+)\((.*)", line)
        if m and "resumed>" not in line:
            calls.append((m.group(1), m.group(2)))
    return p.returncode, calls, p.stderr.decode(errors="replace")


def dirty():
    """Dirty + Writeback bytes, all file systems (what the import's choice looks at)."""
    total = 0
    for line in open("/proc/meminfo"):
        k, v = line.split(":", 1)
        if k in ("Dirty", "Writeback"):
            total += int(v.split()[0]) * 1024
    return total


def main():
    t = Test()
    emu = Emulator(t.tmp, "--many-files", str(MANY))
    fx = fixtures("--many-files", str(MANY))
    by_id = {m["id"]: m for m in fx["models"]}
    env = clean_env(emu)
    many = by_id["bench-org/many-files"]
    t.ok(len(many["files"]) == MANY + 1, "the emulator serves bench-org/many-files with %d files" % (MANY + 1))

    d = os.path.join(t.tmp, "many")
    r = run("hfhub_downloader", ["hf://bench-org/many-files", d, "--format", "dir", "--progress", "none"], env,
            timeout=600)
    got = tree_digests(d) if r.rc == 0 else {}
    got.pop(".hfhub/manifest.json", None)
    t.ok(r.rc == 0 and got == expected(many), "%d files into a directory: exit 0, every byte as in the fixtures"
         % (MANY + 1), r.diag() if r.rc else set(got) ^ set(expected(many)))
    shutil.rmtree(d, ignore_errors=True)

    if shutil.which("strace") is None:
        print("# skip: strace is not installed (scripts/install-deps.sh test): the flush calls are not checked")
        emu.stop()
        t.done()
        return

    # Other writers on the machine can hold more dirty data than the budget: then the import
    # rightly takes the fsyncs. Up to 3 tries for a quiet moment; each run must be one of the two
    # complete ways.
    synced, busy = False, []
    for attempt in range(3):
        d = os.path.join(t.tmp, "many-traced-%d" % attempt)
        before = dirty()
        rc, calls, err = traced(t, ["hf://bench-org/many-files", d, "--format", "dir", "--progress", "none"],
                                env, "many")
        after = dirty()
        names = [c for c, _ in calls]
        ren = max((i for i, c in enumerate(names) if c.startswith("rename")), default=-1)
        fsyncs = names[:ren].count("fsync") + names[:ren].count("fdatasync")
        if rc == 0 and "syncfs" in names:
            t.ok(names.count("syncfs") == 1 and fsyncs == 0 and names.index("syncfs") < ren
                 and names[ren + 1:] == ["fsync"],
                 "many files: one syncfs, no fsync per file (%d files), then the rename and DEST's parent "
                 "fsynced" % (MANY + 1), names[-4:])
            synced = True
            break
        t.ok(rc == 0 and fsyncs >= MANY + 2 and names[ren + 1:] == ["fsync"],
             "many files, %d MB dirty around the run: an fsync per file instead, then the rename and DEST's "
             "parent fsynced" % (max(before, after) >> 20), err[-300:] if rc else names[-4:])
        busy.append(max(before, after))
        shutil.rmtree(d, ignore_errors=True)
    if not synced and min(busy) > DIRTY_BUDGET // 2:
        print("# syncfs not checked: the machine held %d MB or more dirty data on every try" % (min(busy) >> 20))
    else:
        t.ok(synced, "many files with little dirty data: the syncfs path was taken", busy)

    d = os.path.join(t.tmp, "qwen-traced")
    want = expected(by_id[QWEN])
    rc, calls, err = traced(t, ["hf://" + QWEN, d, "--format", "dir", "--progress", "none"], env, "few")
    names = [c for c, _ in calls]
    dirs = {os.path.dirname(p) for p in want if "/" in p} | {".hfhub"}
    ren = max((i for i, c in enumerate(names) if c.startswith("rename")), default=-1)
    t.ok(rc == 0 and "syncfs" not in names and names[:ren].count("fsync") >= len(want) + 1 + len(dirs) + 1,
         "few files (%d): no syncfs, an fsync for every file, the manifest, each directory and the root"
         % len(want), err[-300:] if rc else names)
    t.ok(rc == 0 and ren >= 0 and names[ren + 1:] == ["fsync"], "few files: DEST's parent fsynced after the rename",
         names[ren:])
    got = tree_digests(d) if rc == 0 else {}
    got.pop(".hfhub/manifest.json", None)
    t.ok(got == want, "few files: every byte as in the fixtures")

    d = os.path.join(t.tmp, "qwen.qcow2")
    rc, calls, err = traced(t, ["hf://" + QWEN, d, "--progress", "none"], env, "qcow2")
    names = [c for c, _ in calls]
    ren = max((i for i, c in enumerate(names) if c.startswith("rename")), default=-1)
    t.ok(rc == 0 and ren > 0 and "fsync" in names[:ren] and names[ren + 1:] == ["fsync"],
         "qcow2: the image fsynced before the rename, DEST's parent after it", err[-300:] if rc else names)
    emu.stop()
    t.done()


if __name__ == "__main__":
    main()
