# Sourceable helpers for end-to-end tests: ok/not-ok lines (counted by
# tests/run-tests.sh), command runners that keep stdout, stderr and status.
# shellcheck shell=bash

T_FAILS=0
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hfhub-test.XXXXXX")
BIN="${HFHUB_TEST_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/check/bin}"
TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tools"
export HFHUB_CACHE_DIR="$T_DIR/cache"
export HFHUB_RETRY_BASE_MS=${HFHUB_RETRY_BASE_MS:-50}

t_cleanup() { rm -rf "$T_DIR"; }

t_pass() { echo "ok - $1"; }
t_fail() { echo "not ok - $1"; T_FAILS=$((T_FAILS + 1)); }
t_check() { # t_check DESCRIPTION COMMAND...
    local d="$1"; shift
    if "$@"; then t_pass "$d"; else t_fail "$d"; fi
}

# t_run NAME CMD... : runs CMD; sets $OUT, $ERR (files) and $RC
t_run() {
    local name="$1"; shift
    "$@" >"$T_DIR/$name.out" 2>"$T_DIR/$name.err"
    RC=$?
    OUT="$T_DIR/$name.out"
    ERR="$T_DIR/$name.err"
    return 0
}

# The last run failed cleanly: the expected status, nothing on stdout, a
# message matching PATTERN on stderr, no sanitizer report.
t_clean_failure() { # DESCRIPTION EXPECTED_STATUS PATTERN
    local d="$1" want="$2" pat="$3"
    if [ "$RC" -eq "$want" ] && [ ! -s "$OUT" ] && grep -qiE -- "$pat" "$ERR" &&
        ! grep -qE 'Sanitizer|runtime error' "$ERR"; then
        t_pass "$d"
    else
        t_fail "$d"
        echo "#   status $RC (want $want), stdout $(wc -c <"$OUT") bytes, stderr:"
        sed 's/^/#   /' "$ERR" | head -n 8
    fi
}

t_sanitizer_clean() { ! grep -qE 'Sanitizer|runtime error' "$ERR"; }

t_done() {
    t_cleanup
    [ "$T_FAILS" -eq 0 ]
}
