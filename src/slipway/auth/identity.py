"""From validated credentials to an :class:`~slipway.identity.Actor` (the one object use cases receive)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slipway.auth import tokens
from slipway.auth.errors import Unauthenticated
from slipway.auth.oidc import OidcValidator
from slipway.auth.roles import RoleMapping
from slipway.errors import PermissionDenied
from slipway.identity import Actor
from slipway.request import USER_RE


def username(value: str) -> str:
    """A vessel owner name (a Unix login) from the user claim: an email's local part, lowercased."""
    local = value.split("@", 1)[0].lower()
    local = re.sub(r"[^a-z0-9_-]", "-", local).strip("-")[:32]
    if local and not local[0].isalpha() and local[0] != "_":
        local = ("u" + local)[:32]
    if not USER_RE.match(local):
        raise PermissionDenied(f"the user claim {value!r} does not give a usable user name "
                               "(lowercase letters, digits, '_' and '-')")
    return local


def actor_from_claims(claims: Mapping[str, Any], mapping: RoleMapping, user_claim: str = "email") -> Actor:
    raw = claims.get(user_claim)
    if not isinstance(raw, str) or not raw:
        raise Unauthenticated(f"the token has no {user_claim!r} claim to name the user")
    roles = mapping.roles(claims)
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    return Actor(name=username(raw), admin="admin" in roles, subject=str(claims.get("sub")), email=email,
                 via="oidc", roles=roles)


@dataclass
class Authenticator:
    """Bearer credentials → Actor: automation tokens (``slw_...``) from the ledger, anything else as OIDC."""

    store: tokens.TokenStore
    oidc: OidcValidator | None
    mapping: RoleMapping

    def actor(self, bearer: str) -> Actor:
        if tokens.looks_like_token(bearer):
            return tokens.authenticate(self.store, bearer)
        if self.oidc is None:
            raise Unauthenticated("this server accepts automation tokens only (no oidc configured)")
        claims = self.oidc.validate(bearer)
        actor = actor_from_claims(claims, self.mapping, self.oidc.s.user_claim)
        if not actor.roles:
            raise PermissionDenied(f"{actor.name} has no Slipway role: the {self.mapping.claim!r} claim names "
                                   "none of the groups mapped in the server's oidc.roles")
        return actor
