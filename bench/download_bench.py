#!/usr/bin/env python3
"""Download benchmark (run by hand: `python3 bench/download_bench.py`, not in CI).

The Hub emulator serves bench-org/big-model (~2.6 GB: five ~500 MiB safetensors
shards and small files) through a CDN listener capped per connection
(BENCH_PER_CONN, default 40 MB/s, like one CDN connection) and in aggregate
(BENCH_TOTAL, default 200 MB/s, the physical limit of the setup). In one run,
each contender downloads the model's default selection (shards, config and
tokenizer json, README) into a fresh directory under one temp dir:

  hfhub dir      hfhub_downloader hf://bench-org/big-model DIR --format dir
  hfhub qcow2    the same into DIR.qcow2 (an ext4 filesystem in a qcow2 image)
  hfhub stream   hfhub_downloader hf://bench-org/big-model - > DIR.qcow2: the qcow2 bytes on
                 stdout, redirected into a file on the same file system (HFHUB_WORK_DIR is
                 there too); reported with its time against the qcow2 row (stream / file)
  curl           curl -sS -L -o OUT URL, one file after another
  hf.js          snapshotDownload of @huggingface/hub (bench/download_js_snapshot.mjs)
  aria2c         aria2c -x8 -s8 -j8 from an input file listing every URL
  cap            the aggregate cap itself: model bytes / BENCH_TOTAL

each under GNU time (wall, peak RSS, file system outputs), followed by a
sync of the file system ("durable": hfhub syncs before it reports success,
the others leave their data in the page cache), checked against the
emulator's fixtures (sha256, or sizes with BENCH_VERIFY=size) and deleted
before the next one. Diagnostics: hfhub dir again with --progress plain (its
progress lines show the connection count, its summary the most connections
used); 8 parallel curl > /dev/null against the capped emulator (does the
Python CDN deliver the cap?); hfhub dir with both caps off (the ceiling of
emulator + client + disk); the emulator's CPU use during every run.

BENCH_QUICK=1 runs only the three hfhub contenders and aria2c (no one-connection contenders,
no diagnostics: about a minute a round). BENCH_REPEAT (default 1) repeats the set; medians
are printed and written to
build/bench-download.json. Needs GNU time, curl, qemu-img, e2fsprogs; aria2c
and node are skipped when missing. About 4 minutes per round, most of it the
two one-connection contenders. Absolute numbers depend on the machine; the
ratios to the cap and to aria2c are what to compare."""
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("HFHUB_TEST_BIN", os.path.join(ROOT, "build", "bin"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from harness import BIN, Emulator, Test, clean_env, default_selection, sha256_file  # noqa: E402

REPO = "bench-org/big-model"
PER_CONN = int(os.environ.get("BENCH_PER_CONN", "40000000"))
TOTAL = int(os.environ.get("BENCH_TOTAL", "200000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "1"))
QUICK = os.environ.get("BENCH_QUICK") == "1"   # the hfhub rows and aria2c only
VERIFY = os.environ.get("BENCH_VERIFY", "sha256")          # sha256 | size
GNU_TIME = "/usr/bin/time"
JS_DIR = os.path.join(ROOT, "tests", "js")
JS_SCRIPT = os.path.join(ROOT, "bench", "download_js_snapshot.mjs")
OUT_JSON = os.path.join(ROOT, "build", "bench-download.json")
MB = 1e6

# -- helpers ------------------------------------------------------------------------------------


def emulator_cpu(pid):
    """CPU seconds (user + system) the emulator process has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(argv, env, work, timeout=1800):
    """Runs argv under GNU time, then syncs the file system of work (hfhub syncs before it
    reports success, the other contenders leave their data in the page cache: the time of that
    sync makes the "durable" column). Returns a dict with rc, wall s, peak RSS KB, 512-byte blocks
    written, sync s, stdout, stderr."""
    tfile = os.path.join(work, "gnu-time.out")
    p = subprocess.run([GNU_TIME, "-o", tfile, "-f", "%e %M %O"] + argv, env=env, capture_output=True,
                       timeout=timeout)
    t0 = time.monotonic()
    subprocess.run(["sync", "-f", work])
    sync_s = time.monotonic() - t0
    last = open(tfile).read().strip().splitlines()[-1].split()
    os.unlink(tfile)
    return dict(rc=p.returncode, wall=float(last[0]), rss_kb=int(last[1]), blocks_out=int(last[2]),
                sync_s=sync_s), p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check_dir(root, want, allowed_extra=()):
    """Compares the files under root with want {path: (size, sha256)}; returns (ok, note)."""
    bad = []
    for path, (size, digest) in sorted(want.items()):
        p = os.path.join(root, path)
        if not os.path.isfile(p):
            bad.append("missing " + path)
        elif os.path.getsize(p) != size:
            bad.append("size of " + path)
        elif VERIFY == "sha256" and sha256_file(p) != digest:
            bad.append("sha256 of " + path)
    extra = []
    for d, _, files in os.walk(root):
        for name in files:
            rel = os.path.relpath(os.path.join(d, name), root)
            if rel not in want and not any(rel == a or rel.startswith(a + "/") for a in allowed_extra):
                extra.append(rel)
    if extra:
        bad.append("unexpected " + ", ".join(sorted(extra)[:3]))
    return not bad, "; ".join(bad[:3])


def ext4_extents(raw, path):
    """(logical block, physical block, count) runs of one file in an ext4 image, and its size."""
    out = subprocess.run(["debugfs", "-R", "stat /" + path, raw], capture_output=True, text=True).stdout
    m = re.search(r"Size:\s*(\d+)", out)
    size = int(m.group(1)) if m else -1
    runs = []
    text = out.split("EXTENTS:", 1)[1] if "EXTENTS:" in out else ""
    # "(0-32767):34816-67583", "(32768):70000"; index blocks "(ETB0):1234" do not match
    for lo, lhi, po in re.findall(r"\((\d+)(?:-(\d+))?\):(\d+)", text):
        runs.append((int(lo), int(po), int(lhi or lo) - int(lo) + 1))
    return sorted(runs), size


def check_qcow2(image, want, work):
    """qemu-img check, then every wanted file read straight from the ext4 extents of a raw copy."""
    chk = subprocess.run(["qemu-img", "check", image], capture_output=True, text=True)
    if chk.returncode != 0 or "No errors were found" not in chk.stdout:
        return False, "qemu-img check: " + (chk.stdout + chk.stderr).strip()[-200:]
    raw = os.path.join(work, "image.raw")
    subprocess.run(["qemu-img", "convert", "-O", "raw", image, raw], check=True)
    try:
        hdr = subprocess.run(["dumpe2fs", "-h", raw], capture_output=True, text=True).stdout
        bs = int(re.search(r"Block size:\s*(\d+)", hdr).group(1))
        bad = []
        with open(raw, "rb") as f:
            for path, (size, digest) in sorted(want.items()):
                runs, got_size = ext4_extents(raw, path)
                if got_size != size:
                    bad.append("size of %s (%d)" % (path, got_size))
                    continue
                if VERIFY != "sha256":
                    continue
                h, pos = hashlib.sha256(), 0      # pos: next logical byte to hash
                for lblock, pblock, n in runs:
                    if lblock * bs > pos:          # a hole reads as zeros
                        h.update(bytes(min(lblock * bs, size) - pos))
                        pos = min(lblock * bs, size)
                    f.seek(pblock * bs)
                    left = min(n * bs, size - pos)
                    while left > 0:
                        block = f.read(min(4 << 20, left))
                        if not block:
                            break
                        h.update(block)
                        left -= len(block)
                        pos += len(block)
                if pos < size:
                    h.update(bytes(size - pos))
                if h.hexdigest() != digest:
                    bad.append("sha256 of " + path)
        return not bad, "; ".join(bad[:3])
    finally:
        os.unlink(raw)


# -- contenders ---------------------------------------------------------------------------------


class Bench:
    def __init__(self):
        self.t = Test()
        self.emu = Emulator(self.t.tmp, "--cdn-rate-per-conn", str(PER_CONN), "--cdn-rate-total", str(TOTAL))
        with urllib.request.urlopen(self.emu.endpoint + "/_emulator/fixtures", timeout=900) as r:
            fx = json.loads(r.read())
        model = next(m for m in fx["models"] if m["id"] == REPO)
        files = {f["path"]: f for f in model["files"]}
        self.commit = model["sha"]
        self.want = {p: (files[p]["size"], files[p]["sha256"]) for p in default_selection(list(files))}
        self.model_bytes = sum(s for s, _ in self.want.values())
        self.extra_files = sorted(set(files) - set(self.want))
        self.homes = []

    def env(self, work):
        e = clean_env(self.emu, cache=os.path.join(work, "hfhub-cache"))
        self.homes.append(e["HF_HOME"])
        return e

    def url(self, path):
        return "%s/%s/resolve/%s/%s" % (self.emu.endpoint, REPO, self.commit, path)

    def one(self, name, fn):
        """Runs one contender in a fresh directory; returns its measurement."""
        work = tempfile.mkdtemp(prefix="dl-", dir=self.t.tmp)
        subprocess.run(["sync"])                 # start without the previous run's dirty pages
        self.emu.reset()
        cpu0 = emulator_cpu(self.emu.proc.pid)
        try:
            res = fn(work)
            res["emu_cpu"] = (emulator_cpu(self.emu.proc.pid) - cpu0) / max(res["wall"], 0.01)
            st = self.emu.stats()
            res["requests"] = st["total"]
            res["cdn_requests"] = st["by_route"].get("cdn", 0)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        res["name"] = name
        res["mbps"] = res.get("bytes", self.model_bytes) / res["wall"] / MB if res["rc"] == 0 else 0.0
        res["durable"] = res["wall"] + res["sync_s"]
        res["written_per_byte"] = res["blocks_out"] * 512 / self.model_bytes
        print("  %-26s %7.2f s  %7.1f MB/s  %s%s" % (name, res["wall"], res["mbps"],
              "verified" if res["ok"] else "NOT VERIFIED", (" (" + res["note"] + ")") if res["note"] else ""),
              flush=True)
        for line in res.get("progress", []):
            print("      " + line)
        return res

    def hfhub(self, fmt, progress="none"):
        def fn(work):
            dest = os.path.join(work, "model.qcow2" if fmt == "qcow2" else "model")
            args = ["hf://" + REPO, dest, "--progress", progress] + (["--format", "dir"] if fmt == "dir" else [])
            res, out, err = timed([os.path.join(BIN, "hfhub_downloader")] + args, self.env(work), work)
            rc = res["rc"]
            m = re.search(r"(\d+) requests, (\d+) retries.*?up to (\d+) connections", err)
            if m:
                res.update(hf_requests=int(m.group(1)), retries=int(m.group(2)), max_connections=int(m.group(3)))
            m = re.search(r"([\d.]+ [KMG]?B) re-read to verify", err)
            if m:
                res["reread"] = m.group(1)
            res["progress"] = [ln.split(": ", 1)[-1] for ln in err.splitlines() if "connections," in ln]
            if rc != 0:
                res.update(ok=False, note="exit %d: %s" % (rc, err.strip()[-300:]))
            elif fmt == "dir":
                res["ok"], res["note"] = check_dir(dest, self.want, allowed_extra=(".hfhub",))
            else:
                res["ok"], res["note"] = check_qcow2(dest, self.want, work)
            return res
        return fn

    def stream(self, work):
        """DEST "-": the qcow2 image on stdout, into a file (sh execs hfhub_downloader, so GNU time
        measures it)."""
        out = os.path.join(work, "stdout.qcow2")
        env = self.env(work)
        env["HFHUB_WORK_DIR"] = work
        exe = os.path.join(BIN, "hfhub_downloader")
        res, _, err = timed(["sh", "-c", 'exec "$0" "$1" - --progress none > "$2"', exe, "hf://" + REPO, out],
                            env, work)
        if res["rc"] != 0:
            res.update(ok=False, note="exit %d: %s" % (res["rc"], err.strip()[-300:]))
        else:
            res["ok"], res["note"] = check_qcow2(out, self.want, work)
        return res

    def curl(self, work):
        out = os.path.join(work, "out")
        script = ["set -e"]
        for path in self.want:
            dest = os.path.join(out, path)
            script.append("curl -sS -L --create-dirs -o '%s' '%s'" % (dest, self.url(path)))
        res, _, err = timed(["sh", "-c", "\n".join(script)], self.env(work), work)
        res["ok"], res["note"] = check_dir(out, self.want) if res["rc"] == 0 else (False, err.strip()[-300:])
        return res

    def js(self, work):
        cache = os.path.join(work, "hf-js-cache")
        res, out, err = timed(["node", JS_SCRIPT, self.emu.endpoint, REPO, cache], self.env(work), work)
        if res["rc"] != 0:
            res.update(ok=False, note=err.strip()[-300:])
            return res
        info = json.loads(out.strip().splitlines()[-1])
        res["js_version"] = info.get("version")
        ok, note = check_dir(info["folder"], self.want, allowed_extra=tuple(self.extra_files))
        extra = sorted(set(info["files"]) - set(self.want))
        res["ok"], res["note"] = ok, note or ("also fetched " + ", ".join(extra) if extra else "")
        return res

    def aria2c(self, work):
        out = os.path.join(work, "out")
        listing = os.path.join(work, "aria2-input.txt")
        with open(listing, "w") as f:
            for path in self.want:
                d, base = os.path.split(os.path.join(out, path))
                f.write("%s\n  out=%s\n  dir=%s\n" % (self.url(path), base, d))
        argv = ["aria2c", "-x8", "-s8", "-j8", "-i", listing, "--quiet=true", "--file-allocation=none",
                "--auto-file-renaming=false", "--summary-interval=0"]
        res, _, err = timed(argv, self.env(work), work)
        res["ok"], res["note"] = check_dir(out, self.want) if res["rc"] == 0 else (False, err.strip()[-300:])
        return res

    def emulator_alone(self, work, n=8, total=1_000_000_000):
        """n parallel curl > /dev/null over ranges of the shards: what the capped CDN listener
        delivers without a disk or a client doing real work behind it."""
        shards = sorted(p for p in self.want if p.endswith(".safetensors"))
        per = total // n
        script = []
        for i in range(n):
            script.append("curl -sS -L -o /dev/null -r %d-%d '%s' &" % (
                (i // len(shards)) * per, (i // len(shards)) * per + per - 1, self.url(shards[i % len(shards)])))
        script.append("wait")
        res, _, err = timed(["sh", "-c", "\n".join(script)], self.env(work), work)
        st = self.emu.stats()
        got = sum(r["bytes"] for r in st["requests"] if r["route"] == "cdn")
        res.update(bytes=per * n, ok=res["rc"] == 0 and got == per * n,
                   note="" if got == per * n else "%d of %d bytes served" % (got, per * n))
        return res

    def caps(self, per, total):
        self.emu.config(cdn_rate_per_conn=per, cdn_rate_total=total)

    def close(self):
        self.emu.stop()
        for h in self.homes:
            shutil.rmtree(h, ignore_errors=True)


# -- report -------------------------------------------------------------------------------------


def median_of(runs, key):
    vals = [r[key] for r in runs if key in r and r.get("rc", 0) == 0]
    return statistics.median(vals) if vals else None


def main():
    if not os.path.exists(GNU_TIME):
        sys.exit("bench: GNU time is needed at %s (apt-get install -y time)" % GNU_TIME)
    if not os.access(os.path.join(BIN, "hfhub_downloader"), os.X_OK):
        sys.exit("bench: build/bin/hfhub_downloader is missing: run make")
    have_aria2 = shutil.which("aria2c") is not None
    have_node = shutil.which("node") is not None
    if have_node and not os.path.exists(os.path.join(JS_DIR, "node_modules", "@huggingface", "hub", "package.json")):
        print("bench: installing @huggingface/hub (npm ci in tests/js)", flush=True)
        have_node = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_DIR,
                                   stdout=sys.stderr).returncode == 0
    for tool in ("qemu-img", "debugfs", "dumpe2fs", "curl"):
        if shutil.which(tool) is None:
            sys.exit("bench: %s is needed" % tool)

    b = Bench()
    names = ["hfhub dir", "hfhub qcow2", "hfhub stream (DEST -)", "curl sequential", "hf.js snapshotDownload", "aria2c -x8 -s8 -j8",
             "hfhub dir, progress plain", "emulator alone, 8 x curl", "hfhub dir, caps off"]
    runs = {n: [] for n in names}
    try:
        print("download benchmark: %s, %.1f MB in %d files (default selection); CDN caps %.0f MB/s per "
              "connection, %.0f MB/s in total; %d round(s); verify: %s" %
              (REPO, b.model_bytes / MB, len(b.want), PER_CONN / MB, TOTAL / MB, REPEAT, VERIFY), flush=True)
        for i in range(REPEAT):
            print("round %d" % (i + 1), flush=True)
            b.caps(PER_CONN, TOTAL)
            runs["hfhub dir"].append(b.one("hfhub dir", b.hfhub("dir")))
            runs["hfhub qcow2"].append(b.one("hfhub qcow2", b.hfhub("qcow2")))
            runs["hfhub stream (DEST -)"].append(b.one("hfhub stream (DEST -)", b.stream))
            if QUICK:
                if have_aria2:
                    runs["aria2c -x8 -s8 -j8"].append(b.one("aria2c -x8 -s8 -j8", b.aria2c))
                continue
            runs["curl sequential"].append(b.one("curl sequential", b.curl))
            if have_node:
                runs["hf.js snapshotDownload"].append(b.one("hf.js snapshotDownload", b.js))
            if have_aria2:
                runs["aria2c -x8 -s8 -j8"].append(b.one("aria2c -x8 -s8 -j8", b.aria2c))
            # The same import again, printing its progress lines (connection count every 5 s)
            # and its summary (requests, retries, most connections used).
            runs["hfhub dir, progress plain"].append(b.one("hfhub dir, progress plain", b.hfhub("dir", "plain")))
            runs["emulator alone, 8 x curl"].append(b.one("emulator alone, 8 x curl", b.emulator_alone))
            b.caps(0, 0)
            runs["hfhub dir, caps off"].append(b.one("hfhub dir, caps off", b.hfhub("dir", "plain")))
        b.caps(PER_CONN, TOTAL)
    finally:
        b.close()
    if not have_node:
        print("  (node or @huggingface/hub missing: hf.js skipped)")
    if not have_aria2:
        print("  (aria2c missing: apt-get install -y aria2; aria2c skipped)")

    cap_wall = b.model_bytes / TOTAL
    aria = median_of(runs["aria2c -x8 -s8 -j8"], "wall")
    aria_dur = median_of(runs["aria2c -x8 -s8 -j8"], "durable")
    rows = []
    for name, rs in runs.items():
        if not rs:
            continue
        nbytes = rs[0].get("bytes", b.model_bytes)
        wall, dur = median_of(rs, "wall"), median_of(rs, "durable")
        row = {"name": name, "runs": len(rs), "verified": all(r["ok"] for r in rs),
               "notes": sorted({r["note"] for r in rs if r["note"]}), "bytes": nbytes, "wall_s": wall,
               "durable_s": dur}
        if wall:
            row["mb_per_s"] = nbytes / wall / MB
            row["of_cap"] = nbytes / wall / TOTAL
            row["of_aria2c"] = (aria / wall) * (nbytes / b.model_bytes) if aria else None
        if dur:
            row["of_aria2c_durable"] = aria_dur / dur if aria_dur and nbytes == b.model_bytes else None
        for k, key in (("peak_rss_mb", "rss_kb"), ("written_per_model_byte", "written_per_byte"),
                       ("emulator_cpu", "emu_cpu"), ("requests", "requests"), ("cdn_requests", "cdn_requests"),
                       ("max_connections", "max_connections"), ("hf_requests", "hf_requests"),
                       ("retries", "retries")):
            v = median_of(rs, key)
            if v is not None:
                row[k] = v / 1024 if key == "rss_kb" else v
        rows.append(row)
    first_diag = next((i for i, r in enumerate(rows) if r["name"].startswith(("hfhub dir,", "emulator"))),
                      len(rows))
    rows.insert(first_diag, {"name": "aggregate cap", "runs": 0, "verified": None, "notes": [],
                             "bytes": b.model_bytes, "wall_s": cap_wall, "mb_per_s": TOTAL / MB, "of_cap": 1.0,
                             "of_aria2c": aria / cap_wall if aria else None})

    print()
    print("median of %d round(s); MB = 10^6 bytes; MB/s = model bytes / wall; durable = wall + a sync of the "
          "file system right after; x cap, x aria2c = throughput ratios (dur: on durable times); written = "
          "file system output (%%O x 512) / model bytes; emu CPU = emulator CPU s / wall s (1.0 = one core)"
          % REPEAT)
    fmt = "%-26s %7s %8s %7s %6s %8s %6s %7s %8s %7s %5s  %s"
    print(fmt % ("contender", "wall s", "durable", "MB/s", "x cap", "x aria2c", "dur", "RSS MB", "written",
                 "emu CPU", "conns", "check"))
    for r in rows:
        def f(key, spec):
            v = r.get(key)
            return spec % v if v is not None else "-"
        check = {True: "ok", False: "FAILED", None: "-"}[r["verified"]]
        if r["notes"]:
            check += " (" + "; ".join(r["notes"]) + ")"
        print(fmt % (r["name"], f("wall_s", "%.2f"), f("durable_s", "%.2f"), f("mb_per_s", "%.1f"),
                     f("of_cap", "%.2f"), f("of_aria2c", "%.2f"), f("of_aria2c_durable", "%.2f"),
                     f("peak_rss_mb", "%.0f"), f("written_per_model_byte", "%.3f"), f("emulator_cpu", "%.2f"),
                     f("max_connections", "%d"), check))
    by = {r["name"]: r for r in rows}
    q, d = by.get("hfhub qcow2", {}).get("wall_s"), by.get("hfhub dir", {}).get("wall_s")
    if q and d:
        print("qcow2 time / dir time: %.2f" % (q / d))
    st = by.get("hfhub stream (DEST -)", {}).get("wall_s")
    if q and st:
        by["hfhub stream (DEST -)"]["stream_over_file"] = st / q
        print("stream / file: hfhub stream (DEST -) time / hfhub qcow2 time = %.2f" % (st / q))
    alone = by.get("emulator alone, 8 x curl", {}).get("mb_per_s")
    if alone:
        print("emulator alone (capped, 8 connections, no disk): %.0f MB/s = %.2f x the aggregate cap: %s" %
              (alone, alone * MB / TOTAL, "it delivers the cap" if alone * MB >= 0.95 * TOTAL
               else "IT DOES NOT REACH THE CAP"))
    off = by.get("hfhub dir, caps off", {}).get("mb_per_s")
    if off:
        print("ceiling with the caps off (hfhub dir, emulator + client + disk): %.0f MB/s = %.1f x the aggregate "
              "cap: %s" % (off, off * MB / TOTAL, "the caps bind, not the server" if off * MB > 1.2 * TOTAL
                           else "THE SERVER OR THE DISK MAY BE THE BOTTLENECK"))
    busiest = max((r.get("emulator_cpu") or 0, r["name"]) for r in rows if "caps off" not in r["name"])
    print("busiest capped run for the emulator: %s, %.2f CPU (one Python process; %d CPUs here)" %
          (busiest[1], busiest[0], os.cpu_count()))
    report = {"repo": REPO, "commit": b.commit, "model_bytes": b.model_bytes, "files": sorted(b.want),
              "per_conn_cap": PER_CONN, "total_cap": TOTAL, "repeat": REPEAT, "verify": VERIFY,
              "cpus": os.cpu_count(), "table": rows,
              "runs": {n: rs for n, rs in runs.items() if rs}}
    os.makedirs(os.path.dirname(OUT_JSON), exist_ok=True)
    with open(OUT_JSON, "w") as f:
        json.dump(report, f, indent=1)
    print("written: " + os.path.relpath(OUT_JSON, ROOT))
    failed = any(r["verified"] is False for r in rows)
    shutil.rmtree(b.t.tmp, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
