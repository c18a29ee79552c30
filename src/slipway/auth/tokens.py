"""Automation tokens for CI and cron (the undertaker runs as one): created by an admin, scoped to roles,
with an expiry, stored as a SHA-256 in the ledger, revocable, listed without their secret.

A token reads ``slw_<id>_<secret>``: ``id`` finds the row, the secret (256 random bits) is compared by hash
in constant time. The secret is returned once, by :func:`create_token`; nothing else ever shows it.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from slipway.auth.errors import Unauthenticated
from slipway.auth.roles import validate_roles
from slipway.errors import NotFound, ValidationError
from slipway.identity import Actor
from slipway.ledger import utcnow
from slipway.ledger.tokens import TokenRecord

PREFIX = "slw_"
TOKEN_RE = re.compile(r"^slw_([0-9a-f]{12})_([A-Za-z0-9_-]{40,64})$")
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
MAX_DAYS = 366
TOUCH_SECONDS = 60.0  # how stale ``last_used_at`` may be


class TokenStore(Protocol):
    def insert_token(self, *, token_id: str, name: str, roles: Any, secret_sha256: str, created_by: str,
                     created_at: datetime, expires_at: datetime) -> TokenRecord: ...
    def token(self, token_id: str) -> TokenRecord | None: ...
    def tokens(self, *, include_revoked: bool = False) -> list[TokenRecord]: ...
    def revoke_token(self, token_id: str, *, by: str, at: datetime) -> bool: ...
    def touch_token(self, token_id: str, at: datetime) -> None: ...
    def record(self, actor: Any, action: str, vessel: str | None = None, host: str | None = None,
               **detail: Any) -> None: ...


@dataclass(frozen=True)
class NewToken:
    record: TokenRecord
    secret: str = field(repr=False)  # the whole token: shown once

    def as_dict(self) -> dict[str, Any]:
        return {**self.record.as_dict(), "token": self.secret}


def looks_like_token(value: str) -> bool:
    return value.startswith(PREFIX)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_expiry(days: Any = None, expires_at: datetime | None = None, now: datetime | None = None) -> datetime:
    now = now or utcnow()
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise ValidationError("expires_at", "needs a time zone", got=str(expires_at),
                                  allowed="e.g. 2027-01-01T00:00:00Z")
        if expires_at <= now:
            raise ValidationError("expires_at", "is in the past", got=expires_at.isoformat(),
                                  allowed="a future time")
        if expires_at > now + timedelta(days=MAX_DAYS):
            raise ValidationError("expires_at", "too far ahead", got=expires_at.isoformat(),
                                  allowed=f"at most {MAX_DAYS} days from now")
        return expires_at
    if isinstance(days, bool) or not isinstance(days, int | float) or not 0 < days <= MAX_DAYS:
        raise ValidationError("days", "how many days the token is valid", got=days,
                              allowed=f"a number of days, more than 0 and at most {MAX_DAYS}")
    return now + timedelta(days=float(days))


def create_token(store: TokenStore, *, name: Any, roles: Any, actor: Actor, days: Any = None,
                 expires_at: datetime | None = None, now: datetime | None = None) -> NewToken:
    """A new token (admins only: the route checks ``tokens:admin``). Records an event without the secret."""
    now = now or utcnow()
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationError("name", "not a valid token name", got=name,
                              allowed="1-32 characters: lowercase letters, digits, '_' and '-'")
    if isinstance(roles, str):
        roles = [r for r in roles.split(",") if r]
    role_t = validate_roles(roles if isinstance(roles, list | tuple) else [roles])
    expiry = parse_expiry(days, expires_at, now)
    token_id = secrets.token_hex(6)
    secret = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    rec = store.insert_token(token_id=token_id, name=name, roles=role_t, secret_sha256=_digest(secret),
                             created_by=actor.name, created_at=now, expires_at=expiry)
    store.record(_who(store, actor), "token-create", None, None, token=token_id, token_name=name, roles=list(role_t),
                 expires_at=expiry.isoformat())
    return NewToken(rec, secret)


def revoke_token(store: TokenStore, token_id: str, *, actor: Actor, now: datetime | None = None) -> TokenRecord:
    rec = store.token(token_id)
    if rec is None:
        raise NotFound(f"no automation token {token_id!r} (list them with GET /api/v1/tokens)")
    if rec.revoked_at is None:
        store.revoke_token(token_id, by=actor.name, at=now or utcnow())
        store.record(_who(store, actor), "token-revoke", None, None, token=token_id, token_name=rec.name)
    got = store.token(token_id)
    assert got is not None
    return got


def _who(store: TokenStore, actor: Actor) -> Any:
    """The actor for an event: the whole identity where the ledger records it (subject, email)."""
    ann = inspect.signature(store.record).parameters["actor"].annotation
    return actor if "Actor" in str(ann) else actor.name


def authenticate(store: TokenStore, token: str, *, now: datetime | None = None) -> Actor:
    """The actor an automation token stands for; Unauthenticated when unknown, revoked or expired."""
    now = now or utcnow()
    m = TOKEN_RE.match(token)
    if m is None:
        raise Unauthenticated("malformed automation token")
    rec = store.token(m.group(1))
    if rec is None or not hmac.compare_digest(rec.secret_sha256, _digest(token)):
        raise Unauthenticated("unknown automation token")
    if rec.revoked_at is not None:
        raise Unauthenticated(f"automation token {rec.id} ({rec.name}) was revoked")
    if rec.expires_at <= now:
        raise Unauthenticated(f"automation token {rec.id} ({rec.name}) expired at {rec.expires_at.isoformat()}")
    if rec.last_used_at is None or (now - rec.last_used_at).total_seconds() > TOUCH_SECONDS:
        store.touch_token(rec.id, now)  # not on every request: a write per call would serialize the server
    return Actor(name=rec.name, admin="admin" in rec.roles, subject=f"token:{rec.id}", email=None, via="token",
                 roles=rec.roles)
