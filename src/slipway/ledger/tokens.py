"""Automation tokens (revision 0005): the SQL for the ``auth_tokens`` table, mixed into :class:`Ledger`.

Only the SHA-256 of a token is stored: the secret is shown once, at creation, and never again. Rows are
never deleted; a revoked token keeps its row (with ``revoked_at``) so the audit trail stays whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, String, Table, Text, insert, select, update

from slipway.ledger.db import Db
from slipway.ledger.schema import UtcDateTime, metadata

auth_tokens = Table(
    "auth_tokens", metadata,
    Column("id", String(32), primary_key=True),  # the public part of the token (slw_<id>_<secret>)
    Column("name", String(64), nullable=False),  # who acts with it, e.g. "undertaker" or "ci-nightly"
    Column("roles", Text, nullable=False),  # comma-separated role names
    Column("secret_sha256", String(64), nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime()),
    Column("revoked_by", String(64)),
    Column("last_used_at", UtcDateTime()),
    Index("ix_auth_tokens_name", "name"),
)

TABLES = (auth_tokens,)


@dataclass(frozen=True)
class TokenRecord:
    id: str
    name: str
    roles: tuple[str, ...]
    secret_sha256: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    last_used_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """Everything but the hash: what a list may show."""
        return {"id": self.id, "name": self.name, "roles": list(self.roles), "created_by": self.created_by,
                "created_at": self.created_at.isoformat(), "expires_at": self.expires_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
                "revoked_by": self.revoked_by,
                "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None}


def _record(r: Any) -> TokenRecord:
    return TokenRecord(id=r["id"], name=r["name"], roles=tuple(x for x in r["roles"].split(",") if x),
                       secret_sha256=r["secret_sha256"], created_by=r["created_by"], created_at=r["created_at"],
                       expires_at=r["expires_at"], revoked_at=r["revoked_at"], revoked_by=r["revoked_by"],
                       last_used_at=r["last_used_at"])


class TokensMixin(Db):
    """Token rows, through the Ledger's ``read()`` / ``write()`` transactions."""

    def insert_token(self, *, token_id: str, name: str, roles: Sequence[str], secret_sha256: str,
                     created_by: str, created_at: datetime, expires_at: datetime) -> TokenRecord:
        with self.write() as conn:
            conn.execute(insert(auth_tokens).values(
                id=token_id, name=name, roles=",".join(roles), secret_sha256=secret_sha256,
                created_by=created_by, created_at=created_at, expires_at=expires_at))
            row = conn.execute(select(auth_tokens).where(auth_tokens.c.id == token_id)).mappings().one()
        return _record(row)

    def token(self, token_id: str) -> TokenRecord | None:
        with self.read() as conn:
            row = conn.execute(select(auth_tokens).where(auth_tokens.c.id == token_id)).mappings().first()
        return _record(row) if row else None

    def tokens(self, *, include_revoked: bool = False) -> list[TokenRecord]:
        q = select(auth_tokens).order_by(auth_tokens.c.created_at, auth_tokens.c.id)
        if not include_revoked:
            q = q.where(auth_tokens.c.revoked_at.is_(None))
        with self.read() as conn:
            return [_record(r) for r in conn.execute(q).mappings().all()]

    def revoke_token(self, token_id: str, *, by: str, at: datetime) -> bool:
        """Mark the token revoked; False when there is no such unrevoked token."""
        with self.write() as conn:
            res = conn.execute(update(auth_tokens).where(auth_tokens.c.id == token_id,
                                                         auth_tokens.c.revoked_at.is_(None))
                               .values(revoked_at=at, revoked_by=by))
        return bool(res.rowcount)

    def touch_token(self, token_id: str, at: datetime) -> None:
        with self.write() as conn:
            conn.execute(update(auth_tokens).where(auth_tokens.c.id == token_id).values(last_used_at=at))
