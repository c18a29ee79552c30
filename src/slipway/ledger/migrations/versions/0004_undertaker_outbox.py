"""Undertaker: outbox of intended actions and messages, and its small state (consecutive failures).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

from slipway.ledger.undertaker import OUTBOX_TABLES

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from slipway.ledger.schema import metadata

    metadata.create_all(op.get_bind(), tables=list(OUTBOX_TABLES))


def downgrade() -> None:
    for table in reversed(OUTBOX_TABLES):
        table.drop(op.get_bind(), checkfirst=True)
