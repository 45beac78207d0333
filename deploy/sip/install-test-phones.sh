#!/usr/bin/env bash
# Installs the SIP software the SIP suites play phones with, from Debian's
# packages, if missing: SIPp (`sip-tester`) and the baresip softphone
# (`baresip-core`).
#
# Used by CI (.ci/run) before `cargo test`, so that the suites' parallel
# tests never race each other for the package manager; the tests install
# them themselves too when run alone.
set -euo pipefail
exec bash "$(dirname "$0")/../debian-packages.sh" "sip phones" "sipp baresip" \
    sip-tester baresip-core
