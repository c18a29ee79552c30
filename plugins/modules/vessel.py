#!/usr/bin/python
# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Ansible module slipway.infra.vessel: launch (present) or stop (absent) a vessel."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vessel
short_description: Launch or stop a vessel (an isolated GPU container) on the best-fitting host
version_added: "0.1.0"
description:
  - C(state=present) validates the request, reserves GPUs (by UUID), CPUs (a cpuset), memory and two
    ports atomically in the ledger on the best-fitting host of the queue, starts the container through
    the host's Docker Engine (unix socket or C(ssh://)), waits for its sshd, and writes a C(Host <name>)
    entry to C(~/.ssh/slipway/config). Any failure after the reservation rolls everything back.
  - C(state=absent) stops the vessel, removes its container, Tailscale device and key and SSH entry, and
    releases its reservation. Only the owner or an admin may do it.
  - Runs on the controller (a play on C(localhost)) with the interpreter that has the C(slipway) package.
options:
  state:
    description: C(present) launches, C(absent) stops.
    type: str
    choices: [present, absent]
    default: present
  name:
    description: Vessel name (DNS label). Generated as C(<user>-<n>) (the lowest free n) when launching without one; check mode shows the same name.
    type: str
  gpus:
    description: Number of GPUs (whole number from 0; default 0).
    type: raw
  queue:
    description: Hardware class (the hosts' C(slipway_queue)), or C(any) (the default).
    type: str
  cpus:
    description: CPUs (a dedicated cpuset). Default from O(default_cpus).
    type: raw
  memory:
    description: Memory limit in GiB, or with a unit (C(512M), C(16G)). Default from C(default_memory).
    type: raw
  shm_size:
    description: Size of C(/dev/shm); default a quarter of the memory.
    type: raw
  image:
    description: Container image honouring the vessel contract (sshd + python). Default from C(default_image).
    type: str
  user:
    description: Owner of the vessel; the caller by default. Only admins may launch for someone else.
    type: str
  ssh_public_key:
    description:
      - The owner's OpenSSH public key line; default the caller's C(~/.ssh/id_ed25519.pub) (or ecdsa, rsa).
      - Never echoed (a private key pasted here by mistake is refused and not logged).
    type: str
  reason:
    description: Why the vessel is stopped (recorded in the ledger).
    type: str
  replace:
    description:
      - When a vessel of that name already runs with another spec (GPUs, CPUs, memory, image), stop it and
        launch the new one. Without it such a relaunch fails and names the fields that differ.
    type: bool
    default: false
  fleet:
    description:
      - "The vessel hosts, a mapping of host name to its C(slipway_*) settings (C(slipway_queue),
        C(slipway_docker_url), C(slipway_address), C(slipway_gpus)...), usually
        C(groups['slipway_hosts'] | slipway.infra.fleet(hostvars)). Synced into the ledger first."
    type: dict
extends_documentation_fragment:
  - slipway.infra.ledger
  - slipway.infra.site
  - slipway.infra.attributes
attributes:
  check_mode:
    support: full
    description: Shows the placement it would make; reserves nothing.
  diff_mode:
    support: full
  idempotent:
    support: full
    description: Launching a name that is already running for the same owner changes nothing.
author:
  - Slipway contributors (@slipway-dev)
"""

EXAMPLES = r"""
- name: One GPU on the best-fitting A100 host
  slipway.infra.vessel:
    gpus: 1
    queue: a100
    cpus: 8
    memory: 64
    fleet: "{{ groups['slipway_hosts'] | slipway.infra.fleet(hostvars) }}"
  register: launched

- name: Stop it
  slipway.infra.vessel:
    name: "{{ launched.vessel.name }}"
    state: absent
"""

RETURN = r"""
vessel:
  description: The vessel as the ledger records it (no secrets).
  returned: always
  type: dict
  sample: {"name": "alice-1f2e3d", "host": "gpu-01", "gpu_uuids": ["GPU-5f4e..."], "state": "running",
           "ssh_port": 20000, "jupyter_port": 20001, "address": "10.0.0.11"}
summary:
  description: A short summary for people (host, GPUs, how to connect).
  returned: always
  type: str
placement:
  description: The chosen host, GPUs and cpuset; in check mode also why other hosts were not chosen.
  returned: state=present
  type: dict
timings:
  description: Seconds spent scheduling, starting the container, waiting for sshd, in total.
  returned: when a vessel was launched
  type: dict
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.infra.plugins.module_utils.common import (
    LEDGER_ARGS,
    SITE_ARGS,
    run,
    settings,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            name=dict(type="str"), gpus=dict(type="raw"), queue=dict(type="str"), cpus=dict(type="raw"),
            memory=dict(type="raw"), shm_size=dict(type="raw"), image=dict(type="str"), user=dict(type="str"),
            ssh_public_key=dict(type="str", no_log=True), reason=dict(type="str"), fleet=dict(type="dict"),
            replace=dict(type="bool", default=False),
            **LEDGER_ARGS, **SITE_ARGS),
        required_if=[("state", "absent", ("name",))],
        supports_check_mode=True,
    )
    run(module, lambda: apply(module.params, module.check_mode))


def apply(p: dict[str, Any], check: bool) -> dict[str, Any]:
    from slipway import usecases

    if p["state"] == "absent":
        res = usecases.stop(settings(p), p["name"], check=check, reason=p["reason"])
        return dict(changed=res.changed, vessel=res.vessel, summary=res.summary, msg=res.summary, diff=res.diff)
    got = usecases.launch(settings(p), p, fleet=p["fleet"], check=check, replace_existing=p["replace"])
    return dict(changed=got.changed, vessel=got.vessel, summary=got.summary, msg=got.summary,
                placement=got.placement, timings=got.timings, diff=got.diff)


if __name__ == "__main__":
    main()
