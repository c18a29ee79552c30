"""Undertaker decision time for 100 / 1,000 / 10,000 vessels against a real Prometheus.

Each fleet size gets its own Prometheus (Debian ``prometheus``, loopback) preloaded with dcgm-exporter
histories (one series per GPU, one sample a minute by default, loaded with ``promtool tsdb
create-blocks-from openmetrics``; cached under ~/.cache/slipway-tests/prometheus) and a SQLite ledger
with that many running vessels (8 GPUs per host, one GPU per vessel; rows bulk-inserted). A third of the
GPUs are busy, a third idle for a day, a third idle since the morning, so every branch of the rule runs.

It times the decisions (ledger read + Prometheus + rule; nothing is sent or changed) of a cold run (the
first ever: the whole lookback comes from Prometheus) and of the steady state (the run 30 minutes later:
completed hours come from the ledger's hour cache, Prometheus is asked for the last two), and compares with
what one would otherwise write: one Prometheus query per vessel (measured up to 1,000 vessels,
extrapolated beyond). Goal: 10,000 vessels decided in <= 5 s, with one query, cost linear in fleet size.

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

from sqlalchemy import insert
from tests.harness.prometheus import Gpu, build_tsdb, cached_tsdb, start_prometheus, write_openmetrics

from slipway.ledger import Ledger
from slipway.ledger import schema as t
from slipway.metrics import Prometheus as PromClient
from slipway.notify import LedgerOnly
from slipway.table import render
from slipway.undertaker import Undertaker, UndertakerConfig
from slipway.vessels import Settings, VesselService

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


def fleet_ledger(url: str, n: int) -> None:
    led = Ledger(url)
    now = datetime(2026, 3, 9, tzinfo=UTC)
    hosts = (n + 7) // 8
    with led.write() as conn:
        conn.execute(insert(t.hosts), [dict(id=h + 1, name=f"gpu-{h:05d}", queue="a100", docker_url="unix:///x",
                                            address=f"10.{h // 250}.{h % 250}.1", cpus=64, memory_mib=512 * 1024,
                                            updated_at=now) for h in range(hosts)])
        conn.execute(insert(t.gpus), [dict(id=i + 1, host_id=i // 8 + 1, idx=i % 8, uuid=uuid(i))
                                      for i in range(n)])
        conn.execute(insert(t.vessels), [dict(id=i + 1, name=f"v{i:05d}", owner=f"user{i % 97}", host_id=i // 8 + 1,
                                              queue="a100", state="running", image="slipway/vessel:latest",
                                              gpu_uuids=uuid(i), cpuset=str(i % 8), cpus=1, memory_mib=1024,
                                              created_at=now, updated_at=now) for i in range(n)])
        conn.execute(insert(t.gpu_allocations), [dict(gpu_id=i + 1, vessel_id=i + 1) for i in range(n)])
    led.close()


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--every", type=int, default=60, help="seconds between samples in the history")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--naive-max", type=int, default=1000, help="measure per-vessel queries up to this size")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    work = Path(tempfile.mkdtemp(prefix="bench-undertaker-"))
    try:
        for n in sizes:
            print(f"fleet of {n:,} vessels: preparing Prometheus history and ledger ...", flush=True)
            tsdb = tsdb_for(n, args.every)
            prom = start_prometheus(work / f"prom-{n}", tsdb)
            url = f"sqlite:///{work / f'ledger-{n}.db'}"
            fleet_ledger(url, n)
            led = Ledger(url)
            svc = VesselService(Settings(ledger_url=url, data_dir=work / "data"), ledger=led)
            cfg = UndertakerConfig.parse({"prometheus_url": prom.url, "calendar": {"timezone": "Europe/London"}})
            client = PromClient(prom.url, timeout=300)
            u = Undertaker(cfg, svc, client, LedgerOnly(), lock_path=work / "lock")
            # cold: the first run ever (or after a config change): the whole lookback from Prometheus;
            # its completed hours are kept in the ledger (undertaker_hours)
            t0 = time.monotonic()
            cold_res = u.plan(NOW - timedelta(minutes=30), store=True)
            cold = time.monotonic() - t0
            print(f"  cold run (whole lookback, {cold_res.queries} query): {cold:.2f} s", flush=True)
            # steady state: the run 30 minutes later reads the cached hours and asks for the last two
            times, parts = [], []
            res = None
            for r in range(args.runs):
                t0 = time.monotonic()
                res = u.plan(NOW, store=False)
                times.append(time.monotonic() - t0)
                parts.append(res.seconds)
                print(f"  steady run {r + 1}/{args.runs}: {times[-1]:.2f} s", flush=True)
            assert res is not None
            best = min(range(len(times)), key=times.__getitem__)
            counts = res.counts()
            uuids = [uuid(i) for i in range(min(n, args.naive_max))]
            nv = naive(client, uuids) * (n / len(uuids))
            med = statistics.median(times)
            rows.append({"vessels": f"{n:,}", "queries": str(res.queries), "cold_s": f"{cold:.2f}", "ledger_s": f"{parts[best]['ledger']:.2f}",
                         "prometheus_s": f"{parts[best]['prometheus']:.2f}", "decide_s": f"{parts[best]['decide']:.2f}",
                         "steady_s (median)": f"{med:.2f}", "us/vessel": f"{med / n * 1e6:.0f}",
                         "keep/warn/bury": f"{counts.get('keep', 0)}/{counts.get('warn', 0)}/{counts.get('bury', 0)}",
                         "per-vessel queries": f"{n:,} in {nv:.1f} s" + (" (est.)" if n > args.naive_max else ""),
                         "speed-up": f"{nv / med:.1f}x",
                         "goal": ("ok" if med <= 5 else "MISSED") if n >= 10000 else ""})
            client.close()
            svc.close()
            led.close()
            prom.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cols = list(rows[0]) if rows else []
    print()
    print(render(rows, cols))
    print("\ngoal: 10,000 vessels decided in <= 5 s with a constant number of Prometheus queries")
    return 0 if all(r["goal"] != "MISSED" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
