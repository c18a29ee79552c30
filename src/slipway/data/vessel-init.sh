#!/bin/sh
# Slipway vessel start script. Slipway copies it, with the per-vessel files below, into the container
# before starting it; the image only has to honour the vessel contract (images/vessel/Dockerfile):
#   /etc/slipway/env                 non-secret settings (user, uid, ports, listen address)
#   /etc/slipway/authorized_keys/*   the owner's public key
#   /etc/slipway/ssh_host_ed25519_key   this vessel's host key (its public half is in the user's known_hosts)
#   /etc/slipway/jupyter_token       the Jupyter token (optional)
#   /etc/slipway/tailscale_authkey   a single-use, ephemeral auth key (optional; deleted once used)
set -eu
. /etc/slipway/env
U="$SLIPWAY_USER"
log() { echo "[slipway] $*"; }

if [ ! -x /usr/sbin/sshd ]; then
  log "this image does not honour the vessel contract: no /usr/sbin/sshd (see Slipway's images/vessel/Dockerfile)"
  exit 64
fi

# --- the researcher's account -------------------------------------------------------------------
if [ "$U" != root ] && ! id "$U" >/dev/null 2>&1; then
  if command -v useradd >/dev/null 2>&1; then
    useradd -M -d "$SLIPWAY_HOME" -s /bin/bash -u "$SLIPWAY_UID" -U "$U" 2>/dev/null \
      || useradd -M -d "$SLIPWAY_HOME" -s /bin/sh "$U"
  elif command -v adduser >/dev/null 2>&1; then
    adduser -D -H -h "$SLIPWAY_HOME" -u "$SLIPWAY_UID" "$U"
  else
    log "no useradd/adduser in this image and no account $U"; exit 1
  fi
fi
# no password, but not locked: sshd refuses key logins to locked accounts
command -v usermod >/dev/null 2>&1 && usermod -p '*' "$U" 2>/dev/null || true
mkdir -p "$SLIPWAY_HOME"
# a home made under another uid (an older Slipway, a changed slipway_uid_base) becomes the user's, once:
# the uid it was last given is noted in the home itself
uid_now="$(id -u "$U")"
if [ "$(cat "$SLIPWAY_HOME/.slipway-uid" 2>/dev/null)" != "$uid_now" ]; then
  chown -R "$U:$(id -g "$U")" "$SLIPWAY_HOME"
  echo "$uid_now" > "$SLIPWAY_HOME/.slipway-uid" && chown "$U:$(id -g "$U")" "$SLIPWAY_HOME/.slipway-uid"
fi
if [ "$U" != root ] && [ -d /etc/sudoers.d ]; then
  echo "$U ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/slipway-user && chmod 0440 /etc/sudoers.d/slipway-user
fi

# --- environment for SSH sessions (docker's env reaches PID 1 only) ------------------------------
{
  for var in $(env | sed -n 's/^\(NVIDIA_[A-Z_]*\|CUDA_[A-Z_]*\|LD_LIBRARY_PATH\|PATH\|SLIPWAY_VESSEL\)=.*/\1/p'); do
    eval "val=\${$var}"
    printf 'export %s=%s\n' "$var" "'$val'"
  done
} > /etc/profile.d/slipway.sh

# --- sshd ------------------------------------------------------------------------------------------
mkdir -p /run/sshd
chmod 0600 /etc/slipway/ssh_host_ed25519_key
chmod 0755 /etc/slipway /etc/slipway/authorized_keys
cat > /etc/slipway/sshd_config <<CONF
Port $SLIPWAY_SSH_PORT
ListenAddress $SLIPWAY_LISTEN
HostKey /etc/slipway/ssh_host_ed25519_key
AuthorizedKeysFile /etc/slipway/authorized_keys/%u
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
PidFile /run/slipway-sshd.pid
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
CONF
# sshd honours only the first SetEnv line: all variables go on one
setenv=""
for var in $(env | sed -n 's/^\(NVIDIA_[A-Z_]*\|CUDA_[A-Z_]*\|SLIPWAY_VESSEL\)=.*/\1/p'); do
  eval "val=\${$var}"
  setenv="$setenv $var=$val"
done
[ -z "$setenv" ] || echo "SetEnv$setenv" >> /etc/slipway/sshd_config
/usr/sbin/sshd -f /etc/slipway/sshd_config -E /var/log/slipway-sshd.log
log "sshd listening on $SLIPWAY_LISTEN:$SLIPWAY_SSH_PORT"

# --- Jupyter -----------------------------------------------------------------------------------------
# The token is read from a 0400 file of the user's inside the vessel: never in an environment variable or on
# a command line (both readable through /proc from the host). Jupyter listens on loopback only
# (SLIPWAY_JUPYTER_LISTEN): reached through the tailnet, or `ssh <vessel>` and its LocalForward.
if [ -s /etc/slipway/jupyter_token ]; then
  chown "$U" /etc/slipway/jupyter_token && chmod 0400 /etc/slipway/jupyter_token
  if command -v jupyter >/dev/null 2>&1; then
    if jupyter server --version >/dev/null 2>&1; then app=server; else app=notebook; fi
    extra=""; [ "$U" = root ] && extra="--allow-root"
    cat > /etc/slipway/jupyter_config.py <<'PY'
_token = open("/etc/slipway/jupyter_token").read().strip()
c = get_config()  # noqa: F821
c.IdentityProvider.token = _token
c.ServerApp.token = _token
c.NotebookApp.token = _token
PY
    chown "$U" /etc/slipway/jupyter_config.py && chmod 0400 /etc/slipway/jupyter_config.py
    as_user() { if command -v runuser >/dev/null 2>&1; then runuser -u "$U" -- "$@"; else su "$U" -s /bin/sh -c "$*"; fi; }
    (cd "$SLIPWAY_HOME" && HOME="$SLIPWAY_HOME" \
      as_user jupyter "$app" --config=/etc/slipway/jupyter_config.py --no-browser \
      --ip="${SLIPWAY_JUPYTER_LISTEN:-127.0.0.1}" --port="$SLIPWAY_JUPYTER_PORT" \
      --port-retries=0 $extra >/var/log/slipway-jupyter.log 2>&1 &)
    log "jupyter $app on ${SLIPWAY_JUPYTER_LISTEN:-127.0.0.1}:$SLIPWAY_JUPYTER_PORT"
  else
    log "no jupyter in this image: skipping the Jupyter server"
  fi
fi

# --- Tailscale (ephemeral node, userspace networking) ------------------------------------------------
if [ -s /etc/slipway/tailscale_authkey ]; then
  if command -v tailscaled >/dev/null 2>&1 && command -v tailscale >/dev/null 2>&1; then
    mkdir -p /run/tailscale
    tailscaled --tun=userspace-networking --state=mem: --socket=/run/tailscale/tailscaled.sock \
      >/var/log/slipway-tailscaled.log 2>&1 &
    i=0; while [ ! -S /run/tailscale/tailscaled.sock ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    tailscale --socket=/run/tailscale/tailscaled.sock up --auth-key="file:/etc/slipway/tailscale_authkey" \
      --hostname="${SLIPWAY_TAILSCALE_HOSTNAME:-$SLIPWAY_VESSEL}" --accept-dns=false || log "tailscale up failed"
  else
    log "tailscale_authkey given but no tailscale in this image"
  fi
  rm -f /etc/slipway/tailscale_authkey
fi

touch /run/slipway-ready
log ready
trap 'kill "$(cat /run/slipway-sshd.pid)" 2>/dev/null; exit 0' TERM INT
while :; do sleep 3600 & wait $! || true; done
