#!/usr/bin/env bash
# Installs Prometheus and promtool from Debian's `prometheus` package, if
# they are not already on PATH.
#
# Used by CI (.ci/run) and by developers before `cargo test`: the
# observability tests check deploy/prometheus/*.yml with promtool and run a
# real Prometheus server against real nodes.
#
# Works as root on a fresh Debian (or with sudo), non-interactively, and
# never starts the packaged systemd service: the tests run their own
# Prometheus on a loopback port with their own config and storage.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
    echo "prometheus: already installed ($(command -v prometheus))"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "prometheus: apt-get not found; install Prometheus (with promtool) by hand" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "prometheus: must run as root (or with sudo) to install the Debian package" >&2
        exit 1
    fi
fi

# Keep the package's maintainer scripts from starting or enabling its
# service: policy-rc.d answering 101 means "action not allowed" to
# invoke-rc.d and deb-systemd-invoke. Only add one if none exists, and
# remove only the one we added.
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
echo "prometheus: installing Debian's prometheus package"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null

command -v prometheus >/dev/null 2>&1 || { echo "prometheus: binary missing after install" >&2; exit 1; }
command -v promtool >/dev/null 2>&1 || { echo "prometheus: promtool missing after install" >&2; exit 1; }
echo "prometheus: $(prometheus --version 2>&1 | head -n1)"
