"""Idle decisions: pure functions of the ledger's facts, the hourly GPU averages and the calendar.

The rule (README "The undertaker"):

* Time is cut into whole local hours. Walking back from the last completed hour, a vessel's idle
  streak grows by one for every *work* hour in which every one of its GPUs averaged at most the
  threshold. Idle hours outside work hours neither count nor break the streak.
* The streak ends at the first hour, work hour or not, in which any of its GPUs was busy (a GPU that
  trains all weekend is working), or had no samples (missing metrics are never idleness), or that
  began before the vessel was launched or before its last ``keep`` flag expired.
* ``window`` idle work hours: warn the owner (once per streak). ``window`` more idle work hours after
  the warning: bury. A live ``keep`` flag, a CPU-only vessel or a vessel not yet running is kept.
* An hour counts only when its samples cover it (``min_coverage``, checked by the run when it reads
  Prometheus): a partly observed hour is missing data, which ends the streak like a busy hour.
* A GPU missing from the last completed hour, or whose newest sample is older than the run's
  freshness limit (``stale``): ``probe`` (the run asks the host's Docker API and turns it into
  ``reconcile`` or ``alert``).
* The burial clock starts at the recorded warning: the run reads back far enough to see every hour
  since it, so a burial after a long pause between runs is not a second warning.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from slipway.undertaker.calendar import HOUR, WorkCalendar

ACTIONS = ("keep", "warn", "bury", "probe", "reconcile", "alert")

# Hourly GPU averages: GPU UUID -> {bucket end (epoch seconds): average utilisation in percent}
Samples = Mapping[str, Mapping[int, float]]


@dataclass(frozen=True)
class Rule:
    window_hours: int = 6
    idle_percent: float = 0.0


@dataclass(frozen=True)
class VesselFacts:
    name: str
    owner: str
    host: str
    state: str
    gpu_uuids: tuple[str, ...]
    created_at: datetime
    keep_until: datetime | None = None
    warned_at: datetime | None = None  # the newest delivered warning for this vessel (its burial clock)
    warned_idle_since: datetime | None = None  # the start of the idle streak that warning was about


@dataclass
class Decision:
    vessel: str
    owner: str
    host: str
    gpus: tuple[str, ...]
    action: str
    reason: str
    idle_hours: int = 0
    idle_since: datetime | None = None
    bury_at: datetime | None = None
    missing: tuple[str, ...] = ()
    detail: dict[str, str] = field(default_factory=dict)
    warning_closed: bool = False  # the vessel's recorded warning no longer belongs to its idle streak

    def row(self, cal: WorkCalendar) -> dict[str, str]:
        return {"vessel": self.vessel, "owner": self.owner, "host": self.host, "gpus": str(len(self.gpus)),
                "action": self.action, "idle_work_h": str(self.idle_hours),
                "idle_since": _local(cal, self.idle_since) if self.idle_since else "",
                "reason": self.reason}


def lookback_hours(rule: Rule) -> int:
    """Work hours a run must see to decide: two windows and one hour of context."""
    return 2 * rule.window_hours + 1


def decide(v: VesselFacts, buckets: Sequence[tuple[datetime, bool]], samples: Samples,
           cal: WorkCalendar, rule: Rule, now: datetime, stale: Collection[str] = ()) -> Decision:
    """What to do with one vessel. ``buckets``: completed hours, oldest first, (end, is work hour);
    ``samples``: only the hours whose samples cover them; ``stale``: GPUs with no recent sample."""
    d = Decision(v.name, v.owner, v.host, v.gpu_uuids, "keep", "")
    if v.state != "running":
        d.reason = f"{v.state}: only running vessels are judged"
        return d
    if not v.gpu_uuids:
        d.reason = "CPU-only vessel: the GPU idle rule does not apply"
        return d
    if v.keep_until is not None and v.keep_until > now:
        d.reason = f"keep flag until {cal.local(v.keep_until)}"
        d.warning_closed = v.warned_at is not None
        return d
    if not buckets or v.created_at > buckets[-1][0] - HOUR:
        d.reason = "launched less than a full hour ago"
        return d
    last = int(buckets[-1][0].timestamp())
    missing = tuple(u for u in v.gpu_uuids if last not in samples.get(u, {}) or u in stale)
    if missing:
        d.action, d.missing = "probe", missing
        late = [u for u in missing if u in stale and last in samples.get(u, {})]
        d.reason = (f"GPU samples stopped for {', '.join(late)}" if late and len(late) == len(missing) else
                    f"no GPU samples covering the last hour for {', '.join(missing)}")
        return d

    floor = v.created_at
    if v.keep_until is not None and v.keep_until > floor:
        floor = v.keep_until
    idle = 0
    after_warning = 0
    since: datetime | None = None
    stop = "history starts"
    series = [samples.get(u, _EMPTY) for u in v.gpu_uuids]
    limit = rule.idle_percent
    warned_at = v.warned_at
    for key, start, work in _walk(tuple(buckets)):
        if start < floor:
            stop = "launch" if floor == v.created_at else "keep flag ended"
            break
        busy = -1.0
        for s in series:
            x = s.get(key)
            if x is None:
                busy = -2.0
                break
            if x > busy:
                busy = x
        if busy == -2.0:
            stop = f"metrics gap at {_local(cal, start)}"
            break
        if busy > limit:
            stop = f"GPU busy ({busy:.0f}%) at {_local(cal, start)}"
            break
        if work:
            idle += 1
            since = start
            if warned_at is not None and start >= warned_at:
                after_warning += 1
    d.idle_hours, d.idle_since = idle, since
    window = rule.window_hours
    warned = v.warned_at is not None and since is not None and v.warned_at >= since
    if v.warned_at is not None and not warned and (since is None or buckets[0][0] - HOUR <= v.warned_at):
        d.warning_closed = True  # the hours since the warning were seen, and the streak broke
    if warned and v.warned_idle_since is not None and v.warned_idle_since < (since or now):
        d.idle_since = v.warned_idle_since  # the streak began before the hours read back this run
    if idle < window:
        d.reason = f"idle {idle}/{window} work hours (since {stop})" if idle else f"in use: {stop}"
        return d
    if not warned:
        d.action = "warn"
        d.bury_at = _bury_at(cal, now, window)
        d.reason = f"idle {idle} work hours since {_local(cal, since) if since else '?'}"
        return d
    assert v.warned_at is not None
    if after_warning >= window:
        d.action = "bury"
        d.reason = (f"idle {idle} work hours; warned {cal.local(v.warned_at)}, idle {after_warning} "
                    "work hours since")
        return d
    d.bury_at = _bury_at(cal, v.warned_at, window)
    d.reason = (f"warned {cal.local(v.warned_at)}; idle {after_warning}/{window} work hours since, "
                f"burial at {cal.local(d.bury_at)} unless used or kept")
    return d


_EMPTY: Mapping[int, float] = {}


@lru_cache(maxsize=16)
def _walk(buckets: tuple[tuple[datetime, bool], ...]) -> tuple[tuple[int, datetime, bool], ...]:
    """The buckets newest first as (end in epoch seconds, start, is work hour), computed once a run."""
    return tuple((int(end.timestamp()), end - HOUR, work) for end, work in reversed(buckets))


@lru_cache(maxsize=4096)
def _bury_at(cal: WorkCalendar, t: datetime, window: int) -> datetime:
    """When ``window`` work hours will have passed after the hour that follows ``t`` (a fleet shares
    a few distinct values per run, hence the cache)."""
    return cal.after_work_hours(_ceil_hour(t, cal), window)


@lru_cache(maxsize=4096)
def _local(cal: WorkCalendar, t: datetime) -> str:
    return cal.local(t)


def _ceil_hour(t: datetime, cal: WorkCalendar) -> datetime:
    f = cal.hour_floor(t)
    return f if f == t else f + timedelta(hours=1)
