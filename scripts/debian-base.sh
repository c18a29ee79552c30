#!/usr/bin/env bash
# Sourced by the image build scripts: sets $base to an image to build FROM.
# Uses $base when the engine has it, pulls it unless SLIPWAY_PULL=false (the test suite never reaches a
# registry outside the machine), else makes slipway/debian-base:bookworm locally with debootstrap from the
# machine's apt mirror (about 2 minutes, once).
have() { docker image inspect "$1" >/dev/null 2>&1; }
if ! have "$base" && { [ "${SLIPWAY_PULL:-true}" = false ] || ! timeout 60 docker pull -q "$base" >/dev/null 2>&1; }; then
  fallback=slipway/debian-base:bookworm
  if ! have "$fallback"; then
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    mirror=${SLIPWAY_DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}
    log "no $base here: making $fallback with debootstrap from $mirror (about 2 minutes, once)"
    rootfs=$(mktemp -d /var/tmp/slipway-rootfs.XXXXXX)
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
      || { tail -20 "$rootfs.log" >&2; rm -rf "$rootfs" "$rootfs.log"; exit 1; }
    rm -f "$rootfs.log"
    tar -C "$rootfs" -c . | docker import - "$fallback" >/dev/null
    rm -rf "$rootfs"
  fi
  base=$fallback
fi
