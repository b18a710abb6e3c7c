#!/usr/bin/env python3
"""The .deb and the .rpm.

`make deb` builds build/hfhub_<version>_<arch>.deb with dpkg-buildpackage;
lintian finds no error or warning in it; its Depends hold the runtime
libraries and tools only, and apt can resolve them here.

The upgrade trigger is played with dpkg itself, in a scratch root (dpkg
--root, its own database and lock, maintainer scripts run with DPKG_ROOT
set), so nothing is installed on this machine and the machine's dpkg lock is
never taken. A throw-away package, opennebula-standin, ships our stand-ins for
OpenNebula's datastore scripts (tests/integration/frontend) at
/var/lib/one/remotes/datastore, and plays OpenNebula's package:
  install the stand-in, then hfhub: postinst wires hf:// in;
  install hfhub again: nothing changes;
  upgrade the stand-in (new scripts): the dpkg file trigger wires them again;
  remove hfhub: the scripts are byte for byte the stand-in's;
  hfhub first, the stand-in after: the trigger wires the new scripts;
  the stand-in removed under hfhub: no backup is left behind;
  a stand-in whose script hfhub-setup refuses: the upgrade still succeeds, with a
  warning saying what to run.
Both packages are purged from the scratch root at the end, whatever happens.

`make rpm` (where rpmbuild exists): the file list, the scriptlets
(%post, %triggerin -- opennebula, %preun) and the dependencies, by their
AlmaLinux/RHEL names, read with rpm -qp. Installing the RPM is out of reach
on Debian."""
import glob
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import ROOT, Test  # noqa: E402

STUB_SRC = os.path.join(ROOT, "tests", "integration", "frontend", "var", "remotes", "datastore")
DS = "var/lib/one/remotes/datastore"
PATCHED = ("downloader.sh", "libfs.sh", "virtiofs/cp", "virtiofs/stat", "virtiofs/rm")
# Build and test tools a production front-end must not get from the package.
FORBIDDEN = {"gcc", "cc", "clang", "make", "build-essential", "pkg-config", "nodejs", "npm", "python3", "help2man",
             "debhelper", "dpkg-dev", "lintian", "rpm", "rpm-build", "fakeroot"}


def version():
    text = open(os.path.join(ROOT, "lib", "hf_client.h")).read()
    return re.search(r'^#define HFHUB_VERSION "([^"]+)"', text, re.M).group(1)


def run(args, **kw):
    kw.setdefault("timeout", 600)
    return subprocess.run(args, capture_output=True, text=True, **kw)


def names(relations):
    """Package names of a Depends/Requires list, each alternative's first name."""
    return {re.split(r"[\s(|]", r.strip())[0] for r in relations if r.strip()}


def build_standin(tmp, ver, edit=None):
    """opennebula-standin VER: our stand-in datastore scripts at /var/lib/one/remotes/datastore.
    edit(tree_datastore_dir) changes them, as a new OpenNebula release would."""
    tree = os.path.join(tmp, "standin-" + ver)
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(os.path.join(tree, "DEBIAN"))
    shutil.copytree(STUB_SRC, os.path.join(tree, DS))
    if edit:
        edit(os.path.join(tree, DS))
    with open(os.path.join(tree, "DEBIAN", "control"), "w") as f:
        f.write("Package: opennebula-standin\nVersion: %s\nArchitecture: all\nMaintainer: hfhub tests <tests@localhost>\n"
                "Description: stand-in for OpenNebula's datastore scripts (hfhub's package test)\n" % ver)
    deb = os.path.join(tmp, "opennebula-standin_%s_all.deb" % ver)
    r = run(["dpkg-deb", "--root-owner-group", "-b", tree, deb])
    if r.returncode != 0:
        raise RuntimeError("dpkg-deb: " + r.stderr)
    return deb, {p: open(os.path.join(tree, DS, p), "rb").read() for p in PATCHED}


def build_host_provides(tmp, deb):
    """A package that provides, at this machine's versions, what hfhub depends on, so that dpkg's
    dependency checks (and its trigger processing, which needs them met) pass in the scratch root."""
    depends = run(["dpkg-deb", "-f", deb, "Depends"]).stdout.split(",")
    provides = []
    for name in sorted(names(depends)):
        v = run(["dpkg-query", "-W", "-f", "${Version}", name]).stdout.strip()
        if v:
            provides.append("%s (= %s)" % (name, v))
    tree = os.path.join(tmp, "host")
    os.makedirs(os.path.join(tree, "DEBIAN"))
    with open(os.path.join(tree, "DEBIAN", "control"), "w") as f:
        f.write("Package: hfhub-test-host\nVersion: 1.0\nArchitecture: all\nMaintainer: hfhub tests <tests@localhost>\n"
                "Provides: %s\nDescription: this machine's libraries, for the scratch root\n" % ", ".join(provides))
    out = os.path.join(tmp, "hfhub-test-host_1.0_all.deb")
    run(["dpkg-deb", "--root-owner-group", "-b", tree, out])
    return out


class Scratch:
    """A root directory with a dpkg database of its own."""

    def __init__(self, tmp):
        self.root = os.path.join(tmp, "root")
        for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log"):
            os.makedirs(os.path.join(self.root, d))
        for f in ("var/lib/dpkg/status", "var/lib/dpkg/available"):
            open(os.path.join(self.root, f), "w").close()

    def dpkg(self, *args):
        return run(["dpkg", "--root=" + self.root, "--force-script-chrootless"] + list(args))

    def path(self, *rel):
        return os.path.join(self.root, *rel)

    def scripts(self):
        return {p: open(self.path(DS, p), "rb").read() for p in PATCHED if os.path.exists(self.path(DS, p))}

    def backups(self):
        return [p for p in PATCHED if os.path.exists(self.path(DS, p + ".hfhub-orig"))]

    def status(self, pkg):
        r = run(["dpkg-query", "--admindir=" + self.path("var/lib/dpkg"), "-W", "-f", "${Status}", pkg])
        return r.stdout.strip() if r.returncode == 0 else "not-installed"

    def setup_status(self):
        return run([self.path("usr/sbin/hfhub-setup"), "status", "--remotes", self.path("var/lib/one/remotes")])

    def log(self):
        p = self.path("var/log/hfhub-setup.log")
        return open(p).read() if os.path.exists(p) else ""


def wired(s):
    r = s.setup_status()
    return r.returncode == 0 and r.stdout.count(": wired") == len(PATCHED)


def test_deb(t, ver, commit):
    missing = [p for p in ("dpkg-buildpackage", "dh", "lintian") if not shutil.which(p)]
    if missing:
        print("ok # skip %s not installed (scripts/install-deps.sh test installs them): the .deb is not built"
              % ", ".join(missing))
        return None
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    r = run(["make", "--no-print-directory", "deb"], cwd=ROOT)
    deb = os.path.join(ROOT, "build", "hfhub_%s_%s.deb" % (ver, arch))
    if not t.ok(r.returncode == 0 and os.path.exists(deb), "make deb builds build/hfhub_%s_%s.deb" % (ver, arch),
                r.stdout[-1000:] + r.stderr[-1000:]):
        return None
    field = lambda f: run(["dpkg-deb", "-f", deb, f]).stdout.strip()  # noqa: E731
    t.ok(field("Package") == "hfhub" and field("Version") == ver and field("Architecture") == arch,
         "the package carries the programs' version (%s)" % ver)
    depends = [d.strip() for d in field("Depends").split(",")]
    dep_names = names(depends)
    t.ok({"libcurl4", "libjansson4", "libxml2", "libssl3", "libext2fs2", "libcom-err2", "e2fsprogs", "qemu-utils",
          "ca-certificates"} <= dep_names and "e2fsprogs (>= 1.44)" in depends
         and all(re.search(r"\(>= [\d.]+", d) for d in depends if d.startswith(("libcurl4", "libjansson4", "libssl3"))),
         "Depends: the runtime libraries (at the versions dpkg-shlibdeps found), e2fsprogs >= 1.44, qemu-utils",
         depends)
    bad = sorted(n for n in dep_names if n in FORBIDDEN or n.endswith("-dev"))
    t.ok(not bad, "Depends: no compiler, -dev package, node, python or test tool", bad)

    files = set(re.sub(r"^\./", "/", line.split()[-1]).rstrip("/")
                for line in run(["dpkg-deb", "-c", deb]).stdout.splitlines())
    want = {"/usr/bin/hf_catalog", "/usr/bin/hfhub_downloader", "/usr/sbin/hfhub-setup",
            "/var/lib/one/remotes/market/hfhub/monitor", "/var/lib/one/remotes/market/hfhub/hf_catalog",
            "/var/lib/one/remotes/market/hfhub/import", "/var/lib/one/remotes/market/hfhub/delete",
            "/var/lib/one/remotes/datastore/hfhub_downloader", "/usr/libexec/hfhub/package-hook",
            "/usr/share/hfhub/downloader.sh.hfhub", "/usr/share/hfhub/examples/oned.conf.hfhub",
            "/usr/share/doc/hfhub/copyright", "/usr/share/doc/hfhub/changelog.gz",
            "/usr/share/doc/hfhub/operator-guide.md.gz", "/usr/share/man/man1/hf_catalog.1.gz",
            "/usr/share/man/man1/hfhub_downloader.1.gz", "/usr/share/man/man8/hfhub_monitor.8.gz",
            "/usr/share/man/man8/hfhub-setup.8.gz"}
    t.ok(want <= files, "files where OpenNebula's packages put theirs: the market driver in "
         "/var/lib/one/remotes/market/hfhub, the downloader in remotes/datastore, hfhub-setup in /usr/sbin, "
         "docs, examples and man pages", sorted(want - files))
    t.ok(not any(f.startswith(("/usr/local", "/work", "/root", "/home")) for f in files),
         "nothing under /usr/local or a build path")

    x = os.path.join(t.tmp, "deb-contents")
    run(["dpkg-deb", "-R", deb, x])
    outs = [run([os.path.join(x, p), "--version"]).stdout for p in
            ("usr/bin/hf_catalog", "usr/bin/hfhub_downloader", "var/lib/one/remotes/market/hfhub/monitor",
             "usr/sbin/hfhub-setup")]
    t.ok(all(o.endswith("(hfhub) %s\ncommit %s\n" % (ver, commit)) for o in outs),
         "the packaged programs and hfhub-setup say the version and this commit (%s), though the package "
         "was built from a copy without .git" % commit, outs)
    ctl = lambda f: open(os.path.join(x, "DEBIAN", f)).read() if os.path.exists(os.path.join(x, "DEBIAN", f)) else ""  # noqa: E731,E501
    trig = [line.split() for line in ctl("triggers").splitlines() if line and not line.startswith("#")]
    t.ok(sorted(trig) == sorted([["interest-noawait", "/" + DS + "/downloader.sh"],
                                 ["interest-noawait", "/" + DS + "/libfs.sh"],
                                 ["interest-noawait", "/" + DS + "/virtiofs"]]),
         "DEBIAN/triggers: interest-noawait in downloader.sh, libfs.sh and the virtiofs folder", trig)
    t.ok("package-hook apply" in ctl("postinst") and "triggered)" in ctl("postinst")
         and re.search(r"remove\)\s*\n\s*\S*package-hook revert", ctl("prerm")),
         "postinst applies (configure and triggered), prerm reverts on remove only")

    r = run(["lintian", "--fail-on", "error,warning", deb])
    t.ok(r.returncode == 0 and not re.search(r"^[EW]: ", r.stdout, re.M),
         "lintian: no error and no warning", r.stdout + r.stderr)

    # What apt would do with it on this machine (a simulation: no lock, nothing installed).
    r = run(["apt-get", "-s", "-o", "Debug::NoLocking=1", "install", deb])
    t.ok(r.returncode == 0 and "Inst hfhub" in r.stdout,
         "apt-get install ./hfhub_*.deb resolves every dependency from Debian 12 (simulated)", r.stdout + r.stderr)
    return deb


def test_trigger(t, deb):
    if os.geteuid() != 0:
        print("ok # skip the dpkg install and upgrade-trigger test needs root (dpkg sets owners even in a scratch "
              "root); CI runs as root")
        return
    s = Scratch(t.tmp)
    standin1, v1 = build_standin(t.tmp, "1.0")

    def upgrade(d):
        for p in ("downloader.sh", "libfs.sh", "virtiofs/cp"):
            with open(os.path.join(d, p), "a") as f:
                f.write("# changed in opennebula-standin 2.0\n")
    standin2, v2 = build_standin(t.tmp, "2.0", upgrade)

    def refuse(d):  # a downloader.sh hfhub-setup does not recognise
        with open(os.path.join(d, "downloader.sh"), "w") as f:
            f.write("#!/bin/bash\necho 'not the downloader.sh hfhub-setup knows'\n")
    standin3, _ = build_standin(t.tmp, "3.0", refuse)
    host = build_host_provides(t.tmp, deb)
    try:
        r = s.dpkg("-i", host, standin1)
        t.ok(r.returncode == 0 and s.scripts() == v1, "scratch root: opennebula-standin 1.0 installed", r.stderr)

        r = s.dpkg("-i", deb)
        t.ok(r.returncode == 0 and s.status("hfhub") == "install ok installed" and wired(s)
             and "hf:// wired in" in r.stdout,
             "install hfhub: postinst runs hfhub-setup apply, every script is wired", r.stdout[-800:] + r.stderr)
        t.ok(all(open(s.path(DS, p + ".hfhub-orig"), "rb").read() == v1[p] for p in PATCHED)
             and "apply (hfhub configured)" in s.log() and "hf:// wired in" in s.log(),
             "the stand-in's scripts are kept as *.hfhub-orig; /var/log/hfhub-setup.log says what was done", s.log())
        before = s.scripts()
        r = s.dpkg("-i", deb)
        t.ok(r.returncode == 0 and s.scripts() == before and r.stdout.count("already wired, no change") == len(PATCHED),
             "install hfhub again: every script already wired, nothing changed", r.stdout[-800:])

        r = s.dpkg("-i", standin2)
        t.ok(r.returncode == 0 and "Processing triggers for hfhub" in r.stdout and wired(s)
             and "dpkg trigger" in r.stdout,
             "upgrade opennebula-standin to 2.0 (new scripts, unwired): the file trigger runs apply again",
             r.stdout[-1200:] + r.stderr)
        t.ok(all(open(s.path(DS, p + ".hfhub-orig"), "rb").read() == v2[p] for p in PATCHED)
             and "saved original is refreshed" in s.log(),
             "after the trigger the saved originals are the 2.0 scripts", s.log()[-800:])

        r = s.dpkg("--remove", "hfhub")
        t.ok(r.returncode == 0 and s.scripts() == v2 and not s.backups(),
             "remove hfhub: prerm reverts; the scripts are byte for byte opennebula-standin 2.0's, no backup left",
             r.stdout[-800:] + r.stderr)
        t.ok(not os.path.exists(s.path("usr/sbin/hfhub-setup"))
             and not os.path.exists(s.path("var/lib/one/remotes/market/hfhub"))
             and not os.path.exists(s.path(DS, "hfhub_downloader")) and "revert (hfhub removed)" in s.log(),
             "hfhub's files are gone; the log says it reverted")
        r = s.dpkg("--purge", "hfhub")
        t.ok(r.returncode == 0 and s.status("hfhub") == "not-installed"
             and not os.path.exists(s.path("var/log/hfhub-setup.log")), "purge hfhub: its log goes too")

        # hfhub before OpenNebula: the trigger wires the scripts when they arrive
        r = s.dpkg("--purge", "opennebula-standin")
        r = s.dpkg("-i", deb)
        t.ok(r.returncode == 0 and "nothing to wire" in r.stdout and s.status("hfhub") == "install ok installed",
             "hfhub without OpenNebula: installed, nothing to wire, says so", r.stdout[-600:] + r.stderr)
        r = s.dpkg("-i", standin1)
        t.ok(r.returncode == 0 and "Processing triggers for hfhub" in r.stdout and wired(s),
             "then OpenNebula's package arrives: the trigger wires its scripts", r.stdout[-800:] + r.stderr)
        had = s.backups()
        r = s.dpkg("--purge", "opennebula-standin")
        t.ok(r.returncode == 0 and had and not s.backups() and s.status("hfhub") == "install ok installed"
             and not os.path.exists(s.path(DS, "downloader.sh")),
             "OpenNebula's package purged under hfhub: the trigger drops the backups of the scripts that are gone",
             r.stdout[-800:] + r.stderr)

        # a script hfhub-setup refuses: the OpenNebula upgrade still goes through, with a warning
        r = s.dpkg("-i", standin3)
        t.ok(r.returncode == 0 and "warning: hfhub-setup apply failed" in r.stdout
             and "does not look like OpenNebula's downloader.sh" in r.stdout
             and s.status("hfhub") == "install ok installed" and s.status("opennebula-standin") == "install ok installed",
             "a script hfhub-setup refuses: dpkg still succeeds, the warning says why and what to run",
             r.stdout[-800:] + r.stderr)
    finally:
        for pkg in ("hfhub", "opennebula-standin", "hfhub-test-host"):
            s.dpkg("--purge", pkg)
    left = [os.path.relpath(os.path.join(d, f), s.root) for d, _, fs in os.walk(s.root) for f in fs
            if not os.path.relpath(d, s.root).startswith("var/lib/dpkg")]
    t.ok(not left and s.status("hfhub") == "not-installed" and s.status("opennebula-standin") == "not-installed",
         "both packages purged from the scratch root; no file of theirs is left", left)


def test_rpm(t, ver):
    if not shutil.which("rpmbuild"):
        print("ok # skip rpmbuild is not installed (apt-get install rpm): the RPM is not built")
        return
    r = run(["make", "--no-print-directory", "rpm"], cwd=ROOT)
    rpms = glob.glob(os.path.join(ROOT, "build", "rpm", "RPMS", "*", "hfhub-%s-1*.rpm" % ver))
    if not t.ok(r.returncode == 0 and len(rpms) == 1, "make rpm builds hfhub-%s-1.<arch>.rpm" % ver,
                r.stdout[-1000:] + r.stderr[-1000:]):
        return
    rpm = rpms[0]
    q = lambda *a: run(["rpm", "-qp"] + list(a) + [rpm]).stdout  # noqa: E731
    t.ok(q("--qf", "%{NAME} %{VERSION}") == "hfhub " + ver, "the RPM carries the same version")
    files = set(q("-l").split())
    want = {"/usr/bin/hf_catalog", "/usr/bin/hfhub_downloader", "/usr/sbin/hfhub-setup",
            "/var/lib/one/remotes/market/hfhub/monitor", "/var/lib/one/remotes/market/hfhub/hf_catalog",
            "/var/lib/one/remotes/market/hfhub/import", "/var/lib/one/remotes/market/hfhub/delete",
            "/var/lib/one/remotes/datastore/hfhub_downloader", "/usr/libexec/hfhub/package-hook",
            "/usr/share/hfhub/downloader.sh.hfhub", "/usr/share/hfhub/examples/oned.conf.hfhub",
            "/usr/share/doc/hfhub/operator-guide.md"}
    mans = {"hf_catalog.1", "hfhub_downloader.1", "hfhub_monitor.8", "hfhub-setup.8"}
    t.ok(want <= files and all(any(re.search(r"/man\d/%s(\.gz)?$" % re.escape(m), f) for f in files) for m in mans),
         "RPM file list: the same places as the .deb, the four man pages", sorted(want - files))
    scripts = q("--scripts")
    t.ok(re.search(r"postinstall scriptlet.*\n.*package-hook apply", scripts)
         and re.search(r'preuninstall scriptlet.*\nif \[ "\$1" -eq 0 \]; then\n\s*\S*package-hook revert', scripts),
         "%post applies, %preun reverts on erase only (not on upgrade)", scripts)
    trig = q("--triggers")
    t.ok(re.search(r"triggerin scriptlet \(using /bin/sh\) -- opennebula\n\S*package-hook apply", trig),
         "%triggerin -- opennebula applies again when OpenNebula is installed or upgraded", trig)
    t.ok(re.search(r"triggerpostun scriptlet \(using /bin/sh\) -- opennebula\n\S*package-hook apply", trig),
         "%triggerpostun -- opennebula runs the hook when OpenNebula is erased (drops orphaned backups)", trig)
    req = q("--requires").splitlines()
    req_names = names(req)
    t.ok({"libcurl", "jansson", "libxml2", "openssl-libs", "e2fsprogs-libs", "libcom_err", "qemu-img",
          "ca-certificates"} <= req_names and "e2fsprogs >= 1.44" in req,
         "Requires: AlmaLinux/RHEL names (libcurl, jansson, libxml2, openssl-libs, e2fsprogs-libs, libcom_err, "
         "qemu-img), e2fsprogs >= 1.44", req)
    bad = sorted(n for n in req_names if n in FORBIDDEN or n.endswith(("-dev", "-devel"))
                 or n in ("libcurl4", "libjansson4", "libssl3", "qemu-utils"))
    t.ok(not bad, "Requires: no build or test tool, no Debian package name", bad)


def main():
    t = Test()
    ver = version()
    commit = run(["sh", "scripts/commit-id.sh"], cwd=ROOT).stdout.strip()
    deb = test_deb(t, ver, commit)
    if deb:
        test_trigger(t, deb)
    test_rpm(t, ver)
    t.done()


if __name__ == "__main__":
    main()
