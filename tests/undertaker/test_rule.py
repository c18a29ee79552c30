"""The work-hour calendar and the idle rule: plain parametrized and property tests (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slipway.errors import ValidationError
from slipway.undertaker.calendar import HOUR, WorkCalendar
from slipway.undertaker.config import UndertakerConfig
from slipway.undertaker.decide import Rule, VesselFacts, decide, lookback_hours

LONDON = WorkCalendar.parse({"timezone": "Europe/London", "start_hour": 9, "end_hour": 17})
NEW_YORK = WorkCalendar.parse({"timezone": "America/New_York", "start_hour": 9, "end_hour": 17})
HOLIDAY = WorkCalendar.parse({"timezone": "Europe/London", "holidays": ["2026-03-09"]})
RULE = Rule(window_hours=6, idle_percent=0.0)
GPU = ("GPU-a",)


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def local(cal: WorkCalendar, *a: int) -> datetime:
    return datetime(*a, tzinfo=cal.tz).astimezone(UTC)


# ---------------------------------------------------------------- calendar
@pytest.mark.parametrize("cal", [LONDON, NEW_YORK], ids=["london", "new-york-across-dst"])
def test_friday_afternoon_and_monday_morning_are_six_work_hours(cal: WorkCalendar) -> None:
    # 2026-03-06 is a Friday; New York moves its clocks on Sunday 2026-03-08.
    fri_15, mon_13 = local(cal, 2026, 3, 6, 15), local(cal, 2026, 3, 9, 13)
    assert cal.work_hours_between(fri_15, mon_13) == 6
    assert cal.after_work_hours(fri_15, 6) == mon_13


def test_holiday_does_not_count() -> None:
    fri_15 = local(HOLIDAY, 2026, 3, 6, 15)
    assert HOLIDAY.work_hours_between(fri_15, local(HOLIDAY, 2026, 3, 9, 13)) == 2  # Monday is a holiday
    assert HOLIDAY.after_work_hours(fri_15, 6) == local(HOLIDAY, 2026, 3, 10, 13)


def test_half_hour_time_zone_cuts_hours_at_local_boundaries() -> None:
    cal = WorkCalendar.parse({"timezone": "Asia/Kolkata"})
    assert cal.hour_floor(utc(2026, 3, 9, 4, 10)) == utc(2026, 3, 9, 3, 30)  # 09:40 IST -> 09:00 IST
    assert cal.is_work_hour(utc(2026, 3, 9, 3, 30)) and not cal.is_work_hour(utc(2026, 3, 9, 2, 30))


def test_buckets_back_reach_enough_work_hours_over_a_weekend() -> None:
    b = LONDON.buckets_back(utc(2026, 3, 9, 13, 20), 13)
    assert b[-1] == (utc(2026, 3, 9, 13), True)  # the last completed hour ends at 13:00
    assert sum(w for _, w in b) == 13
    assert b[0][0] == utc(2026, 3, 5, 17)  # Thu 16:00-17:00 is the 13th work hour back


@pytest.mark.parametrize(("spec", "field", "words"), [
    ({"timezone": "Mars/Olympus"}, "undertaker_calendar.timezone", "unknown time zone"),
    ({"start_hour": 17, "end_hour": 9}, "undertaker_calendar.end_hour", "must be after start_hour"),
    ({"start_hour": 9, "end_hour": 9}, "undertaker_calendar.end_hour", "must be after start_hour"),
    ({"start_hour": 25}, "undertaker_calendar.start_hour", "out of range"),
    ({"weekdays": ["mon", "funday"]}, "undertaker_calendar.weekdays", "unknown day"),
    ({"holidays": ["next tuesday"]}, "undertaker_calendar.holidays", "not a date"),
    ({"timzone": "UTC"}, "undertaker_calendar.timzone", "unknown calendar setting"),
])
def test_bad_calendar_names_the_field(spec: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as e:
        WorkCalendar.parse(spec, "undertaker_calendar")
    assert e.value.field == field and words in str(e.value) and "allowed" in str(e.value)


@pytest.mark.parametrize(("opts", "field"), [
    ({}, "undertaker_prometheus_url"),
    ({"prometheus_url": "http://p:9090", "window_hours": 0}, "undertaker_window_hours"),
    ({"prometheus_url": "http://p:9090", "window_hours": 2.5}, "undertaker_window_hours"),
    ({"prometheus_url": "http://p:9090", "idle_percent": 101}, "undertaker_idle_percent"),
    ({"prometheus_url": "http://p:9090", "uuid_label": "bad-label"}, "undertaker_uuid_label"),
])
def test_bad_config_names_the_field(opts: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as e:
        UndertakerConfig.parse(opts)
    assert e.value.field == field


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 1)),
       st.integers(0, 24 * 20 * 60), st.integers(0, 24 * 20 * 60))
def test_work_hours_are_additive(a: datetime, m1: int, m2: int) -> None:
    a = a.replace(tzinfo=UTC)
    b, c = a + timedelta(minutes=m1), a + timedelta(minutes=m1 + m2)
    total = NEW_YORK.work_hours_between(a, c)
    assert total == pytest.approx(NEW_YORK.work_hours_between(a, b) + NEW_YORK.work_hours_between(b, c))


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 1)), st.integers(1, 40))
def test_after_work_hours_inverts_work_hours_between(a: datetime, h: int) -> None:
    a = a.replace(tzinfo=UTC)
    end = HOLIDAY.after_work_hours(a, h)
    assert HOLIDAY.work_hours_between(a, end) == pytest.approx(h)


# ---------------------------------------------------------------- the rule
def history(cal: WorkCalendar, now: datetime, gpus: tuple[str, ...], busy: dict[datetime, float] | None = None,
            gaps: set[datetime] = frozenset(), rule: Rule = RULE, back_to: datetime | None = None,  # type: ignore[assignment]
            ) -> tuple[list[tuple[datetime, bool]], dict[str, dict[int, float]]]:
    """Hourly averages: idle everywhere except ``busy`` hours (keyed by local bucket start), no ``gaps``."""
    buckets = cal.buckets_back(now, lookback_hours(rule), back_to=back_to)
    samples: dict[str, dict[int, float]] = {g: {} for g in gpus}
    for end, _ in buckets:
        start = end - HOUR
        if start in gaps:
            continue
        for g in gpus:
            samples[g][int(end.timestamp())] = (busy or {}).get(start, 0.0)
    return buckets, samples


def vessel(gpus: tuple[str, ...] = GPU, **kw: object) -> VesselFacts:
    base: dict[str, object] = dict(name="v1", owner="alice", host="gpu-01", state="running", gpu_uuids=gpus,
                                   created_at=utc(2026, 3, 1))
    base.update(kw)
    return VesselFacts(**base)  # type: ignore[arg-type]


def run(v: VesselFacts, now: datetime, cal: WorkCalendar = LONDON, **kw: object) -> object:
    buckets, samples = history(cal, now, v.gpu_uuids, **kw)  # type: ignore[arg-type]
    return decide(v, buckets, samples, cal, RULE, now)


def test_idle_across_the_weekend_warns_on_monday_13() -> None:
    d = run(vessel(), local(LONDON, 2026, 3, 9, 13), busy={local(LONDON, 2026, 3, 6, 14): 40.0})
    assert (d.action, d.idle_hours, d.idle_since) == ("warn", 6, local(LONDON, 2026, 3, 6, 15))
    assert d.bury_at == local(LONDON, 2026, 3, 9, 13) + timedelta(hours=4) + timedelta(hours=16 + 2)  # Tue 11:00
    d = run(vessel(), local(LONDON, 2026, 3, 9, 12), busy={local(LONDON, 2026, 3, 6, 14): 40.0})
    assert (d.action, d.idle_hours) == ("keep", 5)


def test_idle_across_a_holiday_counts_the_next_day() -> None:
    now = local(HOLIDAY, 2026, 3, 10, 13)
    d = run(vessel(), now, HOLIDAY, busy={local(HOLIDAY, 2026, 3, 6, 14): 40.0})
    assert (d.action, d.idle_hours) == ("warn", 6)
    assert run(vessel(), now - HOUR, HOLIDAY, busy={local(HOLIDAY, 2026, 3, 6, 14): 40.0}).action == "keep"


@pytest.mark.parametrize("busy_at", [(2026, 3, 9, 10), (2026, 3, 7, 12)], ids=["work-hour", "saturday"])
def test_activity_in_the_middle_resets(busy_at: tuple[int, ...]) -> None:
    d = run(vessel(), local(LONDON, 2026, 3, 9, 13), busy={local(LONDON, *busy_at): 3.0})
    assert d.action == "keep" and d.idle_hours < 6 and "GPU busy" in d.reason


def test_one_busy_gpu_of_two_keeps_the_vessel() -> None:
    v = vessel(gpus=("GPU-a", "GPU-b"))
    now = local(LONDON, 2026, 3, 9, 13)
    buckets, samples = history(LONDON, now, v.gpu_uuids)
    samples["GPU-b"][int(local(LONDON, 2026, 3, 9, 11).timestamp())] = 55.0
    d = decide(v, buckets, samples, LONDON, RULE, now)
    assert d.action == "keep" and d.idle_hours == 2  # busy in the hour ending 11:00


def test_warn_then_bury_after_six_more_work_hours() -> None:
    warned = local(LONDON, 2026, 3, 9, 13)
    v = vessel(warned_at=warned)
    still = run(v, local(LONDON, 2026, 3, 10, 10), busy={local(LONDON, 2026, 3, 6, 14): 40.0})
    assert still.action == "keep" and "warned" in still.reason and still.bury_at == local(LONDON, 2026, 3, 10, 11)
    d = run(v, local(LONDON, 2026, 3, 10, 11), busy={local(LONDON, 2026, 3, 6, 14): 40.0})
    assert (d.action, d.idle_hours) == ("bury", 12)


def test_a_warning_from_an_earlier_streak_does_not_count() -> None:
    v = vessel(warned_at=local(LONDON, 2026, 3, 6, 10))
    d = run(v, local(LONDON, 2026, 3, 9, 13), busy={local(LONDON, 2026, 3, 6, 14): 40.0})
    assert d.action == "warn"


@pytest.mark.parametrize(("kw", "words"), [
    (dict(keep_until=utc(2026, 3, 12)), "keep flag until"),
    (dict(gpu_uuids=()), "CPU-only"),
    (dict(state="starting"), "only running vessels"),
    (dict(created_at=utc(2026, 3, 10, 16, 30)), "less than a full hour"),
])
def test_kept(kw: dict[str, object], words: str) -> None:
    d = run(vessel(**kw), local(LONDON, 2026, 3, 10, 17))
    assert d.action == "keep" and words in d.reason


def test_hours_before_launch_or_before_keep_expired_do_not_count() -> None:
    now = local(LONDON, 2026, 3, 9, 13)
    assert run(vessel(created_at=local(LONDON, 2026, 3, 9, 10)), now).idle_hours == 3
    assert run(vessel(keep_until=local(LONDON, 2026, 3, 9, 11, 30)), now).idle_hours == 1


def test_missing_samples_are_never_idleness() -> None:
    now = local(LONDON, 2026, 3, 9, 13)
    d = run(vessel(), now, gaps={local(LONDON, 2026, 3, 9, 12)})
    assert d.action == "probe" and d.missing == GPU and d.idle_hours == 0
    d = run(vessel(), now, gaps={local(LONDON, 2026, 3, 9, 10)})  # a gap in the middle ends the streak
    assert d.action == "keep" and d.idle_hours == 2 and "metrics gap" in d.reason


@pytest.mark.parametrize("pause_days", [0, 1, 2, 5])
def test_sparse_the_burial_clock_starts_at_the_recorded_warning_whatever_the_pause(pause_days: int) -> None:
    warned = local(LONDON, 2026, 3, 9, 13)
    v = vessel(warned_at=warned, warned_idle_since=local(LONDON, 2026, 3, 6, 15))
    now = local(LONDON, 2026, 3, 10, 11) + timedelta(days=pause_days)
    fri_14 = {local(LONDON, 2026, 3, 6, 14): 40.0}
    buckets, samples = history(LONDON, now, v.gpu_uuids, busy=fri_14, back_to=warned - HOUR)
    d = decide(v, buckets, samples, LONDON, RULE, now)
    assert d.action == "bury" and d.idle_since == local(LONDON, 2026, 3, 6, 15)
    # the same run without reading back to the warning would have warned a second time
    short, s2 = history(LONDON, now, v.gpu_uuids, busy=fri_14)
    if pause_days >= 1:
        assert decide(v, short, s2, LONDON, RULE, now).action == "warn"


def test_detection_a_stale_gpu_is_probed_even_with_a_complete_last_hour() -> None:
    now = local(LONDON, 2026, 3, 9, 11, 30)
    buckets, samples = history(LONDON, now, GPU)
    d = decide(vessel(), buckets, samples, LONDON, RULE, now, stale={"GPU-a"})
    assert d.action == "probe" and d.missing == GPU and "samples stopped" in d.reason


def test_a_warning_whose_streak_broke_is_closed() -> None:
    warned = local(LONDON, 2026, 3, 9, 13)
    v = vessel(warned_at=warned)
    now = local(LONDON, 2026, 3, 10, 11)
    buckets, samples = history(LONDON, now, GPU, busy={local(LONDON, 2026, 3, 9, 15): 50.0}, back_to=warned - HOUR)
    d = decide(v, buckets, samples, LONDON, RULE, now)
    assert d.action == "keep" and d.warning_closed
    assert not decide(v, *history(LONDON, now, GPU, back_to=warned - HOUR), LONDON, RULE, now).warning_closed


hours = st.sampled_from([local(LONDON, 2026, 3, d, h) for d in (5, 6, 7, 8, 9, 10) for h in range(24)])


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(hours, st.sampled_from([0.0, 0.5, 30.0]), max_size=6), st.sets(hours, max_size=4),
       st.integers(0, 40), st.one_of(st.none(), hours))
def test_rule_properties(busy: dict[datetime, float], gaps: set[datetime], step: int,
                         warned: datetime | None) -> None:
    now = local(LONDON, 2026, 3, 9, 9) + timedelta(hours=step)
    v = vessel(gpus=("GPU-a", "GPU-b"), warned_at=warned)
    buckets, samples = history(LONDON, now, v.gpu_uuids, busy=busy, gaps=gaps)
    d = decide(v, buckets, samples, LONDON, RULE, now)
    assert d.action in ("keep", "warn", "bury", "probe")
    if d.action == "bury":  # never without a warning in this streak, and a full window after it
        assert warned is not None and d.idle_since is not None and warned >= d.idle_since
        assert d.idle_hours >= 6
    if d.action == "warn":
        assert d.idle_hours >= 6 and not (warned is not None and d.idle_since and warned >= d.idle_since)
    if d.action in ("warn", "bury"):  # every counted hour had samples for every GPU and none was busy
        assert d.idle_since is not None
        for end, _ in buckets:
            if end - HOUR >= d.idle_since:
                assert all(samples[g].get(int(end.timestamp())) == 0.0 for g in v.gpu_uuids)
    # more activity never makes a vessel look idler
    busier = {**busy, now - HOUR - HOUR: 30.0}
    b2, s2 = history(LONDON, now, v.gpu_uuids, busy=busier, gaps=gaps)
    assert decide(v, b2, s2, LONDON, RULE, now).idle_hours <= d.idle_hours


def test_no_i_o_at_scale() -> None:
    now = local(LONDON, 2026, 3, 9, 13)
    buckets, samples = history(LONDON, now, tuple(f"GPU-{i}" for i in range(2000)))
    ds = [decide(vessel(gpus=(f"GPU-{i}",), name=f"v{i}"), buckets, samples, LONDON, RULE, now)
          for i in range(2000)]
    assert {d.action for d in ds} == {"warn"}
    assert date(2026, 3, 9) == now.date()
