# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Filter slipway.infra.fleet_problems: what is wrong with the vessel hosts of an inventory.

The rules are the core's own (``slipway.fleet.fleet_problems``): the same ones a launch applies, so the
validation play and a launch never disagree.
"""

from __future__ import annotations

from typing import Any

DOCUMENTATION = r"""
name: fleet_problems
short_description: Every vessel host's inventory problem, by the rules a launch applies
version_added: "0.1.0"
description:
  - "Takes a list of inventory host names (usually C(groups['slipway_hosts'])) and C(hostvars); returns a list
    of messages, one per host whose C(slipway_*) settings a launch would refuse, each naming the host, the
    variable and what is allowed. An empty list means the fleet is valid."
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
author:
  - Slipway contributors
"""

EXAMPLES = r"""
- name: Every vessel host is valid
  ansible.builtin.assert:
    that: _problems | length == 0
    fail_msg: "{{ _problems | join('; ') }}"
  vars:
    _problems: "{{ groups['slipway_hosts'] | slipway.infra.fleet_problems(hostvars) }}"
"""

RETURN = r"""
_value:
  description: One message per host that is not valid.
  type: list
  elements: str
"""


def fleet_problems(hosts: list[str], hostvars: Any) -> list[str]:
    from ansible_collections.slipway.infra.plugins.filter.fleet import fleet

    from slipway.fleet import fleet_problems as problems

    return problems(fleet(hosts, hostvars))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"fleet_problems": fleet_problems}
