"""GPU inventory of a host from ``nvidia-smi``: pure parsing, standard library only.

This file is also shipped to managed hosts as the module_utils of ``slipway.infra.gpu_facts``
(``plugins/module_utils/gpu.py`` links here), so it must import nothing outside the stdlib.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

NVIDIA_SMI_QUERY = ("index", "uuid", "name", "memory.total", "pci.bus_id")
NVIDIA_SMI_ARGS = ["--query-gpu=" + ",".join(NVIDIA_SMI_QUERY), "--format=csv,noheader,nounits"]


@dataclass(frozen=True)
class Gpu:
    index: int
    uuid: str
    model: str
    memory_mib: int
    pci_bus_id: str = ""
    numa_node: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class GpuQueryError(Exception):
    pass


_MIB = re.compile(r"^\s*(\d+)(?:\s*MiB)?\s*$")


def parse_nvidia_smi_csv(text: str) -> list[Gpu]:
    """Parse ``nvidia-smi --query-gpu=index,uuid,name,memory.total[,pci.bus_id] --format=csv,noheader``.

    Accepts output with or without ``nounits`` (``81920 MiB`` or ``81920``) and with or without the
    pci.bus_id column. Blank lines are ignored; a malformed line raises GpuQueryError naming it.
    """
    gpus: list[Gpu] = []
    for row in csv.reader(io.StringIO(text), skipinitialspace=True):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 4:
            raise GpuQueryError(f"unexpected nvidia-smi line (want index,uuid,name,memory): {row!r}")
        index_s, uuid, name, memory_s = (c.strip() for c in row[:4])
        mem = _MIB.match(memory_s)
        if not index_s.isdigit() or not uuid.startswith(("GPU-", "MIG-")) or mem is None:
            raise GpuQueryError(f"unexpected nvidia-smi line: {','.join(row)!r}")
        bus = row[4].strip() if len(row) > 4 else ""
        gpus.append(Gpu(int(index_s), uuid, name, int(mem.group(1)), bus))
    return sorted(gpus, key=lambda g: g.index)


def _numa_node_of(pci_bus_id: str, sysfs: str = "/sys/bus/pci/devices") -> int:
    if not pci_bus_id:
        return 0
    # nvidia-smi prints 00000000:17:00.0; sysfs names it 0000:17:00.0
    dom, _, rest = pci_bus_id.partition(":")
    name = f"{dom[-4:]}:{rest}".lower()
    try:
        with open(os.path.join(sysfs, name, "numa_node")) as fh:
            node = int(fh.read().strip())
    except (OSError, ValueError):
        return 0
    return max(node, 0)


def query_gpus(nvidia_smi: str | None = None, timeout: float = 30.0) -> tuple[list[Gpu], str]:
    """Run nvidia-smi; returns (gpus, note). No driver or no binary is not an error: 0 GPUs."""
    exe = nvidia_smi or shutil.which("nvidia-smi")
    if not exe:
        return [], "nvidia-smi not found: no NVIDIA driver on this host, 0 GPUs"
    try:
        proc = subprocess.run([exe, *NVIDIA_SMI_ARGS], capture_output=True, text=True, timeout=timeout,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"nvidia-smi could not run ({exc}): 0 GPUs"
    if proc.returncode != 0:
        msg = (proc.stderr or proc.stdout).strip().splitlines()
        return [], f"nvidia-smi failed ({msg[0] if msg else proc.returncode}): 0 GPUs"
    gpus = parse_nvidia_smi_csv(proc.stdout)
    gpus = [Gpu(g.index, g.uuid, g.model, g.memory_mib, g.pci_bus_id, _numa_node_of(g.pci_bus_id))
            for g in gpus]
    return gpus, f"{len(gpus)} GPU(s) found"


def numa_nodes(sysfs: str = "/sys/devices/system/node") -> int:
    try:
        return max(1, len([d for d in os.listdir(sysfs) if re.fullmatch(r"node\d+", d)]))
    except OSError:
        return 1


def host_capacity() -> dict[str, int]:
    """CPUs and memory of this host, read from the kernel."""
    cpus = os.cpu_count() or 1
    mem_kib = 0
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
                    break
    except OSError:
        pass
    return {"cpus": cpus, "memory_mib": mem_kib // 1024, "numa_nodes": numa_nodes()}
