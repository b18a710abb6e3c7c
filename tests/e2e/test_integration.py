#!/usr/bin/env python3
"""OpenNebula integration, played the way oned and its drivers drive it.

The front-end is tests/integration/frontend: our own stand-ins for
OpenNebula's scripts (each file says which real script it mirrors and what
of it hfhub relies on): scripts_common.sh, xpath.rb, downloader.sh,
libfs.sh, common/stat (fs/stat), fs/cp, ceph/cp and the directory
datastore's virtiofs/cp, virtiofs/stat and virtiofs/rm. hfhub is installed
into it with `make install`, wired with hfhub-setup, and every driver action
runs as OpenNebula runs it: as the user oneadmin (when the test runs as
root), the driver message base64 on stdin, the image id as $1, reading back
stdout. The market side runs the installed monitor as one_market.rb's
do_action does (see market_monitor below)."""
import base64
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from one_market_pool import Pool  # noqa: E402
from harness import (BIN, ROOT, Emulator, Test, decode_apps, expected, fixtures,  # noqa: E402
                     image_contents, tree_digests)

QWEN = "ONEnextgen/Qwen2.5-1.5B-Instruct-emu"
AS_ROOT = os.geteuid() == 0


def b64(text):
    return base64.b64encode(text.encode()).decode()


def market_message(market_id, name, attrs):
    """The market MAD's message as MarketPlace::to_xml builds it (values escaped)."""
    esc = lambda x: x.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # noqa: E731
    tmpl = "".join("<%s>%s</%s>" % (k, esc(x), k) for k, x in attrs.items())
    return b64("<MARKET_DRIVER_ACTION_DATA><MARKETPLACE><ID>%d</ID><UID>0</UID><GID>0</GID><UNAME>oneadmin"
               "</UNAME><GNAME>oneadmin</GNAME><NAME>%s</NAME><STATE>0</STATE><MARKET_MAD>hfhub</MARKET_MAD>"
               "<ZONE_ID>0</ZONE_ID><MARKETPLACEAPPS></MARKETPLACEAPPS><TEMPLATE>%s<MARKET_MAD>hfhub"
               "</MARKET_MAD></TEMPLATE></MARKETPLACE></MARKET_DRIVER_ACTION_DATA>"
               % (market_id, esc(name), tmpl))


def datastore_message(ds_mad, tm_mad, base_path, image_path, image_source="", image_tmpl="", ds_tmpl="",
                      image_id=7, ds_name="default"):
    """The datastore driver's message (DS_DRIVER_ACTION_DATA with IMAGE and DATASTORE), as oned sends it
    to cp, stat and rm and as one_market.rb builds it for an export."""
    esc = lambda x: x.replace("&", "&amp;").replace("<", "&lt;")  # noqa: E731
    return b64("<DS_DRIVER_ACTION_DATA><IMAGE><ID>%d</ID><NAME>model</NAME><PATH>%s</PATH><SOURCE>%s</SOURCE>"
               "<TYPE>%d</TYPE><TEMPLATE>%s</TEMPLATE></IMAGE><DATASTORE><ID>100</ID><NAME>%s</NAME>"
               "<DS_MAD>%s</DS_MAD><TM_MAD>%s</TM_MAD><BASE_PATH>%s</BASE_PATH><TYPE>0</TYPE>"
               "<TEMPLATE>%s</TEMPLATE></DATASTORE></DS_DRIVER_ACTION_DATA>"
               % (image_id, esc(image_path), esc(image_source), 4 if ds_mad == "virtiofs" else 2, image_tmpl,
                  ds_name, ds_mad, tm_mad, esc(base_path), ds_tmpl))


class Frontend:
    """A front-end directory tree (ONE_LOCATION) and the user its drivers run as."""

    def __init__(self, t, emu):
        self.t = t
        self.root = os.path.join(t.tmp, "one")
        shutil.copytree(os.path.join(ROOT, "tests", "integration", "frontend"), self.root, symlinks=True)
        self.remotes = os.path.join(self.root, "var", "remotes")
        self.ds_scripts = os.path.join(self.remotes, "datastore")
        self.created_user = False
        if AS_ROOT:
            try:
                pwd.getpwnam("oneadmin")
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                                "oneadmin"], check=True)
                self.created_user = True
            self.uid = pwd.getpwnam("oneadmin").pw_uid
            self.gid = pwd.getpwnam("oneadmin").pw_gid
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        os.chmod(t.tmp, 0o755)
        home = self.mkdir("home")
        # what oned's drivers see: its environment, no terminal (the emulator stands in for the Hub)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "ONE_LOCATION": self.root,
                    "HF_ENDPOINT": emu.endpoint, "HF_HOME": home, "HFHUB_CACHE_DIR": self.mkdir("cache"),
                    "HFHUB_RETRY_BASE_MS": "50", "NO_PROXY": "127.0.0.1,localhost",
                    "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", ""),
                    "UBSAN_OPTIONS": os.environ.get("UBSAN_OPTIONS", "")}

    def mkdir(self, *parts, mode=0o755):
        path = os.path.join(self.t.tmp, *parts)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)
        if AS_ROOT:
            os.chown(path, self.uid, self.gid)
        return path

    def run(self, args, stdin=None, env=None, **kw):
        """Runs args as oneadmin, as oned's MADs run the drivers."""
        pre = ["setpriv", "--reuid=%d" % self.uid, "--regid=%d" % self.gid, "--init-groups"] if AS_ROOT else []
        return subprocess.run(pre + args, input=stdin, env=dict(self.env, **(env or {})), capture_output=True,
                              text=True, cwd=self.t.tmp, **kw)

    def ds_action(self, ds_mad, action, message, image_id=7, **kw):
        """A datastore action as oned runs it: remotes/datastore/<DS_MAD>/<action> <image id>, the driver
        message (base64) on stdin; stdout is the answer."""
        return self.run([os.path.join(self.ds_scripts, ds_mad, action), str(image_id)], stdin=message, **kw)

    def market_monitor(self, message, market_id):
        """As one_market.rb's monitor -> do_action(stdin=false): the command line is
        '<remotes>/market/<MARKET_MAD>/monitor <drv_action> <id>', run through a shell; the answer is the
        command's stdout, a non-zero status is a failure whose stderr oned logs."""
        return self.run(["sh", "-c", "%s %s %d" % (os.path.join(self.remotes, "market", "hfhub", "monitor"),
                                                    message, market_id)])


def main():
    t = Test()
    emu = Emulator(t.tmp)
    fx = fixtures()
    by_id = {m["id"]: m for m in fx["models"]}
    want = expected(by_id[QWEN])
    fe = Frontend(t, emu)
    who = "oneadmin" if AS_ROOT else "the current user (not root: oneadmin cannot be played)"

    # -- make install into the front-end ---------------------------------------------------------
    prefix = os.path.join(t.tmp, "prefix")
    pristine = {}
    for rel in ("downloader.sh", "libfs.sh", "virtiofs/cp", "virtiofs/stat", "virtiofs/rm"):
        pristine[rel] = open(os.path.join(fe.ds_scripts, rel), "rb").read()
    r = subprocess.run(["make", "--no-print-directory", "install", "PREFIX=" + prefix, "ONE_LOCATION=" + fe.root,
                        "BUILD_BIN=" + os.path.relpath(BIN, ROOT)], cwd=ROOT, capture_output=True, text=True)
    monitor = os.path.join(fe.remotes, "market", "hfhub", "monitor")
    installed = [monitor, os.path.join(fe.remotes, "market", "hfhub", "hf_catalog"),
                 os.path.join(fe.ds_scripts, "hfhub_downloader"), os.path.join(prefix, "sbin", "hfhub-setup"),
                 os.path.join(prefix, "bin", "hf_catalog"), os.path.join(prefix, "bin", "hfhub_downloader"),
                 os.path.join(prefix, "share", "hfhub", "virtiofs-cp.hfhub"),
                 os.path.join(prefix, "share", "hfhub", "examples", "oned.conf.hfhub"),
                 os.path.join(prefix, "share", "doc", "hfhub", "operator-guide.md")]
    t.ok(r.returncode == 0 and all(os.path.exists(p) for p in installed) and os.access(monitor, os.X_OK),
         "make install with PREFIX and ONE_LOCATION puts the monitor in remotes/market/hfhub, the downloader "
         "in remotes/datastore and the snippets in share/hfhub", r.stderr[-800:])
    staged = os.path.join(t.tmp, "staged")
    r = subprocess.run(["make", "--no-print-directory", "install", "DESTDIR=" + staged, "PREFIX=/usr",
                        "BUILD_BIN=" + os.path.relpath(BIN, ROOT)], cwd=ROOT, capture_output=True, text=True)
    t.ok(r.returncode == 0 and os.path.exists(os.path.join(staged, "var/lib/one/remotes/market/hfhub/monitor"))
         and os.path.exists(os.path.join(staged, "usr/sbin/hfhub-setup")),
         "make install DESTDIR=... without ONE_LOCATION stages the system layout (/var/lib/one/remotes)")
    for prog in ("hf_catalog", "hfhub_downloader", "hfhub-setup"):
        p = subprocess.run([os.path.join(prefix, "sbin" if prog == "hfhub-setup" else "bin", prog), "--help"],
                           capture_output=True, text=True)
        t.ok(p.returncode == 0 and "Usage" in p.stdout, "%s --help" % prog)

    # -- the monitor, as one_market.rb runs it --------------------------------------------------------
    attrs = {"HFHUB_ORG": "ONEnextgen, acme-ai", "HFHUB_LIMIT": "100", "HFHUB_AUTO_INDEX": "YES"}
    p = fe.market_monitor(market_message(100, "HF Hub", attrs), 100)
    try:
        apps = decode_apps(p.stdout) if p.returncode == 0 else []
    except Exception as e:  # noqa: BLE001
        apps = []
        t.ok(False, "APP lines parse", e)
    wanted = sorted((m for m in fx["models"] if m["author"] in ("ONEnextgen", "acme-ai") and not m["private"]),
                    key=lambda m: (-m["downloads"], m["id"]))
    t.ok(p.returncode == 0 and [a["MODEL_ID"] for a in apps] == [m["id"] for m in wanted],
         "the installed monitor, run as %s with the message on its command line: every app, each parsed by "
         "the strict template parser" % who, p.stderr[-500:])
    t.ok(apps and all(a["SOURCE"] == "hf://%s@%s" % (a["MODEL_ID"], by_id[a["MODEL_ID"]]["sha"])
                      and a["SIZE"].isdigit() and a["APPTEMPLATE"]["TYPE"] == "DATABLOCK" and a["TYPE"] == "IMAGE"
                      for a in apps),
         "fields oned needs: NAME, SOURCE pinned to the commit, SIZE, TYPE, APPTEMPLATE64")
    qwen_app = next((a for a in apps if a["MODEL_ID"] == QWEN), {})
    src = qwen_app.get("SOURCE", "hf://" + QWEN)

    # Two marketplaces whose sources overlap (the spec's "Certified" and "Enterprise & Certified"),
    # each monitored three times; oned's pool (tests/tools/one_market_pool.py, mirroring
    # MarketPlaceAppPool::import and MarketPlaceManager::_monitor) takes every answer.
    certified = {"HFHUB_ORG": "ONEnextgen", "HFHUB_LIMIT": "100"}
    enterprise = {"HFHUB_ORG": "acme-ai, ONEnextgen", "HFHUB_LIMIT": "100"}
    pool = Pool()
    for _ in range(3):
        for mid, name, attrs in ((100, "HF Hub - Certified", certified),
                                 (101, "HF Hub - Enterprise and Certified", enterprise)):
            p = fe.market_monitor(market_message(mid, name, attrs), mid)
            pool.monitor(str(mid), p.returncode, p.stdout)
    ours = sorted(m["id"] for m in fx["models"] if m["author"] == "ONEnextgen" and not m["private"])
    both = sorted(m["id"] for m in fx["models"] if m["author"] in ("ONEnextgen", "acme-ai") and not m["private"])
    t.ok(pool.models("100") == ours and pool.models("101") == both,
         "two marketplaces listing the same models: oned's pool gives each its own app for every model",
         (pool.models("100"), pool.models("101")))
    t.ok(set(pool.writes("100").values()) == {1} and set(pool.writes("101").values()) == {1},
         "three monitor cycles of both: no app is rewritten")

    # -- hfhub-setup ----------------------------------------------------------------------------------------
    setup = os.path.join(prefix, "sbin", "hfhub-setup")
    senv = dict(os.environ, ONE_LOCATION=fe.root)
    r = subprocess.run([setup, "apply"], env=senv, capture_output=True, text=True)
    now = {rel: open(os.path.join(fe.ds_scripts, rel), "rb").read() for rel in pristine}
    t.ok(r.returncode == 0 and b"hf://*)" in now["downloader.sh"] and b"hfhub_downloader" in now["libfs.sh"]
         and all(b"# BEGIN hfhub" in now[k] for k in now) and "+hf://*)" in r.stdout,
         "apply wires downloader.sh, fs_size and virtiofs cp/stat/rm, showing the diff", r.stdout + r.stderr)
    t.ok(all(open(os.path.join(fe.ds_scripts, rel + ".hfhub-orig"), "rb").read() == pristine[rel]
             for rel in pristine), "OpenNebula's files are kept as .hfhub-orig")
    t.ok(all(subprocess.run(["bash", "-n", os.path.join(fe.ds_scripts, rel)]).returncode == 0 for rel in pristine),
         "every patched script parses (bash -n)")
    snippets = os.path.join(ROOT, "integration", "snippets")
    t.ok(len(now["downloader.sh"]) - len(pristine["downloader.sh"])
         == os.path.getsize(os.path.join(snippets, "downloader.sh.hfhub"))
         and len(now["virtiofs/cp"]) - len(pristine["virtiofs/cp"])
         == os.path.getsize(os.path.join(snippets, "virtiofs-cp.hfhub")), "only hfhub's own lines were added")
    r = subprocess.run([setup, "apply"], env=senv, capture_output=True, text=True)
    t.ok(r.returncode == 0 and r.stdout.count("no change") == len(pristine)
         and all(open(os.path.join(fe.ds_scripts, k), "rb").read() == now[k] for k in now), "apply again: no change")
    t.ok(subprocess.run([setup, "status"], env=senv, capture_output=True).returncode == 0, "status: wired")

    base = fe.mkdir("datastores", "1")
    stage = fe.mkdir("staging")
    dirbase = fe.mkdir("datastores", "100")
    fe.env["HFHUB_WORK_DIR"] = fe.mkdir("vartmp", mode=0o1777)  # stands in for /var/tmp
    if AS_ROOT:
        os.chown(fe.env["HFHUB_WORK_DIR"], 0, 0)

    def cdn_bytes():
        return sum(q.get("bytes", 0) for q in emu.stats()["requests"] if q["listener"] == "cdn")

    # -- common/stat (fs/stat): the size probe in fs_size ----------------------------------------------------
    r = fe.ds_action("fs", "stat", datastore_message("fs", "qcow2", base, src))
    t.ok(r.returncode == 0 and r.stdout.strip() == qwen_app.get("SIZE"),
         "fs/stat (common/stat -> fs_size) of hf://... prints the app's SIZE in MB (%s)" % r.stdout.strip(),
         r.stderr)
    r = fe.ds_action("fs", "stat", datastore_message("fs", "qcow2", base, "hf://not/../valid"))
    t.ok(r.returncode != 0 and "invalid address" in r.stderr, "fs/stat of a bad address fails with the reason",
         r.stderr)

    # -- fs/cp: a disk-image datastore, to a path ----------------------------------------------------------
    r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, src))
    dst, fmt = (r.stdout.split() + ["", ""])[:2]
    ok, files, vsize, _ = image_contents(t, dst) if r.returncode == 0 and os.path.isfile(dst) else (False, {}, 0, "")
    man = files.pop(".hfhub/manifest.json", None)
    t.ok(r.returncode == 0 and fmt == "qcow2" and os.path.dirname(dst) == base and ok and files == want and man,
         "fs/cp, run as %s: prints '<BASE_PATH>/<hash> qcow2'; a valid image, files byte-identical, manifest "
         "present" % who, r.stderr[-600:])
    t.ok(qwen_app and vsize // 2**20 == int(qwen_app["SIZE"]), "the app's SIZE is the image's virtual size")
    if AS_ROOT:
        t.ok(os.path.isfile(dst) and os.stat(dst).st_uid == fe.uid, "the image belongs to oneadmin")

    # -- fs/cp with BRIDGE_LIST: downloader.sh ... - | dd --------------------------------------------------
    bridge = "<BRIDGE_LIST>bridge1</BRIDGE_LIST><STAGING_DIR>%s</STAGING_DIR>" % stage
    r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, src, ds_tmpl=bridge))
    dst2 = (r.stdout.split() + [""])[0]
    ok, files, _, _ = image_contents(t, dst2) if r.returncode == 0 and os.path.isfile(dst2) else (False, {}, 0, "")
    files.pop(".hfhub/manifest.json", None)
    private = os.path.join(fe.env["HFHUB_WORK_DIR"], "hfhub-%d" % fe.uid)
    t.ok(r.returncode == 0 and ok and files == want and os.listdir(private) == []
         and os.stat(private).st_mode & 0o777 == 0o700,
         "fs/cp with a BRIDGE_LIST streams the image through DEST - into dd; the work stays in a private "
         "0700 directory, left empty", r.stderr[-600:])

    # a stream that fails half-way (the CDN keeps corrupting a file) fails the import: the driver's
    # pipe runs under pipefail, so dd's partial image is never registered
    emu.faults({"route": "cdn", "kind": "corrupt", "count": 100})
    before = set(os.listdir(base))
    r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, src, ds_tmpl=bridge))
    emu.faults()
    emu.reset()
    t.ok(r.returncode != 0 and "incomplete" in r.stderr and not r.stdout.strip()
         and set(os.listdir(base)) == before and os.listdir(private) == [],
         "a stream that fails half-way fails fs/cp with the reason (no image path printed, nothing "
         "registered, no work left)", r.stderr[-600:])

    # a file another user planted in the shared work area, at the name earlier versions used
    if AS_ROOT:
        planted = os.path.join(fe.env["HFHUB_WORK_DIR"],
                               "hfhub-%s.qcow2" % hashlib.sha256(src.encode()).hexdigest()[:16])
        with open(planted, "wb") as f:
            f.write(b"QFI\xfb not the model")
        r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, src, ds_tmpl=bridge))
        dst3 = (r.stdout.split() + [""])[0]
        ok, files, _, _ = (image_contents(t, dst3) if r.returncode == 0 and os.path.isfile(dst3)
                           else (False, {}, 0, ""))
        files.pop(".hfhub/manifest.json", None)
        t.ok(ok and files == want and open(planted, "rb").read() == b"QFI\xfb not the model",
             "a file planted in the shared work area is neither streamed nor touched: the bridge gets the "
             "verified model", r.stderr[-400:])
        os.unlink(planted)

    # -- ceph/cp: always DEST -, then qcow2 -> raw and rbd import ----------------------------------------------
    r = fe.ds_action("ceph", "cp", datastore_message("ceph", "ceph", base, src, ds_tmpl=bridge + "<POOL_NAME>one"
                                                     "</POOL_NAME>"), image_id=9)
    rbd = os.path.join(base, "one", "one-9")
    ok = False
    if r.returncode == 0 and r.stdout.strip() == "one/one-9 raw" and os.path.isfile(rbd):
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", rbd, rbd + ".qcow2"], check=True)
        ok, files, _, _ = image_contents(t, rbd + ".qcow2")
        files.pop(".hfhub/manifest.json", None)
        ok = ok and files == want
    t.ok(ok, "ceph/cp pipes DEST - to the bridge, which converts the qcow2 to the raw volume: 'one/one-9 raw'",
         r.stderr[-600:])

    # -- OpenNebula's driver options: LIMIT_TRANSFER_BW and the image's MD5 reach the hf:// branch ----------
    total = sum(size for size, _ in want.values())
    started = time.monotonic()
    r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, src,
                                                   ds_tmpl="<LIMIT_TRANSFER_BW>256k</LIMIT_TRANSFER_BW>"))
    took = time.monotonic() - started
    t.ok(r.returncode == 0 and took >= total / 262144 * 0.9,
         "fs/cp with LIMIT_TRANSFER_BW=256k: downloader.sh hands it to hfhub_downloader --limit (%.1f s for "
         "%d bytes)" % (took, total), r.stderr[-400:])
    if r.returncode == 0:
        os.unlink(r.stdout.split()[0])
    before, listing = cdn_bytes(), sorted(os.listdir(base))
    r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, src, image_tmpl="<MD5>0123</MD5>"))
    t.ok(r.returncode != 0 and "--md5 is not supported for hf:// imports" in r.stderr and cdn_bytes() == before
         and sorted(os.listdir(base)) == listing,
         "an image template with MD5: refused with the reason in the driver log, nothing downloaded",
         r.stderr[-400:])

    # -- a planted work directory, and a .hfhub-work another user made ---------------------------------------
    if AS_ROOT:
        shutil.rmtree(private)
        os.symlink(os.path.join(t.tmp, "home"), private)
        before = cdn_bytes()
        r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, src, ds_tmpl=bridge))
        t.ok(r.returncode != 0 and "symbolic link" in r.stderr and cdn_bytes() == before,
             "DEST -: a symlink another user planted where the private work directory goes is refused before "
             "any download, and the reason reaches the driver log", r.stderr[-400:])
        os.unlink(private)
        os.mkdir(private, 0o700)  # made by root: not oneadmin's
        r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, src, ds_tmpl=bridge))
        t.ok(r.returncode != 0 and "belongs to uid 0" in r.stderr,
             "DEST -: a work directory another user made is refused", r.stderr[-400:])
        os.rmdir(private)
        other = fe.mkdir("datastores", "2")
        os.mkdir(os.path.join(other, ".hfhub-work"), 0o700)
        r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", other, src))
        t.ok(r.returncode != 0 and "belongs to uid 0" in r.stderr and os.listdir(other) == [".hfhub-work"],
             "a datastore's .hfhub-work owned by another user is refused, nothing written", r.stderr[-400:])

    # -- the directory datastore (virtiofs) ---------------------------------------------------------------------
    r = fe.ds_action("virtiofs", "stat", datastore_message("virtiofs", "virtiofs", dirbase, src))
    t.ok(r.returncode == 0 and r.stdout.strip().isdigit() and 0 < int(r.stdout.strip()) <= int(qwen_app["SIZE"]),
         "virtiofs/stat of hf://... prints the MB of the directory (%s)" % r.stdout.strip(), r.stderr)
    r = fe.ds_action("virtiofs", "cp", datastore_message("virtiofs", "virtiofs", dirbase, src, ds_name="models"))
    d1, fmt = (r.stdout.split() + ["", ""])[:2]
    got = tree_digests(d1) if r.returncode == 0 and os.path.isdir(d1) else {}
    man = got.pop(".hfhub/manifest.json", None)
    t.ok(r.returncode == 0 and fmt == "dir" and os.path.dirname(d1) == dirbase and got == want and man,
         "virtiofs/cp imports hf:// as a verified directory of its own under BASE_PATH and prints "
         "'<dir> dir'", r.stderr[-600:])
    r = fe.ds_action("virtiofs", "cp", datastore_message("virtiofs", "virtiofs", dirbase, src), image_id=8)
    d2 = (r.stdout.split() + [""])[0]
    t.ok(r.returncode == 0 and d2 != d1 and os.path.isdir(d2) and os.path.isdir(d1),
         "a second image of the same model gets its own directory", r.stderr[-300:])
    r = fe.ds_action("virtiofs", "stat", datastore_message("virtiofs", "virtiofs", dirbase, d1))
    t.ok(r.returncode == 0 and r.stdout.strip().isdigit(), "virtiofs/stat of a registered directory still works")
    inplace = fe.mkdir("models", "llama")
    r = fe.ds_action("virtiofs", "cp", datastore_message("virtiofs", "virtiofs", dirbase, inplace))
    t.ok(r.returncode == 0 and r.stdout.strip() == inplace + " dir", "virtiofs/cp of a plain directory still "
         "registers it in place")
    r = fe.ds_action("virtiofs", "rm", datastore_message("virtiofs", "virtiofs", dirbase, src, image_source=d1))
    t.ok(r.returncode == 0 and not os.path.exists(d1) and os.path.isdir(d2),
         "virtiofs/rm of an hf:// image removes its directory, and only that one", r.stderr[-300:])
    r = fe.ds_action("virtiofs", "rm", datastore_message("virtiofs", "virtiofs", dirbase, src, image_source=d1))
    t.ok(r.returncode == 0, "virtiofs/rm again (the directory is gone): success")
    r = fe.ds_action("virtiofs", "rm", datastore_message("virtiofs", "virtiofs", dirbase, inplace,
                                                         image_source=inplace))
    t.ok(r.returncode == 0 and os.path.isdir(inplace), "virtiofs/rm leaves a directory registered in place alone")
    r = fe.ds_action("virtiofs", "rm", datastore_message("virtiofs", "virtiofs", dirbase, src,
                                                         image_source=fe.mkdir("elsewhere")))
    t.ok(r.returncode != 0 and os.path.isdir(os.path.join(t.tmp, "elsewhere")) and "BASE_PATH" in r.stderr,
         "virtiofs/rm refuses a SOURCE outside the datastore", r.stderr[-300:])

    # -- the form follows the datastore; a form it cannot hold is refused before any download ----------------
    before, listing = cdn_bytes(), sorted(os.listdir(base))
    r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, src + "?format=dir"))
    t.ok(r.returncode != 0 and "DS_MAD fs" in r.stderr and "virtiofs" in r.stderr and cdn_bytes() == before
         and sorted(os.listdir(base)) == listing,
         "?format=dir into an fs datastore is refused before a byte is downloaded, naming the datastore kind",
         r.stderr[-400:])
    r = fe.ds_action("virtiofs", "cp", datastore_message("virtiofs", "virtiofs", dirbase, src + "?format=qcow2"))
    t.ok(r.returncode != 0 and "directory datastore" in r.stderr and cdn_bytes() == before,
         "?format=qcow2 into a virtiofs datastore is refused", r.stderr[-400:])
    r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, "hf://ONEnextgen/no-such-model-emu"))
    t.ok(r.returncode != 0 and "not found" in r.stderr and sorted(os.listdir(base)) == listing,
         "an export of a missing model fails with the Hub's reason in the driver log, nothing left behind",
         r.stderr[-400:])

    # -- an export that dies, then a new try (fs/cp picks a new image path each time) ------------------------------
    big = "hf://bench-org/big-model?include=model-00001-of-*"
    emu.config(cdn_rate_total=40_000_000)
    first = subprocess.Popen((["setpriv", "--reuid=%d" % fe.uid, "--regid=%d" % fe.gid, "--init-groups"]
                              if AS_ROOT else []) + [os.path.join(fe.ds_scripts, "fs", "cp"), "11"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=fe.env, start_new_session=True, text=True)
    first.stdin.write(datastore_message("fs", "qcow2", base, big, image_id=11))
    first.stdin.close()
    time.sleep(3)
    r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, big, image_id=12), image_id=12)
    t.ok(r.returncode != 0 and "another import of the same model" in r.stderr,
         "a second export of the same model into the same datastore waits its turn (clear error)", r.stderr[-300:])
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    work = os.path.join(base, ".hfhub-work")
    t.ok(os.listdir(work) and sorted(os.listdir(base)) == listing,
         "the killed try left its work in the datastore's .hfhub-work, nothing at an image path")
    emu.config(cdn_rate_total=0)
    emu.reset()
    r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, big, image_id=11), image_id=11)
    second = (r.stdout.split() + [""])[0]
    fetched = cdn_bytes()
    shard = next(f for f in by_id["bench-org/big-model"]["files"] if f["path"].startswith("model-00001"))
    ok, files, _, _ = image_contents(t, second) if r.returncode == 0 else (False, {}, 0, "")
    t.ok(ok and files.get(shard["path"], (0, ""))[1] == shard["sha256"] and fetched < shard["size"] - (50 << 20),
         "the next try, to a new image path, continues the work (%d of %d MB fetched again) and verifies"
         % (fetched >> 20, shard["size"] >> 20), r.stderr[-400:])
    t.ok(os.listdir(work) == [], "the work directory is empty afterwards")
    os.unlink(second)

    # -- the token file: $ONE_LOCATION/etc/hfhub/token, read by every action (fs.conf is not) ----------------
    gated = next(m["id"] for m in fx["models"] if m["gated"] and not m["private"])
    token_file = os.path.join(fe.root, "etc", "hfhub", "token")
    os.makedirs(os.path.dirname(token_file), exist_ok=True)
    with open(token_file, "w") as f:
        f.write(fx["tokens"]["granted"] + "\n")
    os.chmod(token_file, 0o644)
    r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, "hf://" + gated))
    t.ok(r.returncode != 0 and "loose permissions" in r.stderr and "chmod 0640" in r.stderr
         and fx["tokens"]["granted"] not in r.stderr,
         "a token file others can read is refused, saying how to fix it", r.stderr[-400:])
    if AS_ROOT:
        os.chown(token_file, 0, fe.gid)
        os.chmod(token_file, 0o640)
        r = fe.ds_action("fs", "stat", datastore_message("fs", "qcow2", base, "hf://" + gated))
        t.ok(r.returncode == 0 and r.stdout.strip().isdigit(),
             "common/stat (which does not read fs.conf) finds the token in $ONE_LOCATION/etc/hfhub/token",
             r.stderr[-400:])
        r = fe.ds_action("fs", "cp", datastore_message("fs", "qcow2", base, "hf://" + gated))
        t.ok(r.returncode == 0 and os.path.isfile(r.stdout.split()[0]),
             "fs/cp of a gated model with the root:oneadmin 0640 token file", r.stderr[-400:])
        os.unlink(r.stdout.split()[0])
    os.unlink(token_file)

    # -- an OpenNebula upgrade replaces the scripts; apply again; revert stays exact --------------------------
    upgraded = pristine["downloader.sh"] + b"# a line a newer OpenNebula added\n"
    with open(os.path.join(fe.ds_scripts, "downloader.sh"), "wb") as f:
        f.write(upgraded)
    r = subprocess.run([setup, "status"], env=senv, capture_output=True, text=True)
    t.ok(r.returncode != 0 and "downloader.sh: not wired" in r.stdout, "status notices the upgraded, unwired file")
    r = subprocess.run([setup, "apply", "--quiet"], env=senv, capture_output=True, text=True)
    t.ok(r.returncode == 0 and "refreshed" in r.stdout
         and open(os.path.join(fe.ds_scripts, "downloader.sh.hfhub-orig"), "rb").read() == upgraded,
         "apply after an upgrade wires the new file and refreshes its saved original", r.stdout + r.stderr)
    r = subprocess.run([setup, "revert"], env=senv, capture_output=True, text=True)
    pristine["downloader.sh"] = upgraded
    t.ok(r.returncode == 0 and all(open(os.path.join(fe.ds_scripts, k), "rb").read() == pristine[k]
                                   for k in pristine)
         and not any(os.path.exists(os.path.join(fe.ds_scripts, k + ".hfhub-orig")) for k in pristine),
         "revert restores every file byte for byte (the upgraded one as upgraded) and removes the backups",
         r.stdout + r.stderr)
    r = subprocess.run([setup, "revert"], env=senv, capture_output=True, text=True)
    t.ok(r.returncode == 0 and r.stdout.count("no change") == len(pristine), "revert again: no change")
    t.ok(subprocess.run([setup, "status"], env=senv, capture_output=True).returncode == 1, "status: not wired")
    r = fe.ds_action("virtiofs", "cp", datastore_message("virtiofs", "virtiofs", dirbase, src))
    t.ok(r.returncode != 0 and "not a directory" in r.stderr, "unwired, virtiofs/cp is OpenNebula's own again")

    # -- refusals ---------------------------------------------------------------------------------------------------
    odd = os.path.join(t.tmp, "odd", "remotes", "datastore")
    os.makedirs(odd)
    with open(os.path.join(odd, "downloader.sh"), "w") as f:
        f.write("#!/bin/sh\necho this is not OpenNebula's downloader\n")
    shutil.copy(os.path.join(fe.ds_scripts, "libfs.sh"), odd)
    before_odd = open(os.path.join(odd, "downloader.sh")).read()
    r = subprocess.run([setup, "apply", "--remotes", os.path.dirname(odd)], capture_output=True, text=True)
    t.ok(r.returncode != 0 and "does not look like OpenNebula's downloader.sh" in r.stderr
         and open(os.path.join(odd, "downloader.sh")).read() == before_odd,
         "files that do not look like OpenNebula's are refused and left untouched", r.stderr)
    r = subprocess.run([setup, "apply", "--remotes", os.path.join(t.tmp, "nowhere")], capture_output=True, text=True)
    t.ok(r.returncode != 0 and "is this an OpenNebula front-end" in r.stderr, "a missing front-end is refused")

    emu.stop()
    if fe.created_user:
        subprocess.run(["userdel", "oneadmin"], capture_output=True)
    t.done()


if __name__ == "__main__":
    main()
