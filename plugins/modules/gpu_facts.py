#!/usr/bin/python
# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Ansible module slipway.infra.gpu_facts: the GPUs, CPUs, memory and NUMA nodes of a host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_facts
short_description: Gather a host's NVIDIA GPUs, CPUs, memory and NUMA nodes
version_added: "0.1.0"
description:
  - Runs C(nvidia-smi --query-gpu=index,uuid,name,memory.total,pci.bus_id --format=csv,noheader,nounits)
    and sets the fact C(slipway_gpu_facts) with the GPUs, CPUs, memory and NUMA nodes of the host.
  - A host with no NVIDIA driver (no C(nvidia-smi), or C(nvidia-smi) failing) reports 0 GPUs and says
    why in C(note); that is not an error.
  - Needs only the Python standard library on the managed host.
options:
  nvidia_smi:
    description: Path of C(nvidia-smi); found on C(PATH) when not given.
    type: path
  timeout:
    description: Seconds to wait for C(nvidia-smi).
    type: float
    default: 30
extends_documentation_fragment:
  - slipway.infra.attributes
  - slipway.infra.attributes.facts
attributes:
  check_mode:
    support: full
    description: Read-only; runs the same in check mode.
  diff_mode:
    support: none
  facts:
    support: full
  idempotent:
    support: full
author:
  - Slipway contributors (@slipway-dev)
"""

EXAMPLES = r"""
- name: Learn the host's GPUs
  slipway.infra.gpu_facts:

- name: Show them
  ansible.builtin.debug:
    msg: "{{ slipway_gpu_facts.gpus | map(attribute='uuid') | list }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts set on the host.
  returned: always
  type: dict
  contains:
    slipway_gpu_facts:
      description: The host's capacity.
      type: dict
      contains:
        gpus:
          description: One entry per GPU, by index.
          type: list
          elements: dict
          sample: [{"index": 0, "uuid": "GPU-5f4e...", "model": "NVIDIA A100-SXM4-80GB",
                    "memory_mib": 81920, "pci_bus_id": "00000000:17:00.0", "numa_node": 0}]
        gpu_count:
          description: Number of GPUs.
          type: int
        cpus:
          description: Logical CPUs.
          type: int
        memory_mib:
          description: Total memory in MiB.
          type: int
        numa_nodes:
          description: NUMA nodes.
          type: int
        note:
          description: What nvidia-smi said, e.g. why there are 0 GPUs.
          type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.infra.plugins.module_utils.gpu import (
    GpuQueryError,
    host_capacity,
    query_gpus,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(nvidia_smi=dict(type="path"), timeout=dict(type="float", default=30.0)),
        supports_check_mode=True,
    )
    try:
        gpus, note = query_gpus(module.params["nvidia_smi"], module.params["timeout"])
    except GpuQueryError as exc:
        module.fail_json(msg=f"nvidia-smi printed something unexpected: {exc}")
    facts = {"gpus": [g.as_dict() for g in gpus], "gpu_count": len(gpus), "note": note, **host_capacity()}
    module.exit_json(changed=False, ansible_facts={"slipway_gpu_facts": facts})


if __name__ == "__main__":
    main()
