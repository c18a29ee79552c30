#!/usr/bin/env bash
# Builds Slipway's runs image into the Docker Engine at $DOCKER_HOST (or the default socket).
# Usage: images/runs/build.sh [TAG]   (default slipway/runs:latest)
# Where no registry can be pulled from, the Debian base is made locally with debootstrap from the
# machine's apt mirror (slipway/debian-base:bookworm, as scripts/build-vessel-image.sh does).
# SLIPWAY_CA_BUNDLE: a CA bundle for pip inside the build (default: the host's, when present).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../../src" && pwd)
tag=${1:-slipway/runs:latest}
base=${SLIPWAY_RUNS_BASE:-debian:bookworm-slim}
export DOCKER_BUILDKIT=0
log() { printf '\033[1m[runs image]\033[0m %s\n' "$*" >&2; }
# shellcheck source=scripts/debian-base.sh
source "$here/../../scripts/debian-base.sh"
ctx=$(mktemp -d /var/tmp/slipway-runs-ctx.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp "$here/Dockerfile" "$here/slipway.sh" "$ctx/"
ca=${SLIPWAY_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if [ -s "$ca" ]; then cp "$ca" "$ctx/ca-bundle.pem"; else : >"$ctx/ca-bundle.pem"; fi
mkdir -p "$ctx/src/slipway"
cp "$src/slipway/__init__.py" "$src/slipway/errors.py" "$src/slipway/cli.py" "$src/slipway/notify.py" \
  "$ctx/src/slipway/"
# only what `slipway runs job` imports (tests/harness/runs_image.py hashes the same list)
mkdir -p "$ctx/src/slipway/runs"
for f in __init__.py cli.py job.py aws.py keywords.py plan.py; do cp "$src/slipway/runs/$f" "$ctx/src/slipway/runs/"; done
log "building $tag from $base"
docker build -q --network host --build-arg BASE="$base" -t "$tag" "$ctx" >/dev/null
log "built $tag"
