#!/usr/bin/env python3
"""DEST -: the model's work stays locked while the image is streamed out, so
a second import of the same model (two images from one app into a ceph
datastore at once) waits its turn with a clear error instead of sharing or
removing the work under the first one's feet; after the first one ends, the
second succeeds."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BIN, Emulator, Test, clean_env, expected, fixtures, image_contents  # noqa: E402

QWEN = "ONEnextgen/Qwen2.5-1.5B-Instruct-emu"


def main():
    t = Test()
    emu = Emulator(t.tmp)
    want = expected({m["id"]: m for m in fixtures()["models"]}[QWEN])
    env = clean_env(emu, HFHUB_WORK_DIR=t.tmp)
    prog = os.path.join(BIN, "hfhub_downloader")
    out1 = os.path.join(t.tmp, "first.qcow2")
    # a slow stream (150 KiB/s) to a reader that waits before it reads: still running at 2 s
    first = subprocess.Popen("%s --progress none --limit 150k hf://%s - | (sleep 4; cat > '%s')" % (prog, QWEN, out1),
                             shell=True, env=env, stderr=subprocess.PIPE)
    time.sleep(2)
    second = subprocess.run([prog, "--progress", "none", "hf://" + QWEN, "-"], env=env, capture_output=True)
    t.ok(second.returncode != 0 and b"another import of the same model" in second.stderr and not second.stdout,
         "a second DEST - import of the model being streamed waits its turn", second.stderr[-300:])
    first.wait()
    ok, files, _, _ = image_contents(t, out1) if first.returncode == 0 else (False, {}, 0, "")
    files.pop(".hfhub/manifest.json", None)
    t.ok(ok and files == want, "the first stream is complete and valid")
    third = subprocess.run([prog, "--progress", "none", "hf://" + QWEN, "-"], env=env, capture_output=True)
    t.ok(third.returncode == 0 and len(third.stdout) == os.path.getsize(out1),
         "once it is done, the next import runs", third.stderr[-300:])
    emu.stop()
    t.done()


if __name__ == "__main__":
    main()
