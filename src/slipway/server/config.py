"""The server's settings: one YAML file (mode 0600 in a deployment) plus environment variables.

The vessel settings are the same keys as the inventory's group_vars (``slipway_ledger_url``,
``slipway_tailscale_api_key``, ...), read by the one settings loader :func:`slipway.config.load_settings`
(so ``SLIPWAY_LEDGER_URL`` etc. from the environment or a vault agent work as everywhere); the server's own
keys sit under ``server:``. Secrets are ``repr=False`` and no route returns them::

    slipway_ledger_url: postgresql://slipway@db/slipway   # or SLIPWAY_LEDGER_URL
    server:
      listen: 127.0.0.1:8470
      prometheus_url: http://127.0.0.1:9090
      oidc:                                             # absent: single-user mode on loopback
        issuer: https://example.eu.auth0.com/
        audience: slipway                               # what the token's aud must contain
        client_id: slipway-cli                          # the public client `slipway login` uses
        user_claim: email                               # the user name is its local part
        roles_claim: groups
        roles: {admin: [slipway-admins], researcher: [slipway-researchers], viewer: [slipway-viewers]}
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway.auth.oidc import OidcSettings
from slipway.auth.roles import RoleMapping
from slipway.config import Settings, load_settings, load_undertaker_options, read_config_file
from slipway.errors import ValidationError
from slipway.server.tailnet import TailnetSettings
from slipway.undertaker.calendar import WorkCalendar

DEFAULT_LISTEN = "127.0.0.1:8470"
SERVER_KEYS = ("listen", "oidc", "prometheus_url", "log_level", "public_url", "session_secret", "tailnet",
               "webhook")


@dataclass(frozen=True)
class ServerConfig:
    settings: Settings = field(default_factory=Settings, repr=False)
    host: str = "127.0.0.1"
    port: int = 8470
    oidc: OidcSettings | None = None
    roles: RoleMapping = field(default_factory=RoleMapping)
    prometheus_url: str | None = None
    log_level: str = "info"
    public_url: str | None = None
    session_secret: str | None = field(default=None, repr=False)
    tailnet: TailnetSettings | None = None  # keep the tailnet policy in step (needs the Tailscale API key)
    webhook: bool = False  # mount the commit-run webhook (configured from SLIPWAY_WEBHOOK_* as the Lambda is)
    calendar: WorkCalendar = field(default_factory=lambda: WorkCalendar.parse({}))  # the undertaker's work hours
    undertaker: Mapping[str, Any] = field(default_factory=dict)  # its options (undertaker_* keys), for the lists

    @property
    def team_mode(self) -> bool:
        return self.oidc is not None

    @property
    def admins(self) -> tuple[str, ...]:
        return self.settings.admins

    def check_listen(self) -> None:
        """Without OIDC the server acts as the local OS user: only loopback may reach it."""
        if self.team_mode:
            return
        if not is_loopback(self.host):
            raise ValidationError("server.listen", "without oidc configured the server runs in single-user mode "
                                  "and binds to loopback only", got=f"{self.host}:{self.port}",
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
        raise ValidationError("server.listen", "not HOST:PORT", allowed=allowed, got=value)
    host, _, port_s = value.rpartition(":")
    host = host.strip("[]")
    if not port_s.isdigit() or not 0 < int(port_s) < 65536 or not host:
        raise ValidationError("server.listen", "not HOST:PORT", allowed=allowed, got=value)
    return host, int(port_s)


def load_config(path: str | Path | None = None, *, listen: str | None = None,
                env: Mapping[str, str] | None = None, server: Mapping[str, Any] | None = None,
                given: Mapping[str, Any] | None = None, ssh_home: str | None = None,
                data_dir: Path | None = None) -> ServerConfig:
    """``server`` / ``given`` (tests, options) override the file's ``server:`` section / vessel keys."""
    env = os.environ if env is None else env
    file_values = read_config_file(path, required=path is not None)
    raw = dict(file_values.get("server") or {})
    if not isinstance(file_values.get("server") or {}, Mapping):
        raise ValidationError("server", "must be a mapping", allowed=", ".join(SERVER_KEYS))
    raw.update(server or {})
    for k in raw:
        if k not in SERVER_KEYS:
            raise ValidationError(f"server.{k}", "unknown setting", allowed=SERVER_KEYS, got=k)
    settings = load_settings(given, env=env, config_file=path, ssh_home=ssh_home, data_dir=data_dir, face="cli")
    host, port = parse_listen(listen or raw.get("listen") or DEFAULT_LISTEN)
    oidc_raw = raw.get("oidc")
    oidc = OidcSettings.from_config(oidc_raw) if oidc_raw else None
    roles = RoleMapping.from_config((oidc_raw or {}).get("roles"),
                                    claim=str((oidc_raw or {}).get("roles_claim", "groups")))
    if oidc is not None and settings.admins:
        raise ValidationError("slipway_admins", "has no effect in team mode: admins come from the oidc role "
                              "mapping", allowed="server.oidc.roles.admin: [group, ...]", got=list(settings.admins))
    undertaker = load_undertaker_options(env=env, config_file=path)
    calendar = WorkCalendar.parse(undertaker.get("calendar") or {})
    return ServerConfig(settings=settings, host=host, port=port, oidc=oidc, roles=roles, calendar=calendar,
                        webhook=bool(raw.get("webhook", False)), undertaker=undertaker,
                        prometheus_url=raw.get("prometheus_url") or env.get("SLIPWAY_PROMETHEUS_URL") or None,
                        log_level=str(raw.get("log_level", "info")), public_url=raw.get("public_url"),
                        session_secret=env.get("SLIPWAY_SESSION_SECRET") or raw.get("session_secret"),
                        tailnet=TailnetSettings.from_config(raw["tailnet"]) if raw.get("tailnet") else None)
