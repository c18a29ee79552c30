"""Alembic environment: runs the ledger's migrations on the connection Slipway hands over."""

from __future__ import annotations

from alembic import context

from slipway.ledger.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through `alembic` CLI with a URL
    raise RuntimeError("run migrations through slipway.ledger.Ledger.migrate()")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        # one migrator at a time across the team
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274)")
    context.run_migrations()
