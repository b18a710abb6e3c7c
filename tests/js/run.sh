#!/bin/sh
# Runs Hugging Face's own JS client (@huggingface/hub, pinned in package-lock.json) against the
# Hub emulator: installs node modules if missing, starts the emulator, runs the test, stops it.
# stdout carries only the test's "ok - / not ok - " lines; installer noise goes to stderr.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here" || exit 1

for tool in node npm python3 curl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "not ok - $tool is installed"
        exit 1
    fi
done

if [ ! -f node_modules/@huggingface/hub/package.json ]; then
    if ! npm ci --no-audit --no-fund >&2; then
        echo "not ok - npm ci installs @huggingface/hub"
        exit 1
    fi
fi

EMU_SCRIPT="$here/../hub_emulator/hub_emulator.py"
. "$here/../lib/emulator.sh"
if ! emulator_start; then
    echo "not ok - hub emulator starts"
    exit 1
fi
# @huggingface/hub only uses Xet when the server answers with Xet headers, which the emulator
# never sends: no environment variable is needed to keep it on plain HTTP.
node hub_client_test.mjs
rc=$?
if [ "$rc" -ne 0 ] && [ -s "$EMU_TMP/emulator.err" ]; then
    sed 's/^/# emulator: /' "$EMU_TMP/emulator.err" | tail -20
fi
emulator_stop
exit "$rc"
