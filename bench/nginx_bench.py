#!/usr/bin/env python3
"""Uncapped download benchmark against nginx (run by hand: `python3 bench/nginx_bench.py`, not in CI).

Needs Debian's nginx and aria2 (`apt-get install nginx aria2`), GNU time, curl, openssl,
qemu-img and e2fsprogs. No root: nginx runs from a temp config on a free loopback port, its
pid file and logs in the temp dir, and is stopped at the end.

nginx serves a Hub-shaped static tree, the routes hfhub_downloader uses:
  /api/models/<id>/revision/main              {"sha": <commit>, ...}
  /api/models/<id>/tree/<commit>              the whole recursive listing in one page (the
                                              query string ?recursive=true&expand=false is
                                              ignored by the static file lookup)
  /<id>/resolve/<commit>/<path>               the file itself, with Range support (200/206)
No cap: loopback, one nginx, sendfile on.

Two repositories, generated once into BENCH_DATA (default <tmp>/hfhub-nginx-bench-data, kept
between runs; delete it to regenerate):
  big    bench/big-4g: four 1 GiB safetensors shards of random bytes (LFS, sha256) + config.json
  small  bench/small-20k: 20,000 files of 4 KB random bytes (non-LFS, git blob ids) in 20 dirs

Contenders, each into a fresh directory on the same file system (BENCH_WORK, default the
system temp dir), each under GNU time (wall, user+sys CPU), each followed by `sync -f`
(hfhub syncs before it exits 0; the others leave their data in the page cache: "durable" =
wall + that sync):
  hfhub dir      hfhub_downloader hf://ID DEST --format dir
  hfhub qcow2    hfhub_downloader hf://ID DEST.qcow2
  aria2c         aria2c -x16 -s16 -j16 -i LIST
  curl           one curl process per file for big; for small one curl process fetching
                 the files one after another on one connection (a config file of url/output
                 pairs; 20,000 processes would measure fork+exec, not the download)
and every result is checked (sha256 of every file; the qcow2 image through debugfs rdump).

Limits measured in the same run: sha256 of a 1 GiB shard from the page cache (openssl dgst and
coreutils sha256sum, CPU-bound: GB/s per core), a 1 GiB write with dd conv=fdatasync, and nginx
-> curl -> /dev/null over one connection.

Environment: BENCH_ONLY=big|small (default both), BENCH_CONTENDERS=comma list of
hfhub-dir,hfhub-qcow2,aria2c,curl (default all; a name may repeat, and before-dir,before-qcow2
run the hfhub_downloader of BENCH_BEFORE_BIN=<bin directory of another build>, for A/B runs), BENCH_LIMITS=0 skips the limits,
BENCH_VERIFY=0 skips the checks, BENCH_SETTLE=S waits S seconds (default 40) before each contender
on the many-files repository (see Bench.run), BENCH_PERF=DIR records each hfhub run with
`perf record -g` into DIR/<repo>-<format>.data (perf adds overhead: its times are not the
benchmark's). Results are also written to build/bench-nginx.json."""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BIN = os.environ.get("HFHUB_BENCH_BIN", os.path.join(ROOT, "build", "bin"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from harness import sha256_file  # noqa: E402
GNU_TIME = "/usr/bin/time"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DATA = os.environ.get("BENCH_DATA", os.path.join(tempfile.gettempdir(), "hfhub-nginx-bench-data"))
WORK_BASE = os.environ.get("BENCH_WORK", tempfile.gettempdir())
ONLY = os.environ.get("BENCH_ONLY", "big,small").split(",")
CONTENDERS = os.environ.get("BENCH_CONTENDERS", "hfhub-dir,hfhub-qcow2,aria2c,curl").split(",")
LIMITS = os.environ.get("BENCH_LIMITS", "1") != "0"
VERIFY = os.environ.get("BENCH_VERIFY", "1") != "0"
PERF = os.environ.get("BENCH_PERF")
BEFORE_BIN = os.environ.get("BENCH_BEFORE_BIN")
SETTLE = float(os.environ.get("BENCH_SETTLE", "40"))
OUT_JSON = os.path.join(ROOT, "build", "bench-nginx.json")
MB = 1e6
GIB = 1 << 30
COMMIT = {"bench/big-4g": "4b1d" + "0" * 36, "bench/small-20k": "5a11" + "0" * 36}
LAYOUT_VERSION = "1"   # bump when the generated repositories change

# -- the repositories ---------------------------------------------------------------------------


def write_random(path, size):
    """size random bytes (AES-CTR keystream from openssl: fast, incompressible)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    key = os.urandom(32).hex()
    iv = os.urandom(16).hex()
    with open(path, "wb") as out:
        p = subprocess.Popen(["openssl", "enc", "-aes-256-ctr", "-K", key, "-iv", iv, "-nosalt",
                              "-in", "/dev/zero"], stdout=subprocess.PIPE)
        left = size
        while left:
            block = p.stdout.read(min(8 << 20, left))
            out.write(block)
            left -= len(block)
        p.kill()
        p.wait()


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def make_repo(repo):
    """Writes the repository's files and its API answers under DATA/www; returns
    {path: (size, sha256)}. Kept between runs (DATA/<repo>.json says it is complete)."""
    www = os.path.join(DATA, "www")
    saved = load_repo(repo)
    if saved is not None:
        return saved
    commit = COMMIT[repo]
    base = os.path.join(www, repo, "resolve", commit)
    shutil.rmtree(os.path.join(www, repo), ignore_errors=True)
    entries, want = [], {}
    print("bench: generating %s in %s (once)" % (repo, DATA), flush=True)
    if repo == "bench/big-4g":
        for i in range(4):
            path = "model-%05d-of-00004.safetensors" % (i + 1)
            write_random(os.path.join(base, path), GIB)
            digest = sha256_file(os.path.join(base, path))
            want[path] = (GIB, digest)
            entries.append({"type": "file", "path": path, "size": GIB,
                            "oid": hashlib.sha1(digest.encode()).hexdigest(),
                            "lfs": {"oid": digest, "size": GIB, "pointerSize": 134}})
        files = [("config.json", b'{"model_type": "bench", "architectures": ["BenchForCausalLM"]}\n')]
    else:
        files = small_files(20000, 4096, 1000)
    publish_repo(repo, commit, files, entries, want)
    return want


def small_files(n, size, per_dir):
    """n files of size random bytes, per_dir of them in each directory files/NN: [(path, bytes)]."""
    rnd = os.urandom(n * size)
    width = max(2, len(str((n - 1) // per_dir)))
    return [("files/%0*d/%0*d.bin" % (width, i // per_dir, max(5, len(str(n - 1))), i), rnd[i * size:(i + 1) * size])
            for i in range(n)]


def publish_repo(repo, commit, files, entries=None, want=None):
    """Writes files [(path, bytes)] (non-LFS, git blob ids) under the repository's resolve/<commit>
    and the API answers listing them and entries (files already written, e.g. LFS shards), then
    the stamp that make_repo and load_repo check; returns want {path: (size, sha256)}."""
    www = os.path.join(DATA, "www")
    base = os.path.join(www, repo, "resolve", commit)
    entries, want = list(entries or []), dict(want or {})
    for path, data in files:
        os.makedirs(os.path.dirname(os.path.join(base, path)), exist_ok=True)
        with open(os.path.join(base, path), "wb") as f:
            f.write(data)
        want[path] = (len(data), hashlib.sha256(data).hexdigest())
        entries.append({"type": "file", "path": path, "size": len(data), "oid": git_blob_id(data)})
    api = os.path.join(www, "api", "models", repo)
    os.makedirs(os.path.join(api, "revision"), exist_ok=True)
    os.makedirs(os.path.join(api, "tree"), exist_ok=True)
    with open(os.path.join(api, "revision", "main"), "w") as f:
        json.dump({"_id": repo, "id": repo, "modelId": repo, "sha": commit, "private": False,
                   "lastModified": "2026-01-01T00:00:00.000Z", "siblings": [{"rfilename": e["path"]} for e in entries]}, f)
    with open(os.path.join(api, "tree", commit), "w") as f:
        json.dump(sorted(entries, key=lambda e: e["path"]), f)
    with open(os.path.join(DATA, repo.replace("/", "_") + ".json"), "w") as f:
        json.dump({"version": LAYOUT_VERSION, "files": want}, f)
    return want


def load_repo(repo):
    """want {path: (size, sha256)} of a repository generated before with this layout, else None."""
    stamp = os.path.join(DATA, repo.replace("/", "_") + ".json")
    if not os.path.exists(stamp):
        return None
    with open(stamp) as f:
        saved = json.load(f)
    if saved.get("version") != LAYOUT_VERSION:
        return None
    return {p: tuple(v) for p, v in saved["files"].items()}


# -- nginx --------------------------------------------------------------------------------------

NGINX_CONF = """
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {www};
        location /api/ {{ default_type application/json; }}
        location / {{ }}
    }}
}}
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Nginx:
    def __init__(self, tmp):
        self.tmp = os.path.join(tmp, "nginx")
        os.makedirs(self.tmp)
        self.port = free_port()
        conf = os.path.join(self.tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(tmp=self.tmp, port=self.port, www=os.path.join(DATA, "www")))
        self.proc = subprocess.Popen([NGINX, "-p", self.tmp, "-c", conf, "-e", os.path.join(self.tmp, "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.endpoint = "http://127.0.0.1:%d" % self.port
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    sys.exit("bench: nginx did not start: " + self.proc.stderr.read().decode()[-500:])
                time.sleep(0.05)
        sys.exit("bench: nginx does not answer on port %d" % self.port)

    def cpu(self):
        """CPU seconds of the nginx master and workers so far."""
        total = 0.0
        pids = [self.proc.pid]
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                pids += [int(x) for x in f.read().split()]
        except OSError:
            pass
        for pid in pids:
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except OSError:
                pass
        return total

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- measuring ----------------------------------------------------------------------------------


def timed(argv, env, work, cwd=None):
    """Runs argv under GNU time, then syncs the file system of work. Returns wall, user+sys CPU,
    sync seconds, rc and stderr."""
    tfile = os.path.join(work, ".gnu-time")
    p = subprocess.run([GNU_TIME, "-o", tfile, "-f", "%e %U %S"] + argv, env=env, cwd=cwd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    subprocess.run(["sync", "-f", work])
    sync_s = time.monotonic() - t0
    wall, user, sys_ = (float(x) for x in open(tfile).read().strip().splitlines()[-1].split())
    os.unlink(tfile)
    return dict(rc=p.returncode, wall=wall, cpu=user + sys_, user=user, sys=sys_, sync=sync_s,
                err=p.stderr.decode("utf-8", "replace"))


def check_dir(root, want, extra_ok=(".hfhub", "lost+found")):
    bad = []
    for path, (size, digest) in want.items():
        p = os.path.join(root, path)
        if not os.path.isfile(p):
            bad.append("missing " + path)
        elif os.path.getsize(p) != size:
            bad.append("size of " + path)
        elif sha256_file(p) != digest:
            bad.append("sha256 of " + path)
        if len(bad) > 3:
            break
    n = 0
    for d, _, files in os.walk(root):
        for name in files:
            rel = os.path.relpath(os.path.join(d, name), root)
            if rel not in want and rel.split("/", 1)[0] not in extra_ok:
                bad.append("unexpected " + rel)
            n += 1
    return "; ".join(bad[:4])


def check_qcow2(image, want, work):
    chk = subprocess.run(["qemu-img", "check", image], capture_output=True, text=True)
    if chk.returncode != 0 or "No errors were found" not in chk.stdout:
        return "qemu-img check: " + (chk.stdout + chk.stderr).strip()[-200:]
    raw, out = os.path.join(work, "image.raw"), os.path.join(work, "rdump")
    subprocess.run(["qemu-img", "convert", "-O", "raw", image, raw], check=True)
    os.unlink(image)
    fsck = subprocess.run(["e2fsck", "-fn", raw], capture_output=True, text=True)
    if fsck.returncode != 0:
        return "e2fsck: " + fsck.stdout.strip()[-200:]
    os.mkdir(out)
    subprocess.run(["debugfs", "-R", "rdump / " + out, raw], capture_output=True, check=True)
    os.unlink(raw)
    return check_dir(out, want)


class Bench:
    def __init__(self, tmp, nginx):
        self.tmp, self.nginx = tmp, nginx
        self.results = []
        self.later = []

    def cleanup(self):
        for work in self.later:
            shutil.rmtree(work, ignore_errors=True)
        self.later = []

    def env(self, work):
        env = {k: v for k, v in os.environ.items()
               if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "http_proxy", "https_proxy",
                            "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy")}
        env.update(HF_ENDPOINT=self.nginx.endpoint, HF_HOME=os.path.join(work, "hf-home"),
                   HFHUB_CACHE_DIR=os.path.join(work, "hfhub-cache"), HFHUB_WORK_DIR=work,
                   NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
        return env

    def url(self, repo, path):
        return "%s/%s/resolve/%s/%s" % (self.nginx.endpoint, repo, COMMIT[repo], path)

    def run(self, repo, want, name, fn, nbytes):
        work = tempfile.mkdtemp(prefix="run-", dir=self.tmp)
        subprocess.run(["sync"])   # start without the previous run's dirty pages
        if len(want) > 100 and SETTLE > 0:
            # ext4 without a journal will not reuse an inode freed in the last ~35 s
            # (recently_deleted(), dirty_expire_centisecs + 5 s) and walks them all on every
            # create: let the inodes freed before this contender (by an earlier run, or by
            # anything else on the machine) age out of that window first
            time.sleep(SETTLE)
        cpu0 = self.nginx.cpu()
        try:
            res, check = fn(work)
        finally:
            # Many small files are deleted only after the repository's last contender: ext4
            # skips recently deleted inodes when it allocates new ones (recently_deleted()),
            # so creating 20,000 files right after deleting 20,000 costs the next contender
            # tens of seconds of kernel time that has nothing to do with it.
            if len(want) > 100:
                self.later.append(work)
            else:
                shutil.rmtree(work, ignore_errors=True)
        res.update(repo=repo, name=name, bytes=nbytes, server_cpu=self.nginx.cpu() - cpu0)
        res["note"] = ("exit %d: %s" % (res["rc"], res["err"].strip()[-300:])) if res["rc"] else check
        res["ok"] = res["rc"] == 0 and not check
        res["durable"] = res["wall"] + res["sync"]
        res.pop("err", None)
        print("  %-22s %7.2f s (durable %7.2f s) %8.1f MB/s  CPU %6.2f s  nginx %5.2f s  %s" % (
            name, res["wall"], res["durable"], nbytes / res["wall"] / MB, res["cpu"], res["server_cpu"],
            "verified" if res["ok"] else "FAILED: " + res["note"]), flush=True)
        self.results.append(res)
        return res

    def hfhub(self, repo, want, fmt, bindir=BIN):
        def fn(work):
            dest = os.path.join(work, "model.qcow2" if fmt == "qcow2" else "model")
            argv = [os.path.join(bindir, "hfhub_downloader"), "hf://" + repo, dest, "--progress", "none"]
            if fmt == "dir":
                argv += ["--format", "dir"]
            if PERF:
                os.makedirs(PERF, exist_ok=True)
                argv = ["perf", "record", "-q", "-g", "-o",
                        os.path.join(PERF, "%s-%s.data" % (repo.split("/")[1], fmt)), "--"] + argv
            res = timed(argv, self.env(work), work)
            check = ""
            if res["rc"] == 0 and VERIFY:
                check = check_dir(dest, want) if fmt == "dir" else check_qcow2(dest, want, work)
            return res, check
        return fn

    def aria2c(self, repo, want):
        def fn(work):
            out = os.path.join(work, "out")
            listing = os.path.join(work, "aria2-input.txt")
            with open(listing, "w") as f:
                for path in want:
                    d, base = os.path.split(os.path.join(out, path))
                    f.write("%s\n  out=%s\n  dir=%s\n" % (self.url(repo, path), base, d))
            res = timed(["aria2c", "-x16", "-s16", "-j16", "-i", listing, "--quiet=true",
                         "--file-allocation=none", "--auto-file-renaming=false", "--summary-interval=0",
                         "--console-log-level=error"], self.env(work), work)
            return res, (check_dir(out, want) if res["rc"] == 0 and VERIFY else "")
        return fn

    def curl(self, repo, want):
        def fn(work):
            out = os.path.join(work, "out")
            if len(want) < 100:
                script = ["set -e"] + ["curl -sS -f --create-dirs -o '%s' '%s'" % (os.path.join(out, p),
                                                                                   self.url(repo, p)) for p in want]
                argv = ["sh", "-c", "\n".join(script)]
            else:
                cfg = os.path.join(work, "curl.cfg")
                with open(cfg, "w") as f:
                    for p in want:
                        f.write('url = "%s"\noutput = "%s"\n' % (self.url(repo, p), os.path.join(out, p)))
                argv = ["curl", "-sS", "-f", "--create-dirs", "-K", cfg]
            res = timed(argv, self.env(work), work)
            return res, (check_dir(out, want) if res["rc"] == 0 and VERIFY else "")
        return fn

    def limits(self, want_big):
        """The machine's limits, measured now: hashing, a durable write, one HTTP stream."""
        shard = os.path.join(DATA, "www", "bench/big-4g", "resolve", COMMIT["bench/big-4g"],
                             sorted(want_big)[1])
        work = tempfile.mkdtemp(prefix="limits-", dir=self.tmp)
        out = {}
        subprocess.run(["cat", shard], stdout=subprocess.DEVNULL)   # into the page cache
        for name, argv in (("openssl dgst -sha256", ["openssl", "dgst", "-sha256", shard]),
                           ("sha256sum", ["sha256sum", shard])):
            r = timed(argv, None, work)
            out[name] = dict(gb_per_cpu_s=GIB / r["cpu"] / 1e9, wall=r["wall"], cpu=r["cpu"])
            print("  %-34s %.2f GB/s per core (%.2f s CPU for 1 GiB)" % (name, GIB / r["cpu"] / 1e9, r["cpu"]))
        r = timed(["dd", "if=" + shard, "of=" + os.path.join(work, "dd.out"), "bs=4M", "conv=fdatasync",
                   "status=none"], None, work)
        out["dd conv=fdatasync"] = dict(mb_per_s=GIB / r["wall"] / MB, wall=r["wall"], cpu=r["cpu"])
        print("  %-34s %.0f MB/s (1 GiB, %.2f s)" % ("write 1 GiB, dd conv=fdatasync", GIB / r["wall"] / MB,
                                                    r["wall"]))
        cpu0 = self.nginx.cpu()
        r = timed(["curl", "-sS", "-f", "-o", "/dev/null",
                   self.url("bench/big-4g", sorted(want_big)[1])], self.env(work), work)
        out["curl > /dev/null"] = dict(mb_per_s=GIB / r["wall"] / MB, wall=r["wall"], cpu=r["cpu"],
                                       server_cpu=self.nginx.cpu() - cpu0)
        print("  %-34s %.0f MB/s (1 GiB, curl CPU %.2f s, nginx CPU %.2f s)" % (
            "nginx -> curl -> /dev/null, 1 conn", GIB / r["wall"] / MB, r["cpu"], out["curl > /dev/null"]["server_cpu"]))
        shutil.rmtree(work, ignore_errors=True)
        return out


def main():
    for tool in ("hfhub_downloader",):
        if not os.access(os.path.join(BIN, tool), os.X_OK):
            sys.exit("bench: %s/%s is missing: run make" % (BIN, tool))
    need = ["curl", "openssl", "qemu-img", "debugfs", "e2fsck", "sha256sum", "dd"]
    if "aria2c" in CONTENDERS:
        need.append("aria2c")
    if PERF:
        need.append("perf")
    for tool in need:
        if shutil.which(tool) is None:
            sys.exit("bench: %s is needed (apt-get install nginx aria2 curl qemu-utils e2fsprogs)" % tool)
    if not os.path.exists(GNU_TIME) or not os.access(NGINX, os.X_OK):
        sys.exit("bench: GNU time and nginx are needed (apt-get install time nginx)")
    repos = {"big": "bench/big-4g", "small": "bench/small-20k"}
    wants = {k: make_repo(r) for k, r in repos.items() if k in ONLY or (k == "big" and LIMITS)}
    tmp = tempfile.mkdtemp(prefix="hfhub-nginx-bench-", dir=WORK_BASE)
    nginx = Nginx(tmp)
    b = Bench(tmp, nginx)
    limits = {}
    try:
        print("nginx %s on %s; %d CPUs; work dir %s" % (
            subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1],
            nginx.endpoint, os.cpu_count(), tmp), flush=True)
        if LIMITS:
            print("limits")
            limits = b.limits(wants["big"])
        for key in ("big", "small"):
            if key not in ONLY:
                continue
            repo, want = repos[key], wants[key]
            nbytes = sum(s for s, _ in want.values())
            print("%s: %d files, %.1f MB" % (repo, len(want), nbytes / MB), flush=True)
            for c in CONTENDERS:
                if c == "hfhub-dir":
                    b.run(repo, want, "hfhub dir", b.hfhub(repo, want, "dir"), nbytes)
                elif c == "hfhub-qcow2":
                    b.run(repo, want, "hfhub qcow2", b.hfhub(repo, want, "qcow2"), nbytes)
                elif c in ("before-dir", "before-qcow2") and BEFORE_BIN:
                    fmt = c.split("-")[1]
                    b.run(repo, want, "before " + fmt, b.hfhub(repo, want, fmt, BEFORE_BIN), nbytes)
                elif c == "aria2c":
                    b.run(repo, want, "aria2c -x16 -s16 -j16", b.aria2c(repo, want), nbytes)
                elif c == "curl":
                    b.run(repo, want, "curl sequential", b.curl(repo, want), nbytes)
            b.cleanup()
    finally:
        nginx.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print("MB = 10^6 bytes; MB/s = repository bytes / wall; durable = wall + sync -f right after "
          "(hfhub has synced already); CPU = user+sys of the contender; x aria2c = aria2c wall / wall "
          "(above 1: faster), dur = the same on durable times")
    fmt = "%-16s %-22s %8s %8s %8s %8s %8s %9s %6s %8s  %s"
    print(fmt % ("repository", "contender", "wall s", "durable", "MB/s", "CPU s", "CPU s/GB", "x aria2c",
                 "dur", "nginx s", "check"))
    for key in ("big", "small"):
        rs = [r for r in b.results if r["repo"] == repos[key]]
        aria = next((r for r in rs if r["name"].startswith("aria2c") and r["ok"]), None)
        for r in rs:
            r["x_aria2c"] = aria["wall"] / r["wall"] if aria else None
            r["x_aria2c_durable"] = aria["durable"] / r["durable"] if aria else None
            print(fmt % (r["repo"], r["name"], "%.2f" % r["wall"], "%.2f" % r["durable"],
                         "%.1f" % (r["bytes"] / r["wall"] / MB), "%.2f" % r["cpu"],
                         "%.2f" % (r["cpu"] / (r["bytes"] / 1e9)),
                         "%.2f" % r["x_aria2c"] if aria else "-", "%.2f" % r["x_aria2c_durable"] if aria else "-",
                         "%.2f" % r["server_cpu"], "ok" if r["ok"] else "FAILED (%s)" % r["note"]))
        walls = {}
        for r in rs:
            if r["ok"]:
                walls.setdefault(r["name"], []).append(r["wall"])
        med = {n: sorted(w)[len(w) // 2] for n, w in walls.items()}
        for n, w in sorted(walls.items()):
            if len(w) > 1:
                print("%s: %s, median of %d: %.2f s (%.2f-%.2f)" % (repos[key], n, len(w), med[n], min(w), max(w)))
        if "hfhub dir" in med and "hfhub qcow2" in med:
            print("%s: hfhub dir time / qcow2 time = %.2f (medians)" % (repos[key], med["hfhub dir"] / med["hfhub qcow2"]))
        if "before dir" in med and "hfhub dir" in med:
            print("%s: hfhub dir time / before dir time = %.2f (medians)" % (repos[key], med["hfhub dir"] / med["before dir"]))
    if limits and "big" in ONLY:
        sha = limits["openssl dgst -sha256"]["gb_per_cpu_s"]
        big = {r["name"]: r for r in b.results if r["repo"] == repos["big"]}
        gb = sum(s for s, _ in wants["big"].values()) / 1e9
        if "aria2c -x16 -s16 -j16" in big:
            budget = big["aria2c -x16 -s16 -j16"]["cpu"] + gb / sha
            for n in ("hfhub dir", "hfhub qcow2"):
                if n in big:
                    print("%s CPU on %s: %.2f s; aria2c's + SHA-256 of every byte (%.2f GB at %.2f GB/s) = %.2f s: %s"
                          % (n, repos["big"], big[n]["cpu"], gb, sha, budget,
                             "within" if big[n]["cpu"] <= budget else "%.2f s over" % (big[n]["cpu"] - budget)))
    os.makedirs(os.path.dirname(OUT_JSON), exist_ok=True)
    with open(OUT_JSON, "w") as f:
        json.dump({"cpus": os.cpu_count(), "limits": limits, "results": b.results}, f, indent=1)
    print("written: " + os.path.relpath(OUT_JSON, ROOT))
    sys.exit(1 if any(not r["ok"] for r in b.results) else 0)


if __name__ == "__main__":
    main()
