#!/usr/bin/env python3
"""The example marketplace templates (integration/examples/market-*.tmpl) are
accepted by oned: each parses with the strict re-implementation of oned's
template parser, its NAME passes oned's name rule (PoolObjectSQL::name_is_valid:
not empty, at most 128 characters, none of & | : \\ " ; / ' # { } $ < > nor tab,
newline, vertical tab, form feed, carriage return), and its hfhub attributes
are ones the monitor accepts."""
import glob
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import ROOT, Test, one_template  # noqa: E402

FORBIDDEN = set("&|:\\\";/'#{}$<>\t\n\v\f\r")
HUB_NAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$")
SLUG = re.compile(r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+-[0-9a-f]{24}$")


def oned_name_ok(name):
    return 0 < len(name) <= 128 and not (set(name) & FORBIDDEN)


def main():
    t = Test()
    t.ok(not oned_name_ok("HF Hub - Enterprise & Certified") and oned_name_ok("HF Hub - Enterprise and Certified"),
         "the name rule refuses '&' (the check below is real)")
    paths = sorted(glob.glob(os.path.join(ROOT, "integration", "examples", "market-*.tmpl")))
    t.ok(len(paths) >= 4, "the four indexing modes have an example", paths)
    names = []
    for p in paths:
        base = os.path.basename(p)
        try:
            tmpl = one_template.parse(open(p, encoding="utf-8").read())
        except one_template.TemplateError as e:
            t.ok(False, "%s parses as an oned template" % base, e)
            continue
        name = tmpl.get("NAME")
        names.append(name)
        t.ok(isinstance(name, str) and oned_name_ok(name), "%s: NAME %r is valid for oned" % (base, name))
        t.ok(tmpl.get("MARKET_MAD") == "hfhub", "%s: MARKET_MAD is hfhub" % base)
        limit = tmpl.get("HFHUB_LIMIT", "50")
        t.ok(limit.isdigit() and 1 <= int(limit) <= 3000, "%s: HFHUB_LIMIT %s within 1..3000" % (base, limit))
        orgs = [o.strip() for o in tmpl.get("HFHUB_ORG", "").split(",") if o.strip()]
        colls = [c.strip() for c in tmpl.get("HFHUB_COLLECTION", "").split(",") if c.strip()]
        t.ok((orgs or colls) and all(HUB_NAME.match(o) and "--" not in o and ".." not in o for o in orgs)
             and all(SLUG.match(c) for c in colls), "%s: its sources are valid Hub names and slugs" % base)
        t.ok(tmpl.get("HFHUB_AUTO_INDEX", "YES") in ("YES", "NO") and tmpl.get("HFHUB_FULL", "NO") in ("YES", "NO"),
             "%s: YES/NO attributes" % base)
    t.ok(len(set(names)) == len(names), "every example has its own NAME (marketplace names are unique)")
    t.done()


if __name__ == "__main__":
    main()
