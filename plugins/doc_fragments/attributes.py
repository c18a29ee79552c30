# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Documentation fragment slipway.infra.attributes: what each module attribute means.

Modules declare only the support level (and ``details``) of each attribute; the descriptions live here.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return the changed status it predicts without changing anything.
  diff_mode:
    description: Returns what changed (or, in check mode, what would change) as C(diff) when run in diff mode.
  idempotent:
    description:
      - Run twice in a row outside check mode with the same arguments, the second run reports no change.
"""

    FACTS = r"""
options: {}
attributes:
  facts:
    description: Sets facts (C(ansible_facts)) on the host it runs on.
"""
