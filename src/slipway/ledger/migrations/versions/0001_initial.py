"""Initial ledger: hosts, GPUs, vessels, allocations, events.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from slipway.ledger import schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = ("hosts", "gpus", "vessels", "vessel_gpus", "cpu_allocations", "port_allocations", "events")


def upgrade() -> None:
    bind = op.get_bind()
    schema.metadata.create_all(bind, tables=[schema.metadata.tables[t] for t in _TABLES])


def downgrade() -> None:
    bind = op.get_bind()
    schema.metadata.drop_all(bind, tables=[schema.metadata.tables[t] for t in reversed(_TABLES)])
