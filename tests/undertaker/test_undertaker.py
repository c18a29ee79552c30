"""The undertaker end to end: real Prometheus (promtool-loaded histories), real dockerd, a Slack receiver,
the ledger on SQLite and PostgreSQL. "now" is injected; London work hours Mon-Fri 09-17."""

from __future__ import annotations

import contextlib
import io
import threading
from typing import Any

import pytest
from sqlalchemy import text

from slipway.errors import ValidationError
from slipway.metrics import MetricsError
from slipway.undertaker import set_keep
from slipway.undertaker.service import UndertakerBusy
from tests.integration.conftest import dump_ledger
from tests.undertaker.conftest import Site, at

pytestmark = pytest.mark.docker


def actions(res: Any) -> dict[str, str]:
    return {d.vessel: d.action for d in res.decisions}


def test_idle_over_the_weekend_warns_once_then_buries(any_site: Site) -> None:
    s = any_site
    s.vessel("nb-weekend", ["GPU-idle-0", "GPU-idle-1"])
    u = s.undertaker()

    res = u.run(at(9, 12))  # Fri 15-17 + Mon 09-12 = 5 idle work hours
    assert actions(res) == {"nb-weekend": "keep"} and "idle 5/6" in res.decisions[0].reason
    assert res.queries == 1 and s.slack.posts == []

    res = u.run(at(9, 13))  # the 6th work hour: warn
    assert actions(res) == {"nb-weekend": "warn"} and res.changed
    # the hours read at 12:00 came from the ledger's cache: Prometheus was asked for 12:00-13:00 only
    assert u.metrics.ranges[-1] == (at(9, 12), at(9, 13))  # type: ignore[attr-defined]
    [warning] = s.slack.texts()
    for words in ("<@U0ALICE>", "nb-weekend", "h-nb-weekend", "GPU-idle-0", "GPU-idle-1",
                  "idle since Fri 2026-03-06 15:00 GMT", "buried around Tue 2026-03-10 11:00 GMT",
                  "keep_vessel.yml -e vessel=nb-weekend"):
        assert words in warning
    assert "WARN" in res.table.upper() and "IDLE_WORK_H" in res.table

    for now in (at(9, 13, 30), at(9, 17), at(10, 10, 30)):  # no second warning in the same streak
        res = u.run(now)
        assert actions(res) == {"nb-weekend": "keep"} and "warned" in res.decisions[0].reason
    assert len(s.slack.posts) == 1

    res = u.run(at(10, 11))  # 6 more idle work hours after the warning: bury
    assert actions(res) == {"nb-weekend": "bury"}
    v = s.ledger.vessel("nb-weekend")
    assert v is not None and v.state == "buried" and "idle" in (v.end_reason or "")
    assert s.ledger.allocations()["gpus"] == []
    assert "was buried" in s.slack.texts()[1] and len(s.slack.posts) == 2
    assert [e.action for e in s.ledger.events("nb-weekend")][-2:] == ["stopping", "buried"] or \
        "buried" in [e.action for e in s.ledger.events("nb-weekend")]
    assert "idle-warning" in [e.action for e in s.ledger.events("nb-weekend")]
    assert s.slack.secret not in dump_ledger(s.ledger) + res.table + repr(res)


def test_a_holiday_does_not_count(site: Site) -> None:
    site.vessel("nb-holiday", ["GPU-idle-0"])
    u = site.undertaker(calendar={"timezone": "Europe/London", "holidays": ["2026-03-09"]})
    assert actions(u.run(at(9, 16))) == {"nb-holiday": "keep"}  # Monday is a holiday: 2 work hours
    res = u.run(at(10, 13))
    assert actions(res) == {"nb-holiday": "warn"} and res.decisions[0].idle_hours == 6


def test_activity_in_the_middle_resets_and_any_busy_gpu_keeps(site: Site) -> None:
    site.vessel("nb-reset", ["GPU-reset-0"])
    site.vessel("nb-pair", ["GPU-idle-0", "GPU-busy-0"])
    site.vessel("nb-cpu", [])
    res = site.undertaker().run(at(9, 16))
    got = {d.vessel: d for d in res.decisions}
    assert got["nb-reset"].action == "keep" and got["nb-reset"].idle_hours == 5  # 11:00-16:00 only
    assert "GPU busy (30%) at Mon 2026-03-09 10:00" in got["nb-reset"].reason
    assert got["nb-pair"].action == "keep" and got["nb-pair"].idle_hours == 0
    assert got["nb-cpu"].action == "keep" and "CPU-only" in got["nb-cpu"].reason
    assert site.slack.posts == [] and not res.changed


def test_keep_flag_is_respected_and_expires(site: Site) -> None:
    site.vessel("nb-kept", ["GPU-idle-0"])
    with pytest.raises(Exception, match="may not keep"):
        set_keep(site.ledger, "nb-kept", actor="mallory", hours=24, now=at(9, 9))
    changed, _, after = set_keep(site.ledger, "nb-kept", actor="alice", hours=24, now=at(9, 9, 20))
    assert changed and after["keep_until"] == at(10, 10).isoformat()
    again, _, _ = set_keep(site.ledger, "nb-kept", actor="alice", hours=24, now=at(9, 9, 40))
    assert not again  # the same hour: nothing to change
    with pytest.raises(ValidationError, match="at most 168 hours"):
        set_keep(site.ledger, "nb-kept", actor="alice", hours=500, now=at(9, 9))
    u = site.undertaker()
    res = u.run(at(10, 9))
    assert actions(res) == {"nb-kept": "keep"} and "keep flag until" in res.decisions[0].reason
    # after it expires, only idle hours after the expiry count
    res = u.run(at(10, 15))
    assert actions(res) == {"nb-kept": "keep"} and res.decisions[0].idle_hours == 5
    assert site.slack.posts == []


def test_metrics_gap_reconciles_a_container_removed_behind_the_ledgers_back(site: Site, tiny_image: str) -> None:
    site.vessel("nb-gone", ["GPU-gone-0"])
    site.container("nb-gone", tiny_image)
    c = site.dockerd.client()
    try:
        c.containers.get("slipway-nb-gone").remove(force=True)  # behind the ledger's back
    finally:
        c.close()
    res = site.undertaker().run(at(9, 16))  # idle since Fri, but no samples since Mon 11:00
    [d] = res.decisions
    assert d.action == "reconcile" and d.idle_hours == 0 and "no GPU samples" in d.reason
    v = site.ledger.vessel("nb-gone")
    assert v is not None and v.state == "lost" and site.ledger.allocations()["gpus"] == []
    [msg] = site.slack.texts()
    assert "<@U0ALICE>" in msg and "nb-gone" in msg and "is gone" in msg


def test_exporter_down_for_a_running_container_tells_the_admins_once(site: Site, tiny_image: str) -> None:
    site.vessel("nb-down", ["GPU-down-0"])
    site.container("nb-down", tiny_image)
    u = site.undertaker()
    res = u.run(at(9, 16))
    assert actions(res) == {"nb-down": "alert"}
    [msg] = site.slack.texts()
    assert "@root-admin" in msg and "h-nb-down" in msg and "GPU-down-0" in msg and "nb-down" in msg
    v = site.ledger.vessel("nb-down")
    assert v is not None and v.state == "running" and site.container_state("nb-down") == "running"
    u.run(at(9, 16, 30))
    assert len(site.slack.posts) == 1  # not every 30 minutes
    assert [e.action for e in site.ledger.events() if e.action == "metrics-missing"] == ["metrics-missing"]


def test_check_mode_decides_everything_and_changes_nothing(site: Site, tiny_image: str) -> None:
    site.vessel("nb-warn", ["GPU-idle-0"])
    site.vessel("nb-gone", ["GPU-gone-0"])
    site.vessel("nb-down", ["GPU-down-0"])
    site.container("nb-down", tiny_image)
    before = dump_ledger(site.ledger)
    res = site.undertaker().run(at(9, 16), check=True)
    assert actions(res) == {"nb-warn": "warn", "nb-gone": "reconcile", "nb-down": "alert"}
    assert not res.changed and res.queries == 1
    assert site.slack.posts == [] and dump_ledger(site.ledger) == before
    assert site.container_state("nb-down") == "running"


def test_concurrent_runs_serialize(site: Site) -> None:
    site.vessel("nb-race", ["GPU-idle-0"])
    results: list[Any] = []
    errors: list[BaseException] = []
    go = threading.Barrier(4)

    def one() -> None:
        try:
            go.wait()
            results.append(site.undertaker().run(at(9, 13)))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == []
    assert sorted(r.decisions[0].action for r in results) == ["keep", "keep", "keep", "warn"]
    assert len(site.slack.posts) == 1

    u = site.undertaker(lock_timeout=0.3)
    with u.lock(), pytest.raises(UndertakerBusy, match="another undertaker run holds"):
        site.undertaker(lock_timeout=0.3).run(at(9, 13))


@pytest.mark.parametrize(("over", "field"), [
    ({"calendar": {"timezone": "Europe/Atlantis"}}, "undertaker_calendar.timezone"),
    ({"calendar": {"start_hour": 17, "end_hour": 9}}, "undertaker_calendar.end_hour"),
])
def test_bad_configuration_is_refused(site: Site, over: dict[str, Any], field: str) -> None:
    site.vessel("nb-cfg", ["GPU-idle-0"])
    with pytest.raises(ValidationError) as e:
        site.undertaker(**over)
    assert e.value.field == field and "allowed" in str(e.value)


def test_unreachable_prometheus_is_an_error_and_no_action(site: Site) -> None:
    from tests.harness.procs import free_port

    site.vessel("nb-noprom", ["GPU-idle-0"])
    before = dump_ledger(site.ledger)
    u = site.undertaker(prometheus_url=f"http://user:pw-secret@127.0.0.1:{free_port()}")
    with pytest.raises(MetricsError) as e:
        u.run(at(9, 13))
    assert "cannot be reached" in str(e.value) and "pw-secret" not in str(e.value)
    assert site.slack.posts == [] and dump_ledger(site.ledger) == before


def test_slack_down_keeps_the_secret_and_retries_the_warning_from_the_outbox(site: Site) -> None:
    site.vessel("nb-slack", ["GPU-idle-0"])
    site.slack.fail_with = 500
    u = site.undertaker()
    res = u.run(at(9, 13))
    assert actions(res) == {"nb-slack": "warn"} and res.failed and "HTTP 500" in res.failed[0]
    assert res.done == []  # no "done: warned" beside the "failed:" line for the same message
    assert [(e.topic, e.state, e.attempts) for e in u.outbox()] == [("warn", "pending", 1)]
    assert u.notices() == []
    text = repr(res) + res.table + dump_ledger(site.ledger) + repr(u.notifier) + repr(u.cfg) + repr(u.outbox())
    assert site.slack.secret not in text
    site.slack.fail_with = None
    res = u.run(at(9, 13, 30))  # not delivered before: the recorded message is sent now, once
    assert actions(res) == {"nb-slack": "warn"} and res.failed == [] and res.done == ["warned alice about nb-slack"]
    assert len(site.slack.posts) == 1 and [(e.topic, e.state) for e in u.outbox()] == [("warn", "done")]
    assert [(n["kind"], n["delivered"]) for n in u.notices()] == [("warn", True)]
    assert actions(u.run(at(9, 14))) == {"nb-slack": "keep"}
    assert len(site.slack.posts) == 1


def test_cli_run_and_keep(site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, tiny_image: str) -> None:
    from slipway.cli import main

    site.vessel("cli-idle", ["GPU-idle-0"])
    site.container("cli-idle", tiny_image)  # the use case reconciles the fleet with the engines first
    cfg = tmp_path / "undertaker.yml"
    cfg.write_text("undertaker_calendar: {timezone: Europe/London}\nundertaker_admins: '{{ slipway_admins }}'\n")
    monkeypatch.setenv("SLIPWAY_SLACK_WEBHOOK_URL", site.slack.url)
    monkeypatch.setenv("SLIPWAY_USER", "alice")
    base = ["--ledger-url", site.ledger.url]

    def cli(*args: str) -> str:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            main(list(args))
        return buf.getvalue()

    out = cli("undertaker", "run", "--config", str(cfg), "--prometheus-url", site.prom.url, *base,
              "--now", "2026-03-09T13:00:00Z", "--check")
    assert "cli-idle" in out and "warn" in out and "1 Prometheus query" in out and site.slack.posts == []
    assert site.slack.secret not in out
    out = cli("undertaker", "keep", "cli-idle", "--hours", "12", *base)
    assert "cli-idle is kept until" in out
    out = cli("undertaker", "run", "--config", str(cfg), "--prometheus-url", site.prom.url, *base,
              "--now", "2026-03-09T13:00:00Z")
    assert "keep flag until" in out and site.slack.posts == []


def test_hour_cache_gives_the_same_decisions_as_prometheus_alone(site: Site) -> None:
    site.vessel("nb-cache", ["GPU-reset-0"])
    site.vessel("nb-cache2", ["GPU-idle-1"])
    warm = site.undertaker()
    for now in (at(9, 9, 30), at(9, 11), at(9, 13, 30), at(9, 16)):
        warm.plan(now, store=True)
        cold = site.undertaker(metric="DCGM_FI_DEV_GPU_UTIL")
        with site.ledger.write() as conn:  # what a first run sees: no cache
            saved = conn.execute(text("SELECT fetched_from, fetched_until, query FROM undertaker_cache")).all()
            conn.execute(text("DELETE FROM undertaker_cache"))
        fresh = cold.plan(now)
        with site.ledger.write() as conn:
            for f, u, q in saved:
                conn.execute(text("INSERT INTO undertaker_cache (id, fetched_from, fetched_until, query) "
                                  "VALUES (1, :f, :u, :q)"), {"f": f, "u": u, "q": q})
        again = warm.plan(now)
        assert [(d.action, d.idle_hours, d.reason) for d in again.decisions] == \
            [(d.action, d.idle_hours, d.reason) for d in fresh.decisions]
    assert warm.metrics.ranges[-1][0] > at(9, 9)  # type: ignore[attr-defined]
    # going back in time (a replay) ignores the cache
    back = warm.plan(at(9, 12))
    assert warm.metrics.ranges[-1][0] < at(9, 9) and back.decisions[0].idle_hours == 1  # type: ignore[attr-defined]
