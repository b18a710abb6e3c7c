#!/usr/bin/env python3
"""How a directory import reaches the disk before it exits 0, against the Hub emulator with
bench-org/many-files (--many-files): every file verified, and, watched with strace (skipped
without it), the flush it makes. Few files: one fsync per file (the manifest too) and per
directory, no syncfs. Many files (1000 and more): one syncfs of the file system instead of
1500 fsyncs. Both: DEST's parent is fsynced after the rename that makes DEST appear."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BIN, Emulator, Test, clean_env, expected, fixtures, run, tree_digests  # noqa: E402

MANY = 1500
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

    d = os.path.join(t.tmp, "many-traced")
    rc, calls, err = traced(t, ["hf://bench-org/many-files", d, "--format", "dir", "--progress", "none"], env, "many")
    names = [c for c, _ in calls]
    t.ok(rc == 0 and names.count("syncfs") == 1, "many files: one syncfs", err[-300:] if rc else names[:10])
    t.ok(rc == 0 and names.count("fsync") + names.count("fdatasync") < 10,
         "many files: no fsync per file (%d fsyncs for %d files)" % (names.count("fsync"), MANY + 1))
    ren = max((i for i, c in enumerate(names) if c.startswith("rename")), default=-1)
    t.ok(rc == 0 and 0 <= names.index("syncfs") < ren < len(names) - 1 and names[ren + 1] == "fsync",
         "many files: syncfs before the rename that makes DEST appear, DEST's parent fsynced after it", names[-4:])
    shutil.rmtree(d, ignore_errors=True)

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
