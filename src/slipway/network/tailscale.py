"""Tailscale API v2 client: per-vessel auth keys and devices.

Each vessel gets a single-use, ephemeral, pre-authorized, tagged auth key; it joins the tailnet under
its own name with ``tailscaled --tun=userspace-networking``. On stop (or rollback) its device is deleted
and its key revoked. The API key is a secret: it is sent only in the Authorization header and never put
in messages, reprs or the ledger.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import requests

from slipway.errors import TailscaleError, ValidationError

DEFAULT_API = "https://api.tailscale.com"


@dataclass(frozen=True)
class AuthKey:
    id: str
    key: str = field(repr=False)  # the secret: never printed


@dataclass(frozen=True)
class Device:
    id: str
    hostname: str
    name: str
    addresses: tuple[str, ...]

    @property
    def ipv4(self) -> str | None:
        return next((a for a in self.addresses if "." in a), None)


@dataclass(frozen=True)
class TailscaleSettings:
    api_key: str = field(repr=False)
    tailnet: str = "-"
    tags: tuple[str, ...] = ("tag:slipway-vessel",)
    api_url: str = DEFAULT_API
    key_expiry_seconds: int = 3600
    join_timeout: float = 60.0

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValidationError("tailscale_api_key", "is empty", allowed="a Tailscale API access token")
        for tag in self.tags:
            if not tag.startswith("tag:"):
                raise ValidationError("tailscale_tags", "each tag must start with 'tag:'",
                                      allowed="e.g. tag:slipway-vessel", got=tag)


class Tailscale:
    def __init__(self, settings: TailscaleSettings, timeout: float = 15.0) -> None:
        self.s = settings
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {settings.api_key}"
        self.http.headers["Accept"] = "application/json"

    def __repr__(self) -> str:
        return f"Tailscale(tailnet={self.s.tailnet!r}, api={self.s.api_url!r})"

    def _url(self, path: str) -> str:
        return f"{self.s.api_url.rstrip('/')}/api/v2/{path.lstrip('/')}"

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = self.http.request(method, self._url(path), timeout=self.timeout, **kw)
        except requests.RequestException as exc:
            raise TailscaleError(f"Tailscale API {method} {path} failed: {type(exc).__name__}") from None
        if r.status_code == 404 and method == "DELETE":
            return None
        if r.status_code >= 400:
            try:
                msg = r.json().get("message", "")
            except ValueError:
                msg = r.text[:200]
            raise TailscaleError(f"Tailscale API {method} {path}: HTTP {r.status_code} {msg}".strip())
        return r.json() if r.content else None

    def create_auth_key(self, description: str, extra_tags: tuple[str, ...] = ()) -> AuthKey:
        """A single-use, ephemeral, pre-authorized key with the site's tags (and ``extra_tags``: the owner's)."""
        body = {"capabilities": {"devices": {"create": {
            "reusable": False, "ephemeral": True, "preauthorized": True,
            "tags": [*self.s.tags, *(t for t in extra_tags if t not in self.s.tags)]}}},
            "expirySeconds": self.s.key_expiry_seconds, "description": description[:50]}
        data = self._call("POST", f"tailnet/{self.s.tailnet}/keys", json=body)
        return AuthKey(id=str(data["id"]), key=str(data["key"]))

    def delete_auth_key(self, key_id: str) -> None:
        self._call("DELETE", f"tailnet/{self.s.tailnet}/keys/{key_id}")

    def devices(self) -> list[Device]:
        data = self._call("GET", f"tailnet/{self.s.tailnet}/devices") or {}
        return [Device(id=str(d.get("nodeId") or d["id"]), hostname=str(d.get("hostname", "")),
                       name=str(d.get("name", "")), addresses=tuple(d.get("addresses") or ()))
                for d in data.get("devices", [])]

    def find_device(self, hostname: str) -> Device | None:
        for d in self.devices():
            if d.hostname == hostname or d.name.split(".")[0] == hostname:
                return d
        return None

    def wait_for_device(self, hostname: str, timeout: float | None = None, alive: Any = None,
                        exclude: frozenset[str] = frozenset()) -> Device:
        """The device that joins as ``hostname``; devices that existed before (``exclude``) never count."""
        deadline = time.monotonic() + (timeout or self.s.join_timeout)
        while time.monotonic() < deadline:
            d = next((d for d in self.devices() if d.id not in exclude and d.addresses
                      and (d.hostname == hostname or d.name.split(".")[0] == hostname)), None)
            if d is not None:
                return d
            if alive is not None and not alive():
                raise TailscaleError(f"the vessel stopped before it joined the tailnet as {hostname}")
            time.sleep(0.5)
        raise TailscaleError(f"vessel {hostname} did not join the tailnet within "
                             f"{timeout or self.s.join_timeout:.0f} s")

    def delete_device(self, device_id: str) -> None:
        self._call("DELETE", f"device/{device_id}")
