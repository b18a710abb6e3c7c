// Download contender for bench/download_bench.py: Hugging Face's own JS client
// (@huggingface/hub, installed in tests/js/node_modules by `npm ci`) doing snapshotDownload of one
// repository into a cache directory.
//
//   node bench/download_js_snapshot.mjs HUB_URL REPO CACHE_DIR
//
// snapshotDownload takes no include/exclude filter: it downloads every file of the repository,
// one file after another, one connection per file, into CACHE_DIR/models--org--name/blobs with
// symlinks under snapshots/<commit>/. Prints one JSON line {"folder", "files"} on stdout.

import { readFileSync, readdirSync, lstatSync } from "node:fs";
import { join, dirname, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = join(here, "..", "tests", "js", "node_modules", "@huggingface", "hub");

async function loadHub() {
  // A relative directory cannot be imported as a package from ESM: pick the ESM entry point the
  // package itself declares.
  const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
  const dot = pkg.exports?.["."];
  const entry = (typeof dot === "string" ? dot : dot?.import) ?? pkg.module ?? pkg.main;
  return { hub: await import(pathToFileURL(join(pkgDir, entry)).href), version: pkg.version };
}

function listTree(root) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (lstatSync(p).isDirectory()) walk(p);
      else out.push(relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}

const [hubUrl, repo, cacheDir] = process.argv.slice(2);
if (!hubUrl || !repo || !cacheDir) {
  process.stderr.write("usage: node download_js_snapshot.mjs HUB_URL REPO CACHE_DIR\n");
  process.exit(2);
}
// downloadFileToCacheDir announces every file with console.debug: keep stdout for the result.
console.debug = () => {};

const { hub, version } = await loadHub();
try {
  const folder = await hub.snapshotDownload({ hubUrl, repo, cacheDir });
  process.stdout.write(JSON.stringify({ folder, files: listTree(folder), version }) + "\n");
} catch (e) {
  process.stderr.write(`snapshotDownload failed: ${e?.name}: ${e?.message}\n`);
  process.exit(1);
}
