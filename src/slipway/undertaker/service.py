"""The undertaker run: read the ledger, one Prometheus query for the whole fleet, decide, act.

Acting goes through :class:`slipway.vessels.VesselService` (stop, probe, reconcile), so a burial is
exactly what an admin's ``stop_vessel.yml`` does. Every message is recorded in ``undertaker_notices``
(and an event), which is what makes a warning go out once per idle streak. Runs are serialized by a
file lock; check mode reads (the ledger, Prometheus, the hosts' Docker APIs) and changes nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from math import ceil
from pathlib import Path
from typing import Any

from slipway.errors import NotFound, SlipwayError, ValidationError
from slipway.identity import Actor, as_actor, require_manage, system_actor
from slipway.ledger import Ledger, Vessel, utcnow
from slipway.metrics import MetricsSource
from slipway.notify import Notifier, NotifyError
from slipway.table import render
from slipway.undertaker.calendar import HOUR
from slipway.undertaker.config import UndertakerConfig
from slipway.undertaker.decide import Decision, VesselFacts, decide, lookback_hours

ACTOR = system_actor("undertaker")
COLUMNS = ("vessel", "owner", "host", "gpus", "action", "idle_work_h", "idle_since", "reason")
RUNNING_STATES = ("running", "restarting", "created", "paused")


class UndertakerBusy(SlipwayError):
    """Another run holds the lock."""


@dataclass
class RunResult:
    now: datetime
    check: bool
    decisions: list[Decision]
    rows: list[dict[str, str]]
    table: str
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    queries: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.done)

    def counts(self) -> dict[str, int]:
        c: dict[str, int] = defaultdict(int)
        for d in self.decisions:
            c[d.action] += 1
        return dict(c)


def parse_now(value: str | datetime | None, field: str = "now") -> datetime:
    """The run's "now": ISO 8601 (a zone is required) or None for the clock."""
    if value is None or value == "":
        return utcnow()
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(field, "not an ISO 8601 time", got=value,
                                  allowed="e.g. 2026-03-09T13:00:00+00:00") from None
    if dt.tzinfo is None:
        raise ValidationError(field, "needs a time zone", got=str(value), allowed="e.g. 2026-03-09T13:00:00Z")
    return dt


class Undertaker:
    def __init__(self, cfg: UndertakerConfig, vessels: Any, metrics: MetricsSource, notifier: Notifier,
                 *, lock_path: str | Path | None = None) -> None:
        self.cfg = cfg
        self.vessels = vessels
        self.ledger: Ledger = vessels.ledger
        self.metrics = metrics
        self.notifier = notifier
        data_dir = getattr(vessels, "data_dir", None) or Path(".")
        self.lock_path = Path(lock_path or cfg.lock_file or Path(data_dir) / "undertaker.lock")

    # ------------------------------------------------------------------ lock
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + self.cfg.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise UndertakerBusy(f"another undertaker run holds {self.lock_path} for more than "
                                             f"{self.cfg.lock_timeout:g} s; nothing was done") from None
                    time.sleep(0.1)
            yield
        finally:
            os.close(fd)

    # ------------------------------------------------------------------ run
    def run(self, now: datetime | None = None, *, check: bool = False) -> RunResult:
        now = now or utcnow()
        with self.lock():
            res = self.plan(now, store=not check)
            res.check = check
            if not check:
                t0 = time.monotonic()
                self.act(res)
                res.seconds["act"] = time.monotonic() - t0
        return res

    def plan(self, now: datetime, *, store: bool = False) -> RunResult:
        cfg, cal = self.cfg, self.cfg.calendar
        t0 = time.monotonic()
        facts, ids = self._running()
        warned = self._warned_at()
        facts = [replace(f, warned_at=warned.get(ids[f.name])) if ids[f.name] in warned else f for f in facts]
        t1 = time.monotonic()
        buckets = cal.buckets_back(now, lookback_hours(cfg.rule))
        q0 = self.metrics.queries
        samples = self.fetch(buckets, {u for f in facts for u in f.gpu_uuids}, store=store)
        t2 = time.monotonic()
        decisions = [decide(f, buckets, samples, cal, cfg.rule, now) for f in facts]
        t3 = time.monotonic()
        for d in decisions:
            if d.action == "probe":
                v = self.ledger.vessel(d.vessel)
                if v is not None:
                    self._resolve_probe(d, v)
        t4 = time.monotonic()
        rows = [d.row(cal) for d in decisions]
        return RunResult(now, True, decisions, rows, render(rows, COLUMNS, empty="no running vessels"),
                         queries=self.metrics.queries - q0,
                         seconds={"ledger": t1 - t0, "prometheus": t2 - t1, "decide": t3 - t2,
                                  "probe": t4 - t3})

    def fetch(self, buckets: Sequence[tuple[datetime, bool]], uuids: set[str], *, store: bool = False
              ) -> dict[str, dict[int, float]]:
        """Hourly averages for every GPU of the fleet: ONE range query, whatever the fleet's size.

        Completed hours already read by an earlier run come from ``undertaker_hours``; Prometheus is asked
        only for the hours after them (the newest hour is always asked again: late samples). ``store``
        (not in check mode) saves what was read for the next run.
        """
        if not buckets or not uuids:
            return {}
        label = self.cfg.uuid_label
        expr = f"max by ({label}) (avg_over_time({self.cfg.metric}[1h]))"
        first, last = buckets[0][0], buckets[-1][0]
        out: dict[str, dict[int, float]] = {}
        start = first
        cache = self.ledger.hour_cache(expr)
        if cache is not None and cache[0] <= first <= cache[1] + HOUR and cache[1] < last:
            for end, averages in self.ledger.cached_hours(first, cache[1]):
                for gpu, val in averages.items():
                    if gpu in uuids:
                        got = out.get(gpu)
                        if got is None:
                            got = out[gpu] = {}
                        got[end] = val
            start = cache[1] + HOUR
        series = self.metrics.query_range(expr, start, last, 3600)
        keep_until = int((last - HOUR).timestamp())
        fresh: dict[int, dict[str, float]] = defaultdict(dict)
        for s in series:
            u = s.labels.get(label)
            if not u:
                continue
            if u in uuids:
                out.setdefault(u, {}).update((int(ts), val) for ts, val in s.points)
            if store:
                for ts, val in s.points:
                    if int(ts) <= keep_until:
                        fresh[int(ts)][u] = val
        if store:
            self._store(expr, first, start, last - HOUR, fresh, cache)
        return out

    def _store(self, expr: str, first: datetime, start: datetime, until: datetime, rows: dict[int, dict[str, float]],
               cache: tuple[datetime, datetime] | None) -> None:
        if until < start:
            return
        begin = first if start == first or cache is None else max(cache[0], first)
        self.ledger.store_hours(expr, begin, first, start, until, rows)

    def _resolve_probe(self, d: Decision, v: Vessel) -> None:
        try:
            state = self.vessels.probe(v)
        except Exception as exc:  # an unreachable host is a finding, not a crash
            d.action = "alert"
            d.reason += f"; the host's Docker API cannot be reached ({type(exc).__name__}): admins told"
            return
        d.detail["container"] = state or "gone"
        if state in RUNNING_STATES:
            d.action = "alert"
            d.reason += f"; container {state}: admins told metrics are missing for {v.host}"
        else:
            d.action = "reconcile"
            d.reason += f"; container {state or 'gone'}: ledger reconciled, owner told"

    def _running(self) -> tuple[list[VesselFacts], dict[str, int]]:
        """The active vessels with just the columns the rule needs."""
        facts, ids = [], {}
        for row in self.ledger.active_vessel_facts():
            ids[row.name] = row.id
            facts.append(VesselFacts(row.name, row.owner, row.host, row.state, row.gpu_uuids, row.created_at,
                                     row.keep_until))
        return facts, ids

    def _warned_at(self) -> dict[int, datetime]:
        return self.ledger.warned_at()

    def _host_alerted_since(self, host: str, since: datetime) -> bool:
        return self.ledger.host_alerted_since(host, since)

    # ------------------------------------------------------------------ act
    def act(self, res: RunResult) -> None:
        cal = self.cfg.calendar
        alerts: dict[str, list[Decision]] = defaultdict(list)
        for d in res.decisions:
            try:
                if d.action == "warn":
                    text = (f"{self.mention(d.owner)} your vessel *{d.vessel}* on {d.host} (GPUs: "
                            f"{', '.join(d.gpus)}) has been idle since {_when(cal, d.idle_since)} "
                            f"({d.idle_hours} work hours at <= {self.cfg.rule.idle_percent:g}% GPU). It will be "
                            f"buried around {_when(cal, d.bury_at)} unless its GPUs are used or you keep it: "
                            f"`{self.cfg.keep_hint.format(name=d.vessel)}`")
                    ok = self._notify(res, "warn", d, text, [d.owner])
                    self.ledger.record(ACTOR, "idle-warning", d.vessel, d.host, idle_hours=d.idle_hours,
                                       idle_since=d.idle_since, bury_at=d.bury_at, delivered=ok)
                    res.done.append(f"warned {d.owner} about {d.vessel}")
                elif d.action == "bury":
                    self.vessels.stop(d.vessel, actor=ACTOR, final_state="buried",
                                      reason=f"idle: {d.reason}")
                    res.done.append(f"buried {d.vessel}")
                    text = (f"{self.mention(d.owner)} your vessel *{d.vessel}* on {d.host} (GPUs: "
                            f"{', '.join(d.gpus)}) was buried: idle since {_when(cal, d.idle_since)} "
                            f"({d.idle_hours} work hours). Its GPUs are back in the pool; your home is kept. "
                            "Launch a new vessel when you need one.")
                    self._notify(res, "bury", d, text, [d.owner])
                elif d.action == "reconcile":
                    state = self.vessels.reconcile(d.vessel, actor=ACTOR)
                    res.done.append(f"reconciled {d.vessel} ({state})")
                    text = (f"{self.mention(d.owner)} your vessel *{d.vessel}* on {d.host} is gone "
                            f"(container {state}, its GPU metrics stopped). The ledger now shows it as lost "
                            "and its GPUs are back in the pool.")
                    self._notify(res, "reconcile", d, text, [d.owner])
                elif d.action == "alert":
                    alerts[d.host].append(d)
            except SlipwayError as exc:
                res.failed.append(f"{d.action} {d.vessel}: {exc}")
        realert = res.now - timedelta(hours=self.cfg.admin_realert_hours)
        for host, ds in sorted(alerts.items()):
            if self._host_alerted_since(host, realert):
                continue
            gpus = sorted({u for d in ds for u in (d.missing or d.gpus)})
            text = (f"{' '.join(self.mention(a) for a in self.cfg.admins) or 'admins:'} GPU metrics are missing "
                    f"for host {host}: no {self.cfg.metric} samples in the last hour for GPUs {', '.join(gpus)} "
                    f"of running vessels {', '.join(d.vessel for d in ds)}. Check dcgm-exporter on {host} and "
                    "Prometheus's scrape of it; these vessels are not judged idle meanwhile.")
            ok = self._notify(res, "metrics-missing", None, text, list(self.cfg.admins), host=host)
            self.ledger.record(ACTOR, "metrics-missing", None, host, gpus=gpus, vessels=[d.vessel for d in ds],
                               delivered=ok)
            res.done.append(f"told admins metrics are missing for {host}")

    def mention(self, user: str) -> str:
        sid = self.cfg.slack_users.get(user)
        return f"<@{sid}>" if sid else f"@{user}"

    def _notify(self, res: RunResult, kind: str, d: Decision | None, text: str, recipients: list[str],
                host: str | None = None) -> bool:
        err = None
        try:
            self.notifier.send(text)
        except NotifyError as exc:
            err = str(exc)
            res.failed.append(f"{kind} message for {d.vessel if d else host}: {err}")
        vid = None
        if d is not None:
            v = self.ledger.vessel(d.vessel)
            vid = v.id if v else None
        self.ledger.add_notice(at=res.now, kind=kind, vessel_id=vid, vessel=d.vessel if d else None,
                               host=host or (d.host if d else None), recipients=",".join(recipients),
                               idle_since=d.idle_since if d else None, delivered=err is None, error=err)
        return err is None

    # ------------------------------------------------------------------ notices
    def notices(self) -> list[dict[str, Any]]:
        return self.ledger.notices()


def set_keep(ledger: Ledger, name: str, *, actor: Actor | str, hours: float | None = None,
             until: datetime | None = None,
             clear: bool = False, admins: Sequence[str] = (), max_hours: float = 168.0,
             now: datetime | None = None, check: bool = False) -> tuple[bool, dict[str, Any], dict[str, Any]]:
    """Set or clear a vessel's keep flag. Returns (changed, before, after).

    ``hours`` counts from now and is rounded up to the whole hour, so re-running within the same hour
    changes nothing. Only the owner or an admin may; owners may keep for at most ``max_hours``.
    """
    now = now or utcnow()
    v = ledger.vessel(name)
    if v is None or not v.active:
        raise NotFound(f"no running vessel named {name!r} (list them with `slipway vessels list`)")
    who = as_actor(actor, admins)
    require_manage(who, v.owner, "keep", name)
    before = {"name": name, "keep_until": v.keep_until.isoformat() if v.keep_until else None}
    new: datetime | None
    if clear:
        new = None
    elif until is not None:
        new = until
    elif hours is not None:
        if hours <= 0:
            raise ValidationError("hours", "must be positive", got=hours, allowed=f"0 < hours <= {max_hours:g}")
        new = now + timedelta(hours=hours)
        new = new.replace(minute=0, second=0, microsecond=0) + (timedelta(hours=1) if new.minute or new.second
                                                                 or new.microsecond else timedelta())
    else:
        raise ValidationError("hours", "say how long to keep the vessel (or clear the flag)",
                              allowed="hours=N, expires=ISO time, or state=absent")
    if new is not None:
        if new.tzinfo is None:
            raise ValidationError("expires", "needs a time zone", got=str(new), allowed="e.g. 2026-03-10T18:00:00Z")
        if new <= now:
            raise ValidationError("expires", "is in the past", got=new.isoformat(), allowed="a future time")
        limit = now + timedelta(hours=ceil(max_hours) + 1)
        if not who.admin and new > limit:
            raise ValidationError("hours", f"owners may keep a vessel for at most {max_hours:g} hours",
                                  got=round((new - now).total_seconds() / 3600, 1),
                                  allowed=f"up to {max_hours:g} (an admin may keep longer)")
    after = {"name": name, "keep_until": new.isoformat() if new else None}
    old = v.keep_until
    changed = (old is None) != (new is None) or (old is not None and new is not None and old != new)
    if changed and not check:
        ledger.update_vessel(name, who, "keep" if new else "keep-cleared", keep_until=new)
    return changed, before, after


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _when(cal: Any, t: datetime | None) -> str:
    return cal.local(t) if t else "?"
