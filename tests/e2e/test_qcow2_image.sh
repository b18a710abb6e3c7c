#!/usr/bin/env bash
# Judges the images written by lib/hf_qcow2.c with qemu's own tools: the unit
# test leaves them (plus the expected raw disks) in a temporary directory via
# HFHUB_QCOW2_KEEP, then qemu-img check / info / compare must all agree, and the
# 20 GiB scale plan must be fast to create and small on disk.
# Prints "ok - ..." / "not ok - ..." lines; exits 1 on any failure.
set -u
cd "$(dirname "$0")/../.."

failures=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failures=$((failures + 1)); }

if ! command -v qemu-img >/dev/null 2>&1; then
    not_ok "qemu-img is not installed (apt-get install -y qemu-utils)"
    exit 1
fi
bin=build/check/unit/test_qcow2
if [ ! -x "$bin" ] && ! make -s "$bin" >/dev/null; then
    not_ok "cannot build $bin"
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The unit test's own lines are shown as comments, so they are not counted twice.
out=$(HFHUB_QCOW2_KEEP="$tmp" "$bin" 2>&1)
rc=$?
if [ "$rc" -eq 0 ] && ! grep -q '^not ok' <<<"$out"; then
    ok "unit test wrote the images ($(grep -c '^ok' <<<"$out") checks passed)"
else
    not_ok "unit test failed (status $rc)"
    grep -A3 '^not ok' <<<"$out" | sed 's/^/#   /'
    tail -n 15 <<<"$out" | sed 's/^/#   | /'
fi

# json_field FILE KEY...: one value out of qemu-img's JSON (nested keys allowed).
json_field() {
    python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v.get(k) if isinstance(v, dict) else None
print(v)' "$@"
}

judge() {
    local name="$1" qcow="$tmp/$1.qcow2" raw="$tmp/$2.raw"
    if [ ! -f "$qcow" ] || [ ! -f "$raw" ]; then
        not_ok "$name: image or expected raw file missing"
        return
    fi
    local txt rc
    txt=$(qemu-img check "$qcow" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ] && grep -q 'No errors were found on the image.' <<<"$txt" && ! grep -qi 'leak' <<<"$txt"; then
        ok "$name: qemu-img check is clean, no leaked clusters"
    else
        not_ok "$name: qemu-img check (status $rc)"
        sed 's/^/#   /' <<<"$txt"
    fi

    qemu-img check --output=json "$qcow" >"$tmp/check.json" 2>&1
    local end size
    end=$(json_field "$tmp/check.json" image-end-offset)
    size=$(stat -c %s "$qcow")
    if [ "$end" = "$size" ]; then
        ok "$name: image ends exactly at the end of the file ($size bytes)"
    else
        not_ok "$name: image end offset $end, file size $size"
    fi

    if qemu-img info --output=json "$qcow" >"$tmp/info.json" 2>&1; then
        local vsize format compat want
        vsize=$(json_field "$tmp/info.json" virtual-size)
        format=$(json_field "$tmp/info.json" format)
        compat=$(json_field "$tmp/info.json" format-specific data compat)
        want=$(stat -c %s "$raw")
        if [ "$vsize" = "$want" ] && [ "$format" = qcow2 ] && [ "$compat" = 1.1 ]; then
            ok "$name: qemu-img info: qcow2, compat 1.1, virtual size $vsize"
        else
            not_ok "$name: qemu-img info: format $format, compat $compat, virtual size $vsize (want $want)"
        fi
    else
        not_ok "$name: qemu-img info failed"
        sed 's/^/#   /' "$tmp/info.json"
    fi

    txt=$(qemu-img compare -f raw -F qcow2 "$raw" "$qcow" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ] && grep -q 'Images are identical.' <<<"$txt"; then
        ok "$name: qemu-img compare with $2.raw: Images are identical."
    else
        not_ok "$name: qemu-img compare with $2.raw (status $rc)"
        sed 's/^/#   /' <<<"$txt"
    fi
}

judge image expected
judge empty empty
judge scale scale

# Scale: 20 GiB disk, 10 GiB planned in 4 ranges, 8 MiB written.
ms=$(sed -n 's/^# scale: create \([0-9.]*\) ms.*/\1/p' <<<"$out")
if [ -n "$ms" ] && awk -v ms="$ms" 'BEGIN { exit !(ms < 1000) }'; then
    ok "scale: 10 GiB plan on a 20 GiB disk created in $ms ms"
else
    not_ok "scale: plan creation took '${ms:-?}' ms (want well under a second)"
fi
if [ -f "$tmp/scale.qcow2" ]; then
    used_kib=$(du -k "$tmp/scale.qcow2" | cut -f1)
    apparent=$(stat -c %s "$tmp/scale.qcow2")
    if [ "$used_kib" -lt 32768 ] && [ "$apparent" -gt $((10 << 30)) ]; then
        ok "scale: $apparent bytes apparent, $used_kib KiB on disk (du)"
    else
        not_ok "scale: $apparent bytes apparent, $used_kib KiB on disk (want > 10 GiB and < 32 MiB)"
    fi
fi

[ "$failures" -eq 0 ] || exit 1
