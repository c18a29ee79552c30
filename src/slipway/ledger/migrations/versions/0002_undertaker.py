"""Undertaker: notices (warnings, burials, reconciles, missing-metrics alerts) and the hourly GPU cache.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from slipway.ledger import schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = ("undertaker_notices", "undertaker_hours", "undertaker_cache")


def upgrade() -> None:
    bind = op.get_bind()
    schema.metadata.create_all(bind, tables=[schema.metadata.tables[t] for t in _TABLES])


def downgrade() -> None:
    bind = op.get_bind()
    schema.metadata.drop_all(bind, tables=[schema.metadata.tables[t] for t in reversed(_TABLES)])
