# Copyright: Slipway contributors
# Apache-2.0
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
