#!/usr/bin/env bash
# Installs what Slipway needs on a Debian/Ubuntu machine with Python 3.11:
#   Debian packages (scripts/debian-packages.txt), uv, and the project's virtualenv (.venv) from uv.lock.
# Idempotent: a second run changes nothing and takes a few seconds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

log() { printf '\033[1m[slipway setup]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/debian-packages.txt)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  # policy-rc.d keeps the packages from starting their own daemons: Slipway starts what it needs.
  had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  [ $had_policy = 1 ] || printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod +x /usr/sbin/policy-rc.d
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ $had_policy = 1 ] || as_root rm -f /usr/sbin/policy-rc.d
fi

python=${SLIPWAY_PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if ! command -v uv >/dev/null 2>&1 || [ "$(uv --version | cut -d' ' -f2)" != "0.13.9" ]; then
  log "installing uv 0.13.9"
  "$python" -m pip install -q --disable-pip-version-check "uv==0.13.9" 2>/dev/null \
    || "$python" -m pip install -q --user --break-system-packages "uv==0.13.9"
  export PATH="$HOME/.local/bin:$PATH"
fi
# ansible.cfg's collections_path finds the collection slipway.infra (this repository) through this link;
# it is made here, not committed (a committed directory symlink fails ansible-test sanity).
mkdir -p .collections/ansible_collections/slipway
ln -sfn ../../.. .collections/ansible_collections/slipway/infra
log "syncing .venv from uv.lock"
UV_PYTHON_DOWNLOADS=never uv sync --frozen --all-extras --compile-bytecode --python "$python" -q
