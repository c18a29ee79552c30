"""Releasing by force: an admin frees the GPUs of a vessel whose stop could not finish.

A vessel is left ``stopping`` when its host cannot be reached (Docker API down, SSH dropped): its GPUs stay
reserved, because the container may still be running there, and the undertaker retries the stop every run.
When the host is gone for good an admin may release the reservation by force; the ledger records who did
it and why, and the undertaker's pending actions for the vessel are cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slipway.errors import NotFound, PermissionDenied, ValidationError
from slipway.identity import Actor
from slipway.ledger import Ledger


@dataclass
class ReleaseResult:
    changed: bool
    vessel: str
    summary: str
    before: dict[str, Any]


def force_release(ledger: Ledger, name: str, *, actor: Actor, reason: str, force: bool = False,
                  check: bool = False) -> ReleaseResult:
    """End the ``stopping`` vessel ``name`` in the ledger without reaching its host (admins only)."""
    if not actor.admin:
        raise PermissionDenied(f"{actor.name} may not release {name} by force: only an admin can")
    v = ledger.vessel(name)
    if v is None or not v.active:
        raise NotFound(f"no active vessel named {name!r} (list them with `slipway vessels list`)")
    if v.state != "stopping":
        raise ValidationError("name", "only a vessel whose stop could not finish can be released by force",
                              got=f"{name} is {v.state}", allowed="a vessel in state stopping (stop it first)")
    if not force:
        raise ValidationError("force", "releasing skips removing the container; say --force to confirm",
                              got=False, allowed="--force with --reason")
    why = (reason or "").strip()
    if not why:
        raise ValidationError("reason", "say why the release is forced (it is recorded)", allowed="a short text")
    before = v.as_dict()
    if check:
        return ReleaseResult(True, name, f"would release {name} by force (GPUs {', '.join(v.gpu_uuids) or '-'})",
                             before)
    ledger.outbox_cancel_vessel(v.id)
    ledger.release(name, actor, state="stopped",
                   reason=f"released by force by {actor.name}: {why} (its container may still exist on {v.host})",
                   forced=True, forced_by=actor.name, why=why, gpus=list(v.gpu_uuids))
    return ReleaseResult(True, name, f"{name} released by force by {actor.name}: {why}; its GPUs are back in the "
                         f"pool (check {v.host} for a leftover container)", before)


def release(settings: Any, name: str, *, reason: str, force: bool = False, actor: Actor | None = None,
            check: bool = False) -> ReleaseResult:
    """The use case: ``slipway undertaker release NAME --force --reason TEXT``."""
    from slipway.identity import local_actor
    from slipway.vessels import service

    who = actor or local_actor(settings.admins)
    with service(settings) as svc:
        return force_release(svc.ledger, name, actor=who, reason=reason, force=force, check=check)
