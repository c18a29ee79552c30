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

from slipway.errors import SlipwayError, ValidationError
from slipway.ledger import GpuSpec, HostSpec, Ledger
from slipway.request import QUEUE_RE, parse_int

NETWORK_MODES = ("host", "bridge")
DEFAULT_DOCKER_URL = "unix:///var/run/docker.sock"
PORT_FLOOR = 1024  # vessel ports are never privileged ones


def default_docker_url() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_URL


def parse_port_range(field: str, value: Any) -> tuple[int, int]:
    if isinstance(value, list | tuple) and len(value) == 2:
        lo, hi = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[0-9]+\s*-\s*[0-9]+\s*", value):
        lo, hi = value.split("-")
    else:
        raise ValidationError(field, "not a port range", allowed="'LOW-HIGH', e.g. 20000-20999", got=value)
    lo_i, hi_i = (parse_int(field, lo, minimum=PORT_FLOOR, maximum=65535),
                  parse_int(field, hi, minimum=PORT_FLOOR, maximum=65535))
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


HOST_KEYS = ("queue", "docker_url", "address", "cpus", "memory_mib", "reserved_memory_mib", "gpus", "numa_nodes",
             "port_range", "network_mode", "enabled", "labels", "capacity_override")


def _declared(hv: Mapping[str, Any]) -> bool:
    return hv.get("slipway_cpus") not in (None, "") and hv.get("slipway_memory_mib") not in (None, "")


def host_spec(name: str, hv: Mapping[str, Any], *, known: HostSpec | None = None,
              probe: Probe | None = None) -> HostSpec:
    """A HostSpec from one host's ``slipway_*`` inventory variables (``hv``)."""
    values = {k: hv[f"slipway_{k}"] for k in HOST_KEYS if f"slipway_{k}" in hv}
    if "address" not in values and hv.get("ansible_host"):
        values["address"] = hv["ansible_host"]
    return host_spec_from(name, values, known=known, probe=probe)


def host_spec_from(name: str, hv: Mapping[str, Any], *, known: HostSpec | None = None,
                   probe: Probe | None = None) -> HostSpec:
    """A HostSpec from a host's un-prefixed settings (the rules of every face: inventory, fleet_host, API).

    Errors name the inventory variable (``hosts.<name>.slipway_<key>``).
    """
    prefix = f"hosts.{name}.slipway_"
    queue = hv.get("queue") or (known.queue if known else None)
    if not isinstance(queue, str) or not QUEUE_RE.fullmatch(queue):
        raise ValidationError(prefix + "queue", "every vessel host needs a queue (hardware class)",
                              allowed="lower case letters, digits, '.', '_' and '-', at most 32 characters, "
                                      "e.g. a100, rtx3090, cpu", got=queue)
    docker_url = str(hv.get("docker_url") or default_docker_url())
    if not re.fullmatch(r"(unix|ssh|tcp)://\S+", docker_url):
        raise ValidationError(prefix + "docker_url", "not a Docker Engine URL",
                              allowed="unix:///path/docker.sock, ssh://user@host[:port], tcp://host:port",
                              got=docker_url)
    address = str(hv.get("address") or ("127.0.0.1" if docker_url.startswith("unix://") else name))
    mode = hv.get("network_mode") or "host"
    if mode not in NETWORK_MODES:
        raise ValidationError(prefix + "network_mode", "unknown network mode", allowed=NETWORK_MODES, got=mode)
    lo, hi = parse_port_range(prefix + "port_range", hv.get("port_range") or "20000-20999")
    cpus, mem = hv.get("cpus"), hv.get("memory_mib")
    declared = cpus not in (None, "") and mem not in (None, "")
    facts = None
    if probe is not None and (known is None or not declared or _differs(known, cpus, mem, hv)):
        try:
            facts = probe(docker_url)  # the engine's own figures, asked on every change
        except SlipwayError:
            if known is None and not declared:
                raise
    if not declared and facts is None and known is None:
        raise ValidationError(prefix + "cpus", "CPUs and memory are unknown",
                              allowed="declare slipway_cpus and slipway_memory_mib, or let Slipway ask "
                                      "the host's Docker Engine")
    cpus_n = parse_int(prefix + "cpus", cpus if cpus not in (None, "") else
                       (facts["cpus"] if facts else known.cpus), minimum=1)  # type: ignore[union-attr]
    mem_n = parse_int(prefix + "memory_mib", mem if mem not in (None, "") else
                      (facts["memory_mib"] if facts else known.memory_mib), minimum=256)  # type: ignore[union-attr]
    if facts is not None and not hv.get("capacity_override"):
        for key, want, real, unit in (("cpus", cpus_n, int(facts["cpus"]), " CPUs"),
                                      ("memory_mib", mem_n, int(facts["memory_mib"]), " MiB")):
            if want > real:
                raise ValidationError(prefix + key, f"declares {want}{unit} but its Docker Engine has {real}{unit}",
                                      allowed=f"at most {real}, or slipway_capacity_override: true", got=want)
    reserve = parse_int(prefix + "reserved_memory_mib", hv.get("reserved_memory_mib") or 0)
    known_gpus = known.gpus if known else ()
    gpus = parse_gpus(prefix + "gpus", hv.get("gpus")) if "gpus" in hv else known_gpus
    labels = hv.get("labels") or {}
    enabled = hv.get("enabled", True)
    return HostSpec(name=name, queue=queue, docker_url=docker_url, address=address, cpus=cpus_n,
                    memory_mib=max(256, mem_n - reserve), gpus=gpus,
                    numa_nodes=parse_int(prefix + "numa_nodes", hv.get("numa_nodes") or 1, minimum=1),
                    port_min=lo, port_max=hi, network_mode=mode, enabled=enabled is not False,
                    labels={str(k): str(v) for k, v in dict(labels).items()})


def _differs(known: HostSpec, cpus: Any, mem: Any, hv: Mapping[str, Any]) -> bool:
    try:
        reserve = int(hv.get("reserved_memory_mib") or 0)
        return int(cpus) != known.cpus or max(256, int(mem) - reserve) != known.memory_mib
    except (TypeError, ValueError):
        return True


def fleet_problems(fleet: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every host's first inventory problem, by the same rules a launch applies (for validate_inventory.yml)."""
    problems = []
    for name, hv in sorted(fleet.items()):
        try:
            host_spec(name, hv, probe=None if _declared(hv) else lambda _url: {"cpus": 1, "memory_mib": 1024})
        except ValidationError as exc:
            problems.append(str(exc))
    return problems


def sync_fleet(ledger: Ledger, fleet: Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]],
               probe: Probe | None = None) -> list[str]:
    """Bring the ledger's hosts in line with the inventory; returns the hosts whose record changed."""
    items = fleet.items() if isinstance(fleet, Mapping) else [(str(h.get("name")), h) for h in fleet]
    known = {h.name: h for h in ledger.hosts()}
    specs = [host_spec(name, hv, known=known.get(name), probe=probe) for name, hv in items]
    unchanged = [s for s in specs if known.get(s.name) == s]
    return ledger.sync_hosts([s for s in specs if s not in unchanged])
