# Sourceable helper for end-to-end tests: start/stop the Hub emulator and drive its control API.
#
#   . tests/lib/emulator.sh
#   emulator_start [--latency-ms 20 ...]   # exports HF_ENDPOINT EMU_CDN EMU_PID EMU_TOKEN_GRANTED EMU_TOKEN_UNAPPROVED
#   emulator_config '{"faults":[{"route":"resolve","kind":"503","count":1}]}'
#   emulator_stats | python3 -m json.tool
#   emulator_reset
#   emulator_stop                          # also runs on EXIT (the helper owns the EXIT trap;
#                                          # a caller with its own trap should call _emulator_cleanup)
#
# Sourcing it isolates the caller from real credentials: the user's token is never read.
# POSIX sh compatible (dash, bash).

unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_TOKEN_PATH
NO_PROXY=127.0.0.1,localhost
no_proxy=127.0.0.1,localhost
export NO_PROXY no_proxy

# Directory of this file: bash knows it; a POSIX shell cannot tell what it sourced, so fall
# back to the repository holding the current directory (set EMU_SCRIPT to override).
if [ -n "${BASH_SOURCE:-}" ]; then
    _emu_lib_dir=$(cd "$(dirname "${BASH_SOURCE}")" && pwd)
else
    _emu_lib_dir="$(git rev-parse --show-toplevel 2>/dev/null || pwd)/tests/lib"
fi
EMU_SCRIPT=${EMU_SCRIPT:-"$_emu_lib_dir/../hub_emulator/hub_emulator.py"}

EMU_TMP=${EMU_TMP:-$(mktemp -d "${TMPDIR:-/tmp}/hfhub-emu.XXXXXX")}
HF_HOME="$EMU_TMP/hf_home"
mkdir -p "$HF_HOME"
export HF_HOME EMU_TMP

_emu_json_field() {  # _emu_json_field FILE KEY: string value of KEY in the one-line ready file
    sed -n 's/.*"'"$2"'": *"\([^"]*\)".*/\1/p' "$1"
}

emulator_start() {
    if [ -n "${EMU_PID:-}" ] && kill -0 "$EMU_PID" 2>/dev/null; then
        echo "# emulator already running (pid $EMU_PID)" >&2
        return 0
    fi
    mkdir -p "$EMU_TMP" "$HF_HOME"
    _emu_ready="$EMU_TMP/ready.json"
    rm -f "$_emu_ready"
    python3 "$EMU_SCRIPT" --host 127.0.0.1 --port 0 --cdn-port 0 --ready-file "$_emu_ready" --quiet "$@" \
        >"$EMU_TMP/emulator.out" 2>"$EMU_TMP/emulator.err" &
    EMU_PID=$!
    export EMU_PID
    trap '_emulator_cleanup' EXIT
    _emu_i=0
    while [ ! -s "$_emu_ready" ]; do
        if ! kill -0 "$EMU_PID" 2>/dev/null; then
            echo "# emulator exited during startup:" >&2
            sed 's/^/# /' "$EMU_TMP/emulator.err" >&2
            EMU_PID=
            return 1
        fi
        _emu_i=$((_emu_i + 1))
        if [ "$_emu_i" -gt 200 ]; then   # 200 x 50 ms = 10 s
            echo "# emulator not ready after 10 s" >&2
            emulator_stop
            return 1
        fi
        sleep 0.05
    done
    HF_ENDPOINT=$(_emu_json_field "$_emu_ready" endpoint)
    EMU_CDN=$(_emu_json_field "$_emu_ready" cdn)
    EMU_TOKEN_GRANTED=$(_emu_json_field "$_emu_ready" granted)
    EMU_TOKEN_UNAPPROVED=$(_emu_json_field "$_emu_ready" unapproved)
    export HF_ENDPOINT EMU_CDN EMU_TOKEN_GRANTED EMU_TOKEN_UNAPPROVED
}

emulator_stop() {
    if [ -n "${EMU_PID:-}" ]; then
        kill "$EMU_PID" 2>/dev/null
        _emu_i=0
        while kill -0 "$EMU_PID" 2>/dev/null && [ "$_emu_i" -lt 50 ]; do
            sleep 0.05
            _emu_i=$((_emu_i + 1))
        done
        kill -9 "$EMU_PID" 2>/dev/null
        wait "$EMU_PID" 2>/dev/null
        EMU_PID=
    fi
}

# On exit: stop the emulator and remove the temp dir (HF_HOME included) unless EMU_KEEP_TMP is set.
_emulator_cleanup() {
    emulator_stop
    if [ -n "${EMU_TMP:-}" ] && [ -d "$EMU_TMP" ] && [ -z "${EMU_KEEP_TMP:-}" ]; then
        rm -rf "$EMU_TMP"
    fi
}

emulator_config() {   # emulator_config '<json>'  -> prints the resulting config
    curl -sS --fail-with-body -X POST -H 'Content-Type: application/json' --data "$1" "$HF_ENDPOINT/_emulator/config"
}

emulator_stats() {
    curl -sS --fail-with-body "$HF_ENDPOINT/_emulator/stats"
}

emulator_reset() {
    curl -sS --fail-with-body -X POST "$HF_ENDPOINT/_emulator/reset" >/dev/null
}
