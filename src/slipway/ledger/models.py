"""What the ledger hands out: plain frozen dataclasses (no SQLAlchemy objects leave the ledger)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slipway.ledger.schema import ACTIVE_STATES


@dataclass(frozen=True)
class GpuSpec:
    index: int
    uuid: str
    model: str = ""
    memory_mib: int = 0
    numa_node: int = 0


@dataclass(frozen=True)
class HostSpec:
    """A host as the inventory declares it."""

    name: str
    queue: str
    docker_url: str
    address: str
    cpus: int
    memory_mib: int
    gpus: tuple[GpuSpec, ...] = ()
    numa_nodes: int = 1
    port_min: int = 20000
    port_max: int = 20999
    network_mode: str = "host"
    enabled: bool = True
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Vessel:
    id: int
    name: str
    owner: str
    host: str
    queue: str
    state: str
    image: str
    gpu_uuids: tuple[str, ...]
    cpuset: str
    cpus: int
    memory_mib: int
    shm_mib: int
    ssh_port: int | None
    jupyter_port: int | None
    address: str | None
    container_id: str | None
    tailscale_key_id: str | None
    tailscale_device_id: str | None
    tailscale_ip: str | None
    keep_until: datetime | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    host_address: str = ""
    docker_url: str = ""
    network_mode: str = "host"
    lease_until: datetime | None = None
    final_state: str | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["gpu_uuids"] = list(self.gpu_uuids)
        d["gpus"] = len(self.gpu_uuids)
        for k in ("keep_until", "created_at", "updated_at", "ended_at", "lease_until"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


@dataclass(frozen=True)
class Event:
    id: int
    at: datetime
    actor: str
    action: str
    vessel: str | None
    host: str | None
    detail: dict[str, Any]
    actor_subject: str | None = None
    actor_email: str | None = None
