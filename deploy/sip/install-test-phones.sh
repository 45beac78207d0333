#!/usr/bin/env bash
# Installs the SIP software the SIP suites play phones with, from Debian's
# packages, if missing: SIPp (`sip-tester`) and the baresip softphone
# (`baresip-core`).
#
# Used by CI (.ci/run) before `cargo test`, so that the suites' parallel
# tests never race each other for the package manager; the tests install
# them themselves too when run alone. Works as root (or with sudo) on a
# fresh Debian, non-interactively.
set -euo pipefail

if command -v sipp >/dev/null 2>&1 && command -v baresip >/dev/null 2>&1; then
    echo "sip phones: already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "sip phones: apt-get not found; install sip-tester and baresip-core by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "sip phones: must run as root (or with sudo) to install Debian packages" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q sip-tester baresip-core >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q sip-tester baresip-core >/dev/null
}
echo "sip phones: installed $(command -v sipp) $(command -v baresip)"
