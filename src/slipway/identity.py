"""Who is acting, and the one owner-or-admin rule every face and use case applies (pure).

On the embedded default the actor is the local OS user (``$SLIPWAY_USER`` or the login name) and admin
rights come from the site's ``admins`` list. In team mode (``slipway server``) the actor is built from a
validated OIDC token or automation token: its name is the configured claim, ``subject``/``email`` are
what the ledger's events record, and ``admin`` comes from the role mapping, never from the caller.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from slipway.errors import PermissionDenied


@dataclass(frozen=True)
class Actor:
    """An identity the ledger records with every change it makes."""

    name: str
    admin: bool = False
    subject: str | None = None
    email: str | None = None
    via: str = "local"  # local | oidc | token | system
    roles: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return self.name


def system_actor(name: str) -> Actor:
    """An actor for Slipway's own jobs (the undertaker, reconcile): admin rights over vessels."""
    return Actor(name=name, admin=True, via="system")


def local_user() -> str:
    return os.environ.get("SLIPWAY_USER") or getpass.getuser()


def local_actor(admins: Iterable[str] = (), name: str | None = None) -> Actor:
    """The local OS user; an admin when the site's ``admins`` list names them."""
    who = name or local_user()
    return Actor(name=who, admin=who in tuple(admins), via="local")


def as_actor(actor: Actor | str, admins: Iterable[str] = ()) -> Actor:
    return actor if isinstance(actor, Actor) else Actor(name=actor, admin=actor in tuple(admins))


def may_manage(actor: Actor, owner: str) -> bool:
    return actor.admin or actor.name == owner


def require_manage(actor: Actor, owner: str, verb: str, vessel: str) -> None:
    """The owner-or-admin rule: raise PermissionDenied naming who may."""
    if not may_manage(actor, owner):
        raise PermissionDenied(f"{actor.name} may not {verb} {vessel}: it belongs to {owner}; only the owner "
                               "or an admin can")
