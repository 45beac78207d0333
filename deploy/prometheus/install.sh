#!/usr/bin/env bash
# Installs Prometheus and promtool from Debian's `prometheus` package, if
# they are not already on PATH.
#
# Used by CI (.ci/run) and by developers before `cargo test`: the
# observability tests check deploy/prometheus/*.yml with promtool and run a
# real Prometheus server against real nodes (never the packaged service).
set -euo pipefail
exec bash "$(dirname "$0")/../debian-packages.sh" prometheus "prometheus promtool" prometheus
