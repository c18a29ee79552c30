"""Roles and permissions (pure): which claim values map to which role, and what each role may do.

Three roles: ``admin`` (everything), ``researcher`` (launch; stop, keep and see the details of their own
vessels; see the fleet) and ``viewer`` (read only). Whether an actor may act on *another user's* vessel is
the one owner-or-admin rule in :mod:`slipway.identity`; permissions here say which routes a role may call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slipway.errors import PermissionDenied, ValidationError
from slipway.identity import Actor

ROLES = ("admin", "researcher", "viewer")

# Every permission a route may declare. PUBLIC: no authentication (health check, OpenAPI schema).
PUBLIC = "public"
AUTHENTICATED = "authenticated"  # any valid identity, whatever its roles (who am I)
FLEET_READ = "fleet:read"  # hosts, GPU allocation, the vessel list
VESSELS_READ = "vessels:read"  # a vessel's status (its details only for its owner or an admin)
VESSELS_LAUNCH = "vessels:launch"
VESSELS_MANAGE = "vessels:manage"  # stop and keep (the owner-or-admin rule applies on top)
EVENTS_READ = "events:read"
UNDERTAKER_READ = "undertaker:read"
TOKENS_ADMIN = "tokens:admin"  # create, list and revoke automation tokens
TAILNET_ADMIN = "tailnet:admin"  # read and apply the tailnet policy

PERMISSIONS = (FLEET_READ, VESSELS_READ, VESSELS_LAUNCH, VESSELS_MANAGE, EVENTS_READ, UNDERTAKER_READ,
               TOKENS_ADMIN, TAILNET_ADMIN)

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset(PERMISSIONS),
    "researcher": frozenset({FLEET_READ, VESSELS_READ, VESSELS_LAUNCH, VESSELS_MANAGE, EVENTS_READ,
                             UNDERTAKER_READ}),
    "viewer": frozenset({FLEET_READ, VESSELS_READ, EVENTS_READ, UNDERTAKER_READ}),
}


@dataclass(frozen=True)
class RoleMapping:
    """Which values of the roles claim (e.g. ``groups``) give which role."""

    claim: str = "groups"
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {
        "admin": ("slipway-admins",), "researcher": ("slipway-researchers",), "viewer": ("slipway-viewers",)})

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None, claim: str = "groups") -> RoleMapping:
        """``{admin: [group, ...], researcher: [...], viewer: [...]}`` from the config file."""
        if raw is None:
            return cls(claim=claim)
        if not isinstance(raw, Mapping):
            raise ValidationError("oidc.roles", "must be a mapping of role to claim values",
                                  allowed=", ".join(ROLES), got=type(raw).__name__)
        groups: dict[str, tuple[str, ...]] = {}
        for role, values in raw.items():
            if role not in ROLES:
                raise ValidationError("oidc.roles", "unknown role", allowed=ROLES, got=role)
            if isinstance(values, str):
                values = [values]
            if not isinstance(values, Sequence) or not all(isinstance(v, str) for v in values):
                raise ValidationError(f"oidc.roles.{role}", "must be a list of claim values",
                                      allowed="e.g. [slipway-admins]", got=values)
            groups[role] = tuple(values)
        return cls(claim=claim, groups=groups)

    def roles(self, claims: Mapping[str, Any]) -> tuple[str, ...]:
        """The roles the token's claims give, strongest first (none when nothing matches)."""
        raw = claims.get(self.claim)
        values = {raw} if isinstance(raw, str) else {str(v) for v in raw} if isinstance(raw, list | tuple) else set()
        return tuple(r for r in ROLES if values & set(self.groups.get(r, ())))


def permissions_for(roles: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for r in roles:
        out |= ROLE_PERMISSIONS.get(r, frozenset())
    return frozenset(out)


def validate_roles(roles: Iterable[Any], field_name: str = "roles") -> tuple[str, ...]:
    got = list(roles)
    if not got:
        raise ValidationError(field_name, "at least one role is needed", allowed=ROLES)
    for r in got:
        if r not in ROLES:
            raise ValidationError(field_name, "unknown role", allowed=ROLES, got=r)
    return tuple(r for r in ROLES if r in got)


def may(actor: Actor, permission: str) -> bool:
    if permission in (PUBLIC, AUTHENTICATED):
        return True
    return permission in permissions_for(actor.roles)


def require(actor: Actor, permission: str) -> None:
    """Raise PermissionDenied unless the actor's roles carry ``permission``."""
    if not may(actor, permission):
        have = ", ".join(actor.roles) or "no role"
        raise PermissionDenied(f"{actor.name} ({have}) may not do this: it needs {permission}, which the roles "
                               f"{', '.join(r for r in ROLES if permission in ROLE_PERMISSIONS[r])} have")
