#!/usr/bin/env python3
"""Sizes and trees a hostile Hub can claim (tests/tools/hostile_hub.py): the
catalog, the monitor and the downloader answer in bounded time; a model
whose files no image can hold is skipped by the catalog and the monitor
with a warning naming it and the file, while the other models are listed;
the downloader refuses it with a message naming the file and leaves
nothing behind; SIZE and --size-only agree on every model that fits."""
import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import ROOT, Test, clean_env, decode_apps, run  # noqa: E402

HOSTILE_HUB = os.path.join(ROOT, "tests", "tools", "hostile_hub.py")
sys.path.insert(0, os.path.dirname(__file__))
from test_monitor import driver_message  # noqa: E402

# Seconds a whole run may take under the sanitizers on a loaded machine;
# before the fix one hostile model kept them busy for minutes to hours.
BOUND = 60


class HostileHub:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, HOSTILE_HUB], stdout=subprocess.PIPE)
        self.endpoint = self.proc.stdout.readline().decode().split()[-1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


def env_for(hub, **extra):
    return clean_env(None, HF_ENDPOINT=hub.endpoint, HFHUB_TIMEOUT="120", **extra)


def main():
    t = Test()
    models = json.loads(subprocess.run([sys.executable, HOSTILE_HUB, "--list"], check=True,
                                       capture_output=True).stdout)
    refused = [m for m in models if m["refused"]]
    fits = [m for m in models if not m["refused"]]
    hub = HostileHub()
    try:
        # The catalog: the models that fit, with a SIZE; the others skipped by name.
        r = run("hf_catalog", ["--org", "hostile-org", "--limit", "100", "--output", "json"], env_for(hub),
                timeout=BOUND * 3)
        listed = {m["id"]: m for m in json.loads(r.out)} if r.rc == 0 else {}
        t.ok(r.rc == 0 and set(listed) == {m["id"] for m in fits} and r.elapsed < BOUND,
             "hf_catalog lists the %d models that fit in %.1f s, none of the %d that claim impossible sizes"
             % (len(fits), r.elapsed, len(refused)), r.diag())
        for m in refused:
            big = max(m["files"], key=lambda f: f["size"])
            line = [x for x in r.err.splitlines() if "skipped %s " % m["id"] in x]
            t.ok(len(line) == 1 and '"%s"' % big["path"] in line[0] and "refusing" in line[0],
                 "hf_catalog warns that it skipped %s, naming %s" % (m["id"], big["path"]), r.diag())

        # A cache entry that an older hfhub wrote for a hostile model (it then took minutes
        # and stored a size no image has) is not trusted: the model is still skipped.
        cache = os.path.join(t.tmp, "cache")
        r = run("hf_catalog", ["--org", "hostile-org", "--limit", "100", "--output", "json"],
                env_for(hub, HFHUB_CACHE_DIR=cache), timeout=BOUND * 3)
        entries = {}
        for name in os.listdir(os.path.join(cache, "models")):
            e = json.load(open(os.path.join(cache, "models", name)))
            entries[e["id"]] = (name, e)

        def entry_name(model_id, fmt):
            key = "%d\n%s\n%s" % (fmt, hub.endpoint, model_id)
            return hashlib.sha256(key.encode()).hexdigest() + ".json"
        name, good = entries.get("hostile-org/good", (None, {}))
        fmt = good.get("cache_format", 0)
        planted = dict(good, id="hostile-org/huge-1e17", sha=hashlib.sha1(b"huge-1e17").hexdigest(),
                       files_bytes=10 ** 17 + 700, image_bytes=101011289022660608)
        with open(os.path.join(cache, "models", entry_name(planted["id"], fmt)), "w") as f:
            json.dump(planted, f)
        r = run("hf_catalog", ["--org", "hostile-org", "--limit", "100", "--output", "json"],
                env_for(hub, HFHUB_CACHE_DIR=cache), timeout=BOUND * 3)
        again = [m["id"] for m in json.loads(r.out)] if r.rc == 0 else []
        t.ok(name == entry_name("hostile-org/good", fmt) and r.rc == 0 and "hostile-org/huge-1e17" not in again
             and len(again) == len(fits) and "skipped hostile-org/huge-1e17 " in r.err,
             "a cached size no image can have (from an older hfhub) is not trusted: the model is still skipped",
             r.diag())

        # The monitor: same apps, the warnings on stderr, exit 0 (oned keeps the others).
        msg = driver_message({"HFHUB_ORG": "hostile-org", "HFHUB_LIMIT": "100"})
        r = run("hfhub_monitor", [msg, "100"], env_for(hub), timeout=BOUND * 3)
        apps = decode_apps(r.out) if r.rc == 0 else []
        names = sorted(a.get("NAME", "") for a in apps)
        t.ok(r.rc == 0 and len(apps) == len(fits) and r.elapsed < BOUND and r.sanitizer_clean(),
             "hfhub_monitor answers in %.1f s with the %d apps that fit (%s)"
             % (r.elapsed, len(fits), ", ".join(names)), r.diag())
        t.ok(all(("skipped %s " % m["id"]) in r.err for m in refused),
             "hfhub_monitor warns on stderr about each skipped model", r.diag())
        sizes = {a.get("NAME", "").split("@")[0]: int(a.get("SIZE", "-1")) for a in apps}

        # The downloader: --size-only equals SIZE for the models that fit...
        for m in fits:
            r = run("hfhub_downloader", ["--size-only", "hf://" + m["id"]], env_for(hub), timeout=BOUND * 3)
            want = listed.get(m["id"], {}).get("size_mb")
            app = m["id"].replace("/", "--")
            t.ok(r.rc == 0 and r.out.strip() == str(want) and sizes.get(app) == want and r.elapsed < BOUND,
                 "%s (%d files): --size-only, the catalog and the monitor say %s MiB (%.1f s)"
                 % (m["id"], len(m["files"]), want, r.elapsed), r.diag())
        # ...and refuses the others, naming the file, before anything is written.
        for m in refused:
            big = max(m["files"], key=lambda f: f["size"])
            r = run("hfhub_downloader", ["--size-only", "hf://" + m["id"]], env_for(hub), timeout=BOUND * 3)
            t.ok(r.clean_failure(2, '"%s" claims|the largest is "%s"' % (big["path"], big["path"]))
                 and r.elapsed < BOUND,
                 "--size-only %s fails at once (%.1f s) naming %s" % (m["id"], r.elapsed, big["path"]),
                 r.diag())
        dest_dir = os.path.join(t.tmp, "dest")
        os.mkdir(dest_dir)
        for m in ("hostile-org/huge-1e17", "hostile-org/max-int64", "hostile-org/sum-over-limit"):
            dest = os.path.join(dest_dir, m.split("/")[1] + ".qcow2")
            r = run("hfhub_downloader", ["hf://" + m, dest], env_for(hub), timeout=BOUND * 3)
            t.ok(r.rc == 2 and "refusing the import" in r.err and r.elapsed < BOUND and r.sanitizer_clean(),
                 "importing %s as a qcow2 image is refused in %.1f s" % (m, r.elapsed), r.diag())
        left = os.listdir(dest_dir)
        t.ok(left == [], "the refused imports leave nothing in the destination directory", left)
        r = run("hfhub_downloader", ["--size-only", "hf://hostile-org/dir-overflow?format=dir"], env_for(hub))
        t.ok(r.clean_failure(2, '"b.safetensors" claims 4611686018427387904 bytes.*2\\^63'),
             "the directory form refuses a total past 2^63 bytes, naming the file", r.diag())
        dest = os.path.join(dest_dir, "dir-overflow")
        r = run("hfhub_downloader", ["hf://hostile-org/dir-overflow?format=dir", dest], env_for(hub))
        t.ok(r.rc == 2 and '"b.safetensors"' in r.err and not os.path.exists(dest),
             "importing it as a directory is refused and creates nothing", r.diag())
    finally:
        hub.stop()
    t.done()


if __name__ == "__main__":
    main()
