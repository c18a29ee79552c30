"""The fleet as the inventory declares it → ledger host records.

An inventory host becomes a :class:`~slipway.ledger.HostSpec` from its ``slipway_*`` variables; what it
does not declare (CPUs, memory) is asked of its Docker Engine once, and GPUs come from
``slipway.infra.gpu_facts`` (stored in the ledger by ``site.yml``) or an explicit ``slipway_gpus`` list.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from slipway.errors import ValidationError
from slipway.ledger import GpuSpec, HostSpec, Ledger
from slipway.request import QUEUE_RE, parse_int

NETWORK_MODES = ("host", "bridge")
DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"


def default_docker_url() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_URL


def parse_port_range(field: str, value: Any) -> tuple[int, int]:
    if isinstance(value, list | tuple) and len(value) == 2:
        lo, hi = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+\s*-\s*\d+\s*", value):
        lo, hi = value.split("-")
    else:
        raise ValidationError(field, "not a port range", allowed="'LOW-HIGH', e.g. 20000-20999", got=value)
    lo_i, hi_i = parse_int(field, lo, minimum=1024, maximum=65535), parse_int(field, hi, minimum=1024,
                                                                                 maximum=65535)
    if hi_i - lo_i < 1:
        raise ValidationError(field, "needs at least two ports", allowed="LOW < HIGH", got=value)
    return lo_i, hi_i


def parse_gpus(field: str, value: Any) -> tuple[GpuSpec, ...]:
    if value in (None, ""):
        return ()
    if not isinstance(value, list):
        raise ValidationError(field, "must be a list of GPUs",
                              allowed="[{index, uuid, model, memory_mib, numa_node}] as gpu_facts returns")
    out = []
    for i, g in enumerate(value):
        if not isinstance(g, Mapping) or not str(g.get("uuid", "")).startswith(("GPU-", "MIG-")):
            raise ValidationError(f"{field}[{i}]", "each GPU needs a uuid starting with GPU- or MIG-",
                                  got=g)
        out.append(GpuSpec(index=parse_int(f"{field}[{i}].index", g.get("index", i)), uuid=str(g["uuid"]),
                           model=str(g.get("model", g.get("name", ""))),
                           memory_mib=parse_int(f"{field}[{i}].memory_mib", g.get("memory_mib", 0)),
                           numa_node=parse_int(f"{field}[{i}].numa_node", g.get("numa_node", 0))))
    if len({g.uuid for g in out}) != len(out):
        raise ValidationError(field, "a GPU uuid appears twice")
    return tuple(out)


Probe = Callable[[str], Mapping[str, int]]


def host_spec(name: str, hv: Mapping[str, Any], *, known: HostSpec | None = None,
              probe: Probe | None = None) -> HostSpec:
    """A HostSpec from one host's ``slipway_*`` inventory variables (``hv``)."""
    prefix = f"hosts.{name}."
    queue = hv.get("slipway_queue") or (known.queue if known else None)
    if not isinstance(queue, str) or not QUEUE_RE.match(queue):
        raise ValidationError(prefix + "slipway_queue", "every vessel host needs a queue (hardware class)",
                              allowed="e.g. a100, rtx3090, cpu", got=queue)
    docker_url = str(hv.get("slipway_docker_url") or default_docker_url())
    if not docker_url.startswith(("unix://", "ssh://", "tcp://")):
        raise ValidationError(prefix + "slipway_docker_url", "not a Docker Engine URL",
                              allowed="unix:///path/docker.sock, ssh://user@host[:port], tcp://host:port",
                              got=docker_url)
    address = str(hv.get("slipway_address") or hv.get("ansible_host") or
                  ("127.0.0.1" if docker_url.startswith("unix://") else name))
    mode = hv.get("slipway_network_mode", "host")
    if mode not in NETWORK_MODES:
        raise ValidationError(prefix + "slipway_network_mode", "unknown network mode", allowed=NETWORK_MODES,
                              got=mode)
    lo, hi = parse_port_range(prefix + "slipway_port_range", hv.get("slipway_port_range", "20000-20999"))
    cpus = hv.get("slipway_cpus")
    mem = hv.get("slipway_memory_mib")
    if (cpus in (None, "") or mem in (None, "")) and known is None:
        if probe is None:
            raise ValidationError(prefix + "slipway_cpus", "CPUs and memory are unknown",
                                  allowed="declare slipway_cpus and slipway_memory_mib, or let Slipway ask "
                                          "the host's Docker Engine")
        facts = probe(docker_url)
        cpus = facts["cpus"] if cpus in (None, "") else cpus
        mem = facts["memory_mib"] if mem in (None, "") else mem
    cpus_n = parse_int(prefix + "slipway_cpus", cpus if cpus not in (None, "") else known.cpus  # type: ignore[union-attr]
                       , minimum=1)
    mem_n = parse_int(prefix + "slipway_memory_mib",
                      mem if mem not in (None, "") else known.memory_mib, minimum=256)  # type: ignore[union-attr]
    reserve = parse_int(prefix + "slipway_reserved_memory_mib", hv.get("slipway_reserved_memory_mib", 0))
    if "slipway_gpus" in hv:
        gpus = parse_gpus(prefix + "slipway_gpus", hv.get("slipway_gpus"))
    else:
        gpus = known.gpus if known else ()
    labels = hv.get("slipway_labels") or {}
    return HostSpec(name=name, queue=queue, docker_url=docker_url, address=address, cpus=cpus_n,
                    memory_mib=max(256, mem_n - reserve), gpus=gpus,
                    numa_nodes=parse_int(prefix + "slipway_numa_nodes", hv.get("slipway_numa_nodes", 1),
                                         minimum=1),
                    port_min=lo, port_max=hi, network_mode=mode, enabled=bool(hv.get("slipway_enabled", True)),
                    labels={str(k): str(v) for k, v in dict(labels).items()})


def sync_fleet(ledger: Ledger, fleet: Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]],
               probe: Probe | None = None) -> list[str]:
    """Bring the ledger's hosts in line with the inventory; returns the hosts whose record changed."""
    items = fleet.items() if isinstance(fleet, Mapping) else [(str(h.get("name")), h) for h in fleet]
    known = {h.name: h for h in ledger.hosts()}
    specs = [host_spec(name, hv, known=known.get(name), probe=probe) for name, hv in items]
    unchanged = [s for s in specs if known.get(s.name) == s]
    return ledger.sync_hosts([s for s in specs if s not in unchanged])
