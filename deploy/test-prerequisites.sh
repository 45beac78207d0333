#!/usr/bin/env bash
# Installs everything the test suites drive, from Debian's packages, and
# starts the Docker daemon if it is not running. A no-op for whatever is
# already there. Fails, naming each package that did not install, after
# trying them all: in CI (CI=true) a suite whose prerequisite is missing
# fails anyway (tests/src/prereq.rs), so a failed install must not pass
# silently here either.
#
# Used by .ci/run before the tests; a developer may run it once too.
set -uo pipefail
here=$(dirname "$0")
failed=()

# LABEL "COMMAND..." PACKAGE...
need() {
    local label=$1
    if ! bash "$here/debian-packages.sh" "$@"; then
        failed+=("$label")
    fi
}

need "SIP phones (sip-tester, baresip-core)" "sipp baresip" sip-tester baresip-core
need "console browser (chromium, chromium-driver)" "chromium chromedriver" chromium chromium-driver
need "prometheus" "prometheus promtool" prometheus
need "etcd-server" "etcd" etcd-server
need "iproute2" "ip" iproute2
need "iptables" "iptables" iptables
need "docker.io" "docker" docker.io
need "docker-compose" "docker-compose" docker-compose
need "kubernetes-client" "kubectl" kubernetes-client
need "systemd" "systemd-analyze" systemd
need "strace" "strace" strace

# python3 -m venv needs Debian's python3-venv where python3 is Debian's.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    # No command to look for: install, then ask python3 again.
    bash "$here/debian-packages.sh" python3-venv "no-such-command" python3-venv 2>/dev/null || true
    if python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        echo "python3-venv: installed"
    else
        failed+=("python3-venv")
    fi
else
    echo "python3-venv: already installed"
fi

# The container suite needs a running engine, not only its client.
if command -v docker >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
    if command -v dockerd >/dev/null 2>&1; then
        echo "docker: starting dockerd"
        (dockerd >/tmp/callgrid-dockerd.log 2>&1 &)
        for _ in $(seq 60); do
            docker info >/dev/null 2>&1 && break
            sleep 0.5
        done
    fi
    docker info >/dev/null 2>&1 || failed+=("docker daemon (see /tmp/callgrid-dockerd.log)")
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "test prerequisites that did not install:" >&2
    printf '  %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "test prerequisites: all present"
