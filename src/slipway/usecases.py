"""The use cases, one function each: every face (Ansible module, CLI command, server route) maps its
arguments to one of these and formats what comes back. Settings come from :func:`slipway.config.load_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from slipway.config import Settings, load_undertaker_options
from slipway.identity import Actor, local_actor
from slipway.request import build_request
from slipway.table import render
from slipway.vessels import (
    LIST_ALL_COLUMNS,
    LIST_COLUMNS,
    LaunchResult,
    StopResult,
    default_key_pair,
    service,
    vessel_rows,
)

LAUNCH_FIELDS = ("name", "user", "gpus", "queue", "cpus", "memory", "shm_size", "image", "ssh_public_key")


def _actor(settings: Settings, actor: Actor | None) -> Actor:
    return actor or local_actor(settings.admins)


def launch(settings: Settings, fields: Mapping[str, Any], *, actor: Actor | None = None,
           fleet: Any = None, check: bool = False) -> LaunchResult:
    """Validate the request fields, sync the fleet if given, and launch (or plan, in check mode)."""
    who = _actor(settings, actor)
    f = {k: fields.get(k) for k in LAUNCH_FIELDS}
    key, identity = (f["ssh_public_key"], None) if f["ssh_public_key"] else default_key_pair()
    req = build_request(user=f["user"] or who.name, name=f["name"], gpus=f["gpus"], queue=f["queue"],
                        cpus=f["cpus"], memory=f["memory"], image=f["image"], shm_size=f["shm_size"],
                        ssh_public_key=key, default_cpus=settings.default_cpus,
                        default_memory=settings.default_memory, default_image=settings.default_image)
    with service(settings) as svc:
        if fleet:
            svc.sync_fleet(fleet)
        return svc.launch(req, actor=who, check=check, identity_file=identity)


def stop(settings: Settings, name: str, *, actor: Actor | None = None, check: bool = False,
         reason: str | None = None) -> StopResult:
    with service(settings) as svc:
        return svc.stop(name, actor=_actor(settings, actor), check=check, reason=reason)


def status(settings: Settings, name: str) -> dict[str, Any]:
    with service(settings) as svc:
        return svc.info(name)


@dataclass
class VesselList:
    vessels: list[dict[str, Any]]
    rows: list[dict[str, str]]
    table: str


def list_vessels(settings: Settings, *, include_ended: bool = False, owner: str | None = None,
                 host: str | None = None) -> VesselList:
    with service(settings) as svc:
        vs = svc.ledger.vessels(active=not include_ended, owner=owner, host=host)
    rows = vessel_rows(vs)
    table = render(rows, list(LIST_ALL_COLUMNS if include_ended else LIST_COLUMNS),
                   empty="no vessels" + ("" if include_ended else " running"))
    return VesselList([v.as_dict() for v in vs], rows, table)


@dataclass
class KeepResult:
    changed: bool
    keep_until: str | None
    summary: str
    diff: dict[str, Any] = field(default_factory=dict)


def keep(settings: Settings, name: str, *, actor: Actor | None = None, hours: float | None = None,
         until: str | datetime | None = None, clear: bool = False, max_hours: float = 168.0,
         check: bool = False) -> KeepResult:
    from slipway.undertaker.service import parse_now, set_keep

    when = parse_now(until, "until") if until not in (None, "") else None
    with service(settings) as svc:
        changed, before, after = set_keep(svc.ledger, name, actor=_actor(settings, actor), hours=hours,
                                          until=when, clear=clear, max_hours=max_hours, check=check)
    ku = after["keep_until"]
    text = (f"{name} is kept until {ku}" if ku else f"{name} has no keep flag") + ("" if changed else " (unchanged)")
    return KeepResult(changed, ku, text, {"before": before, "after": after})


def sync_fleet(settings: Settings, fleet: Any) -> list[str]:
    with service(settings) as svc:
        return svc.sync_fleet(fleet)


@dataclass
class HostResult:
    changed: bool
    host: dict[str, Any]
    diff: dict[str, Any]


def record_host(settings: Settings, name: str, values: Mapping[str, Any], *, state: str = "present",
                check: bool = False) -> HostResult:
    """Record (or disable, ``state=absent``) one host in the ledger from its un-prefixed settings."""
    from slipway.fleet import host_spec_from

    with service(settings) as svc:
        before = svc.ledger.host(name)
        want = (replace(before, enabled=False) if before else None) if state == "absent" else \
            host_spec_from(name, values, known=before)
        changed = want is not None and want != before
        if changed and not check and want is not None:
            svc.ledger.sync_hosts([want], actor="fleet_host")
    b = asdict(before) if before else {}
    a = asdict(want) if want else {}
    return HostResult(changed, a, {"before": b, "after": a})


def undertaker_run(settings: Settings, options: Mapping[str, Any] | None = None, *,
                   config_file: str | Path | None = None, now: str | datetime | None = None,
                   check: bool = False) -> Any:
    """One undertaker run over the whole fleet (the cron job, the playbook and the CLI)."""
    from slipway.metrics import Prometheus
    from slipway.notify import notifier
    from slipway.undertaker.config import UndertakerConfig
    from slipway.undertaker.service import Undertaker, parse_now

    cfg = UndertakerConfig.parse(load_undertaker_options(options, config_file=config_file))
    when = parse_now(now)
    prom = Prometheus(cfg.prometheus_url, timeout=cfg.prometheus_timeout, field_name="undertaker_prometheus_url")
    try:
        with service(replace(settings, admins=(*settings.admins, *cfg.admins))) as svc:
            return Undertaker(cfg, svc, prom, notifier(cfg.slack_webhook_url)).run(when, check=check)
    finally:
        prom.close()
