#!/usr/bin/env python3
"""OpenNebula integration, played the way oned and the datastore drivers
drive it: `make install` into a scratch front-end, the installed monitor
called with the market MAD's message (CDATA and escaped), every APP parsed
with a strict template parser; hfhub-setup applied, re-applied and reverted
on a stand-in front-end layout; `onemarketapp export` played through the
patched downloader.sh for a block and a shared-filesystem datastore, to a
path and to stdout; the stat probe through fs_size; the token file's
permission rule."""
import base64
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (BIN, ROOT, Emulator, Test, clean_env, decode_apps, expected, fixtures,  # noqa: E402
                     image_contents, tree_digests)

QWEN = "ONEnextgen/Qwen2.5-1.5B-Instruct-emu"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def market_message(attrs, cdata):
    v = (lambda x: "<![CDATA[%s]]>" % x) if cdata else (lambda x: x.replace("&", "&amp;").replace("<", "&lt;"))
    tmpl = "".join("<%s>%s</%s>" % (k, v(x), k) for k, x in attrs.items())
    return b64("<MARKET_DRIVER_ACTION_DATA><MARKETPLACE><ID>100</ID><NAME>HF Hub</NAME><MARKET_MAD>hfhub"
               "</MARKET_MAD><TEMPLATE>%s<MARKET_MAD>hfhub</MARKET_MAD></TEMPLATE></MARKETPLACE>"
               "</MARKET_DRIVER_ACTION_DATA>" % tmpl)


def datastore_message(ds_mad, tm_mad, base_path, extra=""):
    return b64("<DS_DRIVER_ACTION_DATA><DATASTORE><ID>1</ID><NAME>default</NAME><DS_MAD><![CDATA[%s]]></DS_MAD>"
               "<TM_MAD><![CDATA[%s]]></TM_MAD><BASE_PATH><![CDATA[%s]]></BASE_PATH><TYPE>0</TYPE>"
               "<TEMPLATE>%s</TEMPLATE></DATASTORE><IMAGE><ID>7</ID><PATH>hf://x</PATH></IMAGE>"
               "</DS_DRIVER_ACTION_DATA>" % (ds_mad, tm_mad, base_path, extra))


def sh(args, env=None, **kw):
    return subprocess.run(args, env=env, capture_output=True, text=True, **kw)


def main():
    t = Test()
    emu = Emulator(t.tmp)
    fx = fixtures()
    by_id = {m["id"]: m for m in fx["models"]}
    want = expected(by_id[QWEN])

    # -- make install into a scratch front-end -------------------------------------------
    front = os.path.join(t.tmp, "one")           # ONE_LOCATION of a self-contained install
    prefix = os.path.join(t.tmp, "prefix")
    shutil.copytree(os.path.join(ROOT, "tests", "integration", "frontend", "remotes"),
                    os.path.join(front, "var", "remotes"))
    ds_dir = os.path.join(front, "var", "remotes", "datastore")
    pristine = {f: open(os.path.join(ds_dir, f), "rb").read() for f in ("downloader.sh", "libfs.sh")}
    r = sh(["make", "--no-print-directory", "install", "PREFIX=" + prefix, "ONE_LOCATION=" + front,
            "BUILD_BIN=" + os.path.relpath(BIN, ROOT)], cwd=ROOT)
    monitor = os.path.join(front, "var", "remotes", "market", "hfhub", "monitor")
    installed = [monitor, os.path.join(front, "var", "remotes", "market", "hfhub", "hf_catalog"),
                 os.path.join(ds_dir, "hfhub_downloader"), os.path.join(prefix, "sbin", "hfhub-setup"),
                 os.path.join(prefix, "bin", "hf_catalog"), os.path.join(prefix, "bin", "hfhub_downloader"),
                 os.path.join(prefix, "share", "hfhub", "examples", "oned.conf.hfhub"),
                 os.path.join(prefix, "share", "doc", "hfhub", "operator-guide.md")]
    t.ok(r.returncode == 0 and all(os.path.exists(p) for p in installed) and os.access(monitor, os.X_OK),
         "make install with PREFIX and ONE_LOCATION puts the monitor in remotes/market/hfhub and the "
         "downloader in remotes/datastore", r.stderr[-800:])
    staged = os.path.join(t.tmp, "staged")
    r = sh(["make", "--no-print-directory", "install", "DESTDIR=" + staged, "PREFIX=/usr",
            "BUILD_BIN=" + os.path.relpath(BIN, ROOT)], cwd=ROOT)
    t.ok(r.returncode == 0 and os.path.exists(os.path.join(staged, "var/lib/one/remotes/market/hfhub/monitor"))
         and os.path.exists(os.path.join(staged, "usr/sbin/hfhub-setup")),
         "make install DESTDIR=... without ONE_LOCATION stages the system layout (/var/lib/one/remotes)")
    for prog in ("hf_catalog", "hfhub_downloader", "hfhub-setup"):
        p = sh([os.path.join(prefix, "sbin" if prog == "hfhub-setup" else "bin", prog), "--help"])
        t.ok(p.returncode == 0 and "Usage" in p.stdout, "%s --help" % prog)

    # -- the installed monitor, as the market MAD runs it --------------------------------------
    env = clean_env(emu)
    attrs = {"HFHUB_ORG": "ONEnextgen, acme-ai", "HFHUB_LIMIT": "100", "HFHUB_AUTO_INDEX": "YES"}
    outs = []
    for cdata in (True, False):
        p = sh([monitor, market_message(attrs, cdata), "100"], env=env)
        outs.append(p.stdout)
        try:
            apps = decode_apps(p.stdout) if p.returncode == 0 else []
        except Exception as e:  # noqa: BLE001
            apps = []
            t.ok(False, "APP lines parse", e)
        ids = [a["MODEL_ID"] for a in apps]
        wanted = sorted((m for m in fx["models"] if m["author"] in ("ONEnextgen", "acme-ai") and not m["private"]),
                        key=lambda m: (-m["downloads"], m["id"]))
        t.ok(p.returncode == 0 and ids == [m["id"] for m in wanted],
             "installed monitor (%s message): every app, each parsed by the strict template parser"
             % ("CDATA" if cdata else "escaped"), p.stderr[-500:])
        fields_ok = all(a["SOURCE"] == "hf://%s@%s" % (a["MODEL_ID"], by_id[a["MODEL_ID"]]["sha"])
                        and a["SIZE"].isdigit() and a["NAME"] == a["MODEL_ID"].replace("/", "--") + "@100"
                        and a["APPTEMPLATE"]["TYPE"] == "DATABLOCK" and a["TYPE"] == "IMAGE"
                        and a["FORMAT"] == "qcow2" for a in apps)
        t.ok(apps and fields_ok, "fields oned needs: NAME, SOURCE pinned to the commit, SIZE, TYPE, FORMAT, "
             "APPTEMPLATE64")
    t.ok(outs[0] == outs[1], "CDATA and escaped messages give the same answer")
    qwen_app = next((a for a in decode_apps(outs[0]) if a["MODEL_ID"] == QWEN), {}) if outs[0] else {}

    # -- hfhub-setup on the stand-in front-end ------------------------------------------------
    setup = os.path.join(prefix, "sbin", "hfhub-setup")
    senv = dict(os.environ, ONE_LOCATION=front)
    r = sh([setup, "apply"], env=senv)
    dl = open(os.path.join(ds_dir, "downloader.sh"), "rb").read()
    lf = open(os.path.join(ds_dir, "libfs.sh"), "rb").read()
    t.ok(r.returncode == 0 and b"hf://*)" in dl and b"hfhub_downloader" in lf and "+hf://*)" in r.stdout,
         "apply wires hf:// into downloader.sh and fs_size, showing the diff", r.stdout + r.stderr)
    t.ok(open(os.path.join(ds_dir, "downloader.sh.hfhub-orig"), "rb").read() == pristine["downloader.sh"]
         and open(os.path.join(ds_dir, "libfs.sh.hfhub-orig"), "rb").read() == pristine["libfs.sh"],
         "the originals are kept as .hfhub-orig")
    t.ok(sh(["bash", "-n", os.path.join(ds_dir, "downloader.sh")]).returncode == 0
         and sh(["bash", "-n", os.path.join(ds_dir, "libfs.sh")]).returncode == 0, "patched scripts parse (bash -n)")
    added = len(dl) - len(pristine["downloader.sh"])
    snippet = open(os.path.join(ROOT, "integration", "snippets", "downloader.sh.hfhub"), "rb").read()
    t.ok(added == len(snippet), "only hfhub's own lines were added")
    r = sh([setup, "apply"], env=senv)
    t.ok(r.returncode == 0 and "no change" in r.stdout
         and open(os.path.join(ds_dir, "downloader.sh"), "rb").read() == dl
         and open(os.path.join(ds_dir, "libfs.sh"), "rb").read() == lf, "apply again: no change")
    t.ok(sh([setup, "status"], env=senv).returncode == 0, "status: wired")

    # -- onemarketapp export, played: the datastore's cp calls downloader.sh ------------------------
    base = os.path.join(t.tmp, "datastores", "1")
    os.makedirs(base)
    block = dict(env, ONE_LOCATION=front, DRV_ACTION=datastore_message("fs", "qcow2", base))
    shared = dict(env, ONE_LOCATION=front, DRV_ACTION=datastore_message("fs", "sharedfs", base))
    downloader = os.path.join(ds_dir, "downloader.sh")
    src = qwen_app.get("SOURCE", "hf://" + QWEN)

    dst = os.path.join(base, "a1b2c3")
    r = sh([downloader, "--md5", "ignored", src, dst], env=block)
    ok, files, vsize, _ = image_contents(t, dst) if r.returncode == 0 else (False, {}, 0, "")
    man = files.pop(".hfhub/manifest.json", None)
    t.ok(r.returncode == 0 and ok and files == want and man,
         "block datastore, to a path: a valid qcow2, files byte-identical, manifest present", r.stderr[-600:])
    t.ok(qwen_app and vsize // 2**20 == int(qwen_app["SIZE"]), "the app's SIZE is the image's virtual size")
    p = subprocess.run([downloader, src, "-"], env=block, capture_output=True)
    with open(dst + "-stdout", "wb") as f:
        f.write(p.stdout)
    ok, files, _, _ = image_contents(t, dst + "-stdout") if p.returncode == 0 else (False, {}, 0, "")
    files.pop(".hfhub/manifest.json", None)
    t.ok(p.returncode == 0 and ok and files == want, "block datastore, to stdout (bridge host): the qcow2 bytes")

    dst = os.path.join(base, "d4e5f6")
    r = sh([downloader, src, dst], env=shared)
    got = tree_digests(dst) if r.returncode == 0 and os.path.isdir(dst) else {}
    man = got.pop(".hfhub/manifest.json", None)
    t.ok(r.returncode == 0 and got == want and man, "shared-filesystem datastore (sharedfs), to a path: the "
         "directory tree with its manifest", r.stderr[-600:])
    p = subprocess.run([downloader, src, "-"], env=shared, capture_output=True)
    tar_path = dst + ".tar"
    with open(tar_path, "wb") as f:
        f.write(p.stdout)
    ok = p.returncode == 0 and tarfile.is_tarfile(tar_path)
    if ok:
        with tarfile.open(tar_path) as tf:
            tf.extractall(dst + "-untar", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        got = tree_digests(dst + "-untar")
        got.pop(".hfhub/manifest.json", None)
        ok = got == want
    t.ok(ok, "shared-filesystem datastore, to stdout: a tar stream of the tree (downloader.sh unpacks tars)")
    r = sh([downloader, src + "?format=qcow2", os.path.join(base, "forced")], env=shared)
    t.ok(r.returncode == 0 and os.path.isfile(os.path.join(base, "forced")), "?format= wins over the datastore kind")
    forced_dir = dict(env, ONE_LOCATION=front, DRV_ACTION=datastore_message(
        "fs", "qcow2", base, "<HFHUB_FORMAT><![CDATA[dir]]></HFHUB_FORMAT>"))
    r = sh([downloader, src, os.path.join(base, "by-attr")], env=forced_dir)
    t.ok(r.returncode == 0 and os.path.isdir(os.path.join(base, "by-attr")),
         "the datastore's HFHUB_FORMAT attribute chooses the form")
    r = sh([downloader, "hf://ONEnextgen/no-such-model-emu", os.path.join(base, "missing")], env=block)
    t.ok(r.returncode != 0 and "not found" in r.stderr and not os.path.exists(os.path.join(base, "missing")),
         "an export of a missing model fails with the Hub's reason, nothing left in the datastore")
    bad = dict(block, DRV_ACTION="not base64!")
    r = sh([downloader, src, os.path.join(base, "bad")], env=bad)
    t.ok(r.returncode != 0 and "DRV_ACTION" in r.stderr, "a broken DRV_ACTION is reported")

    # -- an export that dies, then a new try (OpenNebula picks a new image path each time) ----------
    big = "hf://bench-org/big-model?include=model-00001-of-*"
    emu.config(cdn_rate_total=40_000_000)
    first_dst, second_dst = os.path.join(base, "try1"), os.path.join(base, "try2")
    proc = subprocess.Popen([downloader, big, first_dst], env=block, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(3)
    r = sh([downloader, big, os.path.join(base, "try-parallel")], env=block)
    t.ok(r.returncode == 1 and "another import of the same model" in r.stderr,
         "a second export of the same model into the same datastore waits its turn (clear error)", r.stderr[-300:])
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    work = os.path.join(base, ".hfhub-work")
    t.ok(not os.path.exists(first_dst) and os.listdir(work),
         "the killed try left its work in the datastore's .hfhub-work, not at the image path")
    emu.config(cdn_rate_total=0)
    emu.reset()
    r = sh([downloader, big, second_dst], env=block)
    fetched = sum(q.get("bytes", 0) for q in emu.stats()["requests"] if q["listener"] == "cdn")
    shard = next(f for f in by_id["bench-org/big-model"]["files"] if f["path"].startswith("model-00001"))
    ok, files, _, _ = image_contents(t, second_dst) if r.returncode == 0 else (False, {}, 0, "")
    t.ok(ok and files.get(shard["path"], (0, ""))[1] == shard["sha256"] and fetched < shard["size"] - (50 << 20),
         "the next try, to a new image path, continues the work (%d of %d MB fetched again) and verifies"
         % (fetched >> 20, shard["size"] >> 20), r.stderr[-400:])
    t.ok(os.listdir(work) == [], "the work directory is empty afterwards")
    os.unlink(second_dst)

    # -- the stat probe ----------------------------------------------------------------------------
    probe = 'UTILS_PATH="%s"; source "%s/libfs.sh"; fs_size "$1"' % (ds_dir, ds_dir)
    r = sh(["bash", "-c", probe, "probe", src], env=block)
    t.ok(r.returncode == 0 and r.stdout.strip() == qwen_app.get("SIZE"),
         "fs_size hf://... (the stat action) prints the app's SIZE in MB (%s)" % r.stdout.strip(), r.stderr)
    r = sh(["bash", "-c", probe, "probe", "hf://not/../valid"], env=block)
    t.ok(r.returncode != 0 and "invalid address" in r.stdout, "fs_size of a bad address fails with the reason")
    r = sh(["bash", "-c", probe, "probe", os.path.join(base, "a1b2c3")], env=block)
    t.ok(r.returncode == 0 and r.stdout.strip().isdigit(), "fs_size of a plain file still works")

    # -- revert --------------------------------------------------------------------------------------
    r = sh([setup, "revert"], env=senv)
    t.ok(r.returncode == 0 and all(open(os.path.join(ds_dir, f), "rb").read() == pristine[f] for f in pristine)
         and not os.path.exists(os.path.join(ds_dir, "downloader.sh.hfhub-orig")),
         "revert restores both files byte for byte and removes the backups", r.stdout + r.stderr)
    r = sh([setup, "revert"], env=senv)
    t.ok(r.returncode == 0 and "no change" in r.stdout, "revert again: no change")
    t.ok(sh([setup, "status"], env=senv).returncode == 1, "status: not wired")

    # -- refusals ------------------------------------------------------------------------------------
    odd = os.path.join(t.tmp, "odd", "remotes", "datastore")
    os.makedirs(odd)
    with open(os.path.join(odd, "downloader.sh"), "w") as f:
        f.write("#!/bin/sh\necho this is not OpenNebula's downloader\n")
    shutil.copy(os.path.join(ds_dir, "libfs.sh"), odd)
    before = open(os.path.join(odd, "downloader.sh")).read()
    r = sh([setup, "apply", "--remotes", os.path.dirname(odd)], env=dict(os.environ))
    t.ok(r.returncode != 0 and "does not look like OpenNebula's downloader.sh" in r.stderr
         and open(os.path.join(odd, "downloader.sh")).read() == before,
         "files that do not look like OpenNebula's are refused and left untouched", r.stderr)
    r = sh([setup, "apply", "--remotes", os.path.join(t.tmp, "nowhere")], env=dict(os.environ))
    t.ok(r.returncode != 0 and "is this an OpenNebula front-end" in r.stderr, "a missing front-end is refused")

    # -- the token file (wired again) ------------------------------------------------------------------
    sh([setup, "apply", "--quiet"], env=senv)
    gated = next(m["id"] for m in fx["models"] if m["gated"] and not m["private"])
    token_file = os.path.join(t.tmp, "token")
    with open(token_file, "w") as f:
        f.write(fx["tokens"]["granted"] + "\n")
    tenv = dict(block, HFHUB_TOKEN_FILE=token_file)
    os.chmod(token_file, 0o644)
    r = sh([downloader, "hf://%s" % gated, os.path.join(base, "g1")], env=tenv)
    t.ok(r.returncode != 0 and "loose permissions" in r.stderr and "chmod 0640" in r.stderr
         and fx["tokens"]["granted"] not in r.stderr, "a token file others can read is refused, saying how to fix it",
         r.stderr)
    if os.geteuid() == 0:
        os.chmod(token_file, 0o640)
        r = sh([downloader, "hf://%s" % gated, os.path.join(base, "g2")], env=tenv)
        t.ok(r.returncode == 0 and os.path.isfile(os.path.join(base, "g2")),
             "a root-owned 0640 token file unlocks a gated model", r.stderr[-500:])
    emu.stop()
    t.done()


if __name__ == "__main__":
    main()
