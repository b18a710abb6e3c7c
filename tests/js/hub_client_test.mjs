// Faithfulness proof: Hugging Face's own JS client (@huggingface/hub) pointed at the emulator.
// Every result is compared with the emulator's --dump-fixtures. Run through run.sh, which starts
// the emulator and exports HF_ENDPOINT / EMU_TOKEN_GRANTED / EMU_TOKEN_UNAPPROVED.
// Output: one "ok - " / "not ok - " line per check, "# " diagnostics, exit 1 on any failure.

import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync, lstatSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  listModels, modelInfo, listFiles, downloadFile, snapshotDownload, pathsInfo, listCollections,
  fileDownloadInfo, whoAmI,
} from "@huggingface/hub";

// downloadFileToCacheDir logs with console.debug on stdout: keep stdout a clean TAP stream.
console.debug = (...a) => process.stdout.write("# " + a.join(" ") + "\n");

const here = dirname(fileURLToPath(import.meta.url));
const hubUrl = process.env.HF_ENDPOINT;
const GRANTED = process.env.EMU_TOKEN_GRANTED;
const UNAPPROVED = process.env.EMU_TOKEN_UNAPPROVED;
let passed = 0;
let failed = 0;

function check(cond, desc, diag) {
  if (cond) {
    passed++;
    console.log("ok - " + desc);
  } else {
    failed++;
    console.log("not ok - " + desc);
    if (diag !== undefined) {
      for (const line of String(typeof diag === "string" ? diag : JSON.stringify(diag)).split("\n").slice(0, 8)) {
        console.log("#   " + line);
      }
    }
  }
}

async function group(name, fn) {
  try {
    await fn();
  } catch (e) {
    check(false, `${name} ran without throwing`, `${e?.name}: ${e?.message}`);
  }
}

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const sorted = (a) => [...a].sort();
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

async function control(path, body) {
  const res = await fetch(hubUrl + path, body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`control ${path}: ${res.status}`);
  return res.json();
}

async function collect(gen) {
  const out = [];
  for await (const x of gen) out.push(x);
  return out;
}

async function rejects(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return e;
  }
}

if (!hubUrl || !GRANTED) {
  console.log("not ok - HF_ENDPOINT and EMU_TOKEN_GRANTED are set (run through run.sh)");
  process.exit(1);
}

const fx = JSON.parse(execFileSync("python3", [join(here, "..", "hub_emulator", "hub_emulator.py"), "--dump-fixtures"],
  { maxBuffer: 64 * 1024 * 1024 }).toString());
const byId = Object.fromEntries(fx.models.map((m) => [m.id, m]));
const publicModels = fx.models.filter((m) => !m.private);
const QWEN = "ONEnextgen/Qwen2.5-1.5B-Instruct-emu";
const GATED = "meta-llama-emu/Llama-3.1-8B-Instruct";
const DIFFUSERS = "ONEnextgen/stable-diffusion-emu";
const filesOf = (m) => Object.fromEntries(m.files.map((f) => [f.path, f]));

await group("listModels", async () => {
  await control("/_emulator/config", { page_size: 5 });
  await control("/_emulator/reset", {});
  const org = await collect(listModels({ hubUrl, search: { owner: "ONEnextgen" } }));
  const want = publicModels.filter((m) => m.author === "ONEnextgen");
  check(same(sorted(org.map((m) => m.name)), sorted(want.map((m) => m.id))),
    `listModels(owner=ONEnextgen) returns all ${want.length} models`, org.map((m) => m.name));
  const stats = await control("/_emulator/stats");
  check(stats.by_route.list_models === Math.ceil(want.length / 5),
    `listModels followed Link across ${Math.ceil(want.length / 5)} pages of 5`, stats.by_route);
  const fieldsOk = org.every((e) => {
    const m = byId[e.name];
    return e.downloads === m.downloads && e.likes === m.likes && e.gated === m.gated && e.private === m.private &&
      (e.task ?? null) === m.pipeline_tag && e.updatedAt.toISOString() === m.lastModified;
  });
  check(fieldsOk, "listModels: downloads, likes, gated, private, task, updatedAt match the fixtures");

  const llama = await collect(listModels({ hubUrl, search: { query: "llama" }, additionalFields: ["sha", "tags"] }));
  const wantLlama = publicModels.filter((m) => m.id.toLowerCase().includes("llama"));
  check(same(sorted(llama.map((m) => m.name)), sorted(wantLlama.map((m) => m.id))),
    `listModels(search=llama) finds ${wantLlama.length} models across pages`);
  check(llama.every((e) => e.sha === byId[e.name].sha && same(e.tags, byId[e.name].tags)),
    "listModels additionalFields sha and tags match (hostile tags included)");

  const all = await collect(listModels({ hubUrl }));
  check(all.length === publicModels.length, `listModels() anonymous: ${publicModels.length} public models`, all.length);
  const allGranted = await collect(listModels({ hubUrl, accessToken: GRANTED }));
  check(allGranted.length === fx.models.length, "listModels() with GRANTED token also lists the private model");
  const limited = await collect(listModels({ hubUrl, limit: 7 }));
  check(limited.length === 7, "listModels limit=7 stops at 7");
  await control("/_emulator/config", { page_size: 20 });
});

await group("modelInfo", async () => {
  const info = await modelInfo({ hubUrl, name: QWEN, additionalFields: ["sha", "filePaths", "config", "cardData"] });
  const m = byId[QWEN];
  check(info.name === QWEN && info.sha === m.sha, "modelInfo: id and sha");
  check(same(sorted(info.filePaths), m.files.map((f) => f.path)), "modelInfo: filePaths = fixture files");
  check(typeof info.config.chat_template_jinja === "string", "modelInfo: config.chat_template_jinja present");
  const old = await modelInfo({ hubUrl, name: QWEN, revision: "v1.0", additionalFields: ["sha", "filePaths"] });
  check(old.sha === m.revisions["v1.0"].sha &&
    same(sorted(old.filePaths), m.revisions["v1.0"].files.map((f) => f.path)), "modelInfo(revision v1.0)");
  const hostile = await modelInfo({ hubUrl, name: "ONEnextgen/hostile-strings-emu", additionalFields: ["cardData"] });
  check(hostile.cardData.license_name === byId["ONEnextgen/hostile-strings-emu"].license_name,
    "modelInfo: hostile cardData.license_name round-trips exactly");
  const e = await rejects(modelInfo({ hubUrl, name: GATED }));
  check(e && e.statusCode === 401, "modelInfo of a gated model without token fails with 401 (GatedRepo)", e?.message);
  const g = await modelInfo({ hubUrl, name: GATED, accessToken: GRANTED, additionalFields: ["sha"] });
  check(g.sha === byId[GATED].sha && g.gated === "auto", "modelInfo of the gated model with GRANTED token");
  const who = await whoAmI({ hubUrl, accessToken: GRANTED });
  check(who.name === "emu-granted", "whoAmI with GRANTED token");
});

await group("listFiles", async () => {
  await control("/_emulator/config", { tree_page_size: 4 });
  await control("/_emulator/reset", {});
  for (const id of [QWEN, DIFFUSERS, "ONEnextgen/bge-small-en-emu"]) {
    const entries = await collect(listFiles({ hubUrl, repo: id, recursive: true }));
    const files = entries.filter((e) => e.type === "file");
    const want = byId[id].files;
    const got = sorted(files.map((f) => [f.path, f.size, f.oid, f.lfs?.oid ?? null].join(" ")));
    const exp = sorted(want.map((f) => [f.path, f.size, f.oid, f.lfs ? f.sha256 : null].join(" ")));
    check(same(got, exp), `listFiles(recursive) of ${id}: paths, sizes, oids, lfs.oid`);
  }
  const stats = await control("/_emulator/stats");
  check(stats.by_route.tree > 3, `listFiles followed tree pagination (${stats.by_route.tree} tree pages)`);
  await control("/_emulator/config", { tree_page_size: 50 });
  const info = await pathsInfo({ hubUrl, repo: QWEN, paths: ["config.json", "model-00001-of-00002.safetensors"], expand: true });
  const f = filesOf(byId[QWEN]);
  check(info.length === 2 && info[1].lfs.oid === f["model-00001-of-00002.safetensors"].sha256 &&
    info[0].oid === f["config.json"].oid && info[0].lastCommit?.id, "pathsInfo (JSON body, expand)");
});

await group("downloadFile", async () => {
  await control("/_emulator/reset", {});
  const f = filesOf(byId[QWEN]);
  for (const path of ["config.json", "tokenizer_config.json", "model-00002-of-00002.safetensors"]) {
    const blob = await downloadFile({ hubUrl, repo: QWEN, path });
    const buf = Buffer.from(await blob.arrayBuffer());
    check(buf.length === f[path].size && sha256(buf) === f[path].sha256, `downloadFile ${path}: bytes match (sha256)`);
  }
  const old = Object.fromEntries(byId[QWEN].revisions["v1.0"].files.map((x) => [x.path, x]));
  const blob = await downloadFile({ hubUrl, repo: QWEN, path: "model.safetensors", revision: "v1.0" });
  check(sha256(Buffer.from(await blob.arrayBuffer())) === old["model.safetensors"].sha256, "downloadFile at tag v1.0");
  const ds = fx.datasets[0];
  const dsf = Object.fromEntries(ds.files.map((x) => [x.path, x]));
  const dblob = await downloadFile({ hubUrl, repo: { type: "dataset", name: ds.id }, path: "data/test.jsonl" });
  check(sha256(Buffer.from(await dblob.arrayBuffer())) === dsf["data/test.jsonl"].sha256, "downloadFile from a dataset");
  const none = await downloadFile({ hubUrl, repo: QWEN, path: "does-not-exist.bin" });
  check(none === null, "downloadFile of a missing file returns null (EntryNotFound)");
  const di = await fileDownloadInfo({ hubUrl, repo: QWEN, path: "model-00001-of-00002.safetensors" });
  check(di.size === f["model-00001-of-00002.safetensors"].size && di.etag.includes(f["model-00001-of-00002.safetensors"].sha256),
    "fileDownloadInfo: size and etag (sha256) of an LFS file", di);
  const stats = await control("/_emulator/stats");
  check(stats.by_route.resolve_cache > 0 && stats.by_route.cdn > 0,
    "downloads went through the 307 resolve-cache and 302 CDN paths", stats.by_route);
  const e = await rejects(downloadFile({ hubUrl, repo: GATED, path: "config.json" }));
  check(e && e.statusCode === 401, "downloadFile of a gated model without token fails with 401", e?.message);
  const e2 = await rejects(downloadFile({ hubUrl, repo: GATED, path: "config.json", accessToken: UNAPPROVED }));
  check(e2 && e2.statusCode === 403, "downloadFile with an unapproved token fails with 403", e2?.message);
});

await group("snapshotDownload", async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), "hfjs-cache-"));
  try {
    await control("/_emulator/reset", {});
    const m = byId[GATED];
    const folder = await snapshotDownload({ hubUrl, repo: GATED, accessToken: GRANTED, cacheDir });
    check(folder.endsWith(m.sha), "snapshotDownload returns snapshots/<sha>", folder);
    let good = 0;
    for (const f of m.files) {
      const p = join(folder, f.path);
      if (existsSync(p) && sha256(readFileSync(p)) === f.sha256) good++;
      else console.log(`#   bad or missing: ${f.path}`);
    }
    check(good === m.files.length, `snapshotDownload of gated ${GATED} with GRANTED: ${good}/${m.files.length} files match`);
    check(m.files.some((f) => f.lfs && lstatSync(join(folder, f.path)).isSymbolicLink()),
      "snapshot files are symlinks into blobs/ (cache layout)");
    const stats = await control("/_emulator/stats");
    const cdn = stats.requests.filter((r) => r.listener === "cdn");
    check(cdn.length > 0 && cdn.every((r) => r.authorization === "none" && r.status < 400),
      `the token never reached the CDN (${cdn.length} CDN requests, none with Authorization)`,
      cdn.map((r) => `${r.status} ${r.authorization}`));
    const hub = stats.requests.filter((r) => r.listener === "hub");
    check(hub.every((r) => r.authorization === "granted"), "every Hub request carried the GRANTED token",
      hub.filter((r) => r.authorization !== "granted").map((r) => `${r.method} ${r.path} ${r.status} ${r.authorization}`));
    const e = await rejects(snapshotDownload({ hubUrl, repo: GATED, cacheDir: join(cacheDir, "anon") }));
    check(e && e.statusCode === 401, "snapshotDownload of the gated model without token fails (401)", e?.message);
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
});

await group("collections", async () => {
  // This @huggingface/hub version exports listCollections (not collectionInfo): the listing
  // truncates items to 4, so compare those, then the full collection over plain fetch.
  for (const c of fx.collections) {
    const [listed] = await collect(listCollections({ hubUrl, search: { owner: [c.owner] } }));
    check(listed && listed.slug === c.slug && same(listed.items.map((i) => i.id), c.items.slice(0, 4).map((i) => i.id)),
      `listCollections(owner=${c.owner}): slug and first 4 items`);
    const full = await (await fetch(`${hubUrl}/api/collections/${c.slug}`)).json();
    check(same(full.items.filter((i) => i.type === "model").map((i) => i.id), c.model_ids),
      `collection ${c.slug}: model items`);
  }
  const withQwen = await collect(listCollections({ hubUrl, search: { item: [`models/${QWEN}`] } }));
  check(withQwen.length === 2, "listCollections(item=models/<id>) finds the model in both collections");
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
