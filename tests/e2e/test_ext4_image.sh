#!/usr/bin/env bash
# Checks the images hf_ext4_build lays out with the stock e2fsprogs tools:
# the unit test (build/check/unit/test_ext4, run with HFHUB_EXT4_KEEP) leaves
# a small image whose files it filled through the maps, their expected
# sha256 sums, and a 9 GiB + 1000-file layout left unfilled. Here e2fsck must
# find both clean, debugfs must read back every file's exact bytes, and the
# superblock, owners, modes, times and sparseness must be as specified.
# Prints "ok - ..." / "not ok - ..." lines; exits 1 on any failure.
set -u
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin"

failures=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failures=$((failures + 1)); }
# One command per check: several conditions are combined before calling it.
check() { # check DESCRIPTION COMMAND...
    local what="$1"; shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}

bin=build/check/unit/test_ext4
if [ ! -x "$bin" ]; then
    not_ok "$bin is missing (make $bin)"
    exit 1
fi
for tool in e2fsck debugfs dumpe2fs; do
    if ! command -v "$tool" >/dev/null; then
        not_ok "$tool not found (install e2fsprogs)"
        exit 1
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hfhub-ext4-e2e-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
img="$tmp/img.raw"
scale="$img.scale.raw"

# ---- the unit test builds, fills and keeps the images -------------------------
HFHUB_EXT4_KEEP="$img" "$bin" >"$tmp/unit.log" 2>&1
rc=$?
check "unit test passes with HFHUB_EXT4_KEEP (exit $rc)" [ "$rc" -eq 0 ]
grep '^not ok' "$tmp/unit.log" | sed 's/^/#   /'
grep '^# ' "$tmp/unit.log"
check "unit test reports the large layout built in under 2 s" \
    grep -q '^ok - built in .* s (< 2 s' "$tmp/unit.log"
portable="$img.portable.raw"
if [ ! -f "$img" ] || [ ! -f "$img.sha256" ] || [ ! -f "$scale" ] || [ ! -f "$portable" ]; then
    not_ok "the unit test left $img, $img.sha256, $scale and $portable"
    exit 1
fi

# ---- filesystem consistency -----------------------------------------------------
fsck_clean() { # image description
    if e2fsck -fn "$1" >"$tmp/fsck.log" 2>&1; then
        ok "e2fsck -fn finds $2 clean"
    else
        not_ok "e2fsck -fn finds $2 clean"
        sed 's/^/#   /' "$tmp/fsck.log"
    fi
}
fsck_clean "$img" "the filled image"
fsck_clean "$scale" "the 9 GiB + 1000-file layout"
fsck_clean "$portable" "the image a 1.45.6-style mke2fs made (no assume_storage_prezeroed)"

# ---- the portable mke2fs options: same identity, no lazy init left -----------------
TZ=UTC dumpe2fs "$portable" >"$tmp/portable.txt" 2>/dev/null
pfield() { sed -n "s/^$1:[[:space:]]*//p" "$tmp/portable.txt"; }
check "portable image: the UUID given" \
    [ "$(pfield 'Filesystem UUID')" = 12345678-9abc-8def-8011-223344556677 ]
check "portable image: the hash seed given" \
    [ "$(pfield 'Directory Hash Seed')" = fedcba98-7654-3210-0123-456789abcdef ]
for f in 'Filesystem created' 'Last write time' 'Last checked'; do
    check "portable image: $f at the given time" \
        [ "$(TZ=UTC date -d "$(pfield "$f")" +%s)" = 1717171717 ]
done
groups=$(grep -c '^Group [0-9]' "$tmp/portable.txt")
zeroed=$(grep '^Group [0-9]' "$tmp/portable.txt" | grep -c 'ITABLE_ZEROED')
check "portable image: all $groups groups' inode tables marked zeroed ($zeroed)" \
    [ "$groups" -ge 1 -a "$zeroed" -eq "$groups" ]
check "portable image: no lifetime-writes counter" \
    bash -c '! grep -q "^Lifetime writes" "$1"' _ "$tmp/portable.txt"

# ---- superblock -------------------------------------------------------------------
dumpe2fs -h "$img" >"$tmp/sb.txt" 2>/dev/null
field() { sed -n "s/^$1:[[:space:]]*//p" "$tmp/sb.txt"; }
size=$(stat -c %s "$img")
check "label is hfhub-test" [ "$(field 'Filesystem volume name')" = hfhub-test ]
check "block count covers the whole raw file ($size bytes)" \
    [ "$(( $(field 'Block count') * 4096 ))" -eq "$size" ]
[ "$(field 'Block size')" = 4096 ] && [ "$(field 'Inode size')" = 256 ] &&
    [ "$(field 'Reserved block count')" = 0 ]
check "4 KiB blocks, 256-byte inodes, no reserved blocks" [ $? -eq 0 ]
features=" $(field 'Filesystem features') "
check "features: extent and 64bit, no journal, no resize_inode" \
    bash -c '[[ "$1" == *" extent "* && "$1" == *" 64bit "* && "$1" != *has_journal* && "$1" != *resize_inode* ]]' _ "$features"

# ---- file contents ----------------------------------------------------------------
n=0
bad=0
while read -r sum path; do
    case "$path" in many/*) continue ;; esac # all of them are checked by rdump below
    n=$((n + 1))
    got=$(debugfs -R "cat /$path" "$img" 2>/dev/null | sha256sum | cut -d' ' -f1)
    if [ "$got" != "$sum" ]; then
        bad=$((bad + 1))
        echo "#   /$path: sha256 $got, expected $sum"
    fi
done <"$img.sha256"
[ "$n" -ge 7 ] && [ "$bad" -eq 0 ]
check "debugfs cat reads back the bytes written at the mapped offsets ($n files)" [ $? -eq 0 ]
mkdir "$tmp/out"
debugfs -R "rdump / $tmp/out" "$img" >/dev/null 2>&1 # warns about chown as non-root
total=$(wc -l <"$img.sha256")
(cd "$tmp/out" && sha256sum -c --quiet "$img.sha256") >"$tmp/sums.log" 2>&1
check "debugfs rdump gives every file's exact bytes ($total files, one directory of 300)" [ $? -eq 0 ]
head -n 5 "$tmp/sums.log" | sed 's/^/#   /'

# ---- owners, modes, times ---------------------------------------------------------
stat_of() { debugfs -R "stat $1" "$img" 2>/dev/null; }
owner_mode_ok() { # path mode
    local s; s=$(stat_of "$1")
    grep -Eq "Mode: +$2 " <<<"$s" && grep -Eq 'User: +0 +Group: +0 ' <<<"$s" &&
        grep -q ' mtime: 0x6553f100:00000000' <<<"$s" && grep -q 'crtime: 0x6553f100:00000000' <<<"$s"
}
for f in /a/b/c.txt /empty.txt /weights/model.safetensors /.hfhub/manifest.json; do
    check "$f is uid/gid 0, mode 0644, stamped with the given mtime" owner_mode_ok "$f" 0644
done
for d in / /a /a/b /weights /.hfhub; do
    check "$d is uid/gid 0, mode 0755, stamped with the given mtime" owner_mode_ok "$d" 0755
done
check "a 4097-byte file has size 4097" grep -q 'Size: 4097$' <<<"$(stat_of /block_plus.bin)"
check "a 5 MiB file is extent-mapped" grep -q '^EXTENTS:' <<<"$(stat_of /weights/model.safetensors)"

# ---- sparseness ---------------------------------------------------------------------
used=$(du -B1 "$img" | cut -f1)
# 6.4 MiB of file blocks (5 MiB + 308 small files) and 0.15 MiB of metadata
check "filled image is sparse: $used bytes on disk for $size" [ "$used" -lt $((8 << 20)) ]
scale_size=$(stat -c %s "$scale")
scale_used=$(du -B1 "$scale" | cut -f1)
[ "$scale_used" -lt $((100 << 20)) ] && [ "$scale_size" -gt $((9 << 30)) ]
check "9 GiB + 1000-file layout uses $scale_used bytes on disk (< 100 MiB) for $scale_size" [ $? -eq 0 ]

[ "$failures" -eq 0 ] || exit 1
