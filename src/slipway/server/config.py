"""The server's settings: a YAML file (mode 0600 in a deployment) plus environment variables.

Secrets (the ledger URL with its password, the Tailscale API key, the Slack webhook) may come from the
environment instead of the file (``SLIPWAY_LEDGER_URL``, ``SLIPWAY_TAILSCALE_API_KEY``,
``SLIPWAY_SLACK_WEBHOOK``), which is what a vault agent or systemd ``LoadCredential`` provides. They are
``repr=False`` and no route returns them.

    listen: 127.0.0.1:8470
    ledger_url: postgresql://slipway@db/slipway      # or SLIPWAY_LEDGER_URL
    oidc:                                            # absent: single-user mode on loopback
      issuer: https://example.eu.auth0.com/
      audience: slipway                              # the API identifier / client id in the token's aud
      client_id: slipway-cli                         # the public client `slipway login` uses
      user_claim: email                              # the user name is its local part
      roles_claim: groups
      roles: {admin: [slipway-admins], researcher: [slipway-researchers], viewer: [slipway-viewers]}
    admins: [alice]                                  # single-user mode only
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from slipway.auth.oidc import OidcSettings
from slipway.auth.roles import RoleMapping
from slipway.errors import ValidationError
from slipway.network.tailscale import TailscaleSettings

DEFAULT_LISTEN = "127.0.0.1:8470"
KNOWN_KEYS = ("listen", "ledger_url", "oidc", "admins", "ssh_home", "data_dir", "tailscale", "slack_webhook",
              "prometheus_url", "log_level", "public_url", "session_secret")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8470
    ledger_url: str | None = field(default=None, repr=False)
    oidc: OidcSettings | None = None
    roles: RoleMapping = field(default_factory=RoleMapping)
    admins: tuple[str, ...] = ()
    ssh_home: str | None = None
    data_dir: Path | None = None
    tailscale: TailscaleSettings | None = field(default=None, repr=False)
    slack_webhook: str | None = field(default=None, repr=False)
    prometheus_url: str | None = None
    log_level: str = "info"
    public_url: str | None = None
    session_secret: str | None = field(default=None, repr=False)

    @property
    def team_mode(self) -> bool:
        return self.oidc is not None

    def check_listen(self) -> None:
        """Without OIDC the server acts as the local OS user: only loopback may reach it."""
        if self.team_mode:
            return
        if not is_loopback(self.host):
            raise ValidationError("listen", "without oidc configured the server runs in single-user mode and "
                                            "binds to loopback only", got=f"{self.host}:{self.port}",
                                  allowed="127.0.0.1:PORT, [::1]:PORT or localhost:PORT (or configure oidc)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_listen(value: Any) -> tuple[str, int]:
    allowed = "HOST:PORT, e.g. 127.0.0.1:8470"
    if not isinstance(value, str) or ":" not in value:
        raise ValidationError("listen", "not HOST:PORT", allowed=allowed, got=value)
    host, _, port_s = value.rpartition(":")
    host = host.strip("[]")
    if not port_s.isdigit() or not 0 < int(port_s) < 65536 or not host:
        raise ValidationError("listen", "not HOST:PORT", allowed=allowed, got=value)
    return host, int(port_s)


def load_config(path: str | Path | None = None, *, listen: str | None = None,
                env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> ServerConfig:
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except OSError as exc:
            raise ValidationError("config", f"cannot read {p}: {exc.strerror}", allowed="a readable YAML file") from None
        if not isinstance(raw, dict):
            raise ValidationError("config", "must be a YAML mapping", allowed=", ".join(KNOWN_KEYS),
                                  got=type(raw).__name__)
    raw.update(overrides or {})
    for k in raw:
        if k not in KNOWN_KEYS:
            raise ValidationError(f"config.{k}", "unknown setting", allowed=KNOWN_KEYS, got=k)
    host, port = parse_listen(listen or raw.get("listen") or DEFAULT_LISTEN)
    oidc_raw = raw.get("oidc")
    oidc = OidcSettings.from_config(oidc_raw) if oidc_raw else None
    roles = RoleMapping.from_config((oidc_raw or {}).get("roles"), claim=str((oidc_raw or {}).get("roles_claim",
                                                                                                     "groups")))
    admins = raw.get("admins") or ()
    if oidc is not None and admins:
        raise ValidationError("admins", "has no effect in team mode: admins come from the oidc role mapping",
                              allowed="oidc.roles.admin: [group, ...]", got=list(admins))
    ts_raw = raw.get("tailscale")
    ts = None
    ts_key = env.get("SLIPWAY_TAILSCALE_API_KEY") or (ts_raw or {}).get("api_key")
    if ts_raw or env.get("SLIPWAY_TAILSCALE_API_KEY"):
        ts_raw = dict(ts_raw or {})
        ts = TailscaleSettings(api_key=str(ts_key or ""), tailnet=str(ts_raw.get("tailnet", "-")),
                               tags=tuple(ts_raw.get("tags", ("tag:slipway-vessel",))),
                               api_url=str(ts_raw.get("api_url", "https://api.tailscale.com")))
    data_dir = raw.get("data_dir")
    return ServerConfig(
        host=host, port=port, ledger_url=env.get("SLIPWAY_LEDGER_URL") or raw.get("ledger_url"), oidc=oidc,
        roles=roles, admins=tuple(str(a) for a in admins), ssh_home=raw.get("ssh_home"),
        data_dir=Path(data_dir) if data_dir else None, tailscale=ts,
        slack_webhook=env.get("SLIPWAY_SLACK_WEBHOOK") or raw.get("slack_webhook"),
        prometheus_url=raw.get("prometheus_url"), log_level=str(raw.get("log_level", "info")),
        public_url=raw.get("public_url"),
        session_secret=env.get("SLIPWAY_SESSION_SECRET") or raw.get("session_secret"))
