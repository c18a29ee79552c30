#!/usr/bin/python
# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Ansible module slipway.infra.variant_hash: every variant's canonical hash and package list."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: variant_hash
short_description: Compute the canonical hash and package list of each environment variant
version_added: "0.1.0"
description:
  - Reads the project's C(pyproject.toml) and its C(poetry.lock) (1.1, 2.0, 2.1) or C(uv.lock) (v1),
    selects each variant's packages for the target environment and returns its canonical hash.
  - Variants are declared under C([tool.slipway.variants.NAME]) (C(groups), C(extras), C(extends));
    C(base) is the main dependencies. The C(exp) group never counts.
  - With O(write=true) the committed hashes file C(slipway-variants.lock.json) is brought up to date.
  - Runs on the controller with the project's venv interpreter.
options:
  project_dir:
    description: Directory holding C(pyproject.toml) and the lock.
    type: path
    required: true
  python:
    description: Target Python version; default C([tool.slipway].python) or C(3.12).
    type: str
  machine:
    description: Target architecture; default C([tool.slipway].machine) or C(x86_64).
    type: str
    choices: [x86_64, aarch64]
  variants:
    description: Only these variants (default all).
    type: list
    elements: str
    default: []
  write:
    description: Update the hashes file when it is stale (reported as a change).
    type: bool
    default: false
  fail_on_stale:
    description: Fail when the hashes file is stale (the pre-commit / CI check).
    type: bool
    default: false
extends_documentation_fragment:
  - slipway.infra.attributes
attributes:
  check_mode:
    support: full
    description: Computes everything; does not write the hashes file.
  diff_mode:
    support: full
    description: Shows the hashes file before and after.
  idempotent:
    support: full
author:
  - Slipway contributors (@slipway-dev)
"""

EXAMPLES = r"""
- name: Hash every variant
  slipway.infra.variant_hash:
    project_dir: "{{ playbook_dir }}/.."
  register: hashes

- name: Keep the committed hashes file in sync
  slipway.infra.variant_hash:
    project_dir: /src/app
    python: "3.12"
    write: true
"""

RETURN = r"""
variants:
  description: One entry per variant.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "base", "hash": "3f1c...", "groups": [], "extras": [],
            "target": {"python": "3.12", "platform": "linux", "machine": "x86_64"},
            "packages": [{"name": "numpy", "version": "2.1.3", "source": "registry+https://pypi.org/simple"}]}]
hashes:
  description: Variant name to hash.
  returned: always
  type: dict
stale:
  description: Variants whose committed hash differs (before any write).
  returned: always
  type: list
  elements: str
hashes_file:
  description: Path of the hashes file.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.infra.plugins.module_utils.common import run


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "project_dir": {"type": "path", "required": True},
            "python": {"type": "str"},
            "machine": {"type": "str", "choices": ["x86_64", "aarch64"]},
            "variants": {"type": "list", "elements": "str", "default": []},
            "write": {"type": "bool", "default": False},
            "fail_on_stale": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    run(module, lambda: apply(module.params, module.check_mode))


def apply(p: dict[str, object], check: bool) -> dict[str, object]:
    from slipway import usecases

    res = usecases.variant_hash(str(p["project_dir"]), python=p["python"], machine=p["machine"],  # type: ignore[arg-type]
                                variants=p["variants"], write=bool(p["write"]), check=check,  # type: ignore[arg-type]
                                fail_on_stale=bool(p["fail_on_stale"]))
    return {"changed": res.changed, **res.data, **({"diff": res.diff} if res.diff else {})}


if __name__ == "__main__":
    main()
