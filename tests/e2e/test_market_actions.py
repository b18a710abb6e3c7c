#!/usr/bin/env python3
"""The market driver's import and delete actions: `make install` puts them
beside the monitor in remotes/market/hfhub/, and they refuse, as OpenNebula's
own read-only marketplaces do (src/market_mad/remotes/one and linuxcontainers:
a message on stderr, a non-zero exit). They are run the way one_market.rb runs
them (do_action): import with the driver message on stdin and the app id as
its argument, delete with the message and the app id as arguments."""
import base64
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BIN, ROOT, Test  # noqa: E402

MESSAGE = base64.b64encode(
    b"<MARKET_DRIVER_ACTION_DATA><MARKETPLACEAPP><ID>12</ID><NAME>ONEnextgen--x@100</NAME><TYPE>1</TYPE>"
    b"</MARKETPLACEAPP><MARKETPLACE><ID>100</ID><NAME>HF Hub</NAME><MARKET_MAD>hfhub</MARKET_MAD></MARKETPLACE>"
    b"</MARKET_DRIVER_ACTION_DATA>").decode()


def make(target, *args):
    return subprocess.run(["make", "--no-print-directory", target, "BUILD_BIN=" + os.path.relpath(BIN, ROOT)]
                          + list(args), cwd=ROOT, capture_output=True, text=True)


def main():
    t = Test()
    front = os.path.join(t.tmp, "one")
    prefix = os.path.join(t.tmp, "prefix")
    r = make("install", "PREFIX=" + prefix, "ONE_LOCATION=" + front)
    market = os.path.join(front, "var", "remotes", "market", "hfhub")
    actions = {a: os.path.join(market, a) for a in ("monitor", "import", "delete")}
    t.ok(r.returncode == 0 and all(os.path.isfile(p) and os.access(p, os.X_OK) for p in actions.values()),
         "make install puts monitor, import and delete in remotes/market/hfhub, executable", r.stderr[-800:])

    p = subprocess.run([actions["import"], "12"], input=MESSAGE, capture_output=True, text=True, timeout=30)
    t.ok(p.returncode != 0 and p.stdout == "" and "Cannot import app into the Hugging Face Hub marketplace" in p.stderr
         and "read-only" in p.stderr and len(p.stderr.strip().splitlines()) == 1,
         "import (message on stdin): refused with one line saying the marketplace is read-only, non-zero exit",
         "%d %r %r" % (p.returncode, p.stdout, p.stderr))
    p = subprocess.run([actions["delete"], MESSAGE, "12"], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    t.ok(p.returncode != 0 and p.stdout == "" and "Cannot delete app from the Hugging Face Hub marketplace" in p.stderr
         and "read-only" in p.stderr and len(p.stderr.strip().splitlines()) == 1,
         "delete: refused with one line saying the marketplace is read-only, non-zero exit",
         "%d %r %r" % (p.returncode, p.stdout, p.stderr))
    for a in ("import", "delete"):
        p = subprocess.run(["sh", "-n", actions[a]], capture_output=True, text=True)
        t.ok(p.returncode == 0, "%s parses as a POSIX shell script" % a, p.stderr)

    r = make("uninstall", "PREFIX=" + prefix, "ONE_LOCATION=" + front)
    t.ok(r.returncode == 0 and not any(os.path.exists(p) for p in actions.values()) and not os.path.exists(market),
         "make uninstall removes the three actions and the driver's directory", r.stderr[-800:])
    t.done()


if __name__ == "__main__":
    main()
