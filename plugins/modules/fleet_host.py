#!/usr/bin/python
# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Ansible module slipway.infra.fleet_host: record a vessel host and its GPUs in the ledger."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fleet_host
short_description: Record a vessel host (queue, Docker URL, CPUs, memory, GPUs) in the Slipway ledger
version_added: "0.1.0"
description:
  - Inserts or updates the host in the ledger so that C(slipway.infra.vessel) can place vessels on it;
    C(state=absent) disables it (vessels running there keep running; no new ones are placed).
  - Usually called by C(playbooks/site.yml) with the facts of C(slipway.infra.gpu_facts), delegated to
    the controller.
options:
  name:
    description: Inventory name of the host.
    type: str
    required: true
  queue:
    description: Hardware class of the host (C(a100), C(rtx3090), C(cpu)...).
    type: str
  docker_url:
    description: How the controller reaches the host's Docker Engine (C(ssh://user@host), C(unix:///var/run/docker.sock)).
    type: str
  address:
    description: Address SSH entries point at (without Tailscale).
    type: str
  cpus:
    description: Logical CPUs vessels may use.
    type: int
  memory_mib:
    description: Memory vessels may use, in MiB.
    type: int
  numa_nodes:
    description: NUMA nodes.
    type: int
    default: 1
  gpus:
    description: The GPUs, as C(slipway_gpu_facts.gpus) lists them (index, uuid, model, memory_mib, numa_node).
    type: list
    elements: dict
    default: []
  port_range:
    description: Ports for vessels' sshd and Jupyter, C(LOW-HIGH).
    type: str
    default: 20000-20999
  network_mode:
    description: C(host) (vessel services on host ports) or C(bridge) (published ports).
    type: str
    choices: [host, bridge]
    default: host
  enabled:
    description: Whether new vessels may be placed on the host.
    type: bool
    default: true
  state:
    description: C(present) records the host, C(absent) disables it.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - slipway.infra.ledger
  - slipway.infra.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
author:
  - Slipway contributors (@slipway-dev)
"""

EXAMPLES = r"""
- name: Learn the GPUs
  slipway.infra.gpu_facts:

- name: Record the host in the ledger
  slipway.infra.fleet_host:
    name: "{{ inventory_hostname }}"
    queue: "{{ slipway_queue }}"
    docker_url: "ssh://{{ ansible_user }}@{{ ansible_host }}"
    address: "{{ ansible_host }}"
    cpus: "{{ slipway_gpu_facts.cpus }}"
    memory_mib: "{{ slipway_gpu_facts.memory_mib }}"
    gpus: "{{ slipway_gpu_facts.gpus }}"
  delegate_to: localhost
"""

RETURN = r"""
host:
  description: The host as recorded.
  returned: always
  type: dict
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.infra.plugins.module_utils.common import LEDGER_ARGS, run, settings

HOST_OPTIONS = ("queue", "docker_url", "address", "cpus", "memory_mib", "numa_nodes", "gpus", "port_range",
                "network_mode", "enabled")


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True), queue=dict(type="str"), docker_url=dict(type="str"),
            address=dict(type="str"), cpus=dict(type="int"), memory_mib=dict(type="int"),
            numa_nodes=dict(type="int", default=1), gpus=dict(type="list", elements="dict", default=[]),
            port_range=dict(type="str", default="20000-20999"),
            network_mode=dict(type="str", choices=["host", "bridge"], default="host"),
            enabled=dict(type="bool", default=True),
            state=dict(type="str", choices=["present", "absent"], default="present"), **LEDGER_ARGS),
        required_if=[("state", "present", ("queue", "docker_url", "cpus", "memory_mib"))],
        supports_check_mode=True,
    )
    run(module, lambda: apply(module.params, module.check_mode))


def apply(p: dict[str, Any], check: bool) -> dict[str, Any]:
    from slipway import usecases

    values = {k: p[k] for k in HOST_OPTIONS}
    values["address"] = p["address"] or p["name"]
    res = usecases.record_host(settings(p), p["name"], values, state=p["state"], check=check)
    return dict(changed=res.changed, host=res.host, diff=res.diff)


if __name__ == "__main__":
    main()
