#!/usr/bin/env bash
# `make demo`: starts the bundled Hub emulator, builds a catalog from it as
# an operator would, shows it as a table and as the APP lines oned reads,
# with one app decoded, then imports a model as a qcow2 disk and shows what
# the disk holds. Needs build/bin (make all), python3, qemu-utils, e2fsprogs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/hfhub-demo.XXXXXX")
emu_pid=
cleanup() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

python3 tests/hub_emulator/hub_emulator.py --port 0 --cdn-port 0 --ready-file "$work/ready.json" \
    --quiet >/dev/null 2>"$work/emulator.log" &
emu_pid=$!
for _ in $(seq 100); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
[ -s "$work/ready.json" ] || { echo "demo: the Hub emulator did not start:"; cat "$work/emulator.log"; exit 1; }
HF_ENDPOINT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["endpoint"])' "$work/ready.json")
export HF_ENDPOINT HFHUB_CACHE_DIR="$work/cache"
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "$2"; }

echo "Hub emulator at $HF_ENDPOINT (a stand-in for https://huggingface.co)"

step "Catalog of two organisations, text generation, as a table" \
     "hf_catalog --org ONEnextgen,acme-ai --task text-generation --limit 10 --full 1 --output table"
$BIN/hf_catalog --org ONEnextgen,acme-ai --task text-generation --limit 10 --full 1 --output table

step "The same catalog as oned receives it from the monitor action" \
     "hf_catalog --org ONEnextgen,acme-ai --task text-generation --limit 10 --full 1"
$BIN/hf_catalog --org ONEnextgen,acme-ai --task text-generation --limit 10 --full 1 --quiet \
    | tee "$work/apps.txt" | cut -c1-110 | sed 's/$/.../'

step "The first APP decoded (the app template oned stores)" "head -1 | base64 -d"
head -n 1 "$work/apps.txt" | sed 's/^APP="//; s/"$//' | base64 -d

step "A second run: unchanged models come from the cache (listing requests only)" \
     "hf_catalog --org ONEnextgen,acme-ai --task text-generation --limit 10 --full 1 >/dev/null"
$BIN/hf_catalog --org ONEnextgen,acme-ai --task text-generation --limit 10 --full 1 >/dev/null

step "The marketplace monitor, called as oned calls it" \
     'monitor "$(base64 -w0 driver-message.xml)" 100 | wc -l'
msg='<MARKET_DRIVER_ACTION_DATA><MARKETPLACE><ID>100</ID><NAME>HF Hub</NAME><MARKET_MAD>hfhub</MARKET_MAD><TEMPLATE><HFHUB_COLLECTION>ONEnextgen/certified-llms-6740a1b2c3d4e5f601234567</HFHUB_COLLECTION><HFHUB_LIMIT>100</HFHUB_LIMIT></TEMPLATE></MARKETPLACE></MARKET_DRIVER_ACTION_DATA>'
$BIN/hfhub_monitor "$(printf '%s' "$msg" | base64 -w0)" 100 | wc -l | sed 's/$/ APP lines from the collection ONEnextgen\/certified-llms/'

step "Import a model as a qcow2 disk (what a datastore does with SOURCE=hf://...)" \
     "hfhub_downloader hf://ONEnextgen/Qwen2.5-1.5B-Instruct-emu model.qcow2"
$BIN/hfhub_downloader --progress plain hf://ONEnextgen/Qwen2.5-1.5B-Instruct-emu "$work/model.qcow2"

step "What the disk is" "qemu-img info model.qcow2; qemu-img check model.qcow2"
qemu-img info "$work/model.qcow2" | grep -E 'file format|virtual size|disk size'
qemu-img check "$work/model.qcow2" | head -n 1

step "What the disk holds (read without mounting: debugfs on a raw copy)" \
     "debugfs -R 'ls -l /' model.raw; debugfs -R 'cat /.hfhub/manifest.json' model.raw"
qemu-img convert -O raw "$work/model.qcow2" "$work/model.raw"
dumpe2fs -h "$work/model.raw" 2>/dev/null | grep -E 'volume name|Block count'
debugfs -R 'ls -l /' "$work/model.raw" 2>/dev/null | grep -v lost+found
debugfs -R 'cat /.hfhub/manifest.json' "$work/model.raw" 2>/dev/null |
    python3 -c 'import json,sys; m=json.load(sys.stdin); print("manifest: %s@%s, %d files, sha256 of each" % (m["repo_id"], m["commit"][:12], len(m["files"])))'
echo
echo "demo: done"
