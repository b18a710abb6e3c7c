# A minimal stand-in for OpenNebula's remotes/datastore/libfs.sh, written for
# hfhub's tests (not a copy of OpenNebula's file): the datastore drivers'
# shared functions, of which the stat action uses fs_size SRC to print the
# size of an image in MiB (or an error message, with a non-zero status).

function fs_size {
    SRC=$1

    if [ -z "${UTILS_PATH}" ] && [ -n "${DRIVER_PATH}" ]; then
        UTILS_PATH="${DRIVER_PATH}/../../datastore"
    fi

    error=1

    if [ -d "${SRC}" ]; then
        SIZE=$(du -sb "${SRC}" | cut -f1)
        error=$?
    elif [ -f "${SRC}" ]; then
        SIZE=$(stat -c %s "${SRC}")
        error=$?
    else
        echo 'File not found'
        return 1
    fi

    echo $(((SIZE + 1048575) / 1048576))
    return $error
}
