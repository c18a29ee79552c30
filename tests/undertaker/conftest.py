"""Undertaker fixtures: a real Prometheus with a week of dcgm-exporter history, a Slack receiver,
ledgers with vessels on GPUs whose histories the tests control, and tiny real containers.

Calendar of the tests: Europe/London (GMT in March 2026), Mon-Fri 09:00-17:00. 2026-03-06 is a Friday.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from slipway.ledger import GpuSpec, HostSpec, Ledger, Vessel
from slipway.metrics import Prometheus as PromClient
from slipway.notify import notifier
from slipway.request import build_request
from slipway.undertaker import Undertaker, UndertakerConfig
from slipway.vessels import Settings, VesselService
from tests.harness.dockerd import Dockerd
from tests.harness.procs import require
from tests.harness.prometheus import (
    Gpu,
    Prometheus,
    build_tsdb,
    cached_tsdb,
    start_prometheus,
    write_openmetrics,
)
from tests.harness.slack import SlackReceiver

CALENDAR = {"timezone": "Europe/London", "start_hour": 9, "end_hour": 17,
            "weekdays": ["mon", "tue", "wed", "thu", "fri"], "holidays": []}
HISTORY = (datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 11, tzinfo=UTC))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in March 2026 (London = UTC then)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def ts(day: int, hour: int) -> int:
    return int(at(day, hour).timestamp())


FRI_15 = ts(6, 15)
MON_10, MON_11 = ts(9, 10), ts(9, 11)


def idle_after_fri_15(t: int) -> float | None:
    return 75.0 if t < FRI_15 else 0.0


def reset_on_monday(t: int) -> float | None:
    return 30.0 if t < FRI_15 or MON_10 <= t < MON_11 else 0.0


def silent_after_mon_11(t: int) -> float | None:
    return None if t >= MON_11 else idle_after_fri_15(t)


MON_9 = ts(9, 9)


def partly_observed_mon_9_to_11(t: int) -> float | None:
    """Idle from Fri 15:00, but Mon 09:00-11:00 only the first 20 minutes of each hour have samples."""
    return None if MON_9 <= t < MON_11 and t % 3600 >= 1200 else idle_after_fri_15(t)


def silent_after_mon_11_10(t: int) -> float | None:
    return None if t >= MON_11 + 600 else idle_after_fri_15(t)


# Every GPU a test may give a vessel, with its history.
GPUS = {
    "GPU-idle-0": idle_after_fri_15,     # idle from Fri 15:00 on
    "GPU-idle-1": idle_after_fri_15,
    "GPU-idle-2": idle_after_fri_15,
    "GPU-idle-3": idle_after_fri_15,
    "GPU-partial-0": partly_observed_mon_9_to_11,  # hours Mon 09-11 only one third observed
    "GPU-vanish-0": silent_after_mon_11_10,  # samples stop Mon 11:10
    "GPU-reset-0": reset_on_monday,      # idle from Fri 15:00, busy Mon 10:00-11:00
    "GPU-busy-0": lambda t: 60.0,        # always busy
    "GPU-gone-0": silent_after_mon_11,   # samples stop Mon 11:00 (container removed)
    "GPU-down-0": silent_after_mon_11,   # samples stop Mon 11:00 (exporter down, container running)
}


class RecordingProm(PromClient):
    """The real client, remembering the range of every query (to see what the hour cache saves)."""

    ranges: list[tuple[datetime, datetime]]

    def query_range(self, expr: str, start: datetime, end: datetime, step_s: int) -> Any:
        self.ranges = [*getattr(self, "ranges", []), (start, end)]
        return super().query_range(expr, start, end, step_s)


@pytest.fixture(scope="session")
def prometheus(server_root: Path) -> Iterator[Prometheus]:
    gpus = [Gpu(u, "gpu-host", curve, i % 8) for i, (u, curve) in enumerate(sorted(GPUS.items()))]

    def build(d: Path) -> None:
        om = d.parent / f"{d.name}.om"
        write_openmetrics(om, gpus, *HISTORY)
        build_tsdb(om, d)
        om.unlink()

    tsdb = cached_tsdb(f"undertaker-tests-v2 {sorted(GPUS)} {HISTORY}", build)
    p = start_prometheus(server_root / "prometheus", tsdb)
    yield p
    p.stop()


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    s = SlackReceiver()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def tiny_image(dockerd: Dockerd) -> str:
    """An image with only sh and sleep (and their libraries), imported from this machine's files."""
    buf = io.BytesIO()
    files: set[str] = set()
    for binary in (require("sh", "dash"), require("sleep", "coreutils")):
        real = os.path.realpath(binary)
        files.add(real)
        out = subprocess.run(["ldd", real], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            for part in line.split():
                if part.startswith("/"):
                    files.add(part)
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for f in sorted(files):
            tar.add(os.path.realpath(f), arcname=f.lstrip("/"))
        tar.add(os.path.realpath(require("sh", "dash")), arcname="bin/sh")
        tar.add(os.path.realpath(require("sleep", "coreutils")), arcname="bin/sleep")
    c = dockerd.client()
    try:
        c.api.import_image_from_data(buf.getvalue(), repository="slipway/undertaker-tiny", tag="1")
    finally:
        c.close()
    return "slipway/undertaker-tiny:1"


@dataclass
class Site:
    """One ledger with its vessel service, the Slack receiver and the test Prometheus."""

    ledger: Ledger
    svc: VesselService
    slack: SlackReceiver
    prom: Prometheus
    dockerd: Dockerd
    home: Path
    made: list[str] = field(default_factory=list)
    shared: dict[str, list[str]] = field(default_factory=dict)

    def host_spec(self, name: str, gpus: list[str], docker_url: str | None = None) -> HostSpec:
        return HostSpec(name=f"h-{name}", queue=f"q-{name}", docker_url=docker_url or self.dockerd.url,
                        address="127.0.0.1", cpus=2, memory_mib=4096,
                        gpus=tuple(GpuSpec(i, u) for i, u in enumerate(gpus)), port_min=22000, port_max=22099)

    def vessel(self, name: str, gpus: list[str], *, owner: str = "alice", created: datetime | None = None,
               host: str | None = None) -> Vessel:
        """A running vessel on its own host ``h-NAME``, or on the shared ``host`` (the GPUs given are added to
        it, so they are the free ones). Vessels whose containers a use case reconciles share a host: every
        test host talks to the one test dockerd, and a host's reconcile removes the containers it does not
        know."""
        if host is None:
            self.ledger.sync_hosts([self.host_spec(name, gpus)])
            queue = f"q-{name}"
        else:
            held = self.shared.setdefault(host, [])
            held += gpus
            self.ledger.sync_hosts([HostSpec(name=host, queue=f"q-{host}", docker_url=self.dockerd.url,
                                             address="127.0.0.1", cpus=16, memory_mib=65536,
                                             gpus=tuple(GpuSpec(i, u) for i, u in enumerate(held)),
                                             port_min=22000, port_max=22099)])
            queue = f"q-{host}"
        req = build_request(user=owner, name=name, gpus=len(gpus), queue=queue, cpus=1, memory="1G",
                            require_key=False)
        self.ledger.reserve(req, actor=owner)
        self.ledger.update_vessel(name, "test", None, state="running", created_at=created or at(2, 9))
        v = self.ledger.vessel(name)
        assert v is not None and sorted(v.gpu_uuids) == sorted(gpus)
        return v

    def container(self, name: str, image: str) -> None:
        c = self.dockerd.client()
        try:
            c.containers.run(image, ["sleep", "3600"], name=f"slipway-{name}", detach=True, network_mode="none",
                             labels={"slipway.managed": "true", "slipway.vessel": name})
        finally:
            c.close()
        self.made.append(f"slipway-{name}")

    def container_state(self, name: str) -> str | None:
        import docker.errors

        c = self.dockerd.client()
        try:
            return str(c.containers.get(f"slipway-{name}").status)
        except docker.errors.NotFound:
            return None
        finally:
            c.close()

    def config(self, **over: Any) -> UndertakerConfig:
        opts: dict[str, Any] = {"prometheus_url": self.prom.url, "calendar": CALENDAR, "window_hours": 6,
                                "idle_percent": 0, "slack_webhook_url": self.slack.url, "admins": ["root-admin"],
                                "slack_users": {"alice": "U0ALICE"}}
        opts.update(over)
        return UndertakerConfig.parse(opts)

    def undertaker(self, **over: Any) -> Undertaker:
        cfg = self.config(**over)
        return Undertaker(cfg, self.svc, RecordingProm(cfg.prometheus_url), notifier(cfg.slack_webhook_url),
                          lock_path=self.home / "undertaker.lock")


@pytest.fixture
def site(prometheus: Prometheus, dockerd: Dockerd, slack: SlackReceiver, home: Path, sqlite_url: str
         ) -> Iterator[Site]:
    yield from _site(sqlite_url, prometheus, dockerd, slack, home)


@pytest.fixture
def any_site(prometheus: Prometheus, dockerd: Dockerd, slack: SlackReceiver, home: Path, ledger_url: str
             ) -> Iterator[Site]:
    """The same on SQLite and on the real PostgreSQL."""
    yield from _site(ledger_url, prometheus, dockerd, slack, home)


def _site(url: str, prometheus: Prometheus, dockerd: Dockerd, slack: SlackReceiver, home: Path) -> Iterator[Site]:
    led = Ledger(url)
    svc = VesselService(Settings(ledger_url=url, ssh_home=str(home), data_dir=home / ".slipway",
                                 admins=("undertaker",)), ledger=led)
    s = Site(led, svc, slack, prometheus, dockerd, home)
    yield s
    c = dockerd.client()
    try:
        for n in s.made:
            with contextlib.suppress(Exception):  # already gone
                c.containers.get(n).remove(force=True)
    finally:
        c.close()
    svc.close()
    led.close()
