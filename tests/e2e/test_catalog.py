#!/usr/bin/env python3
"""hf_catalog end to end against the Hub emulator: organisations, filters,
order and limit, collections, chat templates, the per-(model, commit) cache,
tokens and proxies, and every APP parsed back with a strict re-implementation
of oned's template parser."""
import base64
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (Emulator, Test, catalog_json, clean_env, decode_apps, default_selection,  # noqa: E402
                     fixtures, run)

SPEC_FIELDS = ["MODEL_ID", "SOURCE", "FORMAT", "SIZE", "TASK", "LICENSE", "DOWNLOADS", "LAST_MODIFIED",
               "HF_URL", "METADATA_ONLY", "OPENNEBULA_CERTIFIED"]
ONED_FIELDS = ["NAME", "TYPE", "SIZE", "MD5", "REGTIME", "VERSION", "DESCRIPTION", "PUBLISHER", "LINK",
               "ORIGIN_ID", "IMPORT_ID", "APPTEMPLATE64", "SOURCE", "FORMAT"]


def sanitized(s):
    s = "".join(" " if (ord(c) < 0x20 or ord(c) == 0x7f) else c for c in s)
    s = s.rstrip("\\")
    return s.replace("]]>", "]] >")


def main():
    t = Test()
    emu = Emulator(t.tmp)
    fx = fixtures()
    by_id = {m["id"]: m for m in fx["models"]}
    granted = fx["tokens"]["granted"]

    def public(*orgs):
        return [m for m in fx["models"] if m["author"] in orgs and not m["private"]]

    def by_downloads(ms):
        return sorted(ms, key=lambda m: (-m["downloads"], m["id"]))

    # -- one organisation, every field ------------------------------------------------------
    cat = catalog_json(emu, ["--org", "ONEnextgen", "--limit", "100"], t=t)
    want = by_downloads(public("ONEnextgen"))
    t.ok(cat is not None and [m["id"] for m in cat] == [m["id"] for m in want],
         "--org ONEnextgen lists every public model of the org, by downloads descending",
         cat and [m["id"] for m in cat])
    cat = cat or []
    bad = []
    for m in cat:
        f = by_id[m["id"]]
        paths = [x["path"] for x in f["files"]]
        sizes = {x["path"]: x["size"] for x in f["files"]}
        sel = default_selection(paths)
        exp_bytes = sum(sizes[p] for p in sel)
        checks = {
            "sha": m["sha"] == f["sha"],
            "license": m["license"] == f["license"],
            "task": m["pipeline_tag"] == f["pipeline_tag"],
            "gated": m["gated"] == (False if not f["gated"] else f["gated"]),
            "downloads": m["downloads"] == f["downloads"] and m["likes"] == f["likes"],
            "files": m["files"] == len(sel) and m["files_bytes"] == exp_bytes,
            "size": m["size_mb"] * 2**20 >= exp_bytes and m["size_mb"] * 2**20 <= exp_bytes * 1.02 + 24 * 2**20,
        }
        if not all(checks.values()):
            bad.append((m["id"], [k for k, v in checks.items() if not v]))
    t.ok(cat and not bad, "every model's commit, licence, task, gating, counters, selected files and size "
         "match the fixtures", bad)

    # -- APP lines parsed back strictly -----------------------------------------------------
    r = run("hf_catalog", ["--org", "ONEnextgen", "--limit", "100", "--quiet"], clean_env(emu))
    try:
        apps = decode_apps(r.out)
        parsed = True
    except Exception as e:  # noqa: BLE001
        apps, parsed = [], False
        t.ok(False, "APP lines parse", e)
    t.ok(parsed and r.rc == 0 and len(apps) == len(want), "default output: one APP line per model, all parse "
         "with the strict template parser", r.diag())
    names = [a.get("NAME") for a in apps]
    t.ok(len(set(names)) == len(names) and all(n == a["MODEL_ID"].replace("/", "--") for n, a in zip(names, apps)),
         "NAMEs are valid, unique and derived from the model id")
    r42 = run("hf_catalog", ["--org", "ONEnextgen", "--limit", "100", "--market-id", "42", "--quiet"], clean_env(emu))
    apps42 = decode_apps(r42.out) if r42.rc == 0 else []
    t.ok(len(apps42) == len(apps) and all(a["NAME"] == a["MODEL_ID"].replace("/", "--") + "@42" for a in apps42),
         "--market-id 42: NAMEs end in @42, as the monitor of marketplace 42 names them", r42.diag())
    j42 = catalog_json(emu, ["--org", "ONEnextgen", "--limit", "3", "--market-id", "42"], t=t) or []
    t.ok(j42 and all(m["app_name"] == m["id"].replace("/", "--") + "@42" for m in j42), "--market-id in JSON app_name")
    for bad in ("x", "-1", "01", "99999999999"):
        r = run("hf_catalog", ["--org", "ONEnextgen", "--market-id", bad], clean_env(emu))
        t.ok(r.clean_failure(2, "--market-id"), "--market-id %s refused (exit 2)" % bad, r.diag())
    # oned's export (marketplaceapp_ext.rb) sends an image to a files datastore when the image
    # template matches /^\s*TYPE\s*=\s*KERNEL|CONTEXT\s/i (Ruby: ^ at any line, \s ASCII).
    rule = re.compile(rb"^[ \t\n\v\f\r]*TYPE[ \t\n\v\f\r]*=[ \t\n\v\f\r]*KERNEL|CONTEXT[ \t\n\v\f\r]",
                      re.I | re.M)
    t.ok(apps and not any(rule.search(base64.b64decode(a["APPTEMPLATE64"])) for a in apps),
         "no app's image template matches oned's KERNEL/CONTEXT export rule")
    missing = [(a.get("MODEL_ID"), [k for k in SPEC_FIELDS + ONED_FIELDS if k not in a]) for a in apps]
    missing = [x for x in missing if x[1]]
    t.ok(apps and not missing, "every app has the spec's metadata fields and what oned consumes", missing)
    ok_vals = []
    for a in apps:
        f = by_id[a["MODEL_ID"]]
        ok_vals.append(
            a["SOURCE"] == "hf://%s@%s" % (f["id"], f["sha"]) and a["FORMAT"] == "qcow2" and a["TYPE"] == "IMAGE"
            and a["SIZE"].isdigit() and int(a["SIZE"]) > 0 and re.fullmatch(r"[0-9a-f]{32}", a["MD5"]) is not None
            and a["OPENNEBULA_CERTIFIED"] == "YES" and a["METADATA_ONLY"] == "YES"
            and a["ORIGIN_ID"] == "-1" and a["IMPORT_ID"] == "-1" and a["VERSION"] == f["sha"][:12]
            and a["HF_URL"] == "%s/%s" % (emu.endpoint, f["id"]) and a["LAST_MODIFIED"] == f["lastModified"]
            and a["DOWNLOADS"] == str(f["downloads"]) and a["APPTEMPLATE"].get("TYPE") == "DATABLOCK"
            and a["APPTEMPLATE"].get("HF_MODEL_ID") == f["id"] and "HAS_CHAT_TEMPLATE" not in a)
    t.ok(apps and all(ok_vals), "app values: pinned SOURCE, qcow2, SIZE in MB, MD5, VERSION, links, "
         "DATABLOCK image template, no HAS_CHAT_TEMPLATE without --full")

    # -- hostile strings survive escaping ----------------------------------------------------
    hostile = next((a for a in apps if a["MODEL_ID"] == "ONEnextgen/hostile-strings-emu"), None)
    hf = by_id["ONEnextgen/hostile-strings-emu"]
    t.ok(hostile is not None and hostile.get("LICENSE_NAME") == sanitized(hf["license_name"]),
         "a licence name with quotes, backslashes and non-ASCII text comes back intact (control characters "
         "as spaces, a trailing backslash dropped)", hostile and (hostile.get("LICENSE_NAME"), hf["license_name"]))
    t.ok(hostile is not None and hostile.get("TAGS") == sanitized(",".join(hf["tags"]))[:2048],
         "hostile tags come back as one TAGS value", hostile and hostile.get("TAGS"))
    t.ok(hostile is not None and hostile.get("LICENSE_LINK") == hf["license_link"], "licence link kept")
    t.ok(all(set(a) <= set(apps[0]) | {"LICENSE_NAME", "LICENSE_LINK", "LIBRARY", "PARAMETERS"} for a in apps),
         "no hostile value created an attribute of its own")

    # -- several organisations, global limit, filters, order ---------------------------------
    cat = catalog_json(emu, ["--org", "ONEnextgen,acme-ai", "--org", "meta-llama-emu", "--limit", "7"], t=t)
    want = by_downloads(public("ONEnextgen", "acme-ai", "meta-llama-emu"))[:7]
    t.ok(cat is not None and [m["id"] for m in cat] == [m["id"] for m in want],
         "three organisations (repeated and comma-listed) merge, sort and cut to the global limit",
         cat and [m["id"] for m in cat])
    cat = catalog_json(emu, ["--org", "ONEnextgen,acme-ai,mistral-emu", "--task", "text-generation",
                             "--limit", "100"], t=t)
    want = by_downloads([m for m in public("ONEnextgen", "acme-ai", "mistral-emu")
                         if m["pipeline_tag"] == "text-generation"])
    t.ok(cat is not None and [m["id"] for m in cat] == [m["id"] for m in want], "--task filters by pipeline tag")
    cat = catalog_json(emu, ["--org", "ONEnextgen,meta-llama-emu", "--search", "llama", "--limit", "100"], t=t)
    want = by_downloads([m for m in public("ONEnextgen", "meta-llama-emu") if "llama" in m["id"].lower()])
    t.ok(cat is not None and [m["id"] for m in cat] == [m["id"] for m in want], "--search filters by id substring",
         cat and [m["id"] for m in cat])
    cat = catalog_json(emu, ["--org", "ONEnextgen", "--sort", "likes", "--limit", "4"], t=t)
    want = sorted(public("ONEnextgen"), key=lambda m: (-m["likes"], m["id"]))[:4]
    t.ok(cat is not None and [m["id"] for m in cat] == [m["id"] for m in want], "--sort likes")
    cat = catalog_json(emu, ["--org", "acme-ai", "--sort", "lastModified", "--limit", "100"], t=t)
    want = sorted(public("acme-ai"), key=lambda m: (m["lastModified"], m["id"]))
    want = sorted(want, key=lambda m: m["lastModified"], reverse=True)
    t.ok(cat is not None and [m["lastModified"] for m in cat] == [m["lastModified"] for m in want],
         "--sort lastModified, newest first")
    cat = catalog_json(emu, ["--org", "ONEnextgen,acme-ai", "--direction", "1", "--limit", "3"], t=t)
    want = sorted(public("ONEnextgen", "acme-ai"), key=lambda m: (m["downloads"], m["id"]))[:3]
    t.ok(cat is not None and [m["id"] for m in cat] == [m["id"] for m in want],
         "--direction 1 gives the least downloaded models, ascending", cat and [m["id"] for m in cat])

    # -- collections ---------------------------------------------------------------------
    slugs = [c["slug"] for c in fx["collections"]]
    in_colls = []
    for c in fx["collections"]:
        for i in c["model_ids"]:
            if i not in in_colls and not by_id[i]["private"]:
                in_colls.append(i)
    cat = catalog_json(emu, ["--collection", slugs[0], "--collection", slugs[1], "--org", "mistral-emu",
                             "--task", "feature-extraction", "--limit", "100"], t=t)
    want = by_downloads([by_id[i] for i in in_colls])
    t.ok(cat is not None and [m["id"] for m in cat] == [m["id"] for m in want],
         "two collections: only their models (no datasets, spaces, papers, nested collections), de-duplicated, "
         "overriding --org and --task", cat and [m["id"] for m in cat])
    t.ok(cat is not None and all(m["sha"] == by_id[m["id"]]["sha"] and m["license"] == by_id[m["id"]]["license"]
                                 for m in cat), "collection models carry commit and licence from model info")

    # -- chat templates (--full 1) ------------------------------------------------------------
    all_orgs = sorted({m["author"] for m in fx["models"]})
    r = run("hf_catalog", ["--org", ",".join(all_orgs), "--limit", "1000", "--full", "1", "--quiet"],
            clean_env(emu))
    apps = decode_apps(r.out) if r.rc == 0 else []
    wrong = []
    for a in apps:
        f = by_id[a["MODEL_ID"]]
        want_v = "YES" if f["has_chat_template"] else "NO"
        got = a.get("HAS_CHAT_TEMPLATE")
        if got != want_v and not (got == "UNKNOWN" and f["gated"] and not f["chat_template_in_model_info"]):
            wrong.append((a["MODEL_ID"], got, want_v, f["chat_template_source"]))
    t.ok(r.rc == 0 and apps and not wrong, "--full 1: HAS_CHAT_TEMPLATE right for every model (string, list, "
         "chat_template.jinja, GGUF, absent, and only in tokenizer_config.json)", wrong or r.diag())
    sources = {by_id[a["MODEL_ID"]]["chat_template_source"] for a in apps}
    t.ok(len(sources) >= 4, "the fixture set covers several template sources (%s)" % sorted(map(str, sources)))

    # -- the cache: a second run makes only listing requests -------------------------------
    cache = os.path.join(t.tmp, "cache-full")
    args = ["--org", "ONEnextgen,acme-ai", "--limit", "100", "--full", "1", "--quiet"]
    emu.reset()
    r1 = run("hf_catalog", args, clean_env(emu, cache=cache))
    s1 = emu.stats()["by_route"]
    emu.reset()
    r2 = run("hf_catalog", args, clean_env(emu, cache=cache))
    s2 = emu.stats()["by_route"]
    t.ok(r1.rc == 0 and s1.get("model_info", 0) > 0, "first run fetches model details", s1)
    per_model = {k: v for k, v in s2.items() if k not in ("list_models",) and v}
    t.ok(r2.rc == 0 and s2.get("list_models", 0) > 0 and not per_model,
         "second run over unchanged models makes only listing requests", s2)
    t.ok(r1.out == r2.out, "cached run prints the same apps")
    colls = ["--collection", ",".join(slugs), "--limit", "100", "--full", "1", "--quiet"]
    run("hf_catalog", colls, clean_env(emu, cache=cache))
    emu.reset()
    r3 = run("hf_catalog", colls, clean_env(emu, cache=cache))
    s3 = emu.stats()["by_route"]
    t.ok(r3.rc == 0 and s3.get("collection", 0) == 2 and not s3.get("model_info") and not s3.get("resolve"),
         "collections: a second run makes only the collection requests", s3)

    # -- tokens: private model, token file, never printed --------------------------------
    cat = catalog_json(emu, ["--org", ",".join(all_orgs), "--limit", "1000"], t=t) or []
    private = [m["id"] for m in fx["models"] if m["private"]]
    t.ok(private and not set(private) & {m["id"] for m in cat}, "private models are not listed anonymously")
    env = clean_env(emu, HF_TOKEN=granted)
    r = run("hf_catalog", ["--org", ",".join(all_orgs), "--limit", "1000", "--output", "json"], env)
    got = {m["id"] for m in json.loads(r.out)} if r.rc == 0 else set()
    t.ok(set(private) <= got, "HF_TOKEN unlocks the private model", r.diag())
    t.ok(granted not in r.out and granted not in r.err, "the token appears neither in output nor in messages")
    env = clean_env(emu)
    with open(os.path.join(env["HF_HOME"], "token"), "w") as fh:
        fh.write(granted + "\n")
    r = run("hf_catalog", ["--org", ",".join(all_orgs), "--limit", "1000", "--output", "json"], env)
    got = {m["id"] for m in json.loads(r.out)} if r.rc == 0 else set()
    t.ok(set(private) <= got, "the token file $HF_HOME/token is used", r.diag())
    env = clean_env(emu, HUGGING_FACE_HUB_TOKEN=granted)
    r = run("hf_catalog", ["--org", ",".join(all_orgs), "--limit", "1000", "--output", "json"], env)
    got = {m["id"] for m in json.loads(r.out)} if r.rc == 0 else set()
    t.ok(set(private) <= got, "HUGGING_FACE_HUB_TOKEN is used", r.diag())
    st = emu.stats()
    t.ok(all(q.get("authorization") in ("none", "granted") for q in st["requests"] if q.get("listener") == "hub"),
         "only the configured token was ever sent")

    # -- proxies come from the environment ------------------------------------------------
    emu.reset()
    env = clean_env(emu, NO_PROXY=None, no_proxy=None, http_proxy="http://127.0.0.1:9",
                    HFHUB_MAX_RETRIES="1")
    r = run("hf_catalog", ["--org", "ONEnextgen"], env)
    t.ok(r.clean_failure(1, "cannot be reached") and emu.stats()["total"] == 0,
         "http_proxy is honoured (a dead proxy means no request reaches the Hub)", r.diag())

    # -- table and json for people --------------------------------------------------------
    r = run("hf_catalog", ["--org", "ONEnextgen", "--output", "table", "--quiet"], clean_env(emu))
    lines = r.out.splitlines()
    t.ok(r.rc == 0 and lines[0].startswith("MODEL_ID") and len(lines) == len(public("ONEnextgen")) + 2
         and not any(ord(c) < 0x20 and c != "\t" for c in r.out.replace("\n", "")),
         "--output table: header, one row per model, no control characters reach the terminal")
    r = run("hf_catalog", ["--org", "ONEnextgen"], clean_env(emu))
    t.ok(r.rc == 0 and re.search(r"\d+ models, \d+ detail requests", r.err), "a summary line on stderr")
    emu.stop()
    t.done()


if __name__ == "__main__":
    main()
