# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Documentation fragment slipway.infra.ledger: the ledger_url option every ledger module takes."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  ledger_url:
    description:
      - Ledger database URL (C(sqlite:///PATH) or C(postgresql://USER@HOST/DB)); empty means
        C(SLIPWAY_LEDGER_URL) or the default SQLite file C(~/.local/share/slipway/ledger.db).
      - May carry a password, so it is never logged. Set it once for a whole play with
        C(module_defaults) for the action group C(group/slipway.infra.ledger).
    type: str
  server_url:
    description:
      - A team's C(slipway server) (C(https://slipway.example.com)). When set, the module goes through the
        server's API with the token of C(SLIPWAY_TOKEN) or C(slipway login), instead of the ledger and the
        hosts directly; the server holds the fleet's credentials and checks your role.
    type: str
"""
