"""Core: a vessel's GPUs stored once (``vessel_gpus``), launcher leases, event identities.

Revision ID: 0003
Revises: 0002

Ledgers created at 0001 by this release already have the new shape (0001 creates the current tables),
so each step looks at what is there: older ledgers get their ``gpu_allocations`` rows and the
``vessels.gpu_uuids`` copies folded into ``vessel_gpus``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from slipway.ledger import schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    insp = sa.inspect(bind)
    tables = set(insp.get_table_names())
    vessel_cols = {c["name"] for c in insp.get_columns("vessels")}
    if "vessel_gpus" not in tables:
        schema.metadata.create_all(bind, tables=[schema.vessel_gpus])
    if "lease_until" not in vessel_cols:
        with op.batch_alter_table("vessels") as b:
            b.add_column(sa.Column("lease_until", schema.UtcDateTime()))
    if "final_state" not in vessel_cols:
        with op.batch_alter_table("vessels") as b:
            b.add_column(sa.Column("final_state", sa.String(16)))
    event_cols = {c["name"] for c in insp.get_columns("events")}
    if "actor_subject" not in event_cols:
        with op.batch_alter_table("events") as b:
            b.add_column(sa.Column("actor_subject", sa.String(255)))
            b.add_column(sa.Column("actor_email", sa.String(255)))
    if "gpu_uuids" in vessel_cols:  # fold the CSV copies of ended vessels in, then drop the column
        held = set()
        if "gpu_allocations" in tables:
            for gpu_id, vessel_id in bind.execute(sa.text("SELECT gpu_id, vessel_id FROM gpu_allocations")):
                bind.execute(sa.insert(schema.vessel_gpus).values(gpu_id=gpu_id, vessel_id=vessel_id, held=1))
                held.add((vessel_id, gpu_id))
        ids = {u: i for i, u in bind.execute(sa.text("SELECT id, uuid FROM gpus"))}
        for vid, csv in bind.execute(sa.text("SELECT id, gpu_uuids FROM vessels WHERE gpu_uuids != ''")).all():
            for u in str(csv).split(","):
                if u in ids and (vid, ids[u]) not in held:
                    bind.execute(sa.insert(schema.vessel_gpus).values(gpu_id=ids[u], vessel_id=vid, held=None))
        with op.batch_alter_table("vessels") as b:
            b.drop_column("gpu_uuids")
    if "gpu_allocations" in tables:
        op.drop_table("gpu_allocations")


def downgrade() -> None:
    raise NotImplementedError("the ledger does not go back before 0003; restore a backup instead")
