#!/bin/sh
# Prints the commit the source tree is at, for --version: from git when the
# tree is a git checkout (".git" beside this script's parent), with "-dirty"
# when tracked files differ from it; else from the COMMIT file that
# `make dist`, `make deb` and `make rpm` write into their copy of the tree;
# else nothing (the Makefile then says "unknown (built without git)").
# Usage: scripts/commit-id.sh [TREE]   (default: the current directory)
cd "${1:-.}" || exit 1
if [ -e .git ] && c=$(git rev-parse --short=12 HEAD 2>/dev/null); then
    git diff --quiet HEAD -- 2>/dev/null || c=$c-dirty
    echo "$c"
elif [ -f COMMIT ]; then
    # a file from outside: keep only what a commit id can hold
    head -n 1 COMMIT | tr -cd 'A-Za-z0-9._+-' | cut -c 1-64
    echo
fi
