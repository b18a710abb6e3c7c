#!/usr/bin/env python3
"""The marketplace monitor action run the way oned's market MAD runs it:
monitor <base64 driver message> <market id>, with the message as current
oned writes it (escaped values) and as older releases did (CDATA); and what
oned's app pool makes of the answers of two marketplaces whose sources
overlap (tests/tools/one_market_pool.py stands in for oned)."""
import base64
import errno
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Emulator, Test, clean_env, decode_apps, fixtures, run  # noqa: E402
from one_market_pool import Pool  # noqa: E402


def driver_message(attrs, cdata=False, market_id="100", name="HF Hub"):
    def val(v):
        if cdata:
            return "<![CDATA[%s]]>" % v
        return v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    tmpl = "".join("<%s>%s</%s>" % (k, val(v), k) for k, v in attrs.items())
    xml = ("<MARKET_DRIVER_ACTION_DATA><MARKETPLACE><ID>" + market_id + "</ID><UID>0</UID><GID>0</GID>"
           "<UNAME>oneadmin</UNAME><GNAME>oneadmin</GNAME><NAME>" + val(name) + "</NAME><STATE>0</STATE>"
           "<MARKET_MAD>hfhub</MARKET_MAD>"
           "<ZONE_ID>0</ZONE_ID><TOTAL_MB>0</TOTAL_MB><FREE_MB>0</FREE_MB><USED_MB>0</USED_MB>"
           "<MARKETPLACEAPPS><ID>12</ID><ID>13</ID></MARKETPLACEAPPS><PERMISSIONS><OWNER_U>1</OWNER_U>"
           "<OWNER_M>1</OWNER_M><OWNER_A>0</OWNER_A><GROUP_U>1</GROUP_U><GROUP_M>0</GROUP_M><GROUP_A>0</GROUP_A>"
           "<OTHER_U>1</OTHER_U><OTHER_M>0</OTHER_M><OTHER_A>0</OTHER_A></PERMISSIONS><TEMPLATE>%s"
           "<MARKET_MAD>hfhub</MARKET_MAD></TEMPLATE></MARKETPLACE></MARKET_DRIVER_ACTION_DATA>" % tmpl)
    return base64.b64encode(xml.encode()).decode()


def main():
    t = Test()
    emu = Emulator(t.tmp)
    fx = fixtures()
    by_id = {m["id"]: m for m in fx["models"]}

    attrs = {"HFHUB_AUTO_INDEX": "YES", "HFHUB_LIMIT": "100", "HFHUB_ORG": "ONEnextgen, acme-ai",
             "HFHUB_TASK": "text-generation"}
    r = run("hfhub_monitor", [driver_message(attrs), "100"], clean_env(emu))
    apps = decode_apps(r.out) if r.rc == 0 else []
    want = sorted((m for m in fx["models"] if m["author"] in ("ONEnextgen", "acme-ai") and not m["private"]
                   and m["pipeline_tag"] == "text-generation"), key=lambda m: (-m["downloads"], m["id"]))
    t.ok(r.rc == 0 and [a["MODEL_ID"] for a in apps] == [m["id"] for m in want],
         "monitor with the escaped driver message prints every app of both orgs, filtered by task", r.diag())
    t.ok(all(a["OPENNEBULA_CERTIFIED"] == ("YES" if a["MODEL_ID"].startswith("ONEnextgen/") else "NO")
             for a in apps), "OPENNEBULA_CERTIFIED only for ONEnextgen models")
    t.ok(r.rc == 0 and all(a["NAME"] == a["MODEL_ID"].replace("/", "--") + "@100" for a in apps),
         "app NAMEs are <org>--<name>@<market id>", [a["NAME"] for a in apps][:3])
    c = run("hf_catalog", ["--org", "ONEnextgen,acme-ai", "--task", "text-generation", "--limit", "100",
                           "--market-id", "100", "--quiet"], clean_env(emu))
    t.ok(c.rc == 0 and c.out == r.out, "monitor and hf_catalog --market-id print byte-identical APP lines for "
         "the same query")
    r2 = run("hfhub_monitor", [driver_message(attrs, cdata=True), "100"], clean_env(emu))
    t.ok(r2.rc == 0 and r2.out == r.out, "the CDATA form of older oned releases gives the same answer")
    r3 = run("hfhub_monitor", [driver_message(attrs), "100"], clean_env(emu))
    t.ok(r3.rc == 0 and r3.out == r.out, "a second monitor prints the same apps (same NAME and MD5: oned "
         "leaves them alone)")

    r = run("hfhub_monitor", [driver_message({}, market_id="7"), "7"], clean_env(emu))
    apps = decode_apps(r.out) if r.rc == 0 else []
    want = sorted((m for m in fx["models"] if m["author"] == "ONEnextgen" and not m["private"]),
                  key=lambda m: (-m["downloads"], m["id"]))[:50]
    t.ok(r.rc == 0 and [a["MODEL_ID"] for a in apps] == [m["id"] for m in want],
         "no attributes: the spec's defaults (ONEnextgen, limit 50, downloads, descending)", r.diag())

    slugs = [c["slug"] for c in fx["collections"]]
    r = run("hfhub_monitor", [driver_message({"HFHUB_COLLECTION": ", ".join(slugs), "HFHUB_LIMIT": "3",
                                              "HFHUB_SORT": "likes", "HFHUB_FULL": "YES"}, market_id="1"), "1"],
            clean_env(emu))
    apps = decode_apps(r.out) if r.rc == 0 else []
    ids = []
    for c in fx["collections"]:
        ids += [i for i in c["model_ids"] if i not in ids and not by_id[i]["private"]]
    want = sorted((by_id[i] for i in ids), key=lambda m: (-m["likes"], m["id"]))[:3]
    t.ok(r.rc == 0 and [a["MODEL_ID"] for a in apps] == [m["id"] for m in want]
         and all("HAS_CHAT_TEMPLATE" in a for a in apps),
         "collections, sort by likes, global limit, HFHUB_FULL", r.diag())

    emu.reset()
    r = run("hfhub_monitor", [driver_message({"HFHUB_AUTO_INDEX": "NO", "HFHUB_ORG": "ONEnextgen"}, market_id="1"), "1"],
            clean_env(emu))
    t.ok(r.rc == 0 and r.out == "" and emu.stats()["total"] == 0,
         "HFHUB_AUTO_INDEX=NO prints nothing, asks nothing, exits 0 (oned keeps the apps)", r.diag())

    # -- one source failing fails the whole run --------------------------------------------
    emu.faults({"route": "list_models", "kind": "503", "count": 100, "match": "acme-ai"})
    r = run("hfhub_monitor", [driver_message({"HFHUB_ORG": "ONEnextgen,acme-ai"}, market_id="1"), "1"],
            clean_env(emu, HFHUB_MAX_RETRIES="2"))
    t.ok(r.clean_failure(1, "acme-ai.*503") and len(r.err.strip().splitlines()) == 1,
         "one failing organisation: exit 1, no APP line at all (a partial list deletes apps), one line on "
         "stderr naming the source", r.diag())
    emu.faults()
    emu.faults({"route": "model_info", "kind": "500", "count": 100})
    r = run("hfhub_monitor", [driver_message({"HFHUB_ORG": "ONEnextgen"}, market_id="1"), "1"],
            clean_env(emu, HFHUB_MAX_RETRIES="1"))
    t.ok(r.clean_failure(1, "500"), "failing model details fail the run too, printing nothing", r.diag())
    emu.faults()

    # -- bounded time ------------------------------------------------------------------------
    emu.faults({"route": "list_models", "kind": "stall", "stall_s": 30, "count": 100})
    t0 = time.monotonic()
    r = run("hfhub_monitor", [driver_message({"HFHUB_ORG": "ONEnextgen"}, market_id="1"), "1"],
            clean_env(emu, HFHUB_TIMEOUT="3"))
    t.ok(r.clean_failure(1, "deadline|timed? ?out") and time.monotonic() - t0 < 10,
         "a stalled Hub: the monitor gives up at HFHUB_TIMEOUT with a message", r.diag())
    emu.faults()

    # -- two marketplaces whose sources overlap, as oned's app pool sees them ----------------
    # Market 100 lists ONEnextgen and acme-ai, market 101 acme-ai alone with HAS_CHAT_TEMPLATE
    # (so its MD5s differ from market 100's). Three monitor cycles each, alternating as oned does.
    m100 = {"HFHUB_ORG": "ONEnextgen,acme-ai", "HFHUB_TASK": "text-generation", "HFHUB_LIMIT": "100"}
    m101 = {"HFHUB_ORG": "acme-ai", "HFHUB_TASK": "text-generation", "HFHUB_FULL": "YES"}
    acme = sorted(m["id"] for m in fx["models"] if m["author"] == "acme-ai" and not m["private"]
                  and m["pipeline_tag"] == "text-generation")
    both = sorted(m["id"] for m in fx["models"] if m["author"] in ("ONEnextgen", "acme-ai") and not m["private"]
                  and m["pipeline_tag"] == "text-generation")
    env = clean_env(emu)
    pool = Pool()
    for cycle in range(3):
        for mid, attrs in (("100", m100), ("101", m101)):
            r = run("hfhub_monitor", [driver_message(attrs, market_id=mid, name="market " + mid), mid], env)
            pool.monitor(mid, r.rc, r.out)
    t.ok(pool.models("100") == both and pool.models("101") == acme,
         "two marketplaces listing the same models: each gets its own app for every model",
         (pool.models("100"), pool.models("101")))
    t.ok(set(pool.writes("100").values()) == {1} and set(pool.writes("101").values()) == {1},
         "three cycles of both: no app is rewritten after it was created", (pool.writes("100"), pool.writes("101")))
    # The same cycles with the NAMEs of one_app_name(id, NULL) (hf_catalog without --market-id), to
    # show that the stand-in reproduces what oned does with NAMEs shared between marketplaces.
    old = Pool()
    for cycle in range(3):
        for mid, args in (("100", ["--org", "ONEnextgen,acme-ai", "--task", "text-generation", "--limit", "100"]),
                          ("101", ["--org", "acme-ai", "--task", "text-generation", "--full", "1"])):
            r = run("hf_catalog", args + ["--quiet"], env)
            old.monitor(mid, r.rc, r.out)
    shared = [n for n in old.writes("100") if n.startswith("acme-ai--")]
    t.ok(old.models("100") == both and old.models("101") == [] and shared and
         all(old.writes("100")[n] == 6 for n in shared),
         "(without the market id in NAME, the second marketplace gets no app and the shared apps are "
         "rewritten on every cycle: the stand-in reproduces oned's behaviour)", old.writes("100"))
    # The missing-app rule: market 101 narrows its source; its apps go at the 4th missing cycle
    # (reset_map_check leaves -1, and test_map_check drops at 3 after incrementing), and market
    # 100's apps of the same models stay.
    narrowed = dict(m101, HFHUB_LIMIT="1")
    kept = []
    for cycle in range(4):
        r = run("hfhub_monitor", [driver_message(narrowed, market_id="101"), "101"], env)
        pool.monitor("101", r.rc, r.out)
        kept.append(len(pool.models("101")))
        r = run("hfhub_monitor", [driver_message(m100, market_id="100"), "100"], env)
        pool.monitor("100", r.rc, r.out)
    t.ok(kept == [len(acme)] * 3 + [1] and pool.models("100") == both,
         "a marketplace's apps missing from its answer go at the 4th monitor; the other marketplace's "
         "apps of the same models stay", kept)

    # -- the size of a marketplace ---------------------------------------------------------------
    r = run("hfhub_monitor", [driver_message({"HFHUB_LIMIT": "3001"}), "100"], clean_env(emu))
    t.ok(r.clean_failure(2, "HFHUB_LIMIT.*3000.*command line.*Argument list too long"),
         "HFHUB_LIMIT above 3000: exit 2, saying that oned's command line would be too long", r.diag())
    r = run("hfhub_monitor", [driver_message({"HFHUB_LIMIT": "3000", "HFHUB_ORG": "acme-ai"}), "100"],
            clean_env(emu))
    t.ok(r.rc == 0 and len(decode_apps(r.out)) > 0, "HFHUB_LIMIT=3000 is accepted", r.diag())
    # What oned would pass with 2 x 3000 app IDs of 6 digits (old and new apps while the sources
    # change), and with 7000: the first fits in one argument (MAX_ARG_STRLEN, 128 KiB with its
    # NUL), the second does not. The monitor is run with each message itself.
    for n, fits in ((6000, True), (7000, False)):
        ids = "".join("<ID>%d</ID>" % (100000 + i) for i in range(n))
        msg = base64.b64decode(driver_message({"HFHUB_LIMIT": "3000", "HFHUB_ORG": "acme-ai"})).decode()
        msg = base64.b64encode(msg.replace("<ID>12</ID><ID>13</ID>", ids).encode()).decode()
        try:
            r = run("hfhub_monitor", [msg, "100"], clean_env(emu))
            outcome = "ran" if r.rc == 0 else "failed: " + r.err[-300:]
        except OSError as e:
            outcome = "E2BIG" if e.errno == errno.E2BIG else str(e)
        t.ok(outcome == ("ran" if fits else "E2BIG"),
             "a driver message with %d app IDs %s" % (n, "fits on the monitor's command line" if fits
                                                       else "fails with \"Argument list too long\""), outcome)

    # -- empty and missing sources -----------------------------------------------------------
    emu.reset()
    r = run("hfhub_monitor", [driver_message({"HFHUB_ORG": "ONEnextgen,acme-ai"}), "100"], clean_env(emu))
    t.ok(r.rc == 0 and emu.stats()["by_route"].get("overview", 0) == 0,
         "a cycle whose listings are not empty asks nothing more", emu.stats()["by_route"])
    r = run("hfhub_monitor", [driver_message({"HFHUB_ORG": "ONEnextgen,ONEnextegn"}), "100"], clean_env(emu))
    t.ok(r.clean_failure(1, "organisation ONEnextegn: no organisation or user of that name.*HFHUB_ORG"),
         "a misspelt organisation fails the run with a message (oned keeps the apps)", r.diag())
    emu.reset()
    r = run("hfhub_monitor", [driver_message({"HFHUB_ORG": "ONEnextgen,quiet-labs-emu,emu-granted"}), "100"],
            clean_env(emu))
    apps = decode_apps(r.out) if r.rc == 0 else []
    t.ok(r.rc == 0 and apps and all(a["MODEL_ID"].startswith("ONEnextgen/") for a in apps)
         and emu.stats()["by_route"].get("overview") == 3,
         "an existing organisation without models and a user without models are empty sources, not errors "
         "(org overview, then org and user overview for the user)", r.diag())
    r = run("hfhub_monitor", [driver_message({"HFHUB_COLLECTION": "ONEnextgen/nothing-0123456789abcdef01234567"}),
                              "100"], clean_env(emu))
    t.ok(r.clean_failure(1, "collection ONEnextgen/nothing-0123456789abcdef01234567: not found"),
         "a collection that does not exist fails the run with a message", r.diag())

    # -- bad driver messages and attributes ----------------------------------------------
    cases = [
        (["%%%not-base64"], "base64", "bad base64"),
        ([base64.b64encode(b"<MARKET_DRIVER_ACTION_DATA><MARKET").decode()], "XML", "truncated XML"),
        ([base64.b64encode(b"<OTHER/>").decode()], "MARKET_DRIVER_ACTION_DATA", "wrong root element"),
        ([driver_message({"HFHUB_LIMIT": "lots"})], "HFHUB_LIMIT", "HFHUB_LIMIT not a number"),
        ([driver_message({"HFHUB_LIMIT": "0"})], "HFHUB_LIMIT", "HFHUB_LIMIT zero"),
        ([driver_message({"HFHUB_SORT": "stars"})], "sort", "unknown HFHUB_SORT"),
        ([driver_message({"HFHUB_DIRECTION": "up"})], "HFHUB_DIRECTION", "bad HFHUB_DIRECTION"),
        ([driver_message({"HFHUB_AUTO_INDEX": "maybe"})], "HFHUB_AUTO_INDEX", "bad HFHUB_AUTO_INDEX"),
        ([driver_message({"HFHUB_ORG": "ONEnextgen, ../../etc"})], "organisation", "invalid org name"),
        ([driver_message({"HFHUB_COLLECTION": "org/not-a-slug"})], "collection slug", "invalid collection"),
        ([], "Usage", "no arguments"),
        ([driver_message({}), "101"], "marketplace 100 but the second argument says 101",
         "market id argument differs from the message's"),
        ([driver_message({}), "1x"], "marketplace ID argument", "market id argument not a number"),
        ([driver_message({}, market_id="abc")], "MARKETPLACE/ID", "MARKETPLACE/ID not a number"),
    ]
    for args, pat, what in cases:
        if len(args) == 1 and what != "MARKETPLACE/ID not a number":
            args = args + ["100"]
        r = run("hfhub_monitor", args, clean_env(emu))
        t.ok(r.clean_failure(2, pat), "%s: exit 2 with a clear message, nothing on stdout" % what, r.diag())
    r = run("hfhub_monitor", ["--help"], clean_env(emu))
    t.ok(r.rc == 0 and "HFHUB_ORG" in r.out, "--help documents the attributes")
    emu.stop()
    t.done()


if __name__ == "__main__":
    main()
