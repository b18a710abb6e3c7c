#!/usr/bin/env python3
"""Does the cost grow linearly with the number of files? (run by hand, not in CI:
`python3 bench/scale_bench.py`, or `make bench-all`; README "Cost grows linearly")

The nginx set-up of bench/nginx_bench.py (its nginx, its Hub-shaped static tree and its checks,
imported from there) serves two repositories of 1 KB files of random bytes (non-LFS, git blob
ids), 1000 files a directory, generated once into BENCH_DATA next to nginx_bench's:
  bench/scale-20k    20,000 files in 20 directories
  bench/scale-200k   200,000 files in 200 directories
For each, under GNU time (wall, user+sys CPU, peak RSS), BENCH_REPEAT times (default 1):
  size-only   hfhub_downloader --size-only hf://ID          (the listing, the layout, no download)
  qcow2       hfhub_downloader hf://ID DEST.qcow2
  dir         hfhub_downloader hf://ID DEST --format dir
each import into a fresh directory under BENCH_WORK (default the system temp dir), checked (the
sha256 of every file; for qcow2 also qemu-img check and e2fsck, through debugfs rdump) unless
BENCH_VERIFY=0. The trees imported stay until the end of the run: ext4 without a journal skips
inodes freed in the last ~35 s on every create (see nginx_bench.py), and deleting 200,000 files
between two contenders would bill that to the next one. Prints the table of the README with the
200k / 20k ratios; writes build/bench-scale.json. The emulator is not used: it serves 200,000
files too slowly to measure the client. Needs nginx, GNU time, qemu-img, e2fsprogs; 5-10
minutes per round with the checks and the deletions, plus about a minute to generate the files
the first time."""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nginx_bench as nb  # noqa: E402

REPOS = [("bench/scale-20k", 20_000), ("bench/scale-200k", 200_000)]
FILE_SIZE = 1024
PER_DIR = 1000
REPEAT = int(os.environ.get("BENCH_REPEAT", "1"))
VERIFY = os.environ.get("BENCH_VERIFY", "1") != "0"
OUT_JSON = os.path.join(nb.ROOT, "build", "bench-scale.json")
KINDS = ("size-only", "qcow2", "dir")


def repo_want(repo, n):
    commit = "5ca1" + ("%x" % n).rjust(36, "0")
    nb.COMMIT[repo] = commit
    want = nb.load_repo(repo)
    if want is None or len(want) != n:
        print("bench: generating %s in %s (once)" % (repo, nb.DATA), flush=True)
        shutil.rmtree(os.path.join(nb.DATA, "www", repo), ignore_errors=True)
        want = nb.publish_repo(repo, commit, nb.small_files(n, FILE_SIZE, PER_DIR))
    return want


def timed(argv, env):
    """wall s, user+sys s, peak RSS MB, rc, stdout, stderr of argv under GNU time"""
    with tempfile.NamedTemporaryFile("r") as tf:
        p = subprocess.run([nb.GNU_TIME, "-o", tf.name, "-f", "%e %U %S %M"] + argv, env=env,
                           capture_output=True)
        wall, user, sys_, rss = tf.read().strip().splitlines()[-1].split()
    return dict(wall=float(wall), cpu=float(user) + float(sys_), rss_mb=int(rss) / 1024, rc=p.returncode,
                out=p.stdout.decode(errors="replace"), err=p.stderr.decode(errors="replace"))


def one(b, repo, want, kind, keep):
    work = tempfile.mkdtemp(prefix="scale-", dir=b.tmp)
    keep.append(work)
    exe = os.path.join(nb.BIN, "hfhub_downloader")
    dest = os.path.join(work, "model.qcow2" if kind == "qcow2" else "model")
    if kind == "size-only":
        argv = [exe, "--size-only", "hf://" + repo]
    else:
        argv = [exe, "hf://" + repo, dest, "--progress", "none"] + (["--format", "dir"] if kind == "dir" else [])
    subprocess.run(["sync"])   # start without the previous run's dirty pages
    r = timed(argv, b.env(work))
    check = ""
    if r["rc"]:
        check = "exit %d: %s" % (r["rc"], r["err"].strip()[-300:])
    elif kind == "size-only":
        check = "" if r["out"].strip() else "printed nothing"
    elif VERIFY:
        check = nb.check_dir(dest, want) if kind == "dir" else nb.check_qcow2(dest, want, work)
    r.update(repo=repo, files=len(want), kind=kind, ok=not check, note=check)
    del r["out"], r["err"]
    print("  %-16s %-9s %7.2f s  CPU %6.2f s  peak RSS %6.1f MB  %s" % (
        repo, kind, r["wall"], r["cpu"], r["rss_mb"], "verified" if r["ok"] else "FAILED: " + check), flush=True)
    return r


def main():
    if not os.access(os.path.join(nb.BIN, "hfhub_downloader"), os.X_OK):
        sys.exit("bench: %s/hfhub_downloader is missing: run make" % nb.BIN)
    for tool in ("qemu-img", "debugfs", "e2fsck"):
        if shutil.which(tool) is None:
            sys.exit("bench: %s is needed (apt-get install qemu-utils e2fsprogs)" % tool)
    if not os.path.exists(nb.GNU_TIME) or not os.access(nb.NGINX, os.X_OK):
        sys.exit("bench: GNU time and nginx are needed (apt-get install time nginx)")
    wants = {repo: repo_want(repo, n) for repo, n in REPOS}
    tmp = tempfile.mkdtemp(prefix="hfhub-scale-bench-", dir=nb.WORK_BASE)
    nginx = nb.Nginx(tmp)
    b = nb.Bench(tmp, nginx)
    results, keep = [], []
    try:
        print("nginx on %s; %d CPUs; work dir %s; %d round(s)" % (nginx.endpoint, os.cpu_count(), tmp, REPEAT),
              flush=True)
        for _ in range(REPEAT):
            for repo, _n in REPOS:
                for kind in KINDS:
                    results.append(one(b, repo, wants[repo], kind, keep))
    finally:
        nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def med(repo, kind, key):
        vals = [r[key] for r in results if r["repo"] == repo and r["kind"] == kind and r["ok"]]
        return statistics.median(vals) if vals else None

    (small, n_small), (large, n_large) = REPOS
    print()
    print("median of %d round(s); wall time, peak RSS; ratio = %s / %s (%.0fx the files)" % (
        REPEAT, large, small, n_large / n_small))
    fmt = "%-10s %-22s %-22s %s"
    print(fmt % ("run", "%d files" % n_small, "%d files" % n_large, "ratio: time, RSS, CPU"))
    table = []
    for kind in KINDS:
        row = {"kind": kind}
        cells = []
        for repo in (small, large):
            w, m, c = med(repo, kind, "wall"), med(repo, kind, "rss_mb"), med(repo, kind, "cpu")
            row[repo] = dict(wall=w, rss_mb=m, cpu=c)
            cells.append("%.2f s, %.0f MB" % (w, m) if w is not None else "FAILED")
        s, l_ = row[small], row[large]
        if s["wall"] and l_["wall"]:
            row.update(time_ratio=l_["wall"] / s["wall"], rss_ratio=l_["rss_mb"] / s["rss_mb"],
                       cpu_ratio=l_["cpu"] / s["cpu"] if s["cpu"] else None)
            ratio = "%.1fx, %.1fx, %s" % (row["time_ratio"], row["rss_ratio"],
                                          "%.1fx" % row["cpu_ratio"] if row["cpu_ratio"] else "-")
        else:
            ratio = "-"
        print(fmt % (kind, cells[0], cells[1], ratio))
        table.append(row)
    os.makedirs(os.path.dirname(OUT_JSON), exist_ok=True)
    with open(OUT_JSON, "w") as f:
        json.dump({"cpus": os.cpu_count(), "repeat": REPEAT, "table": table, "runs": results}, f, indent=1)
    print("written: " + os.path.relpath(OUT_JSON, nb.ROOT))
    sys.exit(1 if any(not r["ok"] for r in results) else 0)


if __name__ == "__main__":
    main()
