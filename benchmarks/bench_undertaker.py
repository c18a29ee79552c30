"""Undertaker run time against the one Prometheus query's own time, for 100 / 1,000 / 10,000 vessels.

Each fleet size gets its own Prometheus (Debian ``prometheus``, loopback) preloaded with dcgm-exporter
histories (one series per GPU, one sample a minute by default, loaded with ``promtool tsdb
create-blocks-from openmetrics``; cached under ~/.cache/slipway-tests/prometheus) and a SQLite ledger
with that many running vessels (8 GPUs per host, one GPU per vessel), seeded through the Ledger's own
methods (``sync_hosts``, ``reserve``, ``update_vessel``) and cached the same way. A third of the GPUs are
busy, a third idle for a day, a third idle since the morning, so every branch of the rule runs.

For a cold run (the first ever: the whole lookback from Prometheus, then stored in the hour cache) and the
steady state (the run 30 minutes later: completed hours from the ledger's cache, Prometheus asked for the
last one or two), it prints in the same run the one query's own time (the HTTP call and its JSON, measured
inside the run) and the whole run's time (ledger read, the query, the rule, storing the hour cache: what a
run does before it acts; acting is one outbox transaction plus one per message, and Slack's own rate
limit, about one message a second, dominates it), and their ratio. Goal: the whole run at most 1.5x the
query alone at 10,000 vessels, cold and steady.

    .venv/bin/python -m benchmarks.bench_undertaker [--sizes 100,1000,10000] [--every 60] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.harness.procs import CACHE
from tests.harness.prometheus import Gpu, build_tsdb, cached_tsdb, start_prometheus, write_openmetrics

from slipway.config import Settings
from slipway.ledger import GpuSpec, HostSpec, Ledger
from slipway.metrics import Prometheus as PromClient
from slipway.metrics import Series
from slipway.notify import LedgerOnly
from slipway.request import build_request
from slipway.table import render
from slipway.undertaker import Undertaker, UndertakerConfig
from slipway.vessels import VesselService

NOW = datetime(2026, 3, 11, 16, 0, tzinfo=UTC)  # a Wednesday, London = UTC in March
START = NOW - timedelta(hours=34)
IDLE_SINCE_DAY = int(datetime(2026, 3, 10, 12, tzinfo=UTC).timestamp())
IDLE_SINCE_MORNING = int(datetime(2026, 3, 11, 10, tzinfo=UTC).timestamp())


def uuid(i: int) -> str:
    return f"GPU-{i:08x}-0000-4000-8000-{i:012x}"


def curve(i: int) -> Any:
    kind = i % 3
    if kind == 0:
        return lambda ts: 40.0 + (ts // 60) % 50
    since = IDLE_SINCE_DAY if kind == 1 else IDLE_SINCE_MORNING
    return lambda ts: 0.0 if ts >= since else 70.0


def fleet_ledger(n: int) -> Path:
    """A ledger with ``n`` running vessels, seeded through the Ledger's methods (cached: 10,000 take minutes)."""
    final = CACHE / "bench-undertaker-ledger" / f"v2-{n}.db"
    if final.exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    led = Ledger(f"sqlite:///{tmp}")
    t0 = time.monotonic()
    hosts = (n + 7) // 8
    led.sync_hosts([HostSpec(name=f"gpu-{h:05d}", queue="a100", docker_url="unix:///nonexistent",
                             address=f"10.{h // 250}.{h % 250}.1", cpus=64, memory_mib=512 * 1024,
                             gpus=tuple(GpuSpec(i, uuid(h * 8 + i)) for i in range(min(8, n - h * 8))))
                    for h in range(hosts)], actor="bench")
    launched = datetime(2026, 3, 9, tzinfo=UTC)
    for i in range(n):
        req = build_request(user=f"user{i % 97}", name=f"v{i:05d}", gpus=1, queue="a100", cpus=1, memory="1G",
                            require_key=False)
        led.reserve(req, actor="bench", ports=0)
        led.update_vessel(req.name, "bench", None, state="running", created_at=launched)
        if (i + 1) % 1000 == 0:
            print(f"  seeded {i + 1:,} vessels ({time.monotonic() - t0:.0f} s)", flush=True)
    led.close()
    tmp.rename(final)
    return final


class TimedProm(PromClient):
    """The real client; remembers how long each query took (the call and its JSON)."""

    took: list[float]

    def query_range(self, expr: str, start: datetime, end: datetime, step_s: int) -> list[Series]:
        t0 = time.monotonic()
        try:
            return super().query_range(expr, start, end, step_s)
        finally:
            self.took = [*getattr(self, "took", []), time.monotonic() - t0]


def tsdb_for(n: int, every: int) -> Path:
    def build(d: Path) -> None:
        om = d.parent / f"{d.name}.om"
        t0 = time.monotonic()
        samples = write_openmetrics(om, (Gpu(uuid(i), f"gpu-{i // 8:05d}", curve(i), i % 8) for i in range(n)),
                                    START, NOW + timedelta(minutes=5), every_s=every)
        build_tsdb(om, d)
        om.unlink()
        print(f"  backfilled {n:,} GPUs, {samples:,} samples in {time.monotonic() - t0:.0f} s", flush=True)

    return cached_tsdb(f"bench-undertaker-v1 n={n} every={every} {START} {NOW}", build)


def naive(prom: PromClient, uuids: list[str]) -> float:
    """What a hand-written script does: one range query per vessel."""
    t0 = time.monotonic()
    for u in uuids:
        prom.query_range(f'avg_over_time(DCGM_FI_DEV_GPU_UTIL{{UUID="{u}"}}[1h])', START + timedelta(hours=5),
                         NOW, 3600)
    return time.monotonic() - t0


def timed_run(u: Undertaker, client: TimedProm, now: datetime) -> tuple[float, float, Any]:
    """The whole run (before acting) and, measured inside it, the one query's own time."""
    client.took = []
    t0 = time.monotonic()
    res = u.plan(now, store=True)
    whole = time.monotonic() - t0
    assert res.queries == 1 and len(client.took) == 1
    return whole, client.took[0], res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--every", type=int, default=60, help="seconds between samples in the history")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--naive-max", type=int, default=300, help="measure per-vessel queries up to this size")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    work = Path(tempfile.mkdtemp(prefix="bench-undertaker-"))
    goal = 1.5
    try:
        for n in sizes:
            print(f"fleet of {n:,} vessels: preparing Prometheus history and ledger ...", flush=True)
            tsdb = tsdb_for(n, args.every)
            prom = start_prometheus(work / f"prom-{n}", tsdb)
            url = f"sqlite:///{work / f'ledger-{n}.db'}"
            shutil.copy(fleet_ledger(n), work / f"ledger-{n}.db")
            led = Ledger(url)
            svc = VesselService(Settings(ledger_url=url, data_dir=work / "data"), ledger=led)
            cfg = UndertakerConfig.parse({"prometheus_url": prom.url, "calendar": {"timezone": "Europe/London"}})
            client = TimedProm(prom.url, timeout=300)
            u = Undertaker(cfg, svc, client, LedgerOnly(), lock_path=work / "lock")
            for phase, nows in (("cold", [NOW - timedelta(minutes=30)]),
                                ("steady", [NOW] * args.runs)):
                got = []
                res: Any = None
                for now in nows:
                    whole, query, res = timed_run(u, client, now)
                    got.append((whole, query))
                    print(f"  {phase} run at {now:%H:%M}: whole {whole:.2f} s, query {query:.2f} s, "
                          f"ratio {whole / query:.2f}x", flush=True)
                whole_med = statistics.median(w for w, _ in got)
                query_med = statistics.median(q for _, q in got)
                counts = res.counts()
                ratio = whole_med / query_med
                rows.append({"vessels": f"{n:,}", "run": phase, "queries": str(res.queries),
                             "query_s": f"{query_med:.2f}", "whole_run_s": f"{whole_med:.2f}",
                             "ratio": f"{ratio:.2f}x", "goal": f"<= {goal:g}x" if n >= 10000 else "",
                             "met": ("yes" if ratio <= goal else "NO") if n >= 10000 else "",
                             "ledger/prometheus/decide_s": "/".join(f"{res.seconds.get(k, 0):.2f}" for k in
                                                                    ("ledger", "prometheus", "decide")),
                             "keep/warn/bury": f"{counts.get('keep', 0)}/{counts.get('warn', 0)}/"
                                               f"{counts.get('bury', 0)}"})
            uuids = [uuid(i) for i in range(min(n, args.naive_max))]
            nv = naive(client, uuids) * (n / len(uuids))
            rows[-1]["per-vessel queries instead"] = f"{nv:.1f} s" + (" (est.)" if n > args.naive_max else "")
            client.close()
            svc.close()
            led.close()
            prom.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cols = sorted({c for r in rows for c in r}, key=lambda c: next(list(r).index(c) for r in rows if c in r))
    print()
    print(render([{c: r.get(c, "") for c in cols} for r in rows], cols))
    print(f"\ngoal: the whole run at most {goal:g}x the one Prometheus query alone at 10,000 vessels, cold and steady")
    return 0 if all(r["met"] != "NO" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
