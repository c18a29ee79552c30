"""The undertaker under faults and time zones (issue 15): offsets and DST, unreachable hosts, the outbox
(crashes, a locked ledger, Slack errors), partly observed hours, vanished metrics, sparse runs, an
unreachable Prometheus. Real Prometheus (promtool-loaded history), real dockerd, the Slack receiver, and the
ledger on SQLite and PostgreSQL where the defect is about storage."""

from __future__ import annotations

import contextlib
import io
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from slipway.errors import PermissionDenied, ValidationError
from slipway.identity import Actor
from slipway.ledger import Ledger
from slipway.metrics import MetricsError
from slipway.notify import notifier
from slipway.undertaker import Undertaker, parse_now, set_keep
from slipway.vessels import Settings, VesselService
from tests.harness.procs import free_port
from tests.undertaker.conftest import CALENDAR, RecordingProm, Site, at

pytestmark = pytest.mark.docker

NEW_YORK = {**CALENDAR, "timezone": "America/New_York"}  # DST starts Sun 2026-03-08 02:00 EST
ADMIN = Actor("root-admin", admin=True)


def actions(res: Any) -> dict[str, str]:
    return {d.vessel: d.action for d in res.decisions}


def by_name(res: Any) -> dict[str, Any]:
    return {d.vessel: d for d in res.decisions}


# ---------------------------------------------------------------- 1. offsets and DST
def test_offset_now_and_keep_until_both_sides_of_utc_across_dst(any_site: Site) -> None:
    s = any_site
    s.vessel("tz-bury", ["GPU-idle-0"])
    s.vessel("tz-west", ["GPU-idle-1"])
    s.vessel("tz-east", ["GPU-idle-2"])
    # keep flags given west and east of UTC: Mon 10:00 EDT and Mon 11:00 EDT
    set_keep(s.ledger, "tz-west", actor="alice", until=parse_now("2026-03-09T10:00:00-04:00"), now=at(6, 20))
    set_keep(s.ledger, "tz-east", actor="alice", until=parse_now("2026-03-10T00:00:00+09:00"), now=at(6, 20))
    for name, want in (("tz-west", at(9, 14)), ("tz-east", at(9, 15))):
        v = s.ledger.vessel(name)
        assert v is not None and v.keep_until == want and v.keep_until.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    u = s.undertaker(calendar=NEW_YORK)

    def run(now: str) -> dict[str, Any]:
        return by_name(u.run(parse_now(now)))

    # GPU idle from Fri 10:00 EST (15:00 UTC): six idle work hours at Fri 16:00 EST, not one minute before
    got = run("2026-03-06T15:30:00-05:00")
    assert got["tz-bury"].action == "keep" and got["tz-bury"].idle_hours == 5
    got = run("2026-03-06T16:00:00-05:00")
    assert got["tz-bury"].action == "warn" and "keep flag until" in got["tz-west"].reason
    assert "buried around Mon 2026-03-09 14:00 EDT" in s.slack.texts()[0]
    got = run("2026-03-08T12:00:00+09:00")  # Saturday night in New York, before the DST change
    assert got["tz-bury"].action == "keep" and "warned Fri 2026-03-06 16:00 EST" in got["tz-bury"].reason
    got = run("2026-03-09T13:30:00-04:00")  # after the change: Fri 16-17 EST + Mon 09-13 EDT = 5 after the warning
    assert got["tz-bury"].action == "keep" and "idle 5/6 work hours since" in got["tz-bury"].reason
    assert got["tz-west"].idle_hours == 3 and got["tz-east"].idle_hours == 2  # counted from each flag's expiry
    got = run("2026-03-10T03:00:00+09:00")  # = Mon 14:00 EDT: exactly 6 work hours after the warning
    assert got["tz-bury"].action == "bury"
    assert "idle since Fri 2026-03-06 10:00 EST" in s.slack.texts()[-1]
    got = run("2026-03-09T15:30:00-04:00")
    assert got["tz-west"].action == "keep" and got["tz-west"].idle_hours == 5
    got = run("2026-03-09T20:00:00Z")  # Mon 16:00 EDT: 10:00-16:00 after the western flag
    assert got["tz-west"].action == "warn" and got["tz-east"].action == "keep" and got["tz-east"].idle_hours == 5
    got = run("2026-03-10T06:00:00+09:00")  # Mon 17:00 EDT: 11:00-17:00 after the eastern flag
    assert got["tz-east"].action == "warn"
    warned = {n["vessel"]: n["at"] for n in u.notices() if n["kind"] == "warn"}
    assert warned == {"tz-bury": at(6, 21), "tz-west": at(9, 20), "tz-east": at(9, 21)}
    assert all(t.utcoffset().total_seconds() == 0 for t in warned.values())


# ---------------------------------------------------------------- 2. unreachable hosts
def _unreachable(s: Site, name: str, gpus: list[str]) -> None:
    s.ledger.sync_hosts([s.host_spec(name, gpus, docker_url=f"tcp://127.0.0.1:{free_port()}")])
    s.svc.close()  # forget the engine made for the old address


def _reachable(s: Site, name: str, gpus: list[str]) -> None:
    s.ledger.sync_hosts([s.host_spec(name, gpus)])
    s.svc.close()


def test_unreachable_host_burial_stays_stopping_is_retried_and_finishes(site: Site, tiny_image: str) -> None:
    s = site
    s.vessel("nb-far", ["GPU-idle-1"])
    s.container("nb-far", tiny_image)
    u = s.undertaker()
    assert actions(u.run(at(9, 13))) == {"nb-far": "warn"}
    _unreachable(s, "nb-far", ["GPU-idle-1"])
    res = u.run(at(10, 11))
    assert actions(res) == {"nb-far": "bury"} and res.failed and "stays `stopping`" in res.failed[0]
    assert not any(line.startswith("buried") for line in res.done)
    v = s.ledger.vessel("nb-far")
    assert v is not None and v.state == "stopping"
    assert s.ledger.allocations()["gpus"] == [("GPU-idle-1", "nb-far")]  # still reserved: the container may run
    stuck = s.slack.texts()[-1]
    assert "<@U0ALICE>" in stuck and "@root-admin" in stuck and "could not finish" in stuck and len(s.slack.posts) == 2
    res = u.run(at(10, 11, 30))  # retried; still unreachable; nobody is told twice
    assert res.failed and len(s.slack.posts) == 2 and s.ledger.vessel("nb-far").state == "stopping"  # type: ignore[union-attr]
    _reachable(s, "nb-far", ["GPU-idle-1"])
    res = u.run(at(10, 12))
    assert "buried nb-far" in res.done and res.failed == []
    v = s.ledger.vessel("nb-far")
    assert v is not None and v.state == "buried" and s.ledger.allocations()["gpus"] == []
    assert s.container_state("nb-far") is None  # really gone
    assert "was buried" in s.slack.texts()[-1] and "idle since Fri 2026-03-06 15:00 GMT" in s.slack.texts()[-1]
    assert len(s.slack.posts) == 3
    u.run(at(10, 12, 30))
    assert len(s.slack.posts) == 3


def test_unreachable_stop_is_finished_by_the_next_run_or_released_by_force(site: Site, tiny_image: str) -> None:
    from slipway.undertaker.release import force_release

    s = site
    s.vessel("nb-stop", ["GPU-busy-0"])
    s.container("nb-stop", tiny_image)
    s.vessel("nb-dead", ["GPU-idle-3"])
    s.vessel("nb-again", ["GPU-idle-2"])
    for name, gpus in (("nb-stop", ["GPU-busy-0"]), ("nb-dead", ["GPU-idle-3"]), ("nb-again", ["GPU-idle-2"])):
        _unreachable(s, name, gpus)
        with pytest.raises(Exception):  # noqa: B017 - whatever the Docker client raises for a refused connection
            s.svc.stop(name, actor="undertaker")
        assert s.ledger.vessel(name).state == "stopping"  # type: ignore[union-attr]
    _reachable(s, "nb-again", ["GPU-idle-2"])
    s.svc.stop("nb-again", actor="undertaker")  # `stop` again finishes it too
    assert s.ledger.vessel("nb-again").state == "stopped"  # type: ignore[union-attr]
    _reachable(s, "nb-stop", ["GPU-busy-0"])
    u = s.undertaker(stuck_stop_minutes=0)
    res = u.run(at(9, 13))
    assert "finished stopping nb-stop" in res.done
    assert s.ledger.vessel("nb-stop").state == "stopped" and s.container_state("nb-stop") is None  # type: ignore[union-attr]
    assert s.ledger.vessel("nb-dead").state == "stopping"  # type: ignore[union-attr]
    [told] = s.slack.texts()
    assert "nb-dead" in told and "could not finish" in told and "--force" in told
    # only an admin, only with --force and a reason; recorded with who and why
    with pytest.raises(PermissionDenied):
        force_release(s.ledger, "nb-dead", actor=Actor("alice"), reason="host burnt", force=True)
    with pytest.raises(ValidationError, match="--force"):
        force_release(s.ledger, "nb-dead", actor=ADMIN, reason="host burnt")
    with pytest.raises(ValidationError, match="say why"):
        force_release(s.ledger, "nb-dead", actor=ADMIN, reason=" ", force=True)
    got = force_release(s.ledger, "nb-dead", actor=ADMIN, reason="host burnt", force=True)
    assert got.changed and "released by force by root-admin: host burnt" in got.summary
    v = s.ledger.vessel("nb-dead")
    assert v is not None and v.state == "stopped" and s.ledger.allocations()["gpus"] == []
    [ev] = [e for e in s.ledger.events("nb-dead") if e.detail.get("forced")]
    assert ev.actor == "root-admin" and ev.detail["why"] == "host burnt"
    assert [e.state for e in u.outbox() if e.kind == "stop" and e.vessel == "nb-dead"] == ["cancelled"]
    u.run(at(9, 13, 30))
    assert len(s.slack.posts) == 1


# ---------------------------------------------------------------- 3. the outbox
class Crash(BaseException):
    """The process dies here (not an Exception: nothing may catch it)."""


LEDGER_CALLS = ("quick_write", "write", "release", "update_vessel", "record")


def _copy_sqlite(src: str, dst: Path) -> str:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return f"sqlite:///{dst}"


def _undertaker(s: Site, url: str, lock: Path, crash_at: int | None) -> tuple[Undertaker, list[str], VesselService]:
    led = Ledger(url)
    svc = VesselService(Settings(ledger_url=url, ssh_home=str(s.home), data_dir=s.home / ".slipway",
                                 admins=("undertaker",)), ledger=led)
    cfg = s.config()
    u = Undertaker(cfg, svc, RecordingProm(cfg.prometheus_url), notifier(cfg.slack_webhook_url), lock_path=lock)
    steps: list[str] = []

    def wrap(obj: Any, name: str) -> None:
        inner = getattr(obj, name)

        def step(*a: Any, **kw: Any) -> Any:
            steps.append(name)
            if crash_at is not None and len(steps) == crash_at:
                raise Crash(f"crash before {name} (step {crash_at})")
            return inner(*a, **kw)

        setattr(obj, name, step)

    for name in LEDGER_CALLS:
        wrap(led, name)
    wrap(u.notifier, "send")
    for name in ("stop", "reconcile", "probe"):
        wrap(svc, name)
    return u, steps, svc


def _what(text: str) -> str:
    """A message's identity (its words may differ: a run composes it with its own "now")."""
    kinds = [k for k, words in (("warn", "has been idle"), ("bury", "was buried"), ("reconcile", "is gone"),
                                ("stuck", "could not finish")) if words in text]
    return f"{kinds} {text.split('*')[1] if '*' in text else text}"


def test_outbox_a_crash_between_any_two_actions_neither_loses_nor_repeats_a_message(site: Site, tmp_path: Path
                                                                                    ) -> None:
    s = site
    s.vessel("ob-bury", ["GPU-idle-0"])
    s.vessel("ob-bury2", ["GPU-idle-1"])
    assert actions(s.undertaker().run(at(9, 13))) == {"ob-bury": "warn", "ob-bury2": "warn"}
    s.vessel("ob-warn", ["GPU-reset-0"])  # idle since Mon 11:00: warned at Tue 11:00
    s.vessel("ob-gone", ["GPU-gone-0"])  # no container: reconciled
    s.ledger.close()
    s.slack.posts.clear()

    def attempt(crash_at: int | None) -> tuple[Counter[str], dict[str, str], int]:
        d = tmp_path / f"crash-{crash_at}"
        d.mkdir()
        url = _copy_sqlite(s.ledger.url.removeprefix("sqlite:///"), d / "ledger.db")
        s.slack.posts.clear()
        u, steps, svc = _undertaker(s, url, d / "undertaker.lock", crash_at)
        with contextlib.suppress(Crash):
            u.run(at(10, 11))
        after, _, svc2 = _undertaker(s, url, d / "undertaker.lock", None)  # the next run, a new process
        after.run(at(10, 11, 30))
        sent = Counter(_what(p.text) for p in s.slack.posts)
        states = {v.name: v.state for v in after.ledger.vessels(active=False)}
        for x in (svc, svc2):
            x.close()
            x.ledger.close()
        return sent, states, len(steps)

    want_sent, want_states, n = attempt(None)
    assert sorted(want_states.items()) == [("ob-bury", "buried"), ("ob-bury2", "buried"), ("ob-gone", "lost"),
                                           ("ob-warn", "running")]
    assert len(want_sent) == 4 and set(want_sent.values()) == {1}  # 2 burials, 1 reconcile, 1 warning, once each
    assert sorted(want_sent) == ["['bury'] ob-bury", "['bury'] ob-bury2", "['reconcile'] ob-gone",
                                 "['warn'] ob-warn"]
    for k in range(1, n + 1):
        sent, states, _ = attempt(k)
        assert states == want_states, f"crash at step {k}"
        assert sent == want_sent, f"crash at step {k}: {sent - want_sent} repeated, {want_sent - sent} lost"


def test_outbox_locked_ledger_is_one_clear_error_and_nothing_changes(site: Site, monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path, tiny_image: str) -> None:
    from slipway.cli import main
    from tests.integration.conftest import dump_ledger

    site.vessel("ob-locked", ["GPU-idle-0"])
    site.container("ob-locked", tiny_image)  # the use case reconciles the fleet first: nothing to repair
    cfg = tmp_path / "undertaker.yml"
    cfg.write_text("undertaker_calendar: {timezone: Europe/London}\nundertaker_ledger_lock_timeout: 0.3\n")
    monkeypatch.setenv("SLIPWAY_SLACK_WEBHOOK_URL", site.slack.url)
    before = dump_ledger(site.ledger)
    other = sqlite3.connect(site.ledger.url.removeprefix("sqlite:///"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as e:
            main(["undertaker", "run", "--config", str(cfg), "--prometheus-url", site.prom.url,
                  "--ledger-url", site.ledger.url, "--now", "2026-03-09T13:00:00Z"])
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert e.value.code != 0
    assert err.getvalue().strip() == "error: ledger is locked by another writer; nothing was changed"
    assert site.slack.posts == [] and dump_ledger(site.ledger) == before
    res = site.undertaker().run(at(9, 13))  # the lock is gone: the next run does the work
    assert actions(res) == {"ob-locked": "warn"} and len(site.slack.posts) == 1


# ---------------------------------------------------------------- 4. coverage, 5. detection
def test_coverage_partly_observed_hours_are_missing_data_never_idleness(site: Site, tiny_image: str) -> None:
    site.vessel("cv-part", ["GPU-partial-0"])
    site.container("cv-part", tiny_image)
    u = site.undertaker()
    res = u.run(at(9, 10, 5))  # the hour 09-10 has samples for 20 minutes only: missing data, probed
    assert actions(res) == {"cv-part": "alert"} and "no GPU samples covering the last hour" in res.decisions[0].reason
    res = u.run(at(9, 13))  # Fri 15-17 and Mon 09-13 would be 6 idle hours; 09-11 are only a third observed
    [d] = res.decisions
    assert d.action == "keep" and d.idle_hours == 2 and "metrics gap at Mon 2026-03-09 10:00" in d.reason
    strict = site.undertaker(min_coverage_percent=30)  # configurable: a third is enough here
    assert actions(strict.run(at(9, 13, 30), check=True)) == {"cv-part": "warn"}


def test_detection_metrics_that_stop_mid_hour_are_probed_at_the_next_run(site: Site) -> None:
    site.vessel("dt-gone", ["GPU-vanish-0"])  # samples stop Mon 11:10; its container was removed
    res = site.undertaker().run(at(9, 11, 30))  # the hour 10-11 is complete, but nothing since 11:10
    [d] = res.decisions
    assert d.action == "reconcile" and "GPU samples stopped for GPU-vanish-0" in d.reason
    assert res.queries == 1 and site.ledger.vessel("dt-gone").state == "lost"  # type: ignore[union-attr]


# ---------------------------------------------------------------- 6. sparse runs, 7. messages
def test_sparse_runs_a_long_pause_buries_and_does_not_warn_twice(site: Site) -> None:
    site.vessel("sp-idle", ["GPU-idle-0"])
    u = site.undertaker(window_hours=3)  # a lookback of 2 x 3 + 1 = 7 work hours
    assert actions(u.run(at(9, 10))) == {"sp-idle": "warn"}  # Fri 15-17 + Mon 09-10
    res = u.run(at(10, 10))  # no runs for 8 work hours (the burial was due Mon 13:00)
    assert actions(res) == {"sp-idle": "bury"}, res.decisions[0].reason
    assert len(site.slack.posts) == 2 and "was buried" in site.slack.texts()[1]
    assert "idle since Fri 2026-03-06 15:00 GMT" in site.slack.texts()[1]  # when the streak began


def test_messages_prometheus_unreachable_n_runs_tells_admins_once_and_on_recovery(site: Site) -> None:
    site.vessel("pm-idle", ["GPU-busy-0"])
    down = site.undertaker(prometheus_url=f"http://user:pw-secret@127.0.0.1:{free_port()}",
                           prometheus_alert_after_runs=2)
    for i in range(3):
        with pytest.raises(MetricsError, match="cannot be reached"):
            down.run(at(9, 13 + i))
        assert len(site.slack.posts) == (0 if i == 0 else 1)
    [msg] = site.slack.texts()
    assert "@root-admin" in msg and "last 2 runs" in msg and "pw-secret" not in msg
    up = site.undertaker(prometheus_alert_after_runs=2)
    up.run(at(9, 16))
    assert len(site.slack.posts) == 2 and "answers again" in site.slack.texts()[1]
    up.run(at(9, 16, 30))
    with pytest.raises(MetricsError):
        down.run(at(9, 17))  # a single failure after recovery: nobody is told yet
    assert len(site.slack.posts) == 2

