#!/usr/bin/env bash
# Makes sure a Docker Engine answers at $DOCKER_HOST (or the default socket); starts one if not:
# through systemd where it runs, else dockerd in the background (host networking only: vessels use
# network_mode=host on the embedded default, so no bridge or iptables rules are needed).
set -euo pipefail
log() { printf '\033[1m[slipway docker]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if docker info >/dev/null 2>&1; then exit 0; fi
if [ -n "${DOCKER_HOST:-}" ]; then
  log "DOCKER_HOST=$DOCKER_HOST does not answer; unset it to use a local engine"; exit 1
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  log "starting docker.service"
  as_root systemctl enable --now docker.service >/dev/null
else
  log "no systemd: starting dockerd in the background (log: /var/log/slipway-dockerd.log)"
  as_root sh -c 'nohup dockerd --iptables=false --ip6tables=false --bridge=none \
      >/var/log/slipway-dockerd.log 2>&1 &'
fi
for _ in $(seq 1 60); do
  if as_root docker info >/dev/null 2>&1; then break; fi
  sleep 0.5
done
as_root docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/slipway-dockerd.log"; exit 1; }
if ! docker info >/dev/null 2>&1; then
  log "Docker answers to root only: add yourself to the docker group (sudo usermod -aG docker $USER) and log in again"
  exit 1
fi
