#!/usr/bin/env bash
# Installs the browser the console suite drives, from Debian's packages, if
# missing: headless Chromium (`chromium`) and its WebDriver server
# (`chromium-driver`, the `chromedriver` binary).
#
# Used by CI (.ci/run) before `cargo test`, so that parallel tests never race
# each other for the package manager; the console suite installs them itself
# too when run alone. Works as root (or with sudo) on a fresh Debian,
# non-interactively.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "console browser: already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "console browser: apt-get not found; install chromium and chromium-driver by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "console browser: must run as root (or with sudo) to install Debian packages" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1 || {
    $SUDO apt-get update -q >/dev/null
    $SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null
}
echo "console browser: installed $(command -v chromium) $(command -v chromedriver)"
