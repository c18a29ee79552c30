"""Fixtures for vessel integration tests: fleet helpers, the Tailscale stand-in, sshd, a plain dockerd."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from slipway.ledger import Ledger
from slipway.network.tailscale import TailscaleSettings
from slipway.vessels import Settings, VesselService
from tests.harness.dockerd import Dockerd, start_dockerd
from tests.harness.procs import require
from tests.harness.sshd import Sshd, start_sshd
from tests.harness.tailscale_standin import FAKE_TAILSCALE, FAKE_TAILSCALED, StandIn

FAKE_GPUS = [{"index": 0, "uuid": "GPU-0aaaaaaa-1111-2222-3333-444444444444", "model": "NVIDIA A100-SXM4-80GB",
              "memory_mib": 81920},
             {"index": 1, "uuid": "GPU-1bbbbbbb-1111-2222-3333-444444444444", "model": "NVIDIA A100-SXM4-80GB",
              "memory_mib": 81920}]


@pytest.fixture(scope="session")
def sshd_host(server_root: Path, dockerd: Dockerd) -> Iterator[Sshd]:
    s = start_sshd(server_root / "sshd", dockerd.url)
    yield s
    s.stop()


@pytest.fixture
def user_key(home: Path, sshd_host: Sshd) -> Path:
    """The caller's key pair in the test HOME (also authorized on the sshd fleet host)."""
    key = home / ".ssh" / "id_ed25519"
    shutil.copy(sshd_host.client_key, key)
    shutil.copy(sshd_host.client_key.with_suffix(".pub"), key.with_suffix(".pub"))
    key.chmod(0o600)
    (home / ".ssh" / "known_hosts").write_text(sshd_host.known_hosts_line() + "\n")
    return key


@pytest.fixture
def tailscale() -> Iterator[StandIn]:
    t = StandIn()
    yield t
    t.stop()


@pytest.fixture(scope="session")
def ts_image(dockerd: Dockerd, vessel_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Build a vessel image whose tailscale/tailscaled join through a stand-in (URL set per test)."""
    made: dict[str, str] = {}

    def build(url: str) -> str:
        if url in made:
            return made[url]
        ctx = tmp_path_factory.mktemp("tsimg")
        (ctx / "tailscale").write_text(FAKE_TAILSCALE.format(url=url))
        (ctx / "tailscaled").write_text(FAKE_TAILSCALED)
        (ctx / "Dockerfile").write_text(f"FROM {vessel_image}\nCOPY tailscale tailscaled /usr/local/bin/\n"
                                        "RUN chmod 755 /usr/local/bin/tailscale /usr/local/bin/tailscaled\n")
        tag = f"slipway/vessel-ts-test:{len(made)}"
        c = dockerd.client()
        try:
            c.images.build(path=str(ctx), tag=tag, rm=True, network_mode="none")
        finally:
            c.close()
        made[url] = tag
        return tag

    yield build


@pytest.fixture(scope="session")
def plain_dockerd(server_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    """A dockerd with no NVIDIA hook (what a host without nvidia-container-toolkit has), one tiny image."""
    d = start_dockerd(server_root, gpu_hook=False, name="plain", data_root=server_root / "plain-data")
    src = tmp_path_factory.mktemp("tiny")
    tar = src / "rootfs.tar"
    with tarfile.open(tar, "w") as t:
        t.add(require("sh", "dash"), arcname="bin/sh")
    c = d.client()
    try:
        with open(tar, "rb") as fh:
            c.images.import_image(fh.read(), repository="slipway/tiny", tag="1")  # type: ignore[attr-defined]
    except AttributeError:
        subprocess.run(["docker", "-H", d.url, "import", str(tar), "slipway/tiny:1"], check=True,
                       capture_output=True)
    finally:
        c.close()
    yield d
    d.stop()


def fleet_host(url: str, *, gpus: list[dict[str, Any]] | None = None, queue: str = "local",
               cpus: int = 2, memory_mib: int = 8192, ports: str = "21000-21999") -> dict[str, Any]:
    return {"slipway_queue": queue, "slipway_docker_url": url, "slipway_address": "127.0.0.1",
            "slipway_cpus": cpus, "slipway_memory_mib": memory_mib, "slipway_gpus": gpus or [],
            "slipway_port_range": ports}


@pytest.fixture
def make_service(sqlite_url: str, home: Path) -> Iterator[Any]:
    made: list[VesselService] = []

    def make(fleet: dict[str, dict[str, Any]], *, ledger_url: str | None = None, tailscale: StandIn | None = None,
             admins: tuple[str, ...] = ()) -> VesselService:
        ts = None
        if tailscale is not None:
            ts = TailscaleSettings(api_key=tailscale.state.api_key, tailnet="example.com",
                                   tags=("tag:vessel",), api_url=tailscale.url, join_timeout=20)
        s = Settings(ledger_url=ledger_url or sqlite_url, ssh_home=str(home), data_dir=home / ".slipway",
                     tailscale=ts, admins=admins, ready_timeout=30, pull=False)
        svc = VesselService(s)
        svc.sync_fleet(fleet)
        made.append(svc)
        return svc

    yield make
    for svc in made:  # leave no container behind, whatever the test did
        for v in svc.ledger.vessels():
            with contextlib.suppress(Exception):
                svc.stop(v.name, actor=v.owner)
        svc.close()
        svc.ledger.close()


def ssh(home: Path, key: Path, vessel: str, command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ``ssh <vessel> command`` with the generated config, as the user would."""
    return subprocess.run(["ssh", "-F", str(home / ".ssh" / "config"), "-i", str(key), "-o", "BatchMode=yes",
                           "-o", "ConnectTimeout=10", vessel, command], capture_output=True, text=True,
                          timeout=timeout, check=False)


def dump_ledger(led: Ledger) -> str:
    """Every row of every table, as text (for secret-leak checks)."""
    from sqlalchemy import text

    out = []
    with led.read() as conn:
        for t in ("hosts", "gpus", "vessels", "events", "vessel_gpus", "cpu_allocations", "port_allocations"):
            out += [repr(tuple(r)) for r in conn.execute(text(f"SELECT * FROM {t}"))]
    return "\n".join(out)


__all__ = ["FAKE_GPUS", "docker", "dump_ledger", "fleet_host", "ssh"]
