#!/bin/bash
# A minimal stand-in for OpenNebula's remotes/datastore/downloader.sh, written
# for hfhub's tests (not a copy of OpenNebula's file): the same calling
# convention (downloader.sh [options] FROM TO, TO "-" for stdout), the same
# locations ($ONE_LOCATION, $VAR_LOCATION), and the same dispatch on the
# source's scheme in a `case "$FROM" in` with an lxd:// branch, which is
# what hfhub-setup looks for and where it puts its hf:// branch.

if [ -z "${ONE_LOCATION}" ]; then
    VAR_LOCATION=/var/lib/one
else
    VAR_LOCATION=$ONE_LOCATION/var
fi

while [ $# -gt 2 ]; do
    case "$1" in
    --md5|--sha1|--limit|--max-size) shift 2 ;;
    *) shift ;;
    esac
done

FROM="$1"
TO="$2"

case "$FROM" in
http://*|https://*)
    command="curl --fail -sS -L '$FROM'"
    ;;
lxd://*)
    command="$VAR_LOCATION/remotes/datastore/lxd_downloader.sh \"$FROM\""
    ;;
*)
    if [ ! -r "$FROM" ]; then
        echo "Cannot read from $FROM" >&2
        exit 1
    fi
    command="cat '$FROM'"
    ;;
esac

if [ "$TO" = "-" ]; then
    eval "$command"
else
    eval "$command" > "$TO"
fi
