"""The work-hour calendar: which hours of the week count towards idleness.

Time is cut into whole local hours ("buckets") in the calendar's time zone. A bucket is a work hour
when its local start falls on a work weekday, is not a holiday, and ``start_hour <= hour < end_hour``.
Everything here is pure: no clock, no I/O; ``now`` is always passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from slipway.errors import ValidationError

HOUR = timedelta(hours=1)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# How far back a run may look for a streak (Prometheus keeps 15 days by default; 11,000 points per
# series per query is its limit, far above 24 x 14).
MAX_LOOKBACK_HOURS = 24 * 14


@dataclass(frozen=True)
class WorkCalendar:
    weekdays: frozenset[int]  # 0 = Monday
    start_hour: int
    end_hour: int
    timezone: str
    holidays: frozenset[date]

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def parse(cls, spec: Mapping[str, Any], field: str = "undertaker_calendar") -> WorkCalendar:
        """Validate a calendar from configuration; every error names the field and what is allowed."""
        known = {"weekdays", "start_hour", "end_hour", "timezone", "holidays"}
        extra = sorted(set(spec) - known)
        if extra:
            raise ValidationError(f"{field}.{extra[0]}", "unknown calendar setting", allowed=sorted(known))
        tzname = str(spec.get("timezone", "UTC"))
        try:
            ZoneInfo(tzname)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"{field}.timezone", "unknown time zone", got=tzname,
                                  allowed="an IANA name such as Europe/London, America/New_York or UTC"
                                  ) from None
        if tzname not in available_timezones() and tzname != "UTC":
            raise ValidationError(f"{field}.timezone", "unknown time zone", got=tzname,
                                  allowed="an IANA name such as Europe/London, America/New_York or UTC")
        start = _hour(spec.get("start_hour", 9), f"{field}.start_hour", 0, 23)
        end = _hour(spec.get("end_hour", 17), f"{field}.end_hour", 1, 24)
        if end <= start:
            raise ValidationError(f"{field}.end_hour", f"must be after start_hour ({start})", got=end,
                                  allowed=f"{start + 1}..24")
        days = spec.get("weekdays", ["mon", "tue", "wed", "thu", "fri"])
        if isinstance(days, str) or not isinstance(days, Iterable):
            raise ValidationError(f"{field}.weekdays", "must be a list of day names", got=days,
                                  allowed=WEEKDAYS)
        wd: set[int] = set()
        for d in days:
            key = str(d).strip().lower()[:3]
            if key not in WEEKDAYS:
                raise ValidationError(f"{field}.weekdays", "unknown day", got=d, allowed=WEEKDAYS)
            wd.add(WEEKDAYS.index(key))
        if not wd:
            raise ValidationError(f"{field}.weekdays", "at least one work day is needed", allowed=WEEKDAYS)
        hol: set[date] = set()
        for h in spec.get("holidays") or ():
            if isinstance(h, datetime):
                hol.add(h.date())
            elif isinstance(h, date):
                hol.add(h)
            else:
                try:
                    hol.add(date.fromisoformat(str(h)))
                except ValueError:
                    raise ValidationError(f"{field}.holidays", "not a date", got=h,
                                          allowed="ISO dates, e.g. 2026-12-25") from None
        return cls(frozenset(wd), start, end, tzname, frozenset(hol))

    # ------------------------------------------------------------------ hours
    def is_work_hour(self, bucket_start: datetime) -> bool:
        """Whether the local hour starting at ``bucket_start`` (aware) is a work hour."""
        local = bucket_start.astimezone(self.tz)
        return (local.weekday() in self.weekdays and local.date() not in self.holidays
                and self.start_hour <= local.hour < self.end_hour)

    def hour_floor(self, t: datetime) -> datetime:
        """The start (UTC) of the local hour that contains ``t``."""
        local = _aware(t).astimezone(self.tz)
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)

    def buckets_back(self, now: datetime, work_hours: int, max_hours: int = MAX_LOOKBACK_HOURS,
                     back_to: datetime | None = None) -> list[tuple[datetime, bool]]:
        """Completed hour buckets before ``now``, oldest first, as (bucket end in UTC, is work hour):
        enough of them to hold ``work_hours`` work hours and to start at or before ``back_to``, at most
        ``max_hours`` buckets."""
        end = self.hour_floor(now)
        out: list[tuple[datetime, bool]] = []
        work = 0
        floor = _aware(back_to) if back_to is not None else None
        while (work < work_hours or (floor is not None and end - HOUR > floor)) and len(out) < max_hours:
            w = self.is_work_hour(end - HOUR)
            out.append((end, w))
            work += w
            end -= HOUR
        out.reverse()
        return out

    def work_hours_between(self, a: datetime, b: datetime) -> float:
        """Work time in [a, b), in hours (partial hours count pro rata)."""
        a, b = _aware(a), _aware(b)
        if b <= a:
            return 0.0
        total = 0.0
        t = self.hour_floor(a)
        while t < b:
            nxt = t + HOUR
            if self.is_work_hour(t):
                total += (min(nxt, b) - max(t, a)).total_seconds() / 3600
            t = nxt
        return total

    def after_work_hours(self, t: datetime, hours: float, max_hours: int = 24 * 60) -> datetime:
        """The instant at which ``hours`` more work hours will have passed after ``t``."""
        t = _aware(t)
        left = hours
        cur = t
        for _ in range(max_hours):
            if left <= 0:
                return cur
            bucket = self.hour_floor(cur)
            nxt = bucket + HOUR
            if self.is_work_hour(bucket):
                span = (nxt - cur).total_seconds() / 3600
                if span >= left:
                    return cur + timedelta(hours=left)
                left -= span
            cur = nxt
        return cur

    def work_hours(self, a: datetime, b: datetime) -> Iterator[datetime]:
        """Starts (UTC) of the work-hour buckets in [a, b)."""
        t = self.hour_floor(a)
        while t < b:
            if t >= a and self.is_work_hour(t):
                yield t
            t += HOUR

    def local(self, t: datetime) -> str:
        """``t`` as people in this calendar read it: 'Fri 2026-03-06 15:00 GMT'."""
        return _aware(t).astimezone(self.tz).strftime("%a %Y-%m-%d %H:%M %Z")

    def describe(self) -> str:
        days = ",".join(WEEKDAYS[d] for d in sorted(self.weekdays))
        hol = f", {len(self.holidays)} holidays" if self.holidays else ""
        return f"{days} {self.start_hour:02d}:00-{self.end_hour:02d}:00 {self.timezone}{hol}"


def _hour(value: Any, field: str, lo: int, hi: int) -> int:
    try:
        h = int(value)
        if h != float(value):
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationError(field, "must be a whole hour", got=value, allowed=f"{lo}..{hi}") from None
    if not lo <= h <= hi:
        raise ValidationError(field, "out of range", got=value, allowed=f"{lo}..{hi}")
    return h


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)
