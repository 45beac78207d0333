#!/usr/bin/env bash
# Build the `callgrid:local` image from this repository alone.
#
#   deploy/docker/build-image.sh            release build, then the image
#   BIN_DIR=target/debug deploy/docker/build-image.sh   use existing binaries
#   IMAGE=callgrid:test deploy/docker/build-image.sh
#
# The image is FROM scratch: it holds the two binaries, the dynamic loader
# and the few glibc libraries they link (found with ldd), /tmp and /data.
set -euo pipefail
cd "$(dirname "$0")/../.."
IMAGE=${IMAGE:-callgrid:local}
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release -q -p callgrid-node -p callgrid-ctl
  BIN_DIR=target/release
fi
CONTEXT=$(mktemp -d)
trap 'rm -rf "$CONTEXT"' EXIT
ROOT=$CONTEXT/rootfs
mkdir -p "$ROOT/usr/local/bin" "$ROOT/tmp" "$ROOT/data" "$ROOT/etc"
for bin in callgrid callgridctl; do
  install -m 0755 "$BIN_DIR/$bin" "$ROOT/usr/local/bin/$bin"
  # Copy every library the binary loads, at the path it is loaded from.
  ldd "$BIN_DIR/$bin" | awk '/=> \//{print $3} /^[ \t]*\/lib/{print $1}' | while read -r lib; do
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
  done
done
# Name resolution inside the container (compose service names) needs these.
printf 'hosts: files dns\n' >"$ROOT/etc/nsswitch.conf"
for lib in /lib/x86_64-linux-gnu/libnss_dns.so.2 /lib/x86_64-linux-gnu/libnss_files.so.2 /lib/x86_64-linux-gnu/libresolv.so.2; do
  [ -e "$lib" ] && { mkdir -p "$ROOT$(dirname "$lib")"; cp -L "$lib" "$ROOT$lib"; }
done
chmod 1777 "$ROOT/tmp"
cp deploy/docker/Dockerfile "$CONTEXT/Dockerfile"
docker build -q -t "$IMAGE" "$CONTEXT"
echo "built $IMAGE"
