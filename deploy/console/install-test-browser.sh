#!/usr/bin/env bash
# Installs the browser the console suite drives, from Debian's packages, if
# missing: headless Chromium (`chromium`) and its WebDriver server
# (`chromium-driver`, the `chromedriver` binary).
#
# Used by CI (.ci/run) before `cargo test`, so that parallel tests never race
# each other for the package manager; the console suite installs them itself
# too when run alone.
set -euo pipefail
exec bash "$(dirname "$0")/../debian-packages.sh" "console browser" "chromium chromedriver" \
    chromium chromium-driver
