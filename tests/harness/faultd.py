"""A private dockerd that a test may SIGKILL and start again (with or without ``--live-restore``).

Its data-root is cached (one per mode) so the vessel image is copied into it once per machine; the
socket and exec-root stay the same across restarts, as on a real host whose daemon crashed.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import time
from pathlib import Path

import docker
import docker.errors

from tests.harness.dockerd import Dockerd, start_dockerd
from tests.harness.procs import CACHE, Proc, require, wait_for

SLOW_SSHD = "slipway/vessel-slow-sshd:1"


class FaultyDockerd:
    """dockerd on its own containerd (a separate process, as on a systemd host), so a test can kill the
    daemon alone and start it again while containerd and the containers' shims go on."""

    def __init__(self, workdir: Path, *, live_restore: bool) -> None:
        self.workdir = workdir
        self.live_restore = live_restore
        self.name = "faultd-live" if live_restore else "faultd-plain"
        self.root = CACHE / self.name
        self.state = Path("/run") / f"slipway-{self.name}-{os.getpid()}"
        self.state.mkdir(parents=True, exist_ok=True)
        self.ctd_sock = self.state / "containerd.sock"
        (self.root / "containerd").mkdir(parents=True, exist_ok=True)
        self.ctd = Proc([require("containerd", "containerd"), "--root", str(self.root / "containerd"),
                         "--state", str(self.state / "state"), "--address", str(self.ctd_sock)],
                        workdir / f"{self.name}-containerd.log")
        wait_for(self.ctd_sock.exists, 60, "containerd", self.ctd.proc, workdir / f"{self.name}-containerd.log")
        self.d: Dockerd = self._start()

    def _start(self) -> Dockerd:
        extra = (f"--containerd={self.ctd_sock}", *(("--live-restore",) if self.live_restore else ()))
        return start_dockerd(self.workdir, gpu_hook=False, name=self.name, data_root=self.root, extra=extra)

    @property
    def url(self) -> str:
        return self.d.url

    def client(self) -> docker.DockerClient:
        return self.d.client()

    def kill(self) -> None:
        """SIGKILL dockerd, as a crash would. containerd and the containers' shims go on: with live-restore
        the next dockerd adopts the running containers; without it, it stops them and restarts those with
        a restart policy."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.d.proc.proc.pid, signal.SIGKILL)
        self.d.proc.proc.wait(20)
        self.d.proc.stop()  # closes its log; the process is gone already

    def restart(self) -> None:
        self.d = self._start()

    def stop(self) -> None:
        self.d.stop()
        self.ctd.stop()
        _kill_strays(str(self.state))


    def managed(self) -> dict[str, dict[str, object]]:
        """Slipway's containers: name → state, cpuset, reservation (read with docker inspect)."""
        c = self.client()
        out: dict[str, dict[str, object]] = {}
        try:
            for ct in c.api.containers(all=True, filters={"label": "slipway.managed=true"}):
                with contextlib.suppress(docker.errors.NotFound):  # removed while we looked
                    info = c.api.inspect_container(ct["Id"])
                    out[info["Name"].lstrip("/")] = {
                        "state": info["State"]["Status"], "cpuset": info["HostConfig"]["CpusetCpus"],
                        "reservation": info["Config"]["Labels"].get("slipway.reservation")}
            return out
        finally:
            c.close()


def copy_image(src: Dockerd, dst: FaultyDockerd, tag: str) -> None:
    """Copy an image between two daemons (once: the destination's data-root is cached)."""
    c2 = dst.client()
    try:
        with contextlib.suppress(docker.errors.ImageNotFound):
            c2.images.get(tag)
            return
        c1 = src.client()
        try:
            data = b"".join(c1.images.get(tag).save(named=True))
        finally:
            c1.close()
        c2.images.load(data)
    finally:
        c2.close()


def ensure_slow_sshd_image(d: FaultyDockerd, base: str) -> str:
    """The vessel image whose sshd starts only after a few seconds: a launch is caught waiting for it."""
    c = d.client()
    try:
        with contextlib.suppress(docker.errors.ImageNotFound):
            c.images.get(SLOW_SSHD)
            return SLOW_SSHD
        dockerfile = (f"FROM {base}\nRUN mv /usr/sbin/sshd /usr/sbin/sshd.real && "
                      "printf '#!/bin/sh\\nsleep 6\\nexec /usr/sbin/sshd.real \"$@\"\\n' > /usr/sbin/sshd && "
                      "chmod 755 /usr/sbin/sshd\n")
        c.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=SLOW_SSHD, rm=True, network_mode="none")
        return SLOW_SSHD
    finally:
        c.close()


def wait_container(d: FaultyDockerd, name: str, state: str = "running", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = d.managed().get(f"slipway-{name}")
        if got and got["state"] == state:
            return
        time.sleep(0.1)
    raise AssertionError(f"container of {name} never became {state}: {d.managed()}")


def _kill_strays(exec_root: str, *, shims: bool = True) -> None:
    """containerd (and its shims) of this daemon's exec-root that outlived their dockerd."""
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if not shims and b"containerd-shim" in cmd:
            continue
        if b"containerd" in cmd and exec_root.encode() in cmd:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
