#!/usr/bin/env python3
"""qcow2 imports are bit-reproducible and carry a disk identity: the same
address imported twice (a second apart, fresh each time, and again after an
interrupted run is resumed) gives the same bytes; so does an import made with
a mke2fs that lacks assume_storage_prezeroed (a 1.45.6 stand-in ahead in
PATH). The filesystem UUID follows the documented formula (README, "Disk
identity"), the label stays hfhub-model, and every time in the filesystem is
the commit's date."""
import filecmp
import hashlib
import os
import shutil
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Emulator, Test, clean_env, expected, fixtures, image_contents, run  # noqa: E402

QWEN = "ONEnextgen/Qwen2.5-1.5B-Instruct-emu"


def disk_uuid(kind, repo_id, commit, paths=None):
    """The README's formula, written again as an independent oracle."""
    name = "hfhub-disk 1\n%s\n%s\n%s\n" % (kind, repo_id.lower(), commit)
    if paths is not None:
        name += "".join(p + "\n" for p in sorted(paths, key=lambda p: p.encode()))
    b = bytearray(hashlib.sha256(name.encode()).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x80
    b[8] = (b[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(b)))


def superblock(t, image):
    """dumpe2fs -h of a qcow2 image, as a dict (times in UTC)."""
    raw = image + ".sb.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", image, raw], check=True)
    out = subprocess.run(["dumpe2fs", "-h", raw], capture_output=True, text=True,
                         env=dict(os.environ, TZ="UTC")).stdout
    stat = subprocess.run(["debugfs", "-R", "stat /config.json", raw], capture_output=True, text=True).stdout
    os.unlink(raw)
    fields = {}
    for line in out.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            fields[k.strip()] = v.strip()
    fields["config.json stat"] = stat
    return fields


def epoch(dumpe2fs_date):
    return int(subprocess.run(["date", "-d", dumpe2fs_date, "+%s"], capture_output=True, text=True,
                              env=dict(os.environ, TZ="UTC")).stdout or 0)


STAND_IN = """#!/bin/sh
# mke2fs as e2fsprogs 1.45.6 answers: its version, and its refusal of an
# extended option it does not know (misc/mke2fs.c, parse_extended_opts).
echo "$*" >>'%(log)s'
if [ "$1" = -V ]; then
    printf 'mke2fs 1.45.6 (20-Mar-2020)\\n\\tUsing EXT2FS Library version 1.45.6\\n' >&2
    exit 0
fi
case "$*" in *assume_storage_prezeroed*)
    printf '\\nBad option(s) specified: assume_storage_prezeroed\\n\\n' >&2
    exit 1;;
esac
exec '%(real)s' "$@"
"""


def main():
    t = Test()
    emu = Emulator(t.tmp)
    fx = fixtures()
    by_id = {m["id"]: m for m in fx["models"]}
    qwen = by_id[QWEN]
    env = clean_env(emu, HFHUB_STALL_TIMEOUT="3")

    def dest(name):
        return os.path.join(t.tmp, name)

    def imp(name, address, e=env):
        r = run("hfhub_downloader", [address, dest(name), "--progress", "none"], e)
        t.ok(r.rc == 0 and r.sanitizer_clean(), "import %s into %s" % (address, name), r.diag())
        return r.rc == 0

    # -- the same address twice, a second apart -----------------------------------------
    src = "hf://" + QWEN
    imp("a.qcow2", src)
    time.sleep(1.1)  # a wall-clock time anywhere in the image would now differ
    imp("b.qcow2", src)
    t.ok(filecmp.cmp(dest("a.qcow2"), dest("b.qcow2"), shallow=False),
         "the same address imported twice gives the same qcow2 bytes (cmp)")
    ok, files, _, _ = image_contents(t, dest("a.qcow2"))
    files.pop(".hfhub/manifest.json", None)
    t.ok(ok and files == expected(qwen), "the image is clean (qemu-img check, e2fsck -fn) and reads back")

    # -- identity and times ---------------------------------------------------------------
    sb = superblock(t, dest("a.qcow2"))
    want = disk_uuid("model", QWEN, qwen["sha"])
    t.ok(sb.get("Filesystem UUID") == want, "the filesystem UUID is the documented one (%s)" % want,
         sb.get("Filesystem UUID"))
    t.ok(sb.get("Filesystem volume name") == "hfhub-model", "the label stays hfhub-model")
    commit_time = int(time.mktime(time.strptime(qwen["lastModified"][:19], "%Y-%m-%dT%H:%M:%S"))
                      - time.timezone) if qwen.get("lastModified") else 0
    times = [epoch(sb.get(k, "")) for k in ("Filesystem created", "Last write time", "Last checked")]
    t.ok(commit_time > 0 and times == [commit_time] * 3,
         "created, written and checked at the commit's date (%s)" % qwen.get("lastModified"), times)
    t.ok(" mtime: 0x%08x:00000000" % commit_time in sb["config.json stat"]
         and "crtime: 0x%08x:00000000" % commit_time in sb["config.json stat"],
         "files carry the commit's date", sb["config.json stat"][:600])
    t.ok("Lifetime writes" not in sb, "no lifetime-writes counter")

    # -- another selection, another repository ----------------------------------------------
    imp("json.qcow2", src + "?include=*.json")
    paths = [f["path"] for f in qwen["files"] if f["path"].endswith(".json")]
    got = superblock(t, dest("json.qcow2")).get("Filesystem UUID")
    t.ok(got == disk_uuid("model", QWEN, qwen["sha"], paths) and got != want,
         "another file selection: the UUID also covers the sorted paths taken", got)
    ds = fx["datasets"][0]
    imp("ds.qcow2", "hf://datasets/" + ds["id"])
    got = superblock(t, dest("ds.qcow2")).get("Filesystem UUID")
    t.ok(got == disk_uuid("dataset", ds["id"], ds["sha"]), "a dataset's UUID", got)
    v1 = qwen["revisions"]["v1.0"]
    imp("v1.qcow2", "%s@%s" % (src, v1["sha"]))
    got = superblock(t, dest("v1.qcow2")).get("Filesystem UUID")
    t.ok(got == disk_uuid("model", QWEN, v1["sha"]) and got != want, "another commit, another UUID", got)

    # -- a mke2fs without assume_storage_prezeroed ------------------------------------------
    real = next((p for p in ("/usr/sbin/mke2fs", "/sbin/mke2fs", shutil.which("mke2fs"))
                 if p and os.access(p, os.X_OK)), None)
    bindir = dest("old-e2fsprogs")
    os.mkdir(bindir)
    log = os.path.join(bindir, "calls.log")
    with open(os.path.join(bindir, "mke2fs"), "w") as f:
        f.write(STAND_IN % {"log": log, "real": real})
    os.chmod(os.path.join(bindir, "mke2fs"), 0o755)
    old = dict(env, PATH=bindir + os.pathsep + env.get("PATH", ""))
    imp("c.qcow2", src, old)
    time.sleep(1.1)
    imp("d.qcow2", src, old)
    calls = open(log).read().splitlines() if os.path.exists(log) else []
    formats = [c for c in calls if c.startswith("-q ")]
    t.ok(len(formats) == 2 and calls.count("-V") == 2 and not any("assume_storage_prezeroed" in c for c in calls),
         "the 1.45.6 stand-in formatted both images, asked for its version once per run, never got "
         "assume_storage_prezeroed", calls)
    ok, files, _, _ = image_contents(t, dest("c.qcow2"))
    files.pop(".hfhub/manifest.json", None)
    t.ok(ok and files == expected(qwen), "its image is clean (qemu-img check, e2fsck -fn) and reads back")
    t.ok(filecmp.cmp(dest("c.qcow2"), dest("d.qcow2"), shallow=False),
         "with the 1.45.6 options, two imports give the same bytes")
    t.ok(filecmp.cmp(dest("a.qcow2"), dest("c.qcow2"), shallow=False),
         "and the same bytes as with assume_storage_prezeroed")

    # -- interrupted, then resumed ------------------------------------------------------------
    flaky = dict(env, HFHUB_MAX_RETRIES="0")
    emu.faults({"route": "resolve", "kind": "503", "count": 1000, "match": "model-00002"})
    r = run("hfhub_downloader", [src, dest("e.qcow2"), "--progress", "none"], flaky)
    emu.faults()
    t.ok(r.rc != 0 and os.path.exists(dest("e.qcow2.hfhub-part")), "an import that fails half-way keeps its work",
         r.diag())
    r = run("hfhub_downloader", [src, dest("e.qcow2"), "--progress", "plain"], env)
    t.ok(r.rc == 0 and "resumed" in r.err and filecmp.cmp(dest("a.qcow2"), dest("e.qcow2"), shallow=False),
         "the resumed import gives the same bytes as a fresh one", r.diag())

    emu.stop()
    t.done()


if __name__ == "__main__":
    main()
