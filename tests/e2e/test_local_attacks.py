#!/usr/bin/env python3
"""What another local user can plant, and what children can see:

- side files next to DEST (.hfhub-part, -journal, -meta, -lock, -status)
  planted as symlinks to a victim file: the import never writes through
  them, the victim stays untouched, and the import completes;
- the catalog cache: a cache directory that is a symlink, writable by
  others or owned by another user is not used (a warning says why, the
  catalog still works and writes nothing there); an entry that is a symlink
  is not read;
- children (mke2fs, tar) run without the token in their environment."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (BIN, Emulator, Test, clean_env, expected, fixtures, image_contents, run,  # noqa: E402
                     tree_digests)

QWEN = "ONEnextgen/Qwen2.5-1.5B-Instruct-emu"


def main():
    t = Test()
    emu = Emulator(t.tmp)
    fx = fixtures()
    by_id = {m["id"]: m for m in fx["models"]}
    want = expected(by_id[QWEN])
    env = clean_env(emu)

    # -- side files planted as symlinks to a victim ---------------------------------------------
    victim = os.path.join(t.tmp, "victim")
    with open(victim, "wb") as f:
        f.write(b"precious\n")
    for form in ("qcow2", "dir"):
        dest = os.path.join(t.tmp, "planted-" + form)
        for suffix in (".hfhub-part", ".hfhub-journal", ".hfhub-meta", ".hfhub-lock", ".hfhub-status",
                       ".hfhub-status.tmp"):
            os.symlink(victim, dest + suffix)
        r = run("hfhub_downloader", ["--progress", "none", "--format", form, "hf://" + QWEN, dest], env)
        if form == "qcow2":
            ok, files, _, _ = image_contents(t, dest) if r.rc == 0 else (False, {}, 0, "")
        else:
            files, ok = (tree_digests(dest), True) if r.rc == 0 else ({}, False)
        files.pop(".hfhub/manifest.json", None)
        left = [n for n in os.listdir(t.tmp) if n.startswith("planted-%s." % form)]
        t.ok(r.rc == 0 and ok and files == want and open(victim, "rb").read() == b"precious\n"
             and not os.path.islink(dest) and not left,
             "%s import with every side file planted as a symlink to a victim: completes, never writes "
             "through a link, the victim is untouched, no link left" % form, r.diag())

    # -- the catalog cache ------------------------------------------------------------------------------
    args = ["--org", "ONEnextgen", "--limit", "5", "--quiet"]
    real = os.path.join(t.tmp, "real-cache")
    os.mkdir(real, 0o700)
    link = os.path.join(t.tmp, "cache-link")
    os.symlink(real, link)
    r = run("hf_catalog", args, clean_env(emu, cache=link))
    t.ok(r.rc == 0 and "warning: the cache directory" in r.err and "symbolic link" in r.err
         and not os.listdir(real), "a cache directory that is a symlink is not used (warning, catalog "
         "still listed, nothing written through it)", r.diag())
    open_cache = os.path.join(t.tmp, "open-cache")
    os.mkdir(open_cache)
    os.chmod(open_cache, 0o777)
    r = run("hf_catalog", args, clean_env(emu, cache=open_cache))
    t.ok(r.rc == 0 and "can be written by other users" in r.err and not os.listdir(open_cache),
         "a world-writable cache directory is not used", r.diag())
    if os.geteuid() == 0:
        theirs = os.path.join(t.tmp, "their-cache")
        os.mkdir(theirs, 0o700)
        os.chown(theirs, 65534, 65534)
        r = run("hf_catalog", args, clean_env(emu, cache=theirs))
        t.ok(r.rc == 0 and "belongs to another user" in r.err, "a cache directory of another user is not used",
             r.diag())
    # an entry replaced by a symlink (to a file with the right content) is not read
    good = os.path.join(t.tmp, "good-cache")
    r1 = run("hf_catalog", args, clean_env(emu, cache=good))
    models = os.path.join(good, "models")
    entries = sorted(os.listdir(models)) if os.path.isdir(models) else []
    stash = os.path.join(t.tmp, "stash")
    os.mkdir(stash)
    for e in entries:
        shutil.move(os.path.join(models, e), os.path.join(stash, e))
        os.symlink(os.path.join(stash, e), os.path.join(models, e))
    emu.reset()
    r2 = run("hf_catalog", args, clean_env(emu, cache=good))
    details = emu.stats()["by_route"].get("model_info", 0)
    t.ok(r1.rc == 0 and r2.rc == 0 and entries and details >= len(entries) and r1.out == r2.out,
         "cache entries that are symlinks are not read: the details are asked again (%d requests)" % details,
         r2.diag())

    # -- children never see the token ---------------------------------------------------------------
    bindir = os.path.join(t.tmp, "bin")
    os.mkdir(bindir)
    real_mke2fs = next(p for p in ("/usr/sbin/mke2fs", "/sbin/mke2fs", shutil.which("mke2fs") or "") if
                       p and os.path.exists(p))
    real_tar = shutil.which("tar")
    envlog = os.path.join(t.tmp, "child-env")
    for name, target in (("mke2fs", real_mke2fs), ("tar", real_tar)):
        with open(os.path.join(bindir, name), "w") as f:
            f.write("#!/bin/sh\nenv >> '%s'\nexec '%s' \"$@\"\n" % (envlog, target))
        os.chmod(os.path.join(bindir, name), 0o755)
    token = fx["tokens"]["granted"]
    cenv = dict(env, PATH=bindir + ":" + env.get("PATH", ""), HF_TOKEN=token, HUGGING_FACE_HUB_TOKEN=token)
    r = run("hfhub_downloader", ["--progress", "none", "hf://" + QWEN, os.path.join(t.tmp, "child.qcow2")], cenv)
    p = subprocess.run([os.path.join(BIN, "hfhub_downloader"), "--progress", "none", "hf://%s?format=dir" % QWEN,
                        "-"], env=dict(cenv, HFHUB_WORK_DIR=t.tmp), capture_output=True)
    seen = open(envlog).read() if os.path.exists(envlog) else ""
    t.ok(r.rc == 0 and p.returncode == 0 and "PATH=" in seen and seen.count("\nPATH=") + seen.startswith("PATH=") >= 2
         and token not in seen and "HF_TOKEN=" not in seen,
         "mke2fs and tar run without HF_TOKEN or HUGGING_FACE_HUB_TOKEN in their environment", r.diag())
    emu.stop()
    t.done()


if __name__ == "__main__":
    main()
