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

# shellcheck source=scripts/debian-base.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian-base.sh"
log "building $tag from $base"
docker build -q --network host --build-arg BASE="$base" -t "$tag" "$here/images/vessel" >/dev/null
log "built $tag"
