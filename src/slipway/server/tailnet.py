"""The server keeps the tailnet policy in step with the ledger: every ownership change (a launch or a stop
through the server) pokes :class:`PolicySync`, which applies the policy once the changes settle (debounced)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slipway.errors import SlipwayError, ValidationError
from slipway.ledger import Ledger
from slipway.network.policy import PolicyApi, PolicyInput, PolicyResult, apply, reach_from
from slipway.network.tailscale import TailscaleSettings

log = logging.getLogger("slipway.server.tailnet")


@dataclass(frozen=True)
class TailnetSettings:
    email_domain: str = ""
    users: Mapping[str, str] = field(default_factory=dict)
    admins: tuple[str, ...] = ()
    tag_owner: str = "autogroup:admin"
    debounce_seconds: float = 10.0

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> TailnetSettings:
        if not isinstance(raw, Mapping):
            raise ValidationError("server.tailnet", "must be a mapping",
                                  allowed="email_domain, users, admins, tag_owner, debounce_seconds")
        return cls(email_domain=str(raw.get("email_domain", "")), users=dict(raw.get("users") or {}),
                   admins=tuple(raw.get("admins") or ()), tag_owner=str(raw.get("tag_owner", "autogroup:admin")),
                   debounce_seconds=float(raw.get("debounce_seconds", 10)))


class PolicySync:
    def __init__(self, ledger: Ledger, ts: TailscaleSettings, cfg: TailnetSettings) -> None:
        self.ledger = ledger
        self.api = PolicyApi(ts.api_url, ts.tailnet, ts.api_key)
        self.cfg = cfg
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self.applied = 0
        self.last: dict[str, Any] = {"at": None, "changed": None, "error": None}

    def poke(self) -> None:
        """Ownership changed: apply after ``debounce_seconds`` without a further change."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.cfg.debounce_seconds, self._run)
            self._timer.daemon = True
            self._timer.start()

    def _run(self) -> None:
        try:
            self.sync()
        except SlipwayError as exc:
            log.warning("tailnet policy not applied: %s", exc)

    def sync(self, *, check: bool = False) -> PolicyResult:
        inp = PolicyInput(reach_from(self.ledger.vessels()), self.cfg.admins, email_domain=self.cfg.email_domain,
                          users=self.cfg.users, tag_owner=self.cfg.tag_owner)
        try:
            res = apply(self.api, inp, check=check)
        except SlipwayError as exc:
            self.last = {"at": time.time(), "changed": None, "error": str(exc)}
            raise
        if res.applied:
            self.applied += 1
        self.last = {"at": time.time(), "changed": res.changed, "applied": res.applied, "error": None}
        return res

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
