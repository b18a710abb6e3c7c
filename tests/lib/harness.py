"""Helpers for the Python end-to-end tests: start the Hub emulator on free
loopback ports, change its knobs, read its request log, run our programs
with a clean environment, and print the ok / not ok lines that
tests/run-tests.sh counts."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("HFHUB_TEST_BIN", os.path.join(ROOT, "build", "check", "bin"))
EMULATOR = os.path.join(ROOT, "tests", "hub_emulator", "hub_emulator.py")
TEMPLATE_TOOL = os.path.join(ROOT, "tests", "tools")
sys.path.insert(0, TEMPLATE_TOOL)
import one_template  # noqa: E402

_fixtures_cache = {}


class Test:
    def __init__(self):
        self.failures = 0
        self.tmp = tempfile.mkdtemp(prefix="hfhub-e2e-")

    def ok(self, cond, desc, diag=None):
        print("%s - %s" % ("ok" if cond else "not ok", desc), flush=True)
        if not cond:
            self.failures += 1
            if diag is not None:
                for line in str(diag).splitlines()[:15]:
                    print("#   " + line)
        return cond

    def done(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        sys.exit(1 if self.failures else 0)


class Emulator:
    def __init__(self, tmp, *args):
        ready = os.path.join(tmp, "ready-%d.json" % time.monotonic_ns())
        self.proc = subprocess.Popen(
            [sys.executable, EMULATOR, "--port", "0", "--cdn-port", "0", "--ready-file", ready, "--quiet"]
            + list(args), stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "emulator.log"), "a"))
        deadline = time.monotonic() + 15
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Hub emulator did not start (see %s/emulator.log)" % tmp)
            time.sleep(0.02)
        info = json.load(open(ready))
        self.endpoint, self.cdn = info["endpoint"], info["cdn"]

    def _call(self, method, path, body=None):
        req = urllib.request.Request(self.endpoint + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            data = r.read()
        return json.loads(data) if data else None

    def config(self, **kw):
        return self._call("POST", "/_emulator/config", kw)

    def faults(self, *faults):
        return self.config(faults=list(faults))

    def reset(self):
        self._call("POST", "/_emulator/reset", {})

    def stats(self):
        return self._call("GET", "/_emulator/stats")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def fixtures(*extra):
    key = tuple(extra)
    if key not in _fixtures_cache:
        out = subprocess.run([sys.executable, EMULATOR, "--dump-fixtures"] + list(extra),
                             check=True, capture_output=True).stdout
        _fixtures_cache[key] = json.loads(out)
    return _fixtures_cache[key]


class Result:
    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed

    def clean_failure(self, status, pattern):
        """Non-zero status as expected, nothing on stdout, the message on stderr."""
        import re
        return (self.rc == status and self.out == "" and re.search(pattern, self.err, re.I) is not None
                and "Sanitizer" not in self.err and "runtime error" not in self.err)

    def sanitizer_clean(self):
        return "Sanitizer" not in self.err and "runtime error" not in self.err

    def diag(self):
        return "status %d after %.1fs\nstderr: %s\nstdout: %s" % (self.rc, self.elapsed, self.err[-1500:],
                                                                   self.out[:300])


def clean_env(emu=None, cache=None, **extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "http_proxy", "https_proxy",
                        "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy")}
    env["HF_HOME"] = tempfile.mkdtemp(prefix="hfhub-home-")
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["HFHUB_RETRY_BASE_MS"] = "50"
    if emu:
        env["HF_ENDPOINT"] = emu.endpoint
    if cache is None:
        env["HFHUB_CACHE_DIR"] = tempfile.mkdtemp(prefix="hfhub-cache-")
    else:
        env["HFHUB_CACHE_DIR"] = cache
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def run(prog, args, env, timeout=120):
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(BIN, prog)] + list(args), env=env, capture_output=True,
                       timeout=timeout)
    return Result(p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"),
                  time.monotonic() - t0)


def catalog_json(emu, args, env=None, t=None):
    r = run("hf_catalog", list(args) + ["--output", "json", "--quiet"], env or clean_env(emu))
    if r.rc != 0:
        if t:
            t.ok(False, "hf_catalog %s" % " ".join(args), r.diag())
        return None
    return json.loads(r.out)


def decode_apps(text):
    return one_template.decode_apps(text)


# The default selection rule, written again from its documentation
# (README "What an import takes"), as an independent oracle.
REDUNDANT_SUFFIXES = (".pt", ".pth", ".h5", ".msgpack", ".ot", ".onnx", ".onnx_data", ".ckpt")


def default_selection(paths):
    has_st = any(p.lower().endswith(".safetensors") for p in paths)
    out = []
    for p in paths:
        base = p.rsplit("/", 1)[-1]
        if p.startswith(".git/") or base in (".gitattributes", ".gitignore", ".gitmodules"):
            continue
        if has_st:
            if p.split("/", 1)[0] in ("onnx", "openvino", "coreml") and "/" in p:
                continue
            if ".mlpackage/" in p:
                continue
            if base.lower().endswith(".bin") and (base.startswith("pytorch_model") or base.startswith("model")):
                continue
            if base.lower().endswith(REDUNDANT_SUFFIXES):
                continue
        out.append(p)
    return out


# Reading back imports, for the downloader and integration tests.
def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_digests(root):
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            p = os.path.join(d, name)
            rel = os.path.relpath(p, root)
            out[rel] = (os.path.getsize(p), sha256_file(p))
    return out


def expected(model, paths=None):
    files = {f["path"]: f for f in model["files"]}
    sel = paths if paths is not None else default_selection(list(files))
    return {p: (files[p]["size"], files[p]["sha256"]) for p in sel}


def image_contents(t, image):
    """Checks a qcow2 import with qemu's and e2fsprogs' own tools; returns its files."""
    raw = image + ".raw"
    out = os.path.join(t.tmp, "rdump-%d" % time.monotonic_ns())
    os.mkdir(out)
    ok = True
    chk = subprocess.run(["qemu-img", "check", image], capture_output=True, text=True)
    ok &= chk.returncode == 0 and "No errors were found" in chk.stdout
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", image], capture_output=True,
                                     text=True).stdout or "{}")
    ok &= info.get("format") == "qcow2"
    subprocess.run(["qemu-img", "convert", "-O", "raw", image, raw], check=True)
    fsck = subprocess.run(["e2fsck", "-fn", raw], capture_output=True, text=True)
    ok &= fsck.returncode == 0
    label = subprocess.run(["dumpe2fs", "-h", raw], capture_output=True, text=True).stdout
    ok &= "Filesystem volume name:   hfhub-model" in label
    subprocess.run(["debugfs", "-R", "rdump / %s" % out, raw], capture_output=True)
    os.unlink(raw)
    files = tree_digests(out)
    files.pop("lost+found", None)
    return ok, files, info.get("virtual-size", 0), out
