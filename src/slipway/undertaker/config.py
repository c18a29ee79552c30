"""Undertaker settings, validated once (inventory group_vars ``undertaker_*``, module options, CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slipway.errors import ValidationError
from slipway.undertaker.calendar import WorkCalendar
from slipway.undertaker.decide import Rule

KEEP_HINT = "ansible-playbook playbooks/keep_vessel.yml -e vessel={name} -e hours=24"


@dataclass(frozen=True)
class UndertakerConfig:
    prometheus_url: str
    calendar: WorkCalendar
    rule: Rule = field(default_factory=Rule)
    slack_webhook_url: str = field(default="", repr=False)  # secret
    admins: tuple[str, ...] = ()
    slack_users: Mapping[str, str] = field(default_factory=dict)
    metric: str = "DCGM_FI_DEV_GPU_UTIL"
    uuid_label: str = "UUID"
    admin_realert_hours: float = 24.0
    keep_max_hours: float = 168.0
    keep_hint: str = KEEP_HINT
    lock_file: str = ""
    lock_timeout: float = 600.0
    prometheus_timeout: float = 60.0
    # an hour counts (idle or busy) only when its samples cover at least this share of it
    min_coverage_percent: float = 90.0
    sample_interval_seconds: float = 60.0  # Prometheus's scrape interval of dcgm-exporter
    # a GPU whose newest sample is older than this is missing now (probed at once)
    missing_after_minutes: float = 10.0
    # admins are told once after this many consecutive runs could not read Prometheus, and on recovery
    prometheus_alert_after_runs: int = 3
    # a vessel left `stopping` this long (a stop whose host could not be reached) is stopped again
    stuck_stop_minutes: float = 10.0
    # how long a run waits for another writer's ledger lock before it gives up, changing nothing
    ledger_lock_timeout: float = 30.0

    @classmethod
    def parse(cls, p: Mapping[str, Any], prefix: str = "undertaker_") -> UndertakerConfig:
        """From a mapping of un-prefixed option names; errors name ``prefix + option``."""
        def f(name: str) -> str:
            return prefix + name

        url = str(p.get("prometheus_url") or "")
        if not url:
            raise ValidationError(f("prometheus_url"), "is required",
                                  allowed="http(s)://HOST:PORT of the Prometheus that scrapes dcgm-exporter")
        cal = WorkCalendar.parse(p.get("calendar") or {}, f("calendar"))
        window = _num(p.get("window_hours", 6), f("window_hours"), 1, 24 * 7, integer=True)
        idle = _num(p.get("idle_percent", 0.0), f("idle_percent"), 0, 100)
        metric = str(p.get("metric") or "DCGM_FI_DEV_GPU_UTIL")
        label = str(p.get("uuid_label") or "UUID")
        for name, value in (("metric", metric), ("uuid_label", label)):
            if not value.replace("_", "a").replace(":", "a").isalnum() or value[0].isdigit():
                raise ValidationError(f(name), "not a Prometheus name", got=value,
                                      allowed="letters, digits, _ and : (not starting with a digit)")
        users = p.get("slack_users") or {}
        if not isinstance(users, Mapping):
            raise ValidationError(f("slack_users"), "must be a mapping", allowed="{user: Slack member ID}")
        admins = p.get("admins") or ()
        if isinstance(admins, str):
            admins = [a.strip() for a in admins.split(",") if a.strip()]
        return cls(
            prometheus_url=url, calendar=cal, rule=Rule(int(window), float(idle)),
            slack_webhook_url=str(p.get("slack_webhook_url") or ""), admins=tuple(str(a) for a in admins),
            slack_users={str(k): str(v) for k, v in users.items()}, metric=metric, uuid_label=label,
            admin_realert_hours=_num(p.get("admin_realert_hours", 24), f("admin_realert_hours"), 0, 24 * 30),
            keep_max_hours=_num(p.get("keep_max_hours", 168), f("keep_max_hours"), 1, 24 * 366),
            keep_hint=str(p.get("keep_hint") or KEEP_HINT),
            lock_file=str(p.get("lock_file") or ""),
            lock_timeout=_num(p.get("lock_timeout", 600), f("lock_timeout"), 0, 86400),
            min_coverage_percent=_num(p.get("min_coverage_percent", 90), f("min_coverage_percent"), 1, 100),
            sample_interval_seconds=_num(p.get("sample_interval_seconds", 60), f("sample_interval_seconds"),
                                         1, 3600),
            missing_after_minutes=_num(p.get("missing_after_minutes", 10), f("missing_after_minutes"), 1, 60),
            prometheus_alert_after_runs=int(_num(p.get("prometheus_alert_after_runs", 3),
                                                 f("prometheus_alert_after_runs"), 1, 1000, integer=True)),
            stuck_stop_minutes=_num(p.get("stuck_stop_minutes", 10), f("stuck_stop_minutes"), 0, 24 * 60),
            ledger_lock_timeout=_num(p.get("ledger_lock_timeout", 30), f("ledger_lock_timeout"), 0.1, 3600),
        )


def _num(value: Any, field: str, lo: float, hi: float, *, integer: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValidationError(field, "must be a number", got=value, allowed=f"{lo:g}..{hi:g}") from None
    if integer and x != int(x):
        raise ValidationError(field, "must be a whole number", got=value, allowed=f"{lo:g}..{hi:g}")
    if not lo <= x <= hi:
        raise ValidationError(field, "out of range", got=value, allowed=f"{lo:g}..{hi:g}")
    return x
