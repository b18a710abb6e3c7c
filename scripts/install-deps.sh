#!/bin/sh
# Installs what hfhub needs on Debian 12 (and derivatives), with apt-get.
#   scripts/install-deps.sh runtime   what a front-end needs to RUN hfhub: the
#                                     shared libraries, e2fsprogs, qemu-utils,
#                                     tar. No compiler, no node, no test tools.
#   scripts/install-deps.sh build     runtime + compiler, -dev packages and
#                                     help2man (`make install` builds the man pages)
#   scripts/install-deps.sh package   build + Debian's packaging tools (debhelper,
#                                     dpkg-dev), for `make deb`
#   scripts/install-deps.sh [test]    package + what the tests, fuzzing, the
#                                     package checks and the demo use (clang,
#                                     python3, node, npm, lintian, rpm); the
#                                     default, used by `make check` and `make demo`
#   scripts/install-deps.sh --list SET  print the packages of SET, install nothing
# Idempotent: packages already present are skipped; apt-get update runs only when needed.
set -eu

RUNTIME="libcurl4 libjansson4 libxml2 libssl3 libext2fs2 libcom-err2 e2fsprogs qemu-utils tar ca-certificates"
BUILD="$RUNTIME build-essential pkg-config libcurl4-openssl-dev libjansson-dev libxml2-dev libssl-dev libext2fs-dev help2man"
PACKAGE="$BUILD debhelper dpkg-dev"
TEST="$PACKAGE clang libclang-rt-dev python3 nodejs npm lintian rpm strace"

list=no
if [ "${1:-}" = "--list" ]; then list=yes; shift; fi
case "${1:-test}" in
runtime) PACKAGES=$RUNTIME ;;
build) PACKAGES=$BUILD ;;
package) PACKAGES=$PACKAGE ;;
test) PACKAGES=$TEST ;;
-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "install-deps: unknown set '$1' (runtime, build, package or test)" >&2; exit 2 ;;
esac
if [ "$list" = yes ]; then echo "$PACKAGES" | tr ' ' '\n'; exit 0; fi

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
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing
else
    echo "install-deps: everything for '${1:-test}' is present"
fi
