#!/usr/bin/python
# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Ansible module slipway.infra.variant_image: build and push the variant images whose hash changed."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: variant_image
short_description: Build and push each variant image whose hash tag the registry lacks
version_added: "0.1.0"
description:
  - For each variant, computes its canonical hash (see M(slipway.infra.variant_hash)) and asks the
    registry whether C(REPOSITORY:VARIANT-HASH) exists (any OCI registry through the distribution API,
    or Amazon ECR through boto3). If it does the variant is C(unchanged) and nothing is built.
  - Otherwise builds the layered Dockerfile (dependencies from the variant's hash-pinned requirements in
    one layer, project code after) and pushes it, also tagged C(VARIANT-COMMIT) when O(commit) is set.
  - Fails on O(main_branch) when the C(exp) group is not empty. An unreachable registry fails before
    anything is built or pushed.
  - Runs on the controller with the project's venv interpreter; the Docker Engine comes from O(docker_host).
options:
  project_dir:
    description: Directory holding C(pyproject.toml) and the lock.
    type: path
    required: true
  registry:
    description: C(http(s)://host:port) of an OCI registry, or C(ecr://REGION[/REGISTRY_ID]).
    type: str
    required: true
  repository:
    description: Image repository name, e.g. C(team/app).
    type: str
    required: true
  endpoint_url:
    description: ECR endpoint override (VPC endpoints, moto in tests).
    type: str
  registry_username:
    description: User for an OCI registry with basic auth.
    type: str
  registry_password:
    description: Password for O(registry_username).
    type: str
  docker_host:
    description: Docker Engine URL; default C(DOCKER_HOST) or the local socket.
    type: str
  variants:
    description: Only these variants (default all).
    type: list
    elements: str
    default: []
  python:
    description: Target Python version.
    type: str
  machine:
    description: Target architecture.
    type: str
    choices: [x86_64, aarch64]
  dockerfile:
    description: Dockerfile template; default the collection's C(images/variant/Dockerfile).
    type: path
  base_image:
    description: C(BASE_IMAGE) build argument (needs python3 with venv).
    type: str
  pip_args:
    description: Extra pip arguments for the dependency layer (e.g. C(--no-index)).
    type: str
    default: ""
  wheels_dir:
    description: Local wheels offered to pip with C(--find-links).
    type: path
  ca_bundle:
    description: CA bundle for pip inside the build (corporate proxies).
    type: path
  force:
    description: Rebuild and push even when the tag exists.
    type: bool
    default: false
  salt:
    description: Mixed into every tag hash; change it to invalidate all images.
    type: str
    default: ""
  branch:
    description: The branch being built.
    type: str
    default: ""
  main_branch:
    description: The branch on which the exp group must be empty.
    type: str
    default: main
  commit:
    description: Git commit; pushed as an extra tag C(VARIANT-COMMIT).
    type: str
    default: ""
  push:
    description: Push what is built.
    type: bool
    default: true
  vessels:
    description:
      - Also build each built variant's vessel layer (sshd, Jupyter) as C(<repository>-vessel:<same tag>), which
        is what a vessel launched with C(image=<variant>) runs.
    type: bool
    default: false
extends_documentation_fragment:
  - slipway.infra.attributes
attributes:
  check_mode:
    support: full
    description: Computes hashes and asks the registry; builds and pushes nothing.
  diff_mode:
    support: full
    description: Before/after of the variant tags.
  idempotent:
    support: full
    description: A second run finds every tag and builds nothing.
author:
  - Slipway contributors (@slipway-dev)
"""

EXAMPLES = r"""
- name: Build what changed and push to a registry
  slipway.infra.variant_image:
    project_dir: /src/app
    registry: https://registry.example.com
    repository: team/app
    branch: "{{ lookup('ansible.builtin.env', 'GITHUB_REF_NAME') }}"
    commit: "{{ lookup('ansible.builtin.env', 'GITHUB_SHA') }}"

- name: Same against ECR
  slipway.infra.variant_image:
    project_dir: /src/app
    registry: ecr://eu-west-1
    repository: team/app
"""

RETURN = r"""
rows:
  description: One row per variant.
  returned: always
  type: list
  elements: dict
  sample: [{"variant": "base", "hash": "3f1c0a9d2e4b5c6d", "tag": "base-3f1c0a9d2e4b5c6d",
            "action": "unchanged", "seconds": 0.012}]
table:
  description: The rows as a text table (variant, hash, action, seconds).
  returned: always
  type: str
exp:
  description: The exp group's requirements (install at container start, e.g. via SLIPWAY_EXP).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.infra.plugins.module_utils.common import run


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "project_dir": {"type": "path", "required": True},
            "registry": {"type": "str", "required": True},
            "repository": {"type": "str", "required": True},
            "endpoint_url": {"type": "str"},
            "registry_username": {"type": "str"},
            "registry_password": {"type": "str", "no_log": True},
            "docker_host": {"type": "str"},
            "variants": {"type": "list", "elements": "str", "default": []},
            "python": {"type": "str"},
            "machine": {"type": "str", "choices": ["x86_64", "aarch64"]},
            "dockerfile": {"type": "path"},
            "base_image": {"type": "str"},
            "pip_args": {"type": "str", "default": ""},
            "wheels_dir": {"type": "path"},
            "ca_bundle": {"type": "path"},
            "force": {"type": "bool", "default": False},
            "salt": {"type": "str", "default": ""},
            "branch": {"type": "str", "default": ""},
            "main_branch": {"type": "str", "default": "main"},
            "commit": {"type": "str", "default": ""},
            "push": {"type": "bool", "default": True},
            "vessels": {"type": "bool", "default": False},
        },
        required_together=[("registry_username", "registry_password")],
        supports_check_mode=True,
    )
    run(module, lambda: apply(module.params, module.check_mode))


def apply(p: dict[str, object], check: bool) -> dict[str, object]:
    from slipway import usecases

    res = usecases.image_step(str(p["project_dir"]), p, check=check)
    return {"changed": res.changed, **res.data, **({"diff": res.diff} if res.diff else {})}


if __name__ == "__main__":
    main()
