#!/usr/bin/env python3
"""DEST - for an image is a stream written as the model downloads (what
ceph/cp, fs/cp with BRIDGE_LIST and lvm/cp pipe to `ssh ... dd`):

- the stream is byte-identical to a file import of the same address, for
  several models, a selection, and with connections dropped and the Hub
  throttling on the way;
- a 2.5 GB model streams through a work directory that holds only 256 MiB
  (a tmpfs of that size when this runs as root), with RAM bounded by the
  window, and equals the file import;
- a stream that fails (corrupt data twice, a bad window setting) exits
  non-zero with a message that says the image is incomplete, and leaves no
  work behind."""
import hashlib
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BIN, Emulator, Test, clean_env, expected, fixtures, image_contents, sha256_file  # noqa: E402

QWEN = "ONEnextgen/Qwen2.5-1.5B-Instruct-emu"
BIG = "bench-org/big-model"
PROG = os.path.join(BIN, "hfhub_downloader")


def stream(address, env, out_path=None):
    """Runs DEST -; returns (exit status, stderr, sha256 of stdout, bytes, peak RSS in KB)."""
    p = subprocess.Popen([PROG, "--progress", "none", address, "-"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    h = hashlib.sha256()
    size = 0
    errs = []
    t = threading.Thread(target=lambda: errs.append(p.stderr.read()))
    t.start()
    out = open(out_path, "wb") if out_path else None
    while True:
        chunk = p.stdout.read(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        size += len(chunk)
        if out:
            out.write(chunk)
    if out:
        out.close()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    t.join()
    return p.returncode, errs[0] if errs else b"", h.hexdigest(), size, usage.ru_maxrss


def du(path):
    total = 0
    for root, dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def main():
    t = Test()
    emu = Emulator(t.tmp)
    work = os.path.join(t.tmp, "work")
    os.mkdir(work)
    env = clean_env(emu, HFHUB_WORK_DIR=work)
    private = os.path.join(work, "hfhub-%d" % os.geteuid())

    def file_import(address, name):
        path = os.path.join(t.tmp, name)
        r = subprocess.run([PROG, "--progress", "none", address, path], env=env, capture_output=True)
        return path if r.returncode == 0 else None

    # -- byte-identical to a file import --------------------------------------------------------
    models = {m["id"]: m for m in fixtures()["models"]}
    cases = [("hf://" + QWEN, "the default selection"),
             ("hf://ONEnextgen/stable-diffusion-emu", "a model with files in several directories"),
             ("hf://%s?include=*.json" % QWEN, "a selection (include=*.json)")]
    for address, what in cases:
        ref = file_import(address, "ref-%d.qcow2" % len(os.listdir(t.tmp)))
        rc, err, digest, size, _ = stream(address, env)
        t.ok(ref and rc == 0 and digest == sha256_file(ref) and size == os.path.getsize(ref),
             "%s: the stream is byte-identical to the file import" % what, err[-300:])
    t.ok(not os.listdir(private), "a finished stream leaves nothing in the work directory",
         os.listdir(private))

    # dropped connections and a throttling Hub are retried within the stream
    ref = os.path.join(t.tmp, "ref-qwen.qcow2")
    os.rename(file_import("hf://" + QWEN, "ref-qwen.qcow2"), ref)
    emu.reset()
    emu.faults({"route": "cdn", "kind": "drop", "count": 3}, {"route": "resolve", "kind": "429", "count": 2})
    out = os.path.join(t.tmp, "faults.qcow2")
    rc, err, digest, size, _ = stream("hf://" + QWEN, env, out)
    ok, files, _, _ = image_contents(t, out) if rc == 0 else (False, {}, 0, "")
    files.pop(".hfhub/manifest.json", None)
    t.ok(rc == 0 and digest == sha256_file(ref) and ok
         and files == expected(models[QWEN]),
         "dropped connections and 429s during a stream: retried, the image is the same and valid",
         err[-300:])
    emu.faults()
    emu.reset()

    # -- corrupt data: the stream fails, says so, leaves nothing ---------------------------------
    emu.faults({"route": "cdn", "kind": "corrupt", "count": 100})
    rc, err, _, _, _ = stream("hf://" + QWEN, env)
    t.ok(rc == 1 and b"mismatch" in err and b"incomplete" in err and b"cannot be resumed" in err
         and not os.listdir(private),
         "corrupt data during a stream: exit 1, the message says the image is incomplete, no work left",
         err[-400:])
    emu.faults()
    emu.reset()

    rc, err, _, size, _ = stream("hf://" + QWEN, dict(env, HFHUB_STREAM_WINDOW="12 MB"))
    t.ok(rc == 2 and b"HFHUB_STREAM_WINDOW" in err and size == 0,
         "a bad HFHUB_STREAM_WINDOW: exit 2, named, nothing sent", err[-300:])

    # -- a 2.5 GB model through a 256 MiB work directory, RAM bounded ----------------------------
    small = os.path.join(t.tmp, "small-work")
    os.mkdir(small)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256m,mode=0755", "hfhub-test", small],
        capture_output=True).returncode == 0
    peak = [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], du(small))
            time.sleep(0.05)
    w = threading.Thread(target=watch)
    w.start()
    window = 32 << 20
    # ASan's quarantine holds freed blocks: keep it small so RSS shows the program's own use
    big_env = dict(env, HFHUB_WORK_DIR=small, HFHUB_STREAM_WINDOW="32M",
                   ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16")
    rc, err, digest, size, rss_kb = stream("hf://" + BIG, big_env)
    done.set()
    w.join()
    if mounted:
        subprocess.run(["umount", small])
    t.ok(rc == 0 and size > 2_500_000_000,
         "a 2.5 GB model streams through a work directory of %s (peak use %.1f MiB)"
         % ("256 MiB (tmpfs)" if mounted else "unbounded size", peak[0] / 2**20), err[-300:])
    t.ok(peak[0] < 64 << 20, "the work directory held at most %.1f MiB while streaming 2.5 GB"
         % (peak[0] / 2**20))
    rss_limit_kb = (2 * window + (160 << 20)) >> 10
    t.ok(0 < rss_kb < rss_limit_kb,
         "RAM stays bounded by the window: peak RSS %d MiB with a 32 MiB window (limit %d MiB)"
         % (rss_kb >> 10, rss_limit_kb >> 10))
    ref = file_import("hf://" + BIG, "big.qcow2")
    t.ok(ref and digest == sha256_file(ref) and size == os.path.getsize(ref),
         "the 2.5 GB stream is byte-identical to the file import of the same address")
    if ref:
        os.unlink(ref)
    emu.stop()
    t.done()


if __name__ == "__main__":
    main()
