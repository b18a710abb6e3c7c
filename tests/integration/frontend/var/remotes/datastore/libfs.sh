# Stand-in for OpenNebula's src/datastore_mad/remotes/libfs.sh (OpenNebula/one
# master), written for hfhub's tests, not a copy. It has the functions the
# datastore scripts below call, with the behaviour hfhub relies on:
#  - set_up_datastore exports BASE_PATH (and the restricted directories);
#  - generate_image_hash/generate_image_path: BASE_PATH/<md5 of "now:ID">, a
#    new path on every call of every try (ID is the image id);
#  - set_downloader_args builds "[--md5 H] [--sha1 H] [--nodecomp]
#    [--limit BW] 'SRC' 'DST'" for downloader.sh;
#  - fs_size SRC NO_DECOMPRESS LIMIT: the stat action's size in MB. The real
#    one sets `error=1` first thing in the function body, then tries a
#    directory, a file or an http(s) URL, and fails for anything else;
#    hfhub-setup puts its hf:// probe right after that `error=1` line.

function set_up_datastore {
    BASE_PATH="$1"
    RESTRICTED_DIRS="$2"
    SAFE_DIRS="$3"
    if [ -z "${ONE_LOCATION}" ]; then
        VAR_LOCATION=/var/lib/one/
        ETC_LOCATION=/etc/one/
    else
        VAR_LOCATION=$ONE_LOCATION/var/
        ETC_LOCATION=$ONE_LOCATION/etc/
    fi
    RESTRICTED_DIRS="$VAR_LOCATION $ETC_LOCATION $RESTRICTED_DIRS"
    export BASE_PATH RESTRICTED_DIRS SAFE_DIRS
}

function generate_image_hash {
    echo "$($DATE +%s%N):$ID" | $MD5SUM | cut -d ' ' -f1
}

function generate_image_path {
    if [ -z "$BASE_PATH" ]; then
        log_error "Error generating the path in generate_image_path."
        exit 1
    fi
    echo "${BASE_PATH}/$(generate_image_hash)"
}

function set_downloader_args {
    HASHES=" "
    [ -n "$1" ] && HASHES="--md5 $1"
    [ -n "$2" ] && HASHES="$HASHES --sha1 $2"
    [ "x$(echo "$3" | tr A-Z a-z)" = "xyes" ] && HASHES="$HASHES --nodecomp"
    [ -n "$4" ] && HASHES="$HASHES --limit $4"
    [ -n "$HASHES" ] && echo -ne "$HASHES "
    [ -n "$5" ] && echo -ne "'$5' "
    [ -n "$6" ] && echo -ne "'$6'"
}

function check_restricted {
    for path in $RESTRICTED_DIRS; do
        case "$1" in "$path"*) echo 1; return ;; esac
    done
    echo 0
}

function fs_size {
    SRC=$1
    NO_DECOMPRESS=$(echo "$2" | tr A-Z a-z)
    LIMIT_TRANSFER_BW=$3

    if [ -z "${UTILS_PATH}" ] && [ -n "${DRIVER_PATH}" ]; then
        UTILS_PATH="${DRIVER_PATH}/../../datastore"
    fi

    error=1

    if [ -d "${SRC}" ]; then
        SIZE=$(set -o pipefail; du -sb "${SRC}" | cut -f1)
        error=$?
    elif [ -f "${SRC}" ]; then
        SIZE=$($QEMU_IMG info --output=json "${SRC}" 2>/dev/null |
               python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
        error=$?
    else
        ls "$SRC" 2>&1 | sed -e 's/^ls: //' -e 's/: \(.*\)/ (\1)/'
        return 1
    fi

    if [ $error -ne 0 ] || [ "${SIZE:-0}" = '0' ]; then
        echo 'Runtime error during size estimation'
        return 1
    fi
    echo $(((SIZE + 1048575) / 1048576))
}
