#!/usr/bin/env bash
# Installs Debian packages for the test suites if the commands they provide
# are missing; what deploy/*/install*.sh share.
#
#   deploy/debian-packages.sh LABEL "COMMAND..." PACKAGE...
#
# Does nothing when every COMMAND is on PATH. Otherwise installs PACKAGE...
# with apt-get (non-interactively, without recommends, updating the package
# lists once if the first try fails), as root or with sudo, and never lets a
# package start or enable a service: the tests run their own servers with
# their own configs. Fails, saying why, when it cannot.
set -euo pipefail

label=$1
commands=$2
shift 2

have_all() {
    local c
    for c in $commands; do
        command -v "$c" >/dev/null 2>&1 || return 1
    done
}

if have_all; then
    echo "$label: already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$label: apt-get not found; install $* by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "$label: must run as root (or with sudo) to install Debian packages" >&2
        exit 1
    fi
fi

# policy-rc.d answering 101 ("action not allowed") keeps the packages'
# maintainer scripts from starting their services. Added only if none
# exists, and removed only if added here.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=""
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    ADDED_POLICY=1
fi
cleanup() {
    if [ -n "$ADDED_POLICY" ]; then
        $SUDO rm -f "$POLICY"
    fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
echo "$label: installing $*"
$SUDO apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q --no-install-recommends "$@" >/dev/null
}
if ! have_all; then
    echo "$label: $commands still missing after installing $*" >&2
    exit 1
fi
echo "$label: installed $(for c in $commands; do command -v "$c"; done | tr '\n' ' ')"
