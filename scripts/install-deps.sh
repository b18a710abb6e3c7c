#!/bin/sh
# Installs everything hfhub needs to build, test and demo on Debian 12, with apt-get.
# Idempotent: packages already present are skipped; apt-get update runs only when needed.
set -eu

PACKAGES="build-essential pkg-config clang libclang-rt-dev \
libcurl4-openssl-dev libjansson-dev libxml2-dev libssl-dev \
e2fsprogs libext2fs-dev qemu-utils \
python3 nodejs npm ca-certificates"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
# nodejs from another repository may already provide npm: do not fight it.
if command -v npm >/dev/null 2>&1; then
    missing=$(echo "$missing" | tr ' ' '\n' | grep -vx 'npm' | tr '\n' ' ')
fi
missing=$(echo "$missing" | xargs)

if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        SUDO=sudo
    else
        SUDO=
    fi
    echo "install-deps: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing
else
    echo "install-deps: all build and test dependencies are present"
fi
