#!/usr/bin/env python3
"""scripts/install-deps.sh: what a production front-end gets (runtime) holds
no compiler, no -dev package, no node, no packaging and no test tool; the
build, package and test sets add those on top of it, and an unknown set is
refused."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import ROOT, Test  # noqa: E402

SCRIPT = os.path.join(ROOT, "scripts", "install-deps.sh")


def packages(which):
    p = subprocess.run([SCRIPT, "--list", which], capture_output=True, text=True)
    return p.returncode, set(p.stdout.split())


def main():
    t = Test()
    rc, runtime = packages("runtime")
    rc2, build = packages("build")
    rc3, test = packages("test")
    rc4, package = packages("package")
    t.ok(rc == 0 and {"e2fsprogs", "qemu-utils", "libcurl4", "libjansson4", "libxml2", "libext2fs2"} <= runtime,
         "runtime: the libraries and tools hfhub runs with", sorted(runtime))
    bad = [p for p in runtime if p.endswith("-dev") or p in ("build-essential", "gcc", "clang", "nodejs", "npm",
                                                              "python3", "pkg-config", "libclang-rt-dev", "help2man",
                                                              "debhelper", "dpkg-dev", "lintian", "rpm", "fakeroot")]
    t.ok(not bad, "runtime: no compiler, -dev package, node, packaging or test tool for a production front-end", bad)
    t.ok(rc2 == 0 and runtime < build and "build-essential" in build and "nodejs" not in build,
         "build: runtime plus the compiler and -dev packages, no node")
    t.ok("help2man" in build, "build: help2man, which `make install` needs for the man pages")
    t.ok(rc4 == 0 and build < package and {"debhelper", "dpkg-dev"} <= package
         and not package & {"nodejs", "clang", "lintian"},
         "package: build plus Debian's packaging tools (make deb), no test tools", sorted(package - build))
    t.ok(rc3 == 0 and package < test and {"clang", "nodejs", "python3", "lintian", "rpm"} <= test,
         "test: package plus the test tools, lintian and rpm (the package checks)")
    p = subprocess.run([SCRIPT, "bogus"], capture_output=True, text=True)
    t.ok(p.returncode == 2 and "runtime, build, package or test" in p.stderr, "an unknown set is refused", p.stderr)
    t.done()


if __name__ == "__main__":
    main()
