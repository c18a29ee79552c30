"""An OpenSSH server on loopback acting as a fleet host: Ansible and Docker-over-SSH reach it.

``SetEnv DOCKER_HOST=...`` in its config lets ``docker system dial-stdio`` on the far side find the
test dockerd's socket, as ENVIRONMENT.md describes. The client key is authorized for root and the
server's host key goes into the test HOME's known_hosts (paramiko checks it with a reject policy).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.harness.procs import Proc, free_port, port_open, require, wait_for


@dataclass
class Sshd:
    port: int
    client_key: Path
    host_pub: str
    proc: Proc

    def known_hosts_line(self) -> str:
        return f"[127.0.0.1]:{self.port} {self.host_pub}"

    def stop(self) -> None:
        self.proc.stop()


def start_sshd(workdir: Path, docker_host: str) -> Sshd:
    exe = require("sshd", "openssh-server")
    keygen = require("ssh-keygen", "openssh-client")
    workdir.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(exist_ok=True)
    hostkey = workdir / "ssh_host_ed25519_key"
    client = workdir / "client_ed25519"
    for k in (hostkey, client):
        if not k.exists():
            subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(k)], check=True)
    auth = workdir / "authorized_keys"
    auth.write_text((client.with_suffix(".pub")).read_text())
    auth.chmod(0o600)
    port = free_port()
    cfg = workdir / "sshd_config"
    cfg.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {hostkey}
AuthorizedKeysFile {auth}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile {workdir}/sshd.pid
SetEnv DOCKER_HOST={docker_host}
Subsystem sftp internal-sftp
""")
    log = workdir / "sshd.log"
    proc = Proc([exe, "-D", "-e", "-f", str(cfg)], log)
    wait_for(lambda: port_open(port), 15, "sshd", proc.proc, log)
    return Sshd(port, client, (hostkey.with_suffix(".pub")).read_text().split(" ", 2)[0] + " " +
                (hostkey.with_suffix(".pub")).read_text().split(" ", 2)[1], proc)
