"""Placement: which host, which GPUs, which CPUs. Pure: no I/O, no clock, no randomness.

Best fit: among enabled hosts of the asked queue that can take the request, the one that leaves the
fewest GPUs free, then the fewest CPUs, then the least memory (ties by name). Within a host, GPUs
and CPUs are taken from one NUMA node where possible, lowest indices first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from slipway.errors import PlacementError, ValidationError
from slipway.request import ANY_QUEUE, VesselRequest, format_mib


@dataclass(frozen=True)
class GpuSlot:
    uuid: str
    index: int
    numa_node: int = 0


@dataclass(frozen=True)
class HostState:
    """A host's capacity and what is free on it now."""

    name: str
    queue: str
    cpus_total: int
    memory_total_mib: int
    gpus_total: int
    free_gpus: tuple[GpuSlot, ...] = ()
    free_cpus: tuple[int, ...] = ()
    free_memory_mib: int = 0
    numa_nodes: int = 1
    enabled: bool = True
    # counts when the slots are not loaded (the ledger's aggregate summary of a large fleet)
    free_gpu_count: int | None = None
    free_cpu_count: int | None = None

    @property
    def n_free_gpus(self) -> int:
        return len(self.free_gpus) if self.free_gpu_count is None else self.free_gpu_count

    @property
    def n_free_cpus(self) -> int:
        return len(self.free_cpus) if self.free_cpu_count is None else self.free_cpu_count

    def cpu_numa(self, cpu: int) -> int:
        per = max(1, -(-self.cpus_total // max(1, self.numa_nodes)))
        return min(cpu // per, self.numa_nodes - 1)


@dataclass(frozen=True)
class Placement:
    host: str
    gpu_uuids: tuple[str, ...]
    cpus: tuple[int, ...]
    memory_mib: int
    reasons: tuple[str, ...] = field(default=())

    @property
    def cpuset(self) -> str:
        return ",".join(str(c) for c in self.cpus)


def hosts_in_queue(hosts: Sequence[HostState], queue: str) -> list[HostState]:
    return [h for h in hosts if queue == ANY_QUEUE or h.queue == queue]


def validate_against_fleet(req: VesselRequest, hosts: Sequence[HostState]) -> None:
    """Refuse requests no host could ever take (bad input, not a full fleet)."""
    queues = sorted({h.queue for h in hosts})
    if req.queue != ANY_QUEUE and req.queue not in queues:
        raise ValidationError("queue", f"unknown queue {req.queue!r}", allowed=[ANY_QUEUE, *queues])
    pool = [h for h in hosts_in_queue(hosts, req.queue) if h.enabled]
    where = f"queue {req.queue}"
    if not pool:
        raise PlacementError(f"no enabled host in {where}")
    most_gpus = max(h.gpus_total for h in pool)
    if req.gpus > most_gpus:
        plural = "GPU" if req.gpus == 1 else "GPUs"
        per_host = ", ".join(f"{h.name} has {h.gpus_total}" for h in sorted(pool, key=lambda h: h.name)[:20])
        raise ValidationError("gpus", f"no host in {where} has {req.gpus} {plural}: {per_host}",
                              allowed=f"0 to {most_gpus} (the most GPUs one host in {where} has)")
    most_cpus = max(h.cpus_total for h in pool)
    if req.cpus > most_cpus:
        raise ValidationError("cpus", f"no host in {where} has {req.cpus} CPUs",
                              allowed=f"1 to {most_cpus} (the most CPUs one host in {where} has)",
                              got=req.cpus)
    most_mem = max(h.memory_total_mib for h in pool)
    if req.memory_mib > most_mem:
        raise ValidationError("memory", f"no host in {where} has {format_mib(req.memory_mib)}",
                              allowed=f"up to {format_mib(most_mem)} (the most memory one host in "
                                      f"{where} offers)", got=format_mib(req.memory_mib))


def _why_not(req: VesselRequest, h: HostState) -> str | None:
    if not h.enabled:
        return f"{h.name} is disabled"
    if h.n_free_gpus < req.gpus:
        return f"{h.name} has {h.n_free_gpus} free"
    if h.n_free_cpus < req.cpus:
        return f"{h.name} has {h.n_free_cpus} free CPUs"
    if h.free_memory_mib < req.memory_mib:
        return f"{h.name} has {format_mib(h.free_memory_mib)} free memory"
    return None


def _pick_gpus(h: HostState, n: int) -> tuple[GpuSlot, ...]:
    if n == 0:
        return ()
    by_node: dict[int, list[GpuSlot]] = {}
    for g in sorted(h.free_gpus, key=lambda g: g.index):
        by_node.setdefault(g.numa_node, []).append(g)
    # the node that fits them all and leaves the fewest behind; else lowest indices overall
    fitting = [(len(gs) - n, node) for node, gs in by_node.items() if len(gs) >= n]
    if fitting:
        _, node = min(fitting)
        return tuple(by_node[node][:n])
    return tuple(sorted(h.free_gpus, key=lambda g: g.index)[:n])


def _pick_cpus(h: HostState, n: int, prefer_node: int | None) -> tuple[int, ...]:
    cpus = sorted(h.free_cpus)
    if prefer_node is not None:
        cpus.sort(key=lambda c: (h.cpu_numa(c) != prefer_node, c))
    else:
        by_node: dict[int, list[int]] = {}
        for c in cpus:
            by_node.setdefault(h.cpu_numa(c), []).append(c)
        fitting = [(len(cs) - n, node) for node, cs in by_node.items() if len(cs) >= n]
        if fitting:
            _, node = min(fitting)
            cpus.sort(key=lambda c: (h.cpu_numa(c) != node, c))
    return tuple(sorted(cpus[:n]))


def place_on(req: VesselRequest, h: HostState) -> Placement | None:
    """Place on one given host, or None when it cannot take the request."""
    if _why_not(req, h) is not None or len(h.free_gpus) < req.gpus or len(h.free_cpus) < req.cpus:
        return None
    gpus = _pick_gpus(h, req.gpus)
    node = gpus[0].numa_node if gpus else None
    return Placement(h.name, tuple(g.uuid for g in gpus), _pick_cpus(h, req.cpus, node), req.memory_mib)


def rank(req: VesselRequest, hosts: Sequence[HostState]) -> list[HostState]:
    """Hosts that can take the request now, best fit first."""
    fits = [h for h in hosts_in_queue(hosts, req.queue) if _why_not(req, h) is None]
    return sorted(fits, key=lambda h: (h.n_free_gpus - req.gpus, h.n_free_cpus - req.cpus,
                                       h.free_memory_mib - req.memory_mib, h.name))


def place_ranked(req: VesselRequest, hosts: Sequence[HostState],
                 detail: Callable[[str], HostState | None]) -> Placement:
    """The best placement, or PlacementError saying per host why none fits.

    ``hosts`` may be summaries (free counts only): they are enough to validate, rank and explain.
    ``detail(name)`` gives a host's free GPU and CPU slots, asked only for the hosts tried, best first.
    """
    validate_against_fleet(req, hosts)
    pool = hosts_in_queue(hosts, req.queue)
    for h in rank(req, hosts):
        full = detail(h.name)
        chosen = place_on(req, full) if full is not None else None
        if chosen is None:
            continue  # it changed since the summary was read: try the next best
        others = tuple(f"{o.name}: {_why_not(req, o) or 'fits, but leaves more free'}"
                       for o in sorted(pool, key=lambda o: o.name) if o.name != chosen.host)
        return Placement(chosen.host, chosen.gpu_uuids, chosen.cpus, chosen.memory_mib, others)
    reasons = [r for h in sorted(pool, key=lambda h: h.name) if (r := _why_not(req, h))]
    if all(not h.enabled or h.n_free_gpus < req.gpus for h in pool):
        plural = "GPU" if req.gpus == 1 else "GPUs"
        raise PlacementError(f"no host in queue {req.queue} has {req.gpus} free {plural}", reasons)
    raise PlacementError(f"no host in queue {req.queue} can take {req.describe()} now", reasons)


def place(req: VesselRequest, hosts: Sequence[HostState]) -> Placement:
    """The best placement over fully known hosts, or PlacementError saying per host why none fits."""
    by_name = {h.name: h for h in hosts}
    return place_ranked(req, hosts, by_name.get)
