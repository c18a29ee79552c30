"""The ledger on SQLite and on a real PostgreSQL: atomic reservations under concurrency."""

from __future__ import annotations

import multiprocessing as mp
import random
from collections import Counter

import pytest
from sqlalchemy import text

from slipway.errors import PlacementError, ValidationError
from slipway.ledger import SCHEMA_HEAD, GpuSpec, HostSpec, Ledger
from slipway.request import VesselRequest

FLEET = [
    HostSpec("gpu-01", "a100", "unix:///x", "10.0.0.1", cpus=16, memory_mib=64 * 1024,
             gpus=tuple(GpuSpec(i, f"GPU-01-{i}") for i in range(4))),
    HostSpec("gpu-02", "a100", "unix:///x", "10.0.0.2", cpus=8, memory_mib=32 * 1024,
             gpus=tuple(GpuSpec(i, f"GPU-02-{i}") for i in range(2))),
    HostSpec("rtx-01", "rtx3090", "unix:///x", "10.0.0.3", cpus=8, memory_mib=32 * 1024,
             gpus=tuple(GpuSpec(i, f"GPU-R1-{i}") for i in range(2))),
    HostSpec("cpu-01", "cpu", "unix:///x", "10.0.0.4", cpus=8, memory_mib=16 * 1024),
]


def test_schema_head_matches_alembic(sqlite_url: str) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", "slipway.ledger:migrations")
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_HEAD
    led = Ledger(sqlite_url)
    with led.read() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_HEAD


def test_reserve_and_release(ledger_url: str) -> None:
    led = Ledger(ledger_url)
    assert led.sync_hosts(FLEET) == [h.name for h in FLEET]
    assert led.sync_hosts(FLEET) == []  # unchanged specs: nothing recorded again
    v = led.reserve(VesselRequest("a", "alice", gpus=2, cpus=4, memory_mib=8192, queue="a100"), "alice")
    assert v.host == "gpu-02" and v.gpu_uuids == ("GPU-02-0", "GPU-02-1") and v.state == "starting"
    assert v.ssh_port == 20000 and v.jupyter_port == 20001
    with pytest.raises(ValidationError, match="name: a vessel named 'a' is already running"):
        led.reserve(VesselRequest("a", "bob", gpus=0), "bob")
    ended = led.release("a", "alice", state="stopped", reason="done")
    assert ended is not None and ended.state == "stopped"
    assert led.allocations() == {"gpus": [], "cpus": [], "ports": []}
    again = led.reserve(VesselRequest("a", "bob", gpus=1), "bob")  # name free again, GPUs too
    assert again.owner == "bob"
    actions = [e.action for e in led.events()]
    assert actions.count("reserve") == 2 and "stopped" in actions


def _worker(url: str, seed: int, q: mp.Queue) -> None:  # type: ignore[type-arg]
    rnd = random.Random(seed)
    led = Ledger(url, migrate=False)
    req = VesselRequest(f"v{seed}", f"user{seed % 7}", gpus=rnd.choice([0, 1, 1, 2, 2, 4]),
                        cpus=rnd.choice([1, 2, 4]), memory_mib=rnd.choice([2048, 4096, 8192]),
                        queue=rnd.choice(["any", "a100", "a100", "rtx3090"]))
    try:
        v = led.reserve(req, req.user)
        q.put(("placed", seed, v.host, v.gpu_uuids))
    except PlacementError as exc:
        q.put(("refused", seed, str(exc), ()))
    except Exception as exc:
        q.put(("error", seed, repr(exc), ()))
    finally:
        led.close()


def test_64_concurrent_launches_never_double_book(ledger_url: str) -> None:
    led = Ledger(ledger_url)
    led.sync_hosts(FLEET)
    ctx = mp.get_context("fork")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_worker, args=(ledger_url, i, q)) for i in range(64)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    kinds = Counter(r[0] for r in results)
    assert kinds["error"] == 0, [r for r in results if r[0] == "error"]
    assert kinds["placed"] + kinds["refused"] == 64 and kinds["placed"] >= 8
    for r in results:
        if r[0] == "refused":
            assert r[2].startswith("no host in queue")
    # no GPU twice, no host over its CPUs or memory
    gpus = [g for r in results if r[0] == "placed" for g in r[3]]
    assert len(gpus) == len(set(gpus))
    active = led.vessels()
    assert len(active) == kinds["placed"]
    by_host: dict[str, list[int]] = {}
    for v in active:
        cpus = [int(c) for c in v.cpuset.split(",")]
        by_host.setdefault(v.host, []).extend(cpus)
    for h in FLEET:
        cpus = by_host.get(h.name, [])
        assert len(cpus) == len(set(cpus)) <= h.cpus
        assert sum(v.memory_mib for v in active if v.host == h.name) <= h.memory_mib
    alloc = led.allocations()
    assert sorted(g for g, _ in alloc["gpus"]) == sorted(gpus)


@pytest.mark.parametrize("seed", range(6))
def test_the_one_statement_reservation_follows_the_schedulers_rule(postgres: object, seed: int) -> None:
    """On PostgreSQL the reservation is one SQL statement; it must choose exactly what the pure scheduler
    (slipway.scheduler.place) chooses: host, GPUs (NUMA), CPUs (NUMA), on a fleet that fills up."""
    from slipway.scheduler import place
    from tests.harness.postgres import fresh_database

    rnd = random.Random(seed)
    url = fresh_database(postgres, f"cte_{seed}_{rnd.randrange(10**6)}")  # type: ignore[arg-type]
    led = Ledger(url)
    hosts = []
    for h in range(rnd.randint(2, 5)):
        nodes = rnd.choice([1, 2])
        hosts.append(HostSpec(f"h{h}", rnd.choice(["a100", "rtx"]), "unix:///x", f"10.1.0.{h}",
                              cpus=rnd.choice([4, 8, 16]), memory_mib=rnd.choice([16, 32, 64]) * 1024,
                              numa_nodes=nodes, gpus=tuple(GpuSpec(i, f"G{seed}-{h}-{i}", numa_node=rnd.randrange(nodes))
                                                          for i in range(rnd.choice([0, 2, 4, 8])))))
    led.sync_hosts(hosts)
    checked = 0
    for i in range(25):
        req = VesselRequest(f"v{i}", "alice", gpus=rnd.choice([0, 1, 1, 2, 3]), cpus=rnd.choice([1, 2, 3]),
                            memory_mib=rnd.choice([1024, 4096]), queue=rnd.choice(["any", "a100", "rtx"]))
        try:
            want = place(req, led.host_states())
        except (PlacementError, ValidationError):
            want = None
        with led.write() as conn:
            got = led._reserve_one_statement(conn, req, "alice", 2, {}, 60)
        if want is None:
            assert got is None, (req, got)
            continue
        assert got is not None, (req, want)
        assert (got.host, got.gpu_uuids, got.cpuset) == (want.host, want.gpu_uuids, want.cpuset), req
        checked += 1
        if rnd.random() < 0.25:
            led.release(got.name, "alice", state="stopped", reason="test")
    assert checked >= 3
    led.close()
