#!/usr/bin/python
# Copyright: Slipway contributors (@slipway-dev)
# Apache-2.0 (see LICENSE)
"""Ansible module slipway.infra.vessel_reconcile: make the ledger and the hosts' Docker Engines agree."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: vessel_reconcile
short_description: Make the Slipway ledger and the vessel hosts' container engines agree
version_added: "0.1.0"
description:
  - Lists Slipway's containers on each host (one call per host, by their C(slipway.*) labels) and compares
    them with the ledger. A container the ledger does not hold as active is removed; a C(running) vessel
    whose container is gone or stopped is marked C(lost) and its GPUs, CPUs and ports are released; a
    C(starting) vessel whose launcher stopped renewing its lease is rolled back; an unfinished stop is finished.
  - The undertaker runs it for the whole fleet on every run, and every launch runs it on the chosen host.
options:
  hosts:
    description: Only these hosts (default every host of the ledger).
    type: list
    elements: str
extends_documentation_fragment:
  - slipway.infra.ledger
  - slipway.infra.site
  - slipway.infra.attributes
attributes:
  check_mode:
    support: full
    description: Returns the table of what it would repair; changes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    description: A second run finds nothing to repair.
author:
  - Slipway contributors (@slipway-dev)
"""

EXAMPLES = r"""
- name: What would reconcile repair?
  slipway.infra.vessel_reconcile:
  check_mode: true
  register: repairs

- name: Repair one host
  slipway.infra.vessel_reconcile:
    hosts: [gpu-01]
"""

RETURN = r"""
repairs:
  description: One entry per disagreement found (vessel, host, finding, action).
  returned: always
  type: list
  elements: dict
table:
  description: The repairs as a table for people.
  returned: always
  type: str
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
    module = AnsibleModule(argument_spec=dict(hosts=dict(type="list", elements="str"), **LEDGER_ARGS, **SITE_ARGS),
                           supports_check_mode=True)
    run(module, lambda: apply(module.params, module.check_mode))


def apply(p: dict[str, Any], check: bool) -> dict[str, Any]:
    from slipway import usecases

    res = usecases.reconcile(settings(p), hosts=p["hosts"], check=check)
    return dict(changed=res.changed, repairs=[r.row() for r in res.repairs], table=res.table)


if __name__ == "__main__":
    main()
