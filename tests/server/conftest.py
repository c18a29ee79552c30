"""Fixtures for the server tests: the real OIDC provider, the app under uvicorn, tokens per user."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from slipway.auth.oidc import OidcSettings
from slipway.auth.roles import RoleMapping
from slipway.config import Settings
from slipway.ledger import GpuSpec, HostSpec, Ledger
from slipway.server.app import create_app
from slipway.server.config import ServerConfig
from slipway.server.tailnet import TailnetSettings
from slipway.vessels import VesselService
from tests.harness.asgi import Served
from tests.harness.oidc import CLIENT_ID, ROLES, Provider


@pytest.fixture(scope="session")
def provider() -> Iterator[Provider]:
    p = Provider()
    yield p
    p.stop()


@pytest.fixture(scope="session")
def id_tokens(provider: Provider) -> Callable[[str], str]:
    """A real ID token per user, logged in once per session."""
    cache: dict[str, str] = {}

    def get(sub: str) -> str:
        if sub not in cache:
            cache[sub] = provider.id_token(sub)
        return cache[sub]
    return get


@dataclass
class Api:
    """The served app plus a requests helper: ``api.get(path, as_="alice")``."""

    url: str
    svc: VesselService
    app: Any
    config: ServerConfig
    tokens: Callable[[str], str] | None = None
    log: list[str] = field(default_factory=list)

    def headers(self, as_: str | None, token: str | None) -> dict[str, str]:
        if token is not None:
            return {"Authorization": f"Bearer {token}"}
        if as_ is not None and self.tokens is not None:
            return {"Authorization": f"Bearer {self.tokens(as_)}"}
        return {}

    def call(self, method: str, path: str, *, as_: str | None = None, token: str | None = None,
             **kw: Any) -> requests.Response:
        return requests.request(method, self.url + path, headers=self.headers(as_, token), timeout=120, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.call("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.call("DELETE", path, **kw)


def seed_hosts(led: Ledger, n: int = 2, gpus: int = 2, prefix: str = "gpu") -> list[HostSpec]:
    specs = [HostSpec(name=f"{prefix}{i:02d}", queue="a100" if i % 2 == 0 else "rtx", docker_url="unix:///nonexistent.sock",
                      address=f"198.18.0.{i + 1}", cpus=32, memory_mib=256 * 1024,
                      gpus=tuple(GpuSpec(j, f"GPU-{prefix}{i:02d}-{j}", "NVIDIA A100-SXM4-80GB", 81920)
                                 for j in range(gpus)))
             for i in range(n)]
    led.sync_hosts(specs)
    return specs


def make_api(tmp_path: Path, *, oidc: OidcSettings | None, tokens: Callable[[str], str] | None = None,
             admins: tuple[str, ...] = (), settings: Settings | None = None, log_level: str = "info",
             tailnet: TailnetSettings | None = None) -> tuple[Api, Served]:
    home = tmp_path / "server-home"
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    s = settings or Settings(ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}", admins=admins, ssh_home=str(home),
                             data_dir=home / ".slipway", ready_timeout=30)
    svc = VesselService(s, ledger=Ledger(s.ledger_url))
    cfg = ServerConfig(settings=s, oidc=oidc, roles=RoleMapping.from_config(ROLES), tailnet=tailnet)
    app = create_app(cfg, service=svc)
    served = Served(app, log_level=log_level)
    return Api(served.url, svc, app, cfg, tokens), served


def team_oidc(provider: Provider, **kw: Any) -> OidcSettings:
    return OidcSettings(issuer=provider.issuer, audience=(CLIENT_ID,), client_id=CLIENT_ID,
                        jwks_refetch_seconds=kw.pop("jwks_refetch_seconds", 0), **kw)


@pytest.fixture
def team(tmp_path: Path, provider: Provider, id_tokens: Callable[[str], str]) -> Iterator[Api]:
    """The server in team mode (OIDC from the test provider) on a ledger with two GPU hosts."""
    api, served = make_api(tmp_path, oidc=team_oidc(provider), tokens=id_tokens)
    seed_hosts(api.svc.ledger)
    yield api
    served.stop()
    api.svc.close()
    api.svc.ledger.close()


@pytest.fixture
def solo(tmp_path: Path) -> Iterator[Api]:
    """The embedded default: no OIDC, the local OS user."""
    api, served = make_api(tmp_path, oidc=None)
    seed_hosts(api.svc.ledger)
    yield api
    served.stop()
    api.svc.close()
    api.svc.ledger.close()


def ssh_keypair(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    key = d / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key
