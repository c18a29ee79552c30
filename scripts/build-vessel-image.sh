#!/usr/bin/env bash
# Builds the default vessel image (images/vessel/Dockerfile) into the Docker Engine at $DOCKER_HOST
# (or the default socket). Usage: scripts/build-vessel-image.sh [TAG]
# Where no registry can be pulled from, the Debian base is made locally with debootstrap from the
# machine's apt mirror and imported as slipway/debian-base:bookworm.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tag=${1:-slipway/vessel:latest}
base=${SLIPWAY_VESSEL_BASE:-debian:bookworm-slim}
export DOCKER_BUILDKIT=0   # the legacy builder needs no buildx plugin
log() { printf '\033[1m[vessel image]\033[0m %s\n' "$*" >&2; }

have() { docker image inspect "$1" >/dev/null 2>&1; }

if ! have "$base" && ! timeout 60 docker pull -q "$base" >/dev/null 2>&1; then
  fallback=slipway/debian-base:bookworm
  if ! have "$fallback"; then
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${SLIPWAY_DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}
    log "no $base to pull: making $fallback with debootstrap from $mirror (about 2 minutes, once)"
    rootfs=$(mktemp -d /var/tmp/slipway-rootfs.XXXXXX)
    trap 'rm -rf "$rootfs"' EXIT
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
      || { tail -20 "$rootfs.log" >&2; exit 1; }
    rm -f "$rootfs.log"
    tar -C "$rootfs" -c . | docker import - "$fallback" >/dev/null
  fi
  base=$fallback
fi
log "building $tag from $base"
docker build -q --network host --build-arg BASE="$base" -t "$tag" "$here/images/vessel" >/dev/null
log "built $tag"
