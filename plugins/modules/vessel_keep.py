#!/usr/bin/python
# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Ansible module slipway.infra.vessel_keep: set or clear a vessel's keep flag (exempt from the undertaker)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vessel_keep
short_description: Keep a vessel from being buried by the undertaker until a time, or clear that flag
version_added: "0.1.0"
description:
  - Sets the vessel's C(keep_until) in the ledger. Until then the undertaker neither warns about nor
    buries it; after it, only idle work hours after the expiry count.
  - Only the owner or an admin may. Owners may keep for at most C(max_hours); admins for longer.
  - C(hours) counts from now and is rounded up to the whole hour, so repeating it within the same
    hour changes nothing.
options:
  name:
    description: The vessel.
    type: str
    required: true
  state:
    description: C(present) sets the flag, C(absent) clears it.
    type: str
    choices: [present, absent]
    default: present
  hours:
    description: Keep for this many hours from now.
    type: float
  expires:
    description: Keep until this time (ISO 8601 with a zone).
    type: str
  admins:
    description: Users who may keep anyone's vessel, for any time. Default from the settings.
    type: list
    elements: str
  max_hours:
    description: The longest an owner may keep a vessel.
    type: float
    default: 168
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
- name: Keep my vessel over the long weekend
  slipway.infra.vessel_keep:
    name: alice-1f2e3d
    hours: 96

- name: Let the undertaker judge it again
  slipway.infra.vessel_keep:
    name: alice-1f2e3d
    state: absent
"""

RETURN = r"""
keep_until:
  description: The new expiry (ISO 8601), or null when cleared.
  returned: always
  type: str
summary:
  description: One line for people.
  returned: always
  type: str
"""

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.infra.plugins.module_utils.common import LEDGER_ARGS, run, settings


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(name=dict(type="str", required=True),
                           state=dict(type="str", choices=["present", "absent"], default="present"),
                           hours=dict(type="float"), expires=dict(type="str"),
                           admins=dict(type="list", elements="str"),
                           max_hours=dict(type="float", default=168.0), **LEDGER_ARGS),
        mutually_exclusive=[("hours", "expires")],
        required_if=[("state", "present", ("hours", "expires"), True)],
        supports_check_mode=True,
    )
    run(module, lambda: apply(module.params, module.check_mode))


def apply(p: dict[str, Any], check: bool) -> dict[str, Any]:
    from slipway import usecases

    res = usecases.keep(settings(p), p["name"], hours=p["hours"], until=p["expires"],
                        clear=p["state"] == "absent", max_hours=p["max_hours"], check=check)
    return dict(changed=res.changed, keep_until=res.keep_until, summary=res.summary.removesuffix(" (unchanged)"),
                diff=res.diff)


if __name__ == "__main__":
    main()
