"""Slipway's own exceptions.

Every error a user can cause names the field at fault and what is allowed, so the faces (Ansible
modules, the CLI, Pulumi) can print the same words: ``fail_json(msg=str(err))`` or ``exit 2``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class SlipwayError(Exception):
    """Base class: anything Slipway raises on purpose."""

    exit_code = 1


class ValidationError(SlipwayError):
    """Bad input: names the field, what was given and what is allowed."""

    exit_code = 2

    def __init__(self, field: str, problem: str, *, allowed: str | Iterable[str] | None = None,
                 got: object = None) -> None:
        self.field = field
        self.problem = problem
        if allowed is not None and not isinstance(allowed, str):
            allowed = ", ".join(str(a) for a in allowed) or "(none)"
        self.allowed = allowed
        self.got = got
        text = f"{field}: {problem}"
        if got is not None:
            text += f" (got {got!r})"
        if allowed:
            text += f"; allowed: {allowed}"
        super().__init__(text)


class PlacementError(SlipwayError):
    """No host can take a request; ``reasons`` says why, host by host."""

    exit_code = 3

    def __init__(self, summary: str, reasons: Sequence[str] = ()) -> None:
        self.summary = summary
        self.reasons = list(reasons)
        text = summary
        if self.reasons:
            text += ": " + ", ".join(self.reasons)
        super().__init__(text)


class PermissionDenied(SlipwayError):
    exit_code = 4


class NotFound(SlipwayError):
    exit_code = 5


class EngineError(SlipwayError):
    """The container engine on a host refused or failed."""


class TailscaleError(SlipwayError):
    """The Tailscale API refused or failed."""


class LedgerError(SlipwayError):
    """The ledger cannot be reached or is inconsistent."""
