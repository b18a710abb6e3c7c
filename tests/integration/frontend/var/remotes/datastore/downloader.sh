#!/bin/bash
# Stand-in for OpenNebula's src/datastore_mad/remotes/downloader.sh
# (OpenNebula/one master), written for hfhub's tests, not a copy. What it
# keeps of the real script, because hfhub depends on it:
#  - the locations: VAR_LOCATION from ONE_LOCATION, scripts_common.sh sourced;
#  - the options, parsed with getopt exactly as the real one
#    (-m/--md5, -s/--sha1, -l/--limit, -c/--max-size, -n/--nodecomp,
#    -o/--noretry) into HASH_TYPE/HASH, LIMIT_RATE, MAX_SIZE, NO_DECOMPRESS;
#  - FROM and TO as the two arguments left, TO "-" meaning stdout;
#  - the dispatch on FROM's scheme in `case "$FROM" in` with an `lxd://*)`
#    branch at the start of a line: hfhub-setup puts its hf:// branch there,
#    after the options are parsed, so the branch sees those variables;
#  - for other schemes: the copy, the MD5/SHA1 check ("Hash does not match")
#    and, for a tar archive written to a path, unpacking it into a directory.

if [ -z "${ONE_LOCATION}" ]; then
    LIB_LOCATION=/usr/lib/one
    VAR_LOCATION=/var/lib/one
else
    LIB_LOCATION=$ONE_LOCATION/lib
    VAR_LOCATION=$ONE_LOCATION/var
fi

. $LIB_LOCATION/sh/scripts_common.sh

TEMP=$(getopt -o m:s:l:c:no -l md5:,sha1:,limit:,max-size:,nodecomp,noretry -- "$@")
if [ $? != 0 ]; then
    echo "Arguments error" >&2
    exit 255
fi
eval set -- "$TEMP"
while true; do
    case "$1" in
    -m|--md5) HASH_TYPE=md5; HASH=$2; shift 2 ;;
    -s|--sha1) HASH_TYPE=sha1; HASH=$2; shift 2 ;;
    -n|--nodecomp) export NO_DECOMPRESS=yes; shift ;;
    -l|--limit) export LIMIT_RATE="$2"; shift 2 ;;
    -c|--max-size) export MAX_SIZE="$2"; shift 2 ;;
    -o|--noretry) export NO_RETRY=yes; shift ;;
    --) shift; break ;;
    *) shift ;;
    esac
done

FROM="$1"
TO="$2"

case "$FROM" in
http://*|https://*)
    command="curl --fail -sS -L"
    [ -n "$LIMIT_RATE" ] && command="$command --limit-rate $LIMIT_RATE"
    command="$command '$FROM'"
    ;;
lxd://*)
    command="$VAR_LOCATION/remotes/datastore/lxd_downloader.sh \"$FROM\""
    ;;
*)
    if [ ! -r "$FROM" ]; then
        echo "Cannot read from $FROM" >&2
        exit 255
    fi
    command="cat '$FROM'"
    ;;
esac

out=$(mktemp)
if [ -n "$MAX_SIZE" ]; then
    eval "$command" | head -c "$MAX_SIZE" >"$out"
else
    eval "$command" >"$out"
fi
if [ "${PIPESTATUS[0]}" != 0 ]; then
    rm -f "$out"
    echo "Error copying" >&2
    exit 255
fi
if [ -n "$HASH_TYPE" ] && [ "$(openssl dgst -"$HASH_TYPE" "$out" | awk '{print $NF}')" != "$HASH" ]; then
    rm -f "$out"
    echo "Hash does not match" >&2
    exit 255
fi
if [ "$TO" = "-" ]; then
    cat "$out"
    rm -f "$out"
elif tar -tf "$out" >/dev/null 2>&1; then
    mkdir -p "$TO" && tar -xf "$out" -C "$TO"
    rm -f "$out"
else
    mv "$out" "$TO"
fi
