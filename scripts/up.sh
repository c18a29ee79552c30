#!/usr/bin/env bash
# Sets Slipway up on this machine and launches a vessel on the embedded default (this machine as the
# only host, SQLite ledger), then prints how to connect. Arguments go to the launch playbook, e.g.
#   scripts/up.sh -e gpus=1 -e memory=16
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
log() { printf '\033[1m[slipway]\033[0m %s\n' "$*" >&2; }

bash scripts/bootstrap.sh
export PATH="$here/.venv/bin:$PATH"
bash scripts/ensure-docker.sh

if ! ls "$HOME"/.ssh/id_ed25519.pub "$HOME"/.ssh/id_ecdsa.pub "$HOME"/.ssh/id_rsa.pub >/dev/null 2>&1; then
  log "no SSH key in ~/.ssh: creating ~/.ssh/id_ed25519 (no passphrase; add one with ssh-keygen -p)"
  mkdir -p "$HOME/.ssh" && chmod 700 "$HOME/.ssh"
  ssh-keygen -q -t ed25519 -N "" -f "$HOME/.ssh/id_ed25519"
fi

image=$(awk '/^slipway_default_image:/ {print $2}' inventory/local/group_vars/all/vessels.yml)
if ! docker image inspect "${image:-slipway/vessel:latest}" >/dev/null 2>&1; then
  log "building the default vessel image (once; a few minutes)"
  bash scripts/build-vessel-image.sh "${image:-slipway/vessel:latest}"
fi

log "launching a vessel"
ansible-playbook playbooks/launch_vessel.yml "$@"
