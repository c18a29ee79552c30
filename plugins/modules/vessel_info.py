#!/usr/bin/python
# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Ansible module slipway.infra.vessel_info: list vessels, or inspect one."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vessel_info
short_description: List vessels as a table, or inspect one vessel
version_added: "0.1.0"
description:
  - Without C(name), returns the vessels in the ledger (running ones unless C(all=true)) and a table of
    name, owner, host, GPUs, state, age and address.
  - With C(name), returns that vessel with its SSH entry, Jupyter URL, events and the container's real
    state on its host.
  - Read-only. Runs on the controller with the interpreter that has the C(slipway) package.
options:
  name:
    description: A vessel to inspect.
    type: str
  owner:
    description: Only vessels of this owner.
    type: str
  host:
    description: Only vessels on this host.
    type: str
  all:
    description: Include ended vessels (stopped, failed, buried, lost).
    type: bool
    default: false
extends_documentation_fragment:
  - slipway.infra.ledger
  - slipway.infra.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: full
author:
  - Slipway contributors (@slipway-dev)
"""

EXAMPLES = r"""
- name: My running vessels
  slipway.infra.vessel_info:
    owner: "{{ lookup('ansible.builtin.env', 'USER') }}"
  register: mine

- name: Show them
  ansible.builtin.debug:
    msg: "{{ mine.table }}"

- name: One vessel in detail
  slipway.infra.vessel_info:
    name: alice-1f2e3d
"""

RETURN = r"""
vessels:
  description: The vessels listed (without C(name)).
  returned: when name is not given
  type: list
  elements: dict
table:
  description: The list as a text table for people.
  returned: when name is not given
  type: str
vessel:
  description: The vessel, with C(ssh), C(ssh_config), C(jupyter_url), C(events) and C(container_state).
  returned: when name is given
  type: dict
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.infra.plugins.module_utils.common import LEDGER_ARGS, run, settings


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(name=dict(type="str"), owner=dict(type="str"), host=dict(type="str"),
                           all=dict(type="bool", default=False), **LEDGER_ARGS),
        supports_check_mode=True,
    )
    run(module, lambda: apply(module.params))


def apply(p: dict[str, Any]) -> dict[str, Any]:
    from slipway import usecases

    if p["name"]:
        return dict(changed=False, vessel=usecases.status(settings(p), p["name"]))
    got = usecases.list_vessels(settings(p), include_ended=p["all"], owner=p["owner"], host=p["host"])
    return dict(changed=False, vessels=got.vessels, table=got.table, count=len(got.vessels))


if __name__ == "__main__":
    main()
