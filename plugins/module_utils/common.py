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


# Options every controller-side module that touches the ledger or vessels accepts, mirrored by the doc
# fragments slipway.infra.ledger and slipway.infra.site (ansible-doc needs them literally). No defaults
# here: an option left out comes from the environment, the settings file or slipway.config's default.
LEDGER_ARGS: dict[str, Any] = dict(
    ledger_url=dict(type="str", no_log=True),
    server_url=dict(type="str"),
)
SITE_ARGS: dict[str, Any] = dict(
    admins=dict(type="list", elements="str"),
    tailscale_api_key=dict(type="str", no_log=True),
    tailscale_tailnet=dict(type="str"),
    tailscale_tags=dict(type="list", elements="str"),
    tailscale_api_url=dict(type="str"),
    home=dict(type="str"),
    ready_timeout=dict(type="float"),
    pull=dict(type="bool"),
    jupyter=dict(type="bool"),
    default_cpus=dict(type="int"),
    default_memory=dict(type="str"),
    default_image=dict(type="str"),
    variant_project=dict(type="path"),
    image_registry=dict(type="str"),
    image_repository=dict(type="str"),
)


def settings(params: dict[str, Any]) -> Any:
    """The site settings, through the one loader every face uses (slipway.config.load_settings)."""
    from slipway.config import load_settings

    return load_settings(params, face="ansible")
