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
    description: Vessel name (DNS label). Generated as C(<user>-<hex>) when launching without one.
    type: str
  gpus:
    description: Number of GPUs (whole number from 0).
    type: raw
    default: 0
  queue:
    description: Hardware class (the hosts' C(slipway_queue)), or C(any).
    type: str
    default: any
  cpus:
    description: CPUs (a dedicated cpuset). Default from C(default_cpus).
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
    description: The owner's OpenSSH public key line; default the caller's C(~/.ssh/id_ed25519.pub) (or ecdsa, rsa).
    type: str
  reason:
    description: Why the vessel is stopped (recorded in the ledger).
    type: str
  fleet:
    description:
      - "The vessel hosts, a mapping of host name to its C(slipway_*) settings (C(slipway_queue),
        C(slipway_docker_url), C(slipway_address), C(slipway_gpus)...), usually
        C(groups['slipway_hosts'] | slipway.infra.fleet(hostvars)). Synced into the ledger first."
    type: dict
    default: {}
  default_cpus:
    description: CPUs when the request gives none.
    type: int
    default: 1
  default_memory:
    description: Memory when the request gives none.
    type: str
    default: 4G
  default_image:
    description: Image when the request gives none.
    type: str
    default: slipway/vessel:latest
  admins:
    description: Users who may stop anyone's vessel.
    type: list
    elements: str
    default: []
  tailscale_api_key:
    description: Tailscale API access token; when set, each vessel joins the tailnet as an ephemeral node.
    type: str
    default: ""
  tailscale_tailnet:
    description: Tailnet name (C(-) is the key's default tailnet).
    type: str
    default: "-"
  tailscale_tags:
    description: ACL tags of the vessels' auth keys.
    type: list
    elements: str
    default: [tag:slipway-vessel]
  tailscale_api_url:
    description: Tailscale API base URL.
    type: str
    default: https://api.tailscale.com
  home:
    description: The owner's home in the vessel; C(volume) (named volume C(slipway-home-<user>)) or a host path template such as C(/srv/home/{user}).
    type: str
    default: volume
  ready_timeout:
    description: Seconds to wait for the vessel's sshd (or tailnet join).
    type: float
    default: 60
  pull:
    description: Pull the image when the host lacks it.
    type: bool
    default: true
  jupyter:
    description: Start a Jupyter server with a generated token (saved for the owner, never printed).
    type: bool
    default: true
extends_documentation_fragment:
  - slipway.infra.ledger
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
            name=dict(type="str"), gpus=dict(type="raw", default=0), queue=dict(type="str", default="any"),
            cpus=dict(type="raw"), memory=dict(type="raw"), shm_size=dict(type="raw"), image=dict(type="str"),
            user=dict(type="str"), ssh_public_key=dict(type="str"), reason=dict(type="str"),
            fleet=dict(type="dict", default={}), default_cpus=dict(type="int", default=1),
            default_memory=dict(type="str", default="4G"),
            default_image=dict(type="str", default="slipway/vessel:latest"), **LEDGER_ARGS, **SITE_ARGS),
        required_if=[("state", "absent", ("name",))],
        supports_check_mode=True,
    )
    run(module, lambda: apply(module))


def apply(module: AnsibleModule) -> dict[str, Any]:
    from slipway.errors import PermissionDenied
    from slipway.request import VesselRequest, build_request, parse_size_mib
    from slipway.vessels import current_user, default_key_pair, service

    p = module.params
    actor = current_user()
    with service(settings(p)) as svc:
        if p["fleet"]:
            svc.sync_fleet(p["fleet"])
        if p["state"] == "absent":
            res = svc.stop(p["name"], actor=actor, check=module.check_mode, reason=p["reason"])
            return dict(changed=res.changed, vessel=res.vessel, summary=res.summary, msg=res.summary,
                        diff=res.diff)
        user = p["user"] or actor
        if user != actor and actor not in svc.settings.admins:
            raise PermissionDenied(f"user: {actor} may not launch a vessel for {user}; only admins can")
        defaults = VesselRequest(name="x", user=user, cpus=p["default_cpus"],
                                 memory_mib=parse_size_mib("default_memory", p["default_memory"]),
                                 image=p["default_image"])
        key, identity = (p["ssh_public_key"], None) if p["ssh_public_key"] else default_key_pair()
        req = build_request(user=user, name=p["name"], gpus=p["gpus"], queue=p["queue"], cpus=p["cpus"],
                            memory=p["memory"], image=p["image"], shm_size=p["shm_size"],
                            ssh_public_key=key,
                            defaults=defaults, require_key=True)
        res = svc.launch(req, actor=actor, check=module.check_mode, identity_file=identity)
        return dict(changed=res.changed, vessel=res.vessel, summary=res.summary, msg=res.summary,
                    placement=res.placement, timings=res.timings, diff=res.diff)


if __name__ == "__main__":
    main()
