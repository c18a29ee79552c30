"""Placement: best fit, NUMA locality, reasons when nothing fits (pure, property-tested)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slipway.errors import PlacementError, ValidationError
from slipway.request import VesselRequest
from slipway.scheduler import GpuSlot, HostState, place


def host(name: str, queue: str, gpus: int, free: int | None = None, cpus: int = 32, mem: int = 256 * 1024,
         numa: int = 1) -> HostState:
    free = gpus if free is None else free
    slots = tuple(GpuSlot(f"GPU-{name}-{i}", i, i * numa // max(gpus, 1)) for i in range(gpus))
    return HostState(name, queue, cpus, mem, gpus, slots[gpus - free:], tuple(range(cpus)), mem, numa)


def r(**kw: object) -> VesselRequest:
    return VesselRequest(name="v", user="u", **kw)  # type: ignore[arg-type]


FLEET = [host("gpu-01", "a100", 8, free=1), host("gpu-02", "a100", 8, free=0), host("gpu-03", "a100", 8, free=3),
         host("rtx-01", "rtx3090", 4), host("cpu-01", "cpu", 0)]


def test_best_fit_leaves_fewest_gpus_free() -> None:
    p = place(r(gpus=1, queue="a100"), FLEET)
    assert p.host == "gpu-01"  # 1 free: a perfect fit, keeps gpu-03's 3 together
    p = place(r(gpus=2, queue="a100"), FLEET)
    assert p.host == "gpu-03" and len(p.gpu_uuids) == 2


def test_cpu_only_requests_prefer_hosts_without_gpus() -> None:
    assert place(r(gpus=0), FLEET).host == "cpu-01"


def test_error_says_why_per_host() -> None:
    with pytest.raises(PlacementError) as err:
        place(r(gpus=4, queue="a100"), FLEET)
    assert str(err.value) == ("no host in queue a100 has 4 free GPUs: gpu-01 has 1 free, gpu-02 has 0 free, "
                              "gpu-03 has 3 free")


def test_more_gpus_than_any_host_is_bad_input() -> None:
    with pytest.raises(ValidationError, match=r"^gpus: no host in queue any has 99 GPUs.*allowed: 0 to 8"):
        place(r(gpus=99), FLEET)


def test_unknown_queue_lists_the_queues() -> None:
    with pytest.raises(ValidationError, match=r"queue: unknown queue 'h100'; allowed: any, a100, cpu, rtx3090"):
        place(r(queue="h100"), FLEET)


def test_memory_beyond_every_host() -> None:
    with pytest.raises(ValidationError, match=r"^memory: no host in queue any has 1024 GiB"):
        place(r(memory_mib=1024 * 1024), FLEET)


def test_full_cpus_are_reported() -> None:
    busy = HostState("c", "cpu", 4, 8192, 0, (), (0,), 8192)
    with pytest.raises(PlacementError, match="c has 1 free CPUs"):
        place(r(cpus=2), [busy])


def test_gpus_and_cpus_from_one_numa_node() -> None:
    h = HostState("n", "a100", 8, 65536, 4,
                  (GpuSlot("GPU-0", 0, 0), GpuSlot("GPU-2", 2, 1), GpuSlot("GPU-3", 3, 1)),
                  tuple(range(8)), 65536, numa_nodes=2)
    p = place(r(gpus=2, cpus=2), [h])
    assert p.gpu_uuids == ("GPU-2", "GPU-3")
    assert all(c >= 4 for c in p.cpus)  # node 1's CPUs


@st.composite
def fleets(draw: st.DrawFn) -> list[HostState]:
    n = draw(st.integers(1, 5))
    out = []
    for i in range(n):
        gpus = draw(st.integers(0, 8))
        free = draw(st.integers(0, gpus))
        cpus = draw(st.integers(1, 16))
        free_cpus = tuple(sorted(draw(st.sets(st.integers(0, cpus - 1)))))
        mem = draw(st.integers(1024, 65536))
        slots = tuple(GpuSlot(f"GPU-{i}-{k}", k) for k in range(gpus))[:free]
        out.append(HostState(f"h{i}", draw(st.sampled_from(["a", "b"])), cpus, mem, gpus, slots, free_cpus,
                             draw(st.integers(0, mem))))
    return out


@settings(max_examples=300, deadline=None)
@given(fleets(), st.integers(0, 8), st.integers(1, 16), st.integers(1, 65536), st.sampled_from(["any", "a", "b"]))
def test_placement_never_oversubscribes(hosts: list[HostState], gpus: int, cpus: int, mem: int, q: str) -> None:
    req = r(gpus=gpus, cpus=cpus, memory_mib=mem, queue=q)
    try:
        p = place(req, hosts)
    except (PlacementError, ValidationError):
        pool = [h for h in hosts if q == "any" or h.queue == q]
        assert not any(len(h.free_gpus) >= gpus and len(h.free_cpus) >= cpus and h.free_memory_mib >= mem
                       for h in pool)
        return
    h = next(h for h in hosts if h.name == p.host)
    assert q in ("any", h.queue)
    assert len(p.gpu_uuids) == gpus and set(p.gpu_uuids) <= {g.uuid for g in h.free_gpus}
    assert len(p.cpus) == cpus and set(p.cpus) <= set(h.free_cpus)
    assert mem <= h.free_memory_mib
