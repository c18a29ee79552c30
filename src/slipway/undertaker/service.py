"""The undertaker run: read the ledger, one Prometheus query for the whole fleet, decide, act.

A run (1) applies the local record of messages sent by an interrupted run, (2) plans: the ledger's facts,
one Prometheus query, the pure rule, Docker probes for missing metrics, (3) records every intended action
and message in the ledger's outbox in one transaction, then (4) executes the outbox in order - what this
run intended and whatever an earlier run left pending (a stop whose host could not be reached, a message
Slack refused, anything a crash interrupted) - marking each entry done after it happened. Acting goes
through :class:`slipway.vessels.VesselService` (stop, probe, reconcile), so a burial is exactly what an
admin's ``stop_vessel.yml`` does. Runs are serialized by a file lock; check mode reads (the ledger,
Prometheus, the hosts' Docker APIs) and changes nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from math import ceil
from pathlib import Path
from typing import Any

from slipway.errors import NotFound, SlipwayError, ValidationError
from slipway.identity import Actor, as_actor, require_manage, system_actor
from slipway.ledger import Ledger, Vessel, utcnow
from slipway.ledger.undertaker import LOCKED, LedgerLocked, OutboxEntry, is_locked
from slipway.metrics import MetricsError, MetricsSource
from slipway.notify import Notifier, NotifyError
from slipway.table import render
from slipway.undertaker.calendar import HOUR
from slipway.undertaker.config import UndertakerConfig
from slipway.undertaker.decide import Decision, Samples, VesselFacts, decide, lookback_hours

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
    facts: dict[str, VesselFacts] = field(default_factory=dict, repr=False)
    ids: dict[str, int] = field(default_factory=dict, repr=False)

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
        # messages sent but perhaps not yet marked in the ledger (applied first by the next run)
        self.journal_path = self.lock_path.with_name(self.lock_path.name + ".sent")

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
            if not check:
                self._apply_journal()
            try:
                res = self.plan(now, store=not check)
            except MetricsError as exc:
                if not check:
                    self._prometheus_failed(now, exc)
                raise
            res.check = check
            if not check:
                t0 = time.monotonic()
                self.intend(res)
                self.execute(res)
                res.seconds["act"] = time.monotonic() - t0
        return res

    def plan(self, now: datetime, *, store: bool = False) -> RunResult:
        cfg, cal = self.cfg, self.cfg.calendar
        t0 = time.monotonic()
        facts, ids = self._running()
        warnings = self.ledger.open_warnings()
        facts = [replace(f, warned_at=warnings[ids[f.name]].at, warned_idle_since=warnings[ids[f.name]].idle_since)
                 if ids[f.name] in warnings else f for f in facts]
        # the burial clock starts at the recorded warning: read back to the oldest one still open
        oldest = min((f.warned_at for f in facts if f.warned_at is not None and f.state == "running"), default=None)
        t1 = time.monotonic()
        buckets = cal.buckets_back(now, lookback_hours(cfg.rule),
                                   back_to=oldest - HOUR if oldest is not None else None)
        q0 = self.metrics.queries
        samples, stale = self.fetch(buckets, {u for f in facts for u in f.gpu_uuids}, now, store=store)
        t2 = time.monotonic()
        decisions = [decide(f, buckets, samples, cal, cfg.rule, now, stale) for f in facts]
        t3 = time.monotonic()
        for d in decisions:
            if d.action == "probe":
                v = self.ledger.vessel(d.vessel)
                if v is not None:
                    self._resolve_probe(d, v)
        t4 = time.monotonic()
        rows = [d.row(cal) for d in decisions]
        res = RunResult(now, True, decisions, rows, render(rows, COLUMNS, empty="no running vessels"),
                        queries=self.metrics.queries - q0,
                        seconds={"ledger": t1 - t0, "prometheus": t2 - t1, "decide": t3 - t2, "probe": t4 - t3})
        res.facts = {f.name: f for f in facts}
        res.ids = ids
        return res

    # ------------------------------------------------------------------ Prometheus
    def cache_key(self) -> str:
        """What a cached hour means: the query and the coverage an hour needs to count."""
        c = self.cfg
        return (f"max by ({c.uuid_label}) (avg_over_time({c.metric}[1h])); coverage >= "
                f"{c.min_coverage_percent:g}% of {c.sample_interval_seconds:g} s samples; rows by GPU index")

    def query(self, now: datetime, last: datetime) -> str:
        """The one query: per GPU and hour the average and the sample count, and (at the last step only)
        how many samples the GPU has in the ``missing_after_minutes`` before ``now`` (none: its samples
        stopped), told apart by a ``slipway_stat`` label."""
        m, lab = self.cfg.metric, self.cfg.uuid_label
        window = f"{max(1, round(self.cfg.missing_after_minutes * 60))}s"
        avg = f'label_replace(max by ({lab}) (avg_over_time({m}[1h])), "slipway_stat", "avg", "", "")'
        cnt = f'label_replace(max by ({lab}) (count_over_time({m}[1h])), "slipway_stat", "count", "", "")'
        seen = (f'label_replace(max by ({lab}) (count_over_time({m}[{window}] @ {now.timestamp():.3f})) '
                f'and on() (vector(time()) >= {last.timestamp():.3f}), "slipway_stat", "recent", "", "")')
        return f"{avg} or {cnt} or {seen}"

    def fetch(self, buckets: Sequence[tuple[datetime, bool]], uuids: set[str], now: datetime | None = None, *,
              store: bool = False) -> tuple[Samples, set[str]]:
        """Hourly averages for every GPU of the fleet, and the GPUs whose samples stopped: ONE range query,
        whatever the fleet's size.

        Only hours whose samples cover at least ``min_coverage_percent`` are returned (a partly observed
        hour is missing data); a GPU with no sample in the ``missing_after_minutes`` before ``now`` is
        stale (missing now, whatever its completed hours say). Completed hours already read by an earlier
        run come from ``undertaker_hours`` (one row per hour: a JSON list of averages in the order of a
        GPU index kept beside it, so reading them back is one decode per hour and no per-GPU work);
        Prometheus is asked only for the hours after them (the newest hour is always asked again: late
        samples). ``store`` (not in check mode) saves what was read for the next run.
        """
        if not buckets or not uuids:
            return {}, set()
        now = now or buckets[-1][0]
        cfg = self.cfg
        label = cfg.uuid_label
        key = self.cache_key()
        first, last = buckets[0][0], buckets[-1][0]
        hours: dict[int, list[float | None]] = {}
        index: list[str] = []
        start = first
        cache = self.ledger.hour_cache(key)
        if cache is not None and cache[0] <= first <= cache[1] + HOUR and cache[1] < last:
            index = list(self.ledger.undertaker_value(INDEX_STATE) or [])
            if index:
                loads = json.loads
                hours = {end: loads(text) for end, text in self.ledger.cached_hours(first, cache[1])}
                start = cache[1] + HOUR
            else:
                cache = None
        col = {u: i for i, u in enumerate(index)}
        series = self.metrics.query_range(self.query(now, last), start, last, 3600)
        need = cfg.min_coverage_percent / 100 * 3600 / cfg.sample_interval_seconds - 1e-9
        keep_until = int((last - HOUR).timestamp())
        averages: dict[str, list[tuple[float, float]]] = {}
        counts: dict[str, dict[int, float]] = {}
        seen: dict[str, float] = {}
        for s in series:
            u = s.labels.get(label)
            if not u:
                continue
            stat = s.labels.get("slipway_stat")
            if stat == "avg":
                averages[u] = s.points
            elif stat == "count":
                counts[u] = {int(ts): val for ts, val in s.points}
            elif stat == "recent" and s.points:
                seen[u] = s.points[-1][1]
        for u in averages:
            if u not in col:
                col[u] = len(index)
                index.append(u)
        width = len(index)
        fresh: dict[int, list[float | None]] = {}
        for u, points in averages.items():
            n = counts.get(u, {})
            i = col[u]
            for ts, val in points:
                t = int(ts)
                if n.get(t, 0.0) >= need:
                    row = fresh.get(t)
                    if row is None:
                        row = fresh[t] = [None] * width
                    row[i] = val
        hours.update(fresh)
        if store:
            rows = {t: row for t, row in fresh.items() if t <= keep_until}
            self._store(key, first, start, last - HOUR, rows, cache, index)
        stale = {u for u in uuids if not seen.get(u)}
        return HourColumns(hours, col), stale

    def _store(self, expr: str, first: datetime, start: datetime, until: datetime,
               rows: dict[int, list[float | None]], cache: tuple[datetime, datetime] | None,
               index: Sequence[str]) -> None:
        if until < start:
            return
        begin = first if start == first or cache is None else max(cache[0], first)
        self.ledger.store_hours(expr, begin, first, start, until, rows, index_key=INDEX_STATE, index=list(index),
                                timeout_s=self.cfg.ledger_lock_timeout)

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
        self._updated: dict[str, datetime | None] = {}
        for row in self.ledger.active_vessel_facts():
            ids[row.name] = row.id
            self._updated[row.name] = row.updated_at
            facts.append(VesselFacts(row.name, row.owner, row.host, row.state, row.gpu_uuids, row.created_at,
                                     row.keep_until))
        return facts, ids

    # ------------------------------------------------------------------ intend
    def intend(self, res: RunResult, *, extra: Sequence[dict[str, Any]] = (),
               state: dict[str, Any] | None = None) -> None:
        """Record, in one transaction, every action and message this run means to carry out."""
        cal, cfg = self.cfg.calendar, self.cfg
        ids = res.ids
        pending = self.ledger.outbox(pending=True)
        taken = {e.key for e in pending}
        entries: list[dict[str, Any]] = list(extra)
        cancel: list[int] = []
        by_vid = {ids[d.vessel]: d for d in res.decisions if d.vessel in ids}

        def add(kind: str, topic: str, key: str, d: Decision | None, text: str = "", recipients: Sequence[str] = (),
                after: int | None = None, host: str | None = None, **detail: Any) -> int:
            entries.append({"created_at": res.now, "kind": kind, "topic": topic, "key": key,
                            "vessel_id": ids.get(d.vessel) if d else None, "vessel": d.vessel if d else None,
                            "host": host or (d.host if d else None), "recipients": ",".join(recipients),
                            "text": text, "detail": detail, "idle_since": d.idle_since if d else None,
                            "after": after})
            taken.add(key)
            return len(entries) - 1

        alerts: dict[str, list[Decision]] = defaultdict(list)
        for d in res.decisions:
            vid = ids[d.vessel]
            if d.action == "warn" and f"warn:{vid}" not in taken:
                text = (f"{self.mention(d.owner)} your vessel *{d.vessel}* on {d.host} (GPUs: "
                        f"{', '.join(d.gpus)}) has been idle since {_when(cal, d.idle_since)} "
                        f"({d.idle_hours} work hours at <= {cfg.rule.idle_percent:g}% GPU). It will be "
                        f"buried around {_when(cal, d.bury_at)} unless its GPUs are used or you keep it: "
                        f"`{cfg.keep_hint.format(name=d.vessel)}`")
                add("message", "warn", f"warn:{vid}", d, text, [d.owner])
            elif d.action == "bury" and f"bury:{vid}" not in taken:
                act = add("bury", "bury", f"bury:{vid}", d, final_state="buried", reason=f"idle: {d.reason}")
                text = (f"{self.mention(d.owner)} your vessel *{d.vessel}* on {d.host} (GPUs: "
                        f"{', '.join(d.gpus)}) was buried: idle since {_when(cal, d.idle_since)} "
                        f"({d.idle_hours} work hours). Its GPUs are back in the pool; your home is kept. "
                        "Launch a new vessel when you need one.")
                add("message", "bury", f"msg-bury:{vid}", d, text, [d.owner], after=act)
            elif d.action == "reconcile" and f"reconcile:{vid}" not in taken:
                act = add("reconcile", "reconcile", f"reconcile:{vid}", d)
                text = (f"{self.mention(d.owner)} your vessel *{d.vessel}* on {d.host} is gone "
                        f"(container {d.detail.get('container', 'gone')}, its GPU metrics stopped). The ledger "
                        "now shows it as lost and its GPUs are back in the pool.")
                add("message", "reconcile", f"msg-reconcile:{vid}", d, text, [d.owner], after=act)
            elif d.action == "alert":
                alerts[d.host].append(d)
        # a warning not yet delivered whose vessel is no longer due one is not sent any more
        for e in pending:
            if e.kind == "message" and e.topic == "warn":
                due = by_vid.get(e.vessel_id or -1)
                if due is None or due.action != "warn":
                    cancel.append(e.id)
        # a stop left unfinished (its host could not be reached) is tried again
        stuck_before = utcnow() - timedelta(minutes=cfg.stuck_stop_minutes)
        for name, f in res.facts.items():
            vid = ids[name]
            updated = self._updated.get(name)
            if f.state == "stopping" and f"bury:{vid}" not in taken and f"stop:{vid}" not in taken and \
                    updated is not None and updated <= stuck_before:
                add("stop", "stop", f"stop:{vid}", by_vid.get(vid), final_state="stopped",
                    reason="a stop that did not finish, completed by the undertaker")
        if alerts:
            alerted = self.ledger.hosts_alerted_since(res.now - timedelta(hours=cfg.admin_realert_hours))
            for host, ds in sorted(alerts.items()):
                if host in alerted or f"alert:{host}" in taken:
                    continue
                gpus = sorted({u for d in ds for u in (d.missing or d.gpus)})
                text = (f"{self.admins_mention()} GPU metrics are missing for host {host}: no recent "
                        f"{cfg.metric} samples for GPUs {', '.join(gpus)} of running vessels "
                        f"{', '.join(d.vessel for d in ds)}. Check dcgm-exporter on {host} and Prometheus's "
                        "scrape of it; these vessels are not judged idle meanwhile.")
                add("message", "metrics-missing", f"alert:{host}", None, text, cfg.admins, host=host,
                    gpus=gpus, vessels=[d.vessel for d in ds])
        # the Prometheus outage is over
        prom = self.ledger.undertaker_value(PROM_STATE)
        if prom is not None and state is None:
            state = {PROM_STATE: None}
            if prom.get("alerted"):
                text = (f"{self.admins_mention()} Prometheus at {self._prom_where()} answers again (it could not "
                        f"be read by {prom['failures']} runs since {_when(cal, _dt(prom['since']))}); the "
                        "undertaker judges vessels again.")
                add("message", "prometheus-up", f"prometheus-up:{prom['since']}", None, text, cfg.admins)
        closing = []
        warned = self.ledger.open_warnings() if any(d.warning_closed for d in res.decisions) else {}
        for d in res.decisions:
            w = warned.get(ids[d.vessel]) if d.warning_closed else None
            if w is not None:
                closing.append(w.outbox_id)
        if entries or cancel or closing or state:
            try:
                self.ledger.outbox_plan(entries, cancel=cancel, close_warnings=closing, state=state,
                                        timeout_s=cfg.ledger_lock_timeout)
            except LedgerLocked:
                raise LedgerLocked(LOCKED) from None

    # ------------------------------------------------------------------ execute
    def execute(self, res: RunResult) -> None:
        """Carry out every pending outbox entry, oldest first; each is marked done after it happened."""
        todo = self.ledger.outbox(pending=True)
        states = self.ledger.outbox_states([e.after_id for e in todo if e.after_id is not None])
        done_now: set[int] = set()
        total, finished = len(todo), 0
        while todo:
            e = todo.pop(0)
            try:
                if e.after_id is not None and e.after_id not in done_now:
                    st = states.get(e.after_id, "pending")
                    if st == "cancelled":
                        self.ledger.outbox_cancel([e.id], timeout_s=self.cfg.ledger_lock_timeout)
                        continue
                    if st != "done":
                        continue  # waits for its action (retried next run)
                ok = self._deliver(e, res) if e.kind == "message" else self._do(e, res, todo)
                if ok:
                    done_now.add(e.id)
                    finished += 1
            except Exception as exc:
                if is_locked(exc):
                    raise LedgerLocked("ledger is locked by another writer; "
                                       f"{finished} of {total} intended steps done, the rest stays in the "
                                       "outbox for the next run") from None
                raise

    def _do(self, e: OutboxEntry, res: RunResult, todo: list[OutboxEntry]) -> bool:
        name = e.vessel or ""
        try:
            v = self.ledger.vessel(name)
            gone = v is None or v.id != e.vessel_id or not v.active
            if e.kind in ("bury", "stop"):
                if not gone:
                    self.vessels.stop(name, actor=ACTOR, final_state=str(e.detail.get("final_state", "stopped")),
                                      reason=str(e.detail.get("reason", "")) or None)
                line = f"buried {name}" if e.kind == "bury" else f"finished stopping {name}"
            elif e.kind == "reconcile":
                state = "absent" if gone else self.vessels.reconcile(name, actor=ACTOR)
                if state in RUNNING_STATES:  # the container is back: nothing to reconcile, nothing to say
                    self.ledger.outbox_cancel([e.id], timeout_s=self.cfg.ledger_lock_timeout)
                    return False
                line = f"reconciled {name} ({state})"
            else:
                raise ValidationError("outbox.kind", "unknown action", got=e.kind, allowed="bury, stop, reconcile")
        except Exception as exc:
            if is_locked(exc):
                raise
            err = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            self.ledger.outbox_failed(e.id, err, timeout_s=self.cfg.ledger_lock_timeout)
            res.failed.append(f"{e.kind} {name}: {err}; it stays `stopping` (GPUs reserved) and is retried next run"
                              if e.kind != "reconcile" else f"reconcile {name}: {err}; retried next run")
            if e.kind in ("bury", "stop"):
                self._tell_stuck(e, err, res, todo)
            return False
        self.ledger.outbox_done([e.id], res.now, actor=ACTOR, timeout_s=self.cfg.ledger_lock_timeout)
        res.done.append(line)
        return True

    def _tell_stuck(self, e: OutboxEntry, err: str, res: RunResult, todo: list[OutboxEntry]) -> None:
        """Owner and admins hear once that a stop could not finish."""
        key = f"once:stuck:{e.vessel_id}"
        if self.ledger.outbox_keys([key]):
            return
        v = self.ledger.vessel(e.vessel or "")
        owner = v.owner if v else ""
        text = (f"{self.mention(owner)} {self.admins_mention()} "
                f"{'the burial' if e.kind == 'bury' else 'the stop'} of vessel *{e.vessel}* on {e.host} could "
                f"not finish: its host cannot be reached ({err}). The vessel stays `stopping` and its GPUs stay "
                "reserved until its container is really gone; the undertaker tries again every run. An admin "
                f"can release it by force: `slipway undertaker release {e.vessel} --force --reason '...'`.")
        self.ledger.outbox_plan([{"created_at": res.now, "kind": "message", "topic": "stop-stuck", "key": key,
                                  "vessel_id": e.vessel_id, "vessel": e.vessel, "host": e.host,
                                  "recipients": ",".join([owner, *self.cfg.admins]), "text": text,
                                  "detail": {"error": err}}], timeout_s=self.cfg.ledger_lock_timeout)
        todo[:0] = [x for x in self.ledger.outbox(pending=True) if x.key == key]

    def _deliver(self, e: OutboxEntry, res: RunResult) -> bool:
        who = e.vessel or e.host or "admins"
        try:
            self.notifier.send(e.text)
        except NotifyError as exc:
            self.ledger.outbox_failed(e.id, str(exc), timeout_s=self.cfg.ledger_lock_timeout)
            res.failed.append(f"{e.topic} message for {who}: {exc}; kept in the outbox and sent by the next run")
            return False
        self._journal(e.id, res.now)
        self.ledger.outbox_done([e.id], res.now, actor=ACTOR, timeout_s=self.cfg.ledger_lock_timeout)
        res.done.append(_DONE.get(e.topic, "sent {topic} message about {who}").format(
            topic=e.topic, who=who, to=e.recipients.replace(",", ", ")))
        return True

    # ------------------------------------------------------------------ journal of sent messages
    def _journal(self, oid: int, at: datetime) -> None:
        with self.journal_path.open("a") as fh:
            fh.write(f"{oid} {at.isoformat()}\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _apply_journal(self) -> None:
        """Mark the messages an interrupted run sent (and could not mark) as delivered, then forget them."""
        try:
            lines = self.journal_path.read_text().splitlines()
        except FileNotFoundError:
            return
        by_at: dict[datetime, list[int]] = defaultdict(list)
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit():
                by_at[_dt(parts[1])].append(int(parts[0]))
        for at, oids in by_at.items():
            self.ledger.outbox_done(oids, at, actor=ACTOR, timeout_s=self.cfg.ledger_lock_timeout)
        self.journal_path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ Prometheus down
    def _prometheus_failed(self, now: datetime, exc: MetricsError) -> None:
        cfg = self.cfg
        prom = self.ledger.undertaker_value(PROM_STATE) or {"failures": 0, "since": now.isoformat(), "alerted": False}
        prom = {**prom, "failures": int(prom["failures"]) + 1, "last_error": str(exc)}
        extra: list[dict[str, Any]] = []
        if prom["failures"] >= cfg.prometheus_alert_after_runs and not prom.get("alerted"):
            prom["alerted"] = True
            text = (f"{self.admins_mention()} the undertaker could not read Prometheus in its last "
                    f"{prom['failures']} runs (since {_when(cfg.calendar, _dt(prom['since']))}): {exc} No vessel "
                    "is judged, warned or buried until it answers again.")
            extra.append({"created_at": now, "kind": "message", "topic": "prometheus-down",
                          "key": f"prometheus-down:{prom['since']}", "recipients": ",".join(cfg.admins),
                          "text": text, "detail": {"failures": prom["failures"]}})
        self.ledger.outbox_plan(extra, state={PROM_STATE: prom}, timeout_s=cfg.ledger_lock_timeout)
        res = RunResult(now, False, [], [], "")
        self.execute(res)
        self.last_failure = res

    def _prom_where(self) -> str:
        from slipway.metrics import safe_base

        return safe_base(self.cfg.prometheus_url)

    # ------------------------------------------------------------------ words
    def mention(self, user: str) -> str:
        sid = self.cfg.slack_users.get(user)
        return f"<@{sid}>" if sid else f"@{user}"

    def admins_mention(self) -> str:
        return " ".join(self.mention(a) for a in self.cfg.admins) or "admins:"

    def notices(self) -> list[dict[str, Any]]:
        return self.ledger.notices()

    def outbox(self) -> list[OutboxEntry]:
        return self.ledger.outbox()


PROM_STATE = "prometheus"
INDEX_STATE = "hour-index"  # the GPU order of the cached hours' lists


class _Column(Mapping[int, float]):
    """One GPU's hourly averages, read in place from the hour rows (no per-GPU copy)."""

    __slots__ = ("_hours", "_i")

    def __init__(self, hours: dict[int, list[float | None]], i: int) -> None:
        self._hours = hours
        self._i = i

    def get(self, key: int, default: Any = None) -> Any:
        row = self._hours.get(key)
        if row is None or self._i >= len(row):
            return default
        v = row[self._i]
        return default if v is None else v

    def __getitem__(self, key: int) -> float:
        v = self.get(key)
        if v is None:
            raise KeyError(key)
        return float(v)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and self.get(key) is not None

    def __iter__(self) -> Iterator[int]:
        return (k for k in self._hours if self.get(k) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class HourColumns(Mapping[str, Mapping[int, float]]):
    """GPU UUID -> {hour end: average}, over hour rows aligned to a GPU index (see ``fetch``)."""

    def __init__(self, hours: dict[int, list[float | None]], col: dict[str, int]) -> None:
        self._hours = hours
        self._col = col

    def get(self, key: str, default: Any = None) -> Any:
        i = self._col.get(key)
        return default if i is None else _Column(self._hours, i)

    def __getitem__(self, key: str) -> Mapping[int, float]:
        return _Column(self._hours, self._col[key])

    def __contains__(self, key: object) -> bool:
        return key in self._col

    def __iter__(self) -> Iterator[str]:
        return iter(self._col)

    def __len__(self) -> int:
        return len(self._col)
_DONE = {"warn": "warned {to} about {who}", "bury": "told {to} that {who} was buried",
         "reconcile": "told {to} that {who} is gone", "metrics-missing": "told admins metrics are missing for {who}",
         "stop-stuck": "told {to} that stopping {who} could not finish",
         "prometheus-down": "told admins Prometheus cannot be read",
         "prometheus-up": "told admins Prometheus answers again"}


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


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
