#!/usr/bin/env bash
# Runs every test program and counts their "ok - " / "not ok - " lines.
# Unit tests (build/check/unit/*), fuzz smoke runs, end-to-end tests
# (tests/e2e/*.sh, against the Hub emulator), the emulator's self-test and
# the Hugging Face JavaScript client test. Ends with "N passed, N failed".
# Usage: tests/run-tests.sh [PATTERN]   (only test files whose path matches)
set -u
cd "$(dirname "$0")/.."
export HFHUB_TEST_BIN="$PWD/build/check/bin"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
pattern="${1:-}"
log_dir=build/test-logs
mkdir -p "$log_dir"

passed=0
failed=0
failed_names=()

run_one() {
    local name="$1"; shift
    case "$name" in *"$pattern"*) ;; *) return ;; esac
    local log="$log_dir/$(echo "$name" | tr '/' '_').log"
    local start=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    local ok notok
    ok=$(grep -c '^ok ' "$log")
    notok=$(grep -c '^not ok ' "$log")
    if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
        notok=1
        echo "not ok - $name exited with status $rc" >>"$log"
    fi
    passed=$((passed + ok))
    failed=$((failed + notok))
    printf '%-44s %4d passed %3d failed  (%ds)\n' "$name" "$ok" "$notok" $((SECONDS - start))
    if [ "$notok" -ne 0 ]; then
        failed_names+=("$name")
        grep -A3 '^not ok ' "$log" | head -n 40 | sed 's/^/    /'
        [ "$rc" -ne 0 ] && tail -n 15 "$log" | sed 's/^/    | /'
    fi
}

for t in build/check/unit/test_*; do
    [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
done
for f in build/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    run_one "fuzz/$(basename "$f")" tests/fuzz/smoke.sh "$f"
done
run_one "hub_emulator/test_emulator.py" python3 tests/hub_emulator/test_emulator.py
for t in tests/e2e/test_*.py; do
    [ -f "$t" ] && run_one "e2e/$(basename "$t")" python3 "$t"
done
for t in tests/e2e/test_*.sh; do
    [ -f "$t" ] && run_one "e2e/$(basename "$t")" bash "$t"
done
run_one "js/run.sh" bash tests/js/run.sh

echo
if [ "${#failed_names[@]}" -ne 0 ]; then
    echo "failing: ${failed_names[*]} (logs in $log_dir/)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
