"""Host specs from the inventory, checked against the engine's own figures (pure, with a probe)."""

from __future__ import annotations

from typing import Any

import pytest

from slipway.errors import ValidationError
from slipway.fleet import fleet_problems, host_spec

REAL = {"cpus": 2, "memory_mib": 4096}


def hv(**kw: Any) -> dict[str, Any]:
    return {"slipway_queue": "a100", "slipway_docker_url": "ssh://slipway@gpu-01", **kw}


def probe(_url: str) -> dict[str, int]:
    return REAL


def test_declared_capacity_beyond_the_engine_is_refused_with_both_numbers() -> None:
    with pytest.raises(ValidationError, match=r"hosts\.g1\.slipway_cpus: declares 16 CPUs but its Docker Engine "
                                              r"has 2 CPUs .*allowed: at most 2, or slipway_capacity_override"):
        host_spec("g1", hv(slipway_cpus=16, slipway_memory_mib=4096), probe=probe)
    with pytest.raises(ValidationError, match="slipway_memory_mib: declares 1048576 MiB but its Docker Engine has 4096"):
        host_spec("g1", hv(slipway_cpus=2, slipway_memory_mib=1024 * 1024), probe=probe)
    ok = host_spec("g1", hv(slipway_cpus=16, slipway_memory_mib=4096, slipway_capacity_override=True), probe=probe)
    assert ok.cpus == 16


def test_removing_a_declared_value_returns_to_the_engines() -> None:
    known = host_spec("g1", hv(slipway_cpus=16, slipway_memory_mib=8192, slipway_capacity_override=True),
                      probe=probe)
    again = host_spec("g1", hv(), known=known, probe=probe)
    assert (again.cpus, again.memory_mib) == (2, 4096)


def test_an_unreachable_engine_keeps_what_the_ledger_knows() -> None:
    known = host_spec("g1", hv(), probe=probe)

    def down(_url: str) -> dict[str, int]:
        from slipway.errors import EngineError
        raise EngineError("host g1: the Docker Engine cannot be reached")

    assert host_spec("g1", hv(), known=known, probe=down) == known


def test_fleet_problems_use_the_launch_rules() -> None:
    assert fleet_problems({"ok": hv(), "bad": hv(slipway_queue="A100 SXM", slipway_port_range="80-90")}) == [
        "hosts.bad.slipway_queue: every vessel host needs a queue (hardware class) (got 'A100 SXM'); allowed: lower "
        "case letters, digits, '.', '_' and '-', at most 32 characters, e.g. a100, rtx3090, cpu"]
