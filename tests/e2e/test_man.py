#!/usr/bin/env python3
"""Man pages and --version.

The man pages are built by help2man from each program's own --help (`make
man`), so every option that --help names must be in the page; `make install`
puts them under MANDIR and `make uninstall` takes them out. --version prints
the release (the one lib/hf_client.h holds, which the packages carry too) and
the git commit of the build; a source tree without .git builds and says so,
and one with the COMMIT file of `make dist` names that commit."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BIN, ROOT, Test  # noqa: E402

PAGES = {"hf_catalog": "1", "hfhub_downloader": "1", "hfhub_monitor": "8", "hfhub-setup": "8"}


def version():
    text = open(os.path.join(ROOT, "lib", "hf_client.h")).read()
    return re.search(r'^#define HFHUB_VERSION "([^"]+)"', text, re.M).group(1)


def options(help_text):
    """Every option --help names: --long, and -x short ones (not '-' alone, not '-1')."""
    return sorted(set(re.findall(r"(?<![\w-])(--[A-Za-z][\w-]*|-[A-Za-z])(?![\w])", help_text)))


def roff_text(path):
    """The man page source with roff's font changes and escaped hyphens undone."""
    text = open(path).read()
    text = re.sub(r"\\f[BIRP]|\\f\(..|\\&", "", text)
    return text.replace("\\-", "-")


def make(*args, cwd=ROOT):
    return subprocess.run(["make", "--no-print-directory"] + list(args), cwd=cwd, capture_output=True, text=True)


def main():
    t = Test()
    ver = version()
    commit = subprocess.run(["sh", "scripts/commit-id.sh"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    bin_rel = os.path.relpath(BIN, ROOT)
    man_out = os.path.join(t.tmp, "man")

    # -- the pages, built from the test build's --help ---------------------------------------------
    r = make("man", "BUILD_BIN=" + bin_rel, "MAN_OUT=" + man_out)
    t.ok(r.returncode == 0 and all(os.path.exists(os.path.join(man_out, "%s.%s" % (p, s))) for p, s in PAGES.items()),
         "make man builds a page for each of hf_catalog, hfhub_downloader, hfhub_monitor and hfhub-setup",
         r.stdout[-600:] + r.stderr[-600:])
    for prog, sec in PAGES.items():
        exe = os.path.join(ROOT, "build", "gen", prog) if prog == "hfhub-setup" else os.path.join(BIN, prog)
        h = subprocess.run([exe, "--help"], capture_output=True, text=True)
        page = os.path.join(man_out, "%s.%s" % (prog, sec))
        text = roff_text(page) if os.path.exists(page) else ""
        opts = options(h.stdout)
        missing = [o for o in opts if o not in text]
        t.ok(h.returncode == 0 and "--help" in opts and "--version" in opts and not missing,
             "%s(%s): every option of --help is in the man page (%d options)" % (prog, sec, len(opts)),
             "missing: %s" % missing)
        th = re.search(r'^\.TH "?([^" ]+)"? "?(\d)"? .*"%s %s"' % (re.escape(prog), re.escape(ver)), text, re.M)
        t.ok(th is not None and th.group(2) == sec and ("\n.SH NAME\n%s \\- " % prog) in open(page).read(),
             "%s(%s): section %s, version %s in the title, a NAME line" % (prog, sec, sec, ver),
             text[:300])
    # the pages do not depend on the commit: help2man is given the version only
    t.ok(not any(commit and commit in open(os.path.join(man_out, "%s.%s" % (p, s))).read()
                 for p, s in PAGES.items() if os.path.exists(os.path.join(man_out, "%s.%s" % (p, s)))),
         "the pages carry the version, not the commit (a rebuild at another commit gives the same pages)")

    # -- make install / uninstall -------------------------------------------------------------------
    stage = os.path.join(t.tmp, "stage")
    r = make("install", "DESTDIR=" + stage, "PREFIX=/usr", "BUILD_BIN=" + bin_rel, "MAN_OUT=" + man_out)
    installed = [os.path.join(stage, "usr/share/man/man%s/%s.%s" % (s, p, s)) for p, s in PAGES.items()]
    t.ok(r.returncode == 0 and all(os.path.exists(p) for p in installed),
         "make install puts the man pages in PREFIX/share/man/man1 and man8", r.stderr[-600:])
    r = make("uninstall", "DESTDIR=" + stage, "PREFIX=/usr")
    t.ok(r.returncode == 0 and not any(os.path.exists(p) for p in installed), "make uninstall removes them")

    # -- --version ----------------------------------------------------------------------------------
    for prog in ("hf_catalog", "hfhub_downloader", "hfhub_monitor"):
        v = subprocess.run([os.path.join(BIN, prog), "--version"], capture_output=True, text=True)
        t.ok(v.returncode == 0 and v.stdout == "%s (hfhub) %s\ncommit %s\n" % (prog, ver, commit) and commit,
             "%s --version: the version and the commit of this build (%s)" % (prog, commit), v.stdout)
    v = subprocess.run([os.path.join(ROOT, "build", "gen", "hfhub-setup"), "--version"], capture_output=True,
                       text=True)
    t.ok(v.returncode == 0 and v.stdout == "hfhub-setup (hfhub) %s\ncommit %s\n" % (ver, commit),
         "hfhub-setup --version (as make install writes it)", v.stdout)

    # A source tree without .git (an unpacked tarball): it builds, and says it does not know the commit;
    # with the COMMIT file that `make dist` writes, it names that commit.
    src = os.path.join(t.tmp, "hfhub-src")
    os.makedirs(src)
    for part in ("Makefile", "lib", "src", "scripts"):
        (shutil.copytree if os.path.isdir(os.path.join(ROOT, part)) else shutil.copy)(
            os.path.join(ROOT, part), os.path.join(src, part))
    r = make("-j2", "build/bin/hf_catalog", cwd=src)
    v = subprocess.run([os.path.join(src, "build", "bin", "hf_catalog"), "--version"], capture_output=True,
                       text=True)
    t.ok(r.returncode == 0 and v.stdout == "hf_catalog (hfhub) %s\ncommit unknown (built without git)\n" % ver,
         "built from a tree without .git: --version says the commit is unknown", r.stderr[-600:] + v.stdout)
    with open(os.path.join(src, "COMMIT"), "w") as f:
        f.write("0123456789ab\n")
    r = make("build/bin/hf_catalog", cwd=src)
    v = subprocess.run([os.path.join(src, "build", "bin", "hf_catalog"), "--version"], capture_output=True,
                       text=True)
    t.ok(r.returncode == 0 and v.stdout.endswith("\ncommit 0123456789ab\n"),
         "with a COMMIT file (make dist): that commit, and only the version object is rebuilt",
         r.stderr[-600:] + v.stdout)
    compiled = re.findall(r" -c (\S+)", r.stdout)
    t.ok(compiled == ["src/tool_version.c"], "a new commit recompiles tool_version.c alone", compiled)
    with open(os.path.join(src, "COMMIT"), "w") as f:
        f.write('abc"; system("x\n')
    r = make("-s", "version", cwd=src)
    t.ok(r.stdout.strip() == "hfhub %s, commit abcsystemx" % ver,
         "a COMMIT file's content is reduced to what a commit id can hold", r.stdout)
    t.done()


if __name__ == "__main__":
    main()
