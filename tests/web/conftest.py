"""The web pages' fixtures: a team-mode server on the real dockerd, a seeded ledger, a backfilled Prometheus,
and headless Chromium."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from slipway.auth.roles import RoleMapping
from slipway.config import Settings
from slipway.ledger import Ledger, utcnow
from slipway.request import build_request
from slipway.server.app import create_app
from slipway.server.config import ServerConfig
from slipway.vessels import VesselService
from tests.harness.asgi import Served
from tests.harness.browser import browser
from tests.harness.dockerd import Dockerd
from tests.harness.oidc import CLIENT_SECRET, ROLES, Provider
from tests.harness.prometheus import Gpu, Prometheus, build_tsdb, start_prometheus, write_openmetrics
from tests.integration.conftest import FAKE_GPUS, fleet_host
from tests.server.conftest import seed_hosts, team_oidc


@pytest.fixture(scope="module")
def web_provider() -> Iterator[Provider]:
    p = Provider()
    yield p
    p.stop()


def curve(t: int) -> float:
    return float((t // 600) % 10 * 10)  # a staircase: 0, 10, ... 90 % every 10 minutes


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Six hours of history (ending an hour ago) for the seeded vessel's GPU."""
    d = tmp_path_factory.mktemp("prom")
    now = utcnow().replace(second=0, microsecond=0)
    om = d / "history.om"
    write_openmetrics(om, [Gpu("GPU-gpu01-0", "gpu01", curve)], now - timedelta(hours=7), now - timedelta(hours=1))
    build_tsdb(om, d / "tsdb")
    p = start_prometheus(d / "run", d / "tsdb")
    yield p
    p.stop()


@dataclass
class Site:
    url: str
    svc: VesselService
    provider: Provider
    prometheus: Prometheus
    shots: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, web_provider: Provider, dockerd: Dockerd, vessel_image: str,
         prometheus: Prometheus) -> Iterator[Site]:
    d = tmp_path_factory.mktemp("site")
    home = d / "server-home"
    (home / ".ssh").mkdir(parents=True)
    s = Settings(ledger_url=f"sqlite:///{d / 'ledger.db'}", ssh_home=str(home), data_dir=home / ".slipway",
                 ready_timeout=30)
    svc = VesselService(s, ledger=Ledger(s.ledger_url))
    seed_hosts(svc.ledger, n=2, gpus=4)
    svc.sync_fleet({"local": fleet_host(dockerd.url, gpus=FAKE_GPUS)})
    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq7c0zYgFv8JxJ6t7xQ0c2zJ0n1y4r0q8T9v3kX3Yw seeded"
    for user, name, queue, gpus in (("bob", "bob-train", "a100", 2), ("alice", "alice-old", "rtx", 1)):
        svc.ledger.reserve(build_request(user=user, name=name, queue=queue, gpus=gpus, ssh_public_key=key), user)
    svc.ledger.update_vessel("alice-old", "alice", None, state="running")  # judged by the undertaker's rule
    oidc = dataclasses.replace(team_oidc(web_provider), client_secret=CLIENT_SECRET)
    cfg = ServerConfig(settings=s, oidc=oidc, roles=RoleMapping.from_config(ROLES), prometheus_url=prometheus.url)
    served = Served(create_app(cfg, service=svc))
    shots = d / "screenshots"
    shots.mkdir()
    yield Site(served.url, svc, web_provider, prometheus, shots)
    for v in svc.ledger.vessels():
        if v.host == "local":
            with contextlib.suppress(Exception):
                svc.stop(v.name, actor=v.owner)
    served.stop()
    svc.close()
    svc.ledger.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with browser() as b:
        yield b


@pytest.fixture
def login(chromium: Any, site: Site) -> Iterator[Callable[[str], Any]]:
    """A page logged in as ``sub`` through the provider's form (in the viewer's time zone, Europe/Berlin)."""
    contexts: list[Any] = []

    def make(sub: str) -> Any:
        ctx = chromium.new_context(timezone_id="Europe/Berlin", viewport={"width": 1280, "height": 900})
        contexts.append(ctx)
        page = ctx.new_page()
        page.goto(site.url + "/")
        page.wait_for_url(f"{site.provider.issuer}/oauth2/authorize*")
        page.fill("input[name=sub]", sub)
        page.click("button:has-text('Authorize')")
        page.wait_for_url(site.url + "/")
        return page

    yield make
    for c in contexts:
        c.close()
