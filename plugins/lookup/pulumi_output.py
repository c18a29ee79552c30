# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Lookup plugin: read Slipway's Pulumi stack outputs in playbooks."""

from __future__ import annotations

DOCUMENTATION = r"""
name: pulumi_output
author: Slipway contributors (@slipway-dev)
version_added: "0.1.0"
short_description: Read outputs of Slipway's Pulumi stack
description:
  - Runs C(pulumi stack output --json) in Slipway's Pulumi project and returns the outputs named by
    the terms (dotted paths such as C(ecrRepositoryUrls.detector)), or all outputs without terms.
  - The outputs are read once per stack and project per play run.
  - Secret outputs are returned as C([secret]) unless O(show_secrets=true).
  - Needs the Pulumi CLI, logged in to the stack's backend (C(pulumi login)), and the C(slipway)
    package importable by the controller's Python.
options:
  _terms:
    description: Output names or dotted paths into them. None returns every output as one dict.
    type: list
    elements: str
    required: false
  stack:
    description: Stack name (C(dev), C(prod)); default is the selected stack.
    type: str
  project_dir:
    description: The folder holding Slipway's C(Pulumi.yaml); default C($SLIPWAY_PULUMI_DIR) or the repository's C(pulumi/).
    type: path
  show_secrets:
    description: Return secret outputs in clear text (keep C(no_log) on tasks that use them).
    type: bool
    default: false
  pulumi_bin:
    description: The Pulumi CLI to run.
    type: str
    default: pulumi
  default:
    description: Value returned for a missing output instead of failing.
    type: raw
"""

EXAMPLES = r"""
- name: Push target of the CI image step
  ansible.builtin.debug:
    msg: "{{ lookup('slipway.infra.pulumi_output', 'ecrRepositoryUrls.detector', stack='dev') }}"

- name: Every output of the prod stack
  ansible.builtin.set_fact:
    slipway_cloud: "{{ lookup('slipway.infra.pulumi_output', stack='prod') }}"

- name: GPU queue, or none when the stack has no GPU queue
  ansible.builtin.set_fact:
    gpu_queue: "{{ lookup('slipway.infra.pulumi_output', 'batchJobQueueArns.gpu', stack='dev', default='') }}"
"""

RETURN = r"""
_raw:
  description: One value per term (strings, lists or dicts as the stack exported them), or one dict of all outputs.
  type: list
  elements: raw
"""

# Ansible's layout: the documentation strings come first, the imports after them.
from typing import Any, ClassVar  # noqa: E402

from ansible.errors import AnsibleLookupError  # noqa: E402
from ansible.plugins.lookup import LookupBase  # noqa: E402

try:
    from slipway.cloud.outputs import pick, stack_outputs
    from slipway.errors import NotFound, SlipwayError

    IMPORT_ERROR: str | None = None
except ImportError as exc:  # pragma: no cover - only where the controller lacks the package
    IMPORT_ERROR = str(exc)

_MISSING = object()


class LookupModule(LookupBase):
    _cache: ClassVar[dict[tuple[str, str, str, bool], dict[str, Any]]] = {}

    def run(self, terms: list[str], variables: dict[str, Any] | None = None, **kwargs: Any) -> list[Any]:
        if IMPORT_ERROR:
            raise AnsibleLookupError("slipway.infra.pulumi_output needs the 'slipway' package in the controller's "
                                     f"Python (run scripts/bootstrap.sh): {IMPORT_ERROR}")
        self.set_options(var_options=variables, direct=kwargs)
        stack = self.get_option("stack") or ""
        directory = self.get_option("project_dir") or ""
        show = bool(self.get_option("show_secrets"))
        binary = self.get_option("pulumi_bin")
        default = self.get_option("default") if "default" in kwargs else _MISSING
        key = (binary, directory, stack, show)
        try:
            if key not in self._cache:
                self._cache[key] = stack_outputs(stack or None, directory=directory or None, show_secrets=show,
                                                 pulumi_bin=binary)
            outputs = self._cache[key]
            if not terms:
                return [outputs]
            values = []
            for term in terms:
                try:
                    values.append(pick(outputs, term))
                except NotFound:
                    if default is _MISSING:
                        raise
                    values.append(default)
            return values
        except SlipwayError as exc:
            raise AnsibleLookupError(str(exc)) from None
