#!/usr/bin/env python3
"""hfhub_downloader --status: an operator watches imports that run without a
terminal (OpenNebula logs a driver's stderr only when it fails). A running
import is listed with its bytes, rate and ETA, from the status file beside
its work files; a killed one is shown as stopped; a finished one leaves no
status behind. Also the DEST - case, whose status lives in the private work
directory."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BIN, Emulator, Test, clean_env, run  # noqa: E402

BIG = "hf://bench-org/big-model?format=dir&include=model-00001-of-*"


def main():
    t = Test()
    emu = Emulator(t.tmp)
    work = os.path.join(t.tmp, "vartmp")
    os.mkdir(work)
    env = clean_env(emu, HFHUB_WORK_DIR=work)
    prog = os.path.join(BIN, "hfhub_downloader")

    r = run("hfhub_downloader", ["--status"], env)
    t.ok(r.rc == 0 and "no import in progress" in r.out, "--status with nothing running says so", r.diag())

    ds = os.path.join(t.tmp, "ds")
    os.mkdir(ds)
    dest = os.path.join(ds, "model")
    emu.config(cdn_rate_total=30_000_000)
    proc = subprocess.Popen([prog, "--progress", "none", BIG, dest], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(4)
    r = run("hfhub_downloader", ["--status", ds], env)
    line = next((ln for ln in r.out.splitlines() if BIG in ln), "")
    t.ok(r.rc == 0 and "-> " + dest in line and "%" in line and "/s" in line and "ETA" in line
         and "pid %d" % proc.pid in line, "--status DIR lists the running import: bytes, rate, ETA, pid",
         r.out + r.err)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    r = run("hfhub_downloader", ["--status", ds], env)
    t.ok(r.rc == 0 and "stopped at" in r.out and "next try continues" in r.out,
         "a killed import is shown as stopped, resumable", r.out + r.err)
    emu.config(cdn_rate_total=0)
    r = run("hfhub_downloader", ["--progress", "none", BIG, dest], env)
    left = [n for n in os.listdir(ds) if n.endswith(".hfhub-status")]
    t.ok(r.rc == 0 and not left, "the finished import leaves no status file", r.diag())
    r = run("hfhub_downloader", ["--status", ds], env)
    t.ok(r.rc == 0 and "no import in progress" in r.out, "--status afterwards: nothing in progress", r.out)

    # DEST -: the status lives in the private work directory, found without naming a directory
    emu.config(cdn_rate_total=30_000_000)
    proc = subprocess.Popen([prog, "--progress", "none", BIG, "-"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(4)
    r = run("hfhub_downloader", ["--status"], env)
    t.ok(r.rc == 0 and BIG in r.out and "-> -:" in r.out, "--status finds a DEST - import in this user's "
         "private work directory", r.out + r.err)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    emu.config(cdn_rate_total=0)

    # a status file is not followed through a planted symlink, and junk is skipped
    with open(os.path.join(ds, "junk.hfhub-status"), "w") as f:
        f.write("{not json")
    os.symlink("/etc/passwd", os.path.join(ds, "link.hfhub-status"))
    r = run("hfhub_downloader", ["--status", ds], env)
    t.ok(r.rc == 0 and "root:" not in r.out and "junk" not in r.out and "link.hfhub" not in r.out
         and r.out.count(" -> ") == 1,
         "malformed and symlinked status files are skipped", r.out + r.err)
    emu.stop()
    t.done()


if __name__ == "__main__":
    main()
