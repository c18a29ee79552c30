"""Auth: automation tokens (stored hashed; see slipway.ledger.tokens).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from slipway.ledger.schema import metadata
from slipway.ledger.tokens import auth_tokens

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=[auth_tokens])


def downgrade() -> None:
    auth_tokens.drop(op.get_bind(), checkfirst=True)
