"""``slipway server`` under load: the API and the pages with 1,000 vessels on 64 hosts, SQLite and PostgreSQL.

For each database: 64 hosts x 8 GPUs and 1,000 running vessels (half with a GPU) in the ledger; the real
app under uvicorn on loopback; every request carries an automation token (so authentication is paid).
Phase 1, server time: one client, sequential GETs of ``/api/v1/vessels``, ``/vessels`` and ``/fleet``.
Phase 2, load: ``--listers`` clients listing and ``--launchers`` clients asking ``--check`` launches for
``--seconds``; errors counted, p50/p95 per route. Goals: p95 ≤ 100 ms for ``GET /api/v1/vessels`` (API),
p95 ≤ 50 ms server time for the Vessels and Fleet pages, 0 errors.

    .venv/bin/python -m benchmarks.bench_server [--dbs sqlite,postgresql] [--seconds 30] [--listers 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import requests
from tests.harness.asgi import Served

from slipway.auth.tokens import create_token
from slipway.config import Settings
from slipway.identity import Actor
from slipway.ledger import GpuSpec, HostSpec, Ledger
from slipway.request import build_request
from slipway.server.app import create_app
from slipway.server.config import ServerConfig
from slipway.table import render
from slipway.vessels import VesselService

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHq7c0zYgFv8JxJ6t7xQ0c2zJ0n1y4r0q8T9v3kX3Yw bench"


def seed(led: Ledger, hosts: int = 64, vessels: int = 1000) -> None:
    led.sync_hosts([HostSpec(f"gpu-{h:02d}", "a100" if h % 2 else "rtx", "unix:///nonexistent.sock",
                             f"198.18.{h // 250}.{h % 250 + 1}", cpus=64, memory_mib=512 * 1024,
                             gpus=tuple(GpuSpec(i, f"GPU-{h:02d}-{i}", "NVIDIA A100-SXM4-80GB", 81920)
                                        for i in range(8)))
                    for h in range(hosts)])
    for i in range(vessels):
        user = f"user{i % 40}"
        led.reserve(build_request(user=user, name=f"v{i:04d}", gpus=1 if i % 2 else 0, ssh_public_key=KEY,
                                  memory="4G"), user)


def pct(xs: list[float], p: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(len(xs) * p))] * 1000 if xs else float("nan")


def run(db: str, url: str, seconds: float, listers: int, launchers: int) -> list[dict[str, str]]:
    led = Ledger(url)
    t0 = time.monotonic()
    seed(led)
    print(f"[{db}] seeded 64 hosts, 1,000 vessels in {time.monotonic() - t0:.1f} s", flush=True)
    svc = VesselService(Settings(ledger_url=url), ledger=led)
    admin = Actor(name="bench", admin=True, via="token", roles=("admin",))
    token = create_token(led, name="bench", roles=["admin"], actor=admin, days=1).secret
    served = Served(create_app(ServerConfig(settings=svc.settings), service=svc), log_level="warning")
    h = {"Authorization": f"Bearer {token}"}
    rows = []
    try:
        s = requests.Session()
        for path in ("/api/v1/vessels", "/vessels", "/fleet"):
            assert s.get(served.url + path, headers=h, timeout=30).status_code == 200
            times = []
            for _ in range(40):
                a = time.perf_counter()
                r = s.get(served.url + path, headers=h, timeout=30)
                times.append(time.perf_counter() - a)
                assert r.status_code == 200, r.text[:200]
            goal = 100 if path.startswith("/api") else 50
            rows.append({"db": db, "phase": "server time", "route": f"GET {path}", "n": str(len(times)),
                         "errors": "0", "p50 ms": f"{pct(times, .5):.1f}", "p95 ms": f"{pct(times, .95):.1f}",
                         "goal p95": f"{goal} ms", "ok": "yes" if pct(times, .95) <= goal else "NO"})
        lat: dict[str, list[float]] = defaultdict(list)
        errs: dict[str, int] = defaultdict(int)
        lock = threading.Lock()
        deadline = time.monotonic() + seconds

        def lister() -> None:
            sess = requests.Session()
            while time.monotonic() < deadline:
                a = time.perf_counter()
                try:
                    ok = sess.get(served.url + "/api/v1/vessels", headers=h, timeout=60).status_code == 200
                except requests.RequestException:
                    ok = False
                with lock:
                    lat["GET /api/v1/vessels"].append(time.perf_counter() - a)
                    errs["GET /api/v1/vessels"] += not ok

        def launcher(i: int) -> None:
            sess = requests.Session()
            while time.monotonic() < deadline:
                a = time.perf_counter()
                try:
                    r = sess.post(served.url + "/api/v1/vessels", headers=h, timeout=60,
                                  json={"name": f"c{i}", "gpus": 1, "check": True})
                    ok = r.status_code == 200
                except requests.RequestException:
                    ok = False
                with lock:
                    lat["POST /api/v1/vessels (check)"].append(time.perf_counter() - a)
                    errs["POST /api/v1/vessels (check)"] += not ok

        threads = [threading.Thread(target=lister) for _ in range(listers)]
        threads += [threading.Thread(target=launcher, args=(i,)) for i in range(launchers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for route, xs in lat.items():
            goal_ms = 100.0 if route.startswith("GET") else None
            ok = errs[route] == 0 and (goal_ms is None or pct(xs, .95) <= goal_ms)
            rows.append({"db": db, "phase": f"{listers}+{launchers} clients, {seconds:g} s", "route": route,
                         "n": str(len(xs)), "errors": str(errs[route]), "p50 ms": f"{pct(xs, .5):.1f}",
                         "p95 ms": f"{pct(xs, .95):.1f}", "goal p95": f"{goal_ms:g} ms" if goal_ms else "0 errors",
                         "ok": "yes" if ok else "NO"})
    finally:
        served.stop()
        svc.close()
        led.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dbs", default="sqlite,postgresql")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--listers", type=int, default=50)
    ap.add_argument("--launchers", type=int, default=10)
    a = ap.parse_args()
    rows: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        for db in a.dbs.split(","):
            if db == "sqlite":
                url = f"sqlite:///{Path(tmp) / 'ledger.db'}"
                rows += run(db, url, a.seconds, a.listers, a.launchers)
            elif db == "postgresql":
                from tests.harness.postgres import fresh_database, start_postgres

                root = Path(tmp) / "pg"
                root.mkdir()
                Path(tmp).chmod(0o755)
                pg = start_postgres(root)
                try:
                    rows += run(db, fresh_database(pg, "bench"), a.seconds, a.listers, a.launchers)
                finally:
                    pg.stop()
    cols = ["db", "phase", "route", "n", "errors", "p50 ms", "p95 ms", "goal p95", "ok"]
    print(render(rows, cols, empty="no results"))
    print(f"median of p95 (server time): {statistics.median(float(r['p95 ms']) for r in rows if r['phase'] == 'server time'):.1f} ms")


if __name__ == "__main__":
    main()
