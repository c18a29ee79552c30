# Copyright: Slipway contributors
# SPDX-License-Identifier: Apache-2.0
"""Shared glue for Slipway's controller-side modules: import the core package, map its errors.

Modules that use this run on the controller (``hosts: localhost`` or ``delegate_to: localhost``)
with the interpreter that has the ``slipway`` package installed (the project's .venv).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

try:
    import slipway  # noqa: F401
    from slipway.errors import SlipwayError, ValidationError

    IMPORT_ERROR: str | None = None
except ImportError:  # pragma: no cover - only where the controller lacks the package
    SlipwayError = ValidationError = Exception  # type: ignore[misc,assignment]
    IMPORT_ERROR = traceback.format_exc()


def require_slipway(module: Any) -> None:
    if IMPORT_ERROR:
        module.fail_json(msg="the Python package 'slipway' is not importable by this interpreter "
                             f"({module._name}); run scripts/bootstrap.sh and set ansible_python_interpreter "
                             "to the project's .venv/bin/python", exception=IMPORT_ERROR)


def run(module: Any, fn: Callable[[], dict[str, Any]]) -> None:
    """Call ``fn`` and exit with its result; Slipway errors become fail_json with the same words."""
    require_slipway(module)
    try:
        result = fn()
    except ValidationError as exc:  # type: ignore[misc]
        module.fail_json(msg=str(exc), field=getattr(exc, "field", None), changed=False)
    except SlipwayError as exc:  # type: ignore[misc]
        module.fail_json(msg=str(exc), error=type(exc).__name__, changed=False)
    module.exit_json(**result)


# Options every controller-side module that touches the ledger or vessels accepts. Module
# DOCUMENTATION repeats them (ansible-doc needs them literally); keep both in step.
LEDGER_ARGS: dict[str, Any] = dict(
    ledger_url=dict(type="str", no_log=True, default=""),
)
SITE_ARGS: dict[str, Any] = dict(
    admins=dict(type="list", elements="str", default=[]),
    tailscale_api_key=dict(type="str", no_log=True, default=""),
    tailscale_tailnet=dict(type="str", default="-"),
    tailscale_tags=dict(type="list", elements="str", default=["tag:slipway-vessel"]),
    tailscale_api_url=dict(type="str", default="https://api.tailscale.com"),
    home=dict(type="str", default="volume"),
    ready_timeout=dict(type="float", default=60.0),
    pull=dict(type="bool", default=True),
    jupyter=dict(type="bool", default=True),
)


def settings(params: dict[str, Any]) -> Any:
    """slipway.vessels.Settings from module parameters."""
    from slipway.network.tailscale import TailscaleSettings
    from slipway.vessels import Settings

    ts = None
    if params.get("tailscale_api_key"):
        ts = TailscaleSettings(api_key=params["tailscale_api_key"], tailnet=params.get("tailscale_tailnet") or "-",
                               tags=tuple(params.get("tailscale_tags") or ()),
                               api_url=params.get("tailscale_api_url") or "https://api.tailscale.com")
    return Settings(ledger_url=params.get("ledger_url") or None, admins=tuple(params.get("admins") or ()),
                    tailscale=ts, home=params.get("home") or "volume",
                    ready_timeout=float(params.get("ready_timeout") or 60), pull=bool(params.get("pull", True)),
                    jupyter=bool(params.get("jupyter", True)))
