"""A private dockerd (Debian docker.io) on its own socket, host networking only, no bridge.

An executable named ``nvidia-container-runtime-hook`` on dockerd's PATH makes dockerd register its
NVIDIA device driver; ours records the OCI state it is given and exits 0, so GPU device requests
succeed and the test can read which GPU UUIDs the container got (NVIDIA_VISIBLE_DEVICES).
Images live in a cached data-root so the vessel image is built once per machine.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker

from tests.harness.procs import CACHE, REPO, Proc, require, wait_for

HOOK = """#!/bin/sh
# Stand-in for NVIDIA's hook (tests only): record the OCI state, succeed.
cat >> "{record}"
echo >> "{record}"
exit 0
"""


@dataclass
class Dockerd:
    url: str
    socket: Path
    root: Path
    hook_record: Path
    proc: Proc
    exec_root: Path

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.url, timeout=120)

    def stop(self) -> None:
        c = self.client()
        try:
            for ct in c.containers.list(all=True, filters={"label": "slipway.managed=true"}):
                ct.remove(force=True)
        finally:
            c.close()
            self.proc.stop(timeout=20)
            shutil.rmtree(self.exec_root, ignore_errors=True)


_LOCKS: list[Any] = []


def _cached_root() -> Path:
    """The cached data-root (images survive between runs). dockerd locks its data-root, so a second
    test session running at the same time on this machine gets its own (and builds its images once)."""
    for i in range(8):
        root = CACHE / ("dockerd" if i == 0 else f"dockerd-{i}")
        root.mkdir(parents=True, exist_ok=True)
        fh = open(root / ".session.lock", "w")  # noqa: SIM115 - held for the session
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        _LOCKS.append(fh)
        return root
    raise RuntimeError("no free dockerd data-root under " + str(CACHE))


def _kill_stale(pidfile: Path) -> None:
    """A dockerd left running on this data-root by a killed session (we hold the root's lock now)."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"dockerd" not in cmdline:
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def start_dockerd(workdir: Path, *, gpu_hook: bool = True, name: str = "dockerd",
                  data_root: Path | None = None, extra: tuple[str, ...] = ()) -> Dockerd:
    exe = require("dockerd", "docker.io")
    require("containerd", "containerd")
    root = data_root or _cached_root()
    root.mkdir(parents=True, exist_ok=True)
    run = workdir / name
    bindir = run / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    record = run / "nvidia-hook.jsonl"
    record.touch()
    if gpu_hook:
        hook = bindir / "nvidia-container-runtime-hook"
        hook.write_text(HOOK.format(record=record))
        hook.chmod(0o755)
    sock = run / "docker.sock"
    # dockerd's exec-root and socket need short paths
    exec_root = Path("/run") / f"slipway-test-{name}-{os.getpid()}"
    exec_root.mkdir(parents=True, exist_ok=True)
    log = run / "dockerd.log"
    pidfile = root / "dockerd.pid"
    _kill_stale(pidfile)
    argv = [exe, "--data-root", str(root / "data"), "--exec-root", str(exec_root),
            "--pidfile", str(pidfile), "-H", f"unix://{sock}", "--storage-driver=overlay2",
            "--iptables=false", "--ip6tables=false", "--bridge=none", "--log-level=warn", *extra]
    # a stale pidfile from a killed run would stop dockerd from starting
    pid_stale = root / "data" / "docker.pid"
    if pid_stale.exists():
        pid_stale.unlink()
    env = {"PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}:/usr/sbin:/sbin"}
    proc = Proc(argv, log, env=env)
    url = f"unix://{sock}"

    def ready() -> bool:
        c = docker.DockerClient(base_url=url, timeout=2)
        try:
            return bool(c.ping())
        finally:
            c.close()

    try:
        wait_for(ready, 60, "dockerd", proc.proc, log)
    except BaseException:
        proc.stop()
        raise
    return Dockerd(url, sock, root, record, proc, exec_root)


def ensure_vessel_image(d: Dockerd, tag: str = "slipway/vessel:latest") -> str:
    """Build the default vessel image into this dockerd (cached: a no-op once built)."""
    c = d.client()
    try:
        c.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    finally:
        c.close()
    env = {**os.environ, "DOCKER_HOST": d.url}
    script = REPO / "scripts" / "build-vessel-image.sh"
    proc = subprocess.run(["bash", str(script), tag], env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"building {tag} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return tag

