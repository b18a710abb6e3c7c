#!/usr/bin/env python3
"""Bad input and a misbehaving Hub: each ends in a clear message and a
non-zero exit (or a recovered success), never a crash, a hang or wrong
output."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import ROOT, Emulator, Test, clean_env, decode_apps, fixtures, run  # noqa: E402

BAD_HUB = os.path.join(ROOT, "tests", "tools", "bad_hub.py")


class BadHub:
    def __init__(self, mode):
        self.proc = subprocess.Popen([sys.executable, BAD_HUB, "--mode", mode], stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        self.endpoint = line.split()[-1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(5)


def main():
    t = Test()
    emu = Emulator(t.tmp)
    fx = fixtures()

    usage_cases = [
        (["--sort", "stars"], "unknown sort"),
        (["--direction", "0"], "--direction"),
        (["--limit", "0"], "--limit"),
        (["--limit", "12abc"], "--limit"),
        (["--limit", "10001"], "--limit"),
        (["--full", "2"], "--full"),
        (["--output", "xml"], "--output"),
        (["--org", "bad org"], "not a valid Hugging Face organisation"),
        (["--org", "a--b"], "not a valid"),
        (["--collection", "x/y"], "collection slug"),
        (["--task", "Text Generation"], "task"),
        (["--frobnicate"], "unknown"),
        (["--limit"], "unknown or incomplete"),
        (["extra-argument"], "unexpected argument"),
    ]
    emu.reset()
    for args, pat in usage_cases:
        r = run("hf_catalog", args, clean_env(emu))
        t.ok(r.clean_failure(2, pat), "hf_catalog %s: exit 2, says what is wrong" % " ".join(args), r.diag())
    t.ok(emu.stats()["total"] == 0, "bad usage never reaches the Hub")
    r = run("hf_catalog", ["--help"], clean_env(emu))
    t.ok(r.rc == 0 and "--collection" in r.out and "HF_TOKEN" in r.out, "--help")
    r = run("hf_catalog", ["--version"], clean_env(emu))
    t.ok(r.rc == 0 and r.out.startswith("hf_catalog (hfhub) "), "--version")

    # -- environment ----------------------------------------------------------------------
    r = run("hf_catalog", [], clean_env(emu, HF_ENDPOINT="ftp://example.org"))
    t.ok(r.clean_failure(2, "HF_ENDPOINT"), "HF_ENDPOINT that is not http(s): exit 2", r.diag())
    r = run("hf_catalog", [], clean_env(emu, HF_TOKEN="hf_bad\ntoken"))
    t.ok(r.clean_failure(2, "HF_TOKEN"), "a token with a newline is refused (no header injection)", r.diag())
    r = run("hf_catalog", [], clean_env(emu, HFHUB_CONCURRENCY="lots"))
    t.ok(r.clean_failure(2, "HFHUB_CONCURRENCY"), "bad HFHUB_CONCURRENCY refused", r.diag())
    r = run("hf_catalog", [], clean_env(None, HF_ENDPOINT="http://127.0.0.1:9", HFHUB_MAX_RETRIES="2"))
    t.ok(r.clean_failure(1, "cannot be reached") and r.elapsed < 10,
         "a Hub that is down: exit 1, 'cannot be reached', bounded retries", r.diag())

    # -- Hub answers -------------------------------------------------------------------------
    r = run("hf_catalog", ["--collection", "ONEnextgen/nothing-here-0123456789abcdef01234567"], clean_env(emu))
    t.ok(r.clean_failure(1, "collection ONEnextgen/nothing-here.*not found"), "unknown collection: 404 explained",
         r.diag())
    r = run("hf_catalog", ["--org", "quiet-labs-emu"], clean_env(emu))
    t.ok(r.rc == 0 and r.out == "", "an organisation without models gives an empty catalog", r.diag())
    r = run("hf_catalog", ["--org", "emu-unapproved", "--output", "table"], clean_env(emu))
    t.ok(r.rc == 0 and "0 models" in r.out, "a user without models gives an empty catalog", r.diag())
    r = run("hf_catalog", ["--org", "no-such-org-emu"], clean_env(emu))
    t.ok(r.clean_failure(1, "organisation no-such-org-emu: no organisation or user of that name"),
         "an organisation that does not exist (empty listing, 404 from both overviews): exit 1, clear message",
         r.diag())
    r = run("hf_catalog", ["--org", "ONEnextgen", "--search", "no-model-has-this"], clean_env(emu))
    t.ok(r.rc == 0 and r.out == "", "a filter that matches nothing in an existing organisation: empty, no error",
         r.diag())
    emu.faults({"route": "overview", "kind": "503", "count": 100})
    r = run("hf_catalog", ["--org", "quiet-labs-emu"], clean_env(emu, HFHUB_MAX_RETRIES="1"))
    t.ok(r.clean_failure(1, "organisation quiet-labs-emu.*503"),
         "when the Hub cannot say whether an empty organisation exists, the run fails", r.diag())
    emu.faults()
    r = run("hf_catalog", ["--org", "ONEnextgen"], clean_env(emu, HF_TOKEN="hf_ThisTokenIsNotKnownToTheHub0000000000"))
    t.ok(r.clean_failure(1, "token"), "a wrong token: 401 explained (check HF_TOKEN)", r.diag())

    # -- faults the client must ride out ---------------------------------------------------
    want = run("hf_catalog", ["--org", "ONEnextgen", "--quiet"], clean_env(emu)).out
    for fault, what in [
        ({"route": "list_models", "kind": "429", "count": 2, "retry_after": 1}, "429 with Retry-After"),
        ({"route": "list_models", "kind": "429", "count": 1, "ratelimit_reset": 1}, "429 with RateLimit r=0;t=1"),
        ({"route": "model_info", "kind": "503", "count": 3}, "a burst of 503 on model details"),
        ({"route": "any", "kind": "502", "count": 2}, "502 on any route"),
        ({"route": "model_info", "kind": "drop", "count": 3}, "dropped connections"),
        ({"route": "list_models", "kind": "truncate", "count": 1, "after_bytes": 100}, "a truncated listing"),
    ]:
        emu.reset()
        emu.faults(fault)
        r = run("hf_catalog", ["--org", "ONEnextgen", "--quiet"], clean_env(emu))
        t.ok(r.rc == 0 and r.out == want and r.sanitizer_clean(), "recovers from %s with the same output" % what,
             r.diag())
    emu.faults()
    emu.reset()
    emu.faults({"route": "list_models", "kind": "429", "count": 1, "ratelimit_reset": 1})
    t0 = time.monotonic()
    r = run("hf_catalog", ["--org", "ONEnextgen", "--quiet"], clean_env(emu))
    t.ok(r.rc == 0 and time.monotonic() - t0 >= 1.9, "RateLimit t=1 is honoured (waits t+1 seconds)")

    emu.faults({"route": "list_models", "kind": "429", "count": 1000, "ratelimit_reset": 250})
    r = run("hf_catalog", ["--org", "ONEnextgen"], clean_env(emu, HFHUB_TIMEOUT="20"))
    t.ok(r.clean_failure(1, "rate-limited.*250") and r.elapsed < 5,
         "a 429 storm whose reset lies past the deadline: fails at once, says when the quota resets", r.diag())
    emu.faults({"route": "model_info", "kind": "503", "count": 1000})
    r = run("hf_catalog", ["--org", "ONEnextgen"], clean_env(emu, HFHUB_MAX_RETRIES="2"))
    t.ok(r.clean_failure(1, "HTTP 503 after 3 attempts"), "persistent 503: bounded retries, then a clear error",
         r.diag())
    emu.faults({"route": "collection", "kind": "drop", "count": 1000})
    r = run("hf_catalog", ["--collection", fx["collections"][0]["slug"]], clean_env(emu, HFHUB_MAX_RETRIES="2"))
    t.ok(r.clean_failure(1, "collection"), "persistent dropped connections: clear error", r.diag())
    emu.faults({"route": "list_models", "kind": "stall", "stall_s": 30, "count": 1000})
    r = run("hf_catalog", ["--org", "ONEnextgen"], clean_env(emu, HFHUB_TIMEOUT="2"))
    t.ok(r.clean_failure(1, "deadline") and r.elapsed < 6, "a stalled server: HFHUB_TIMEOUT bounds the run",
         r.diag())
    emu.faults()

    # -- malformed answers ------------------------------------------------------------------
    for mode, pat, what in [
        ("garbage", "malformed JSON", "an answer that is not JSON"),
        ("html", "malformed JSON", "an HTML captive portal"),
        ("not-a-list", "not a list", "JSON of the wrong shape"),
        ("bad-types", "downloads", "a field of the wrong type"),
        ("huge", "larger than 64 MB", "an oversized answer"),
        ("foreign-link", "leaves the Hub's origin", "a next-page link to another host"),
    ]:
        bad = BadHub(mode)
        r = run("hf_catalog", ["--org", "acme-ai"], clean_env(None, HF_ENDPOINT=bad.endpoint))
        bad.stop()
        t.ok(r.clean_failure(1, pat), "%s: exit 1, clear message" % what, r.diag())
    bad = BadHub("bad-id")
    r = run("hf_catalog", ["--org", "acme-ai", "--output", "json"], clean_env(None, HF_ENDPOINT=bad.endpoint))
    bad.stop()
    t.ok(r.rc == 0 and r.out.strip() == "[]" and "invalid model id" in r.err,
         "hostile model ids are skipped with a warning, never used", r.diag())
    emu.stop()
    t.done()


if __name__ == "__main__":
    main()
