"""Reservations per second on SQLite and PostgreSQL with 1, 8 and 32 concurrent clients.

Each client (a process, as concurrent launches are) loops: reserve a vessel (1 GPU, 1 CPU, 1 GiB) on a
fleet of 16 hosts x 8 GPUs, then release it. After the run every reservation event is replayed to check
that no GPU was ever held by two vessels at once. Goals: ≥ 500/s on PostgreSQL and ≥ 300/s on SQLite at 32
clients, 0 double-bookings.

Growth: one client's reserve+release latency on fleets of 16, 256 and 1,024 hosts x 8 GPUs (SQLite and
PostgreSQL), with the ratio to 16 hosts. Goal: 1,024 hosts within 1.5x of 16 hosts.

    .venv/bin/python -m benchmarks.bench_reservations [--seconds 5] [--clients 1,8,32] [--growth 16,256,1024]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import shutil
import tempfile
import time
from pathlib import Path

from slipway.errors import PlacementError
from slipway.ledger import GpuSpec, HostSpec, Ledger
from slipway.request import VesselRequest


def fleet(hosts: int) -> list[HostSpec]:
    return [HostSpec(f"gpu-{h:04d}", "a100", "unix:///x", f"10.0.{h // 250}.{h % 250}", cpus=64,
                     memory_mib=512 * 1024, gpus=tuple(GpuSpec(i, f"GPU-{h:04d}-{i}") for i in range(8)))
            for h in range(hosts)]


FLEET = fleet(16)


def client(url: str, cid: int, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    led = Ledger(url, migrate=False)
    n = refused = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        name = f"c{cid}-{n}"
        try:
            led.reserve(VesselRequest(name, f"u{cid}", gpus=1, cpus=1, memory_mib=1024, queue="a100"), "bench")
        except PlacementError:
            refused += 1
            continue
        led.release(name, "bench", state="stopped", reason="bench")
        n += 1
    led.close()
    out.put((n, refused))


def double_bookings(url: str) -> int:
    """Replay reserve/stop events in order: a GPU reserved while held is a double booking."""
    led = Ledger(url, migrate=False)
    held: dict[str, str] = {}
    bad = 0
    for e in led.events(limit=10_000_000):
        if e.action == "reserve":
            for g in e.detail.get("gpus", []):
                if g in held:
                    bad += 1
                held[g] = e.vessel or ""
        elif e.action == "stopped":
            for g in [g for g, v in held.items() if v == e.vessel]:
                del held[g]
    led.close()
    return bad


def run(url: str, clients: int, seconds: float) -> tuple[float, int, int]:
    led = Ledger(url)
    led.sync_hosts(FLEET)
    led.close()
    ctx = mp.get_context("fork")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=client, args=(url, i, seconds, q)) for i in range(clients)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - t0
    total = sum(r[0] for r in results)
    return total / elapsed, total, double_bookings(url)


def latency(url: str, hosts: int, loops: int) -> float:
    """Median seconds of one reserve+release by one client on a fleet of ``hosts`` (a third of it busy)."""
    led = Ledger(url)
    led.sync_hosts(fleet(hosts))
    for i in range(hosts * 8 // 3):  # a realistic, partly used fleet: a third of the GPUs held
        led.reserve(VesselRequest(f"busy-{i}", "load", gpus=1, cpus=1, memory_mib=1024, queue="a100"), "bench")
    times = []
    for n in range(loops):
        t0 = time.perf_counter()
        led.reserve(VesselRequest(f"g-{n}", "u", gpus=1, cpus=1, memory_mib=1024, queue="a100"), "bench")
        led.release(f"g-{n}", "bench", state="stopped", reason="bench")
        times.append(time.perf_counter() - t0)
    led.close()
    return sorted(times)[len(times) // 2]


def growth(work: Path, pg: object, sizes: list[int], loops: int) -> None:
    from tests.harness.postgres import fresh_database

    print(f"\n{'ledger':10}  {'hosts':>6}  {'reserve+release p50':>19}  {'vs 16 hosts':>11}  {'goal':>6}")
    for backend in ("sqlite", "postgresql"):
        base = None
        for size in sizes:
            url = (f"sqlite:///{work}/growth-{size}.db" if backend == "sqlite"
                   else fresh_database(pg, f"growth_{size}"))  # type: ignore[arg-type]
            t = latency(url, size, loops)
            base = base or t
            print(f"{backend:10}  {size:6}  {t * 1000:16.1f} ms  {t / base:10.2f}x  {'<=1.5x':>6}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--growth", default="16,256,1024", help="fleet sizes for the growth table ('' to skip)")
    ap.add_argument("--loops", type=int, default=100, help="reservations per size in the growth table")
    args = ap.parse_args()
    from tests.harness.postgres import fresh_database, start_postgres

    work = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    work.chmod(0o755)
    pg = start_postgres(work / "pg")
    rows = []
    try:
        for n in (int(c) for c in args.clients.split(",")):
            for backend in ("sqlite", "postgresql"):
                url = (f"sqlite:///{work}/ledger-{n}.db" if backend == "sqlite"
                       else fresh_database(pg, f"bench_{n}"))
                print(f"  {backend:10} {n:3} clients ...", flush=True)
                rate, total, bad = run(url, n, args.seconds)
                rows.append((backend, n, rate, total, bad))
        if args.growth:
            growth(work, pg, [int(x) for x in args.growth.split(",")], args.loops)
    finally:
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'ledger':10}  {'clients':>7}  {'reserve+release/s':>17}  {'total':>7}  {'double-bookings':>15}  "
          f"{'vs goal':>13}")
    for backend, n, rate, total, bad in rows:
        goal = 500 if backend == "postgresql" else 300
        print(f"{backend:10}  {n:7}  {rate:17.0f}  {total:7}  {bad:15}  {rate / goal:6.2f}x of {goal}")
    print("\n(reserve = one atomic transaction; each loop also releases, so reservations/s = the rate above)")


if __name__ == "__main__":
    main()
