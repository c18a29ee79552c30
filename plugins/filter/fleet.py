# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter slipway.infra.fleet: the vessel hosts of an inventory, with only their slipway_* settings.

Only these keys leave hostvars, so secrets in group_vars never become module arguments.
"""

from __future__ import annotations

from typing import Any

DOCUMENTATION = r"""
name: fleet
short_description: The vessel hosts of the inventory with their slipway_* settings
version_added: "0.1.0"
description:
  - "Takes a list of inventory host names (usually C(groups['slipway_hosts'])) and C(hostvars); returns a
    mapping of host name to only the settings the vessel modules read (C(slipway_queue),
    C(slipway_docker_url), ...)."
options:
  _input:
    description: Host names.
    type: list
    elements: str
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Launch on the fleet
  slipway.infra.vessel:
    fleet: "{{ groups['slipway_hosts'] | slipway.infra.fleet(hostvars) }}"
"""

RETURN = r"""
_value:
  description: Host name to its vessel settings.
  type: dict
"""

HOST_KEYS = ("slipway_queue", "slipway_docker_url", "slipway_address", "ansible_host", "slipway_cpus",
             "slipway_memory_mib", "slipway_reserved_memory_mib", "slipway_gpus", "slipway_numa_nodes",
             "slipway_port_range", "slipway_network_mode", "slipway_enabled", "slipway_labels",
             "slipway_capacity_override")


def fleet(hosts: list[str], hostvars: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in hosts or []:
        hv = hostvars[name]
        out[str(name)] = {k: hv[k] for k in HOST_KEYS if k in hv and hv[k] is not None}
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"fleet": fleet}
