"""Ledger tables (SQLAlchemy Core). Changes go through a new Alembic revision in migrations/versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored and read back as aware UTC on every database.

    SQLite has no time zones: a plain ``DateTime(timezone=True)`` there stores an aware value's local wall
    time and reads it back as if it were UTC, so ``+02:00`` input came back two hours off. Values are
    converted to UTC before they are written (naive ones are taken as UTC) and come back aware UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"a datetime is needed, got {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        dt: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)

ACTIVE_STATES = ("starting", "running", "stopping")
ACTIVE_SQL = "state IN ('starting', 'running', 'stopping')"

hosts = Table(
    "hosts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("queue", String(64), nullable=False),
    Column("docker_url", String(1024), nullable=False),
    Column("address", String(255), nullable=False),
    Column("cpus", Integer, nullable=False),
    Column("memory_mib", BigInteger, nullable=False),
    Column("numa_nodes", Integer, nullable=False, server_default="1"),
    Column("port_min", Integer, nullable=False, server_default="20000"),
    Column("port_max", Integer, nullable=False, server_default="20999"),
    Column("network_mode", String(32), nullable=False, server_default="host"),
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("labels", Text, nullable=False, server_default="{}"),
    Column("updated_at", UtcDateTime(), nullable=False),
)

gpus = Table(
    "gpus", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("host_id", Integer, ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("uuid", String(128), nullable=False, unique=True),
    Column("model", String(255), nullable=False, server_default=""),
    Column("memory_mib", BigInteger, nullable=False, server_default="0"),
    Column("numa_node", Integer, nullable=False, server_default="0"),
    UniqueConstraint("host_id", "idx", name="uq_gpus_host_idx"),
)

vessels = Table(
    "vessels", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("host_id", Integer, ForeignKey("hosts.id"), nullable=False),
    Column("queue", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("image", String(512), nullable=False),
    Column("cpuset", Text, nullable=False, server_default=""),
    Column("cpus", Integer, nullable=False),
    Column("memory_mib", BigInteger, nullable=False),
    Column("shm_mib", BigInteger, nullable=False, server_default="0"),
    Column("ssh_port", Integer),
    Column("jupyter_port", Integer),
    Column("address", String(255)),
    Column("container_id", String(128)),
    Column("tailscale_key_id", String(128)),
    Column("tailscale_device_id", String(128)),
    Column("tailscale_ip", String(64)),
    Column("keep_until", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("ended_at", UtcDateTime()),
    Column("end_reason", Text),
    # a launch in progress renews this lease; a `starting` vessel whose lease ran out lost its launcher
    Column("lease_until", UtcDateTime()),
    # what a stop in progress ends as (stopped, buried): an unfinished stop is finished as it was meant
    Column("final_state", String(16)),
    Index("uq_vessels_active_name", "name", unique=True,
          sqlite_where=text(ACTIVE_SQL), postgresql_where=text(ACTIVE_SQL)),
    Index("ix_vessels_state", "state"),
)

# A vessel's GPUs, stored once: ``held`` is 1 while the vessel holds the GPU and NULL after it ended, so
# the unique (gpu_id, held) key lets a GPU be held by one vessel at a time (NULLs never collide) while
# ended vessels keep the record of which GPUs they had.
vessel_gpus = Table(
    "vessel_gpus", metadata,
    Column("vessel_id", Integer, ForeignKey("vessels.id"), primary_key=True),
    Column("gpu_id", Integer, ForeignKey("gpus.id"), primary_key=True),
    Column("held", Integer),
    UniqueConstraint("gpu_id", "held", name="uq_vessel_gpus_held"),
)

cpu_allocations = Table(
    "cpu_allocations", metadata,
    Column("host_id", Integer, ForeignKey("hosts.id"), primary_key=True),
    Column("cpu", Integer, primary_key=True),
    Column("vessel_id", Integer, ForeignKey("vessels.id"), nullable=False, index=True),
)

port_allocations = Table(
    "port_allocations", metadata,
    Column("host_id", Integer, ForeignKey("hosts.id"), primary_key=True),
    Column("port", Integer, primary_key=True),
    Column("vessel_id", Integer, ForeignKey("vessels.id"), nullable=False, index=True),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("actor_subject", String(255)),  # the authenticated identity in team mode (OIDC sub / token id)
    Column("actor_email", String(255)),
    Column("action", String(32), nullable=False),
    Column("vessel", String(64)),
    Column("host", String(255)),
    Column("detail", Text, nullable=False, server_default="{}"),
    Index("ix_events_vessel", "vessel"),
)

# ---------------------------------------------------------------- undertaker (revision 0002)
# Every message the undertaker sends (or tried to), so a warning goes out once per idle streak and
# admins are not told about the same missing metrics every 30 minutes.
undertaker_notices = Table(
    "undertaker_notices", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),  # the run's "now"
    Column("kind", String(32), nullable=False),  # warn | bury | reconcile | metrics-missing
    Column("vessel_id", Integer, ForeignKey("vessels.id")),
    Column("vessel", String(64)),
    Column("host", String(255)),
    Column("recipients", Text, nullable=False, server_default=""),
    Column("idle_since", UtcDateTime()),
    Column("delivered", Boolean, nullable=False),
    Column("error", Text),
    Index("ix_undertaker_notices_vessel", "vessel_id", "kind"),
    Index("ix_undertaker_notices_host", "host", "kind"),
)

# Hourly GPU averages already read from Prometheus (completed hours only, never the newest one), so a
# run every 30 minutes asks Prometheus for the last hour or two instead of the whole lookback.
undertaker_hours = Table(
    "undertaker_hours", metadata,
    Column("bucket_end", BigInteger, primary_key=True),  # epoch seconds of the hour's end
    Column("averages", Text, nullable=False),  # JSON {GPU UUID: average}: one row per hour for the fleet
)

# The range of hours ``undertaker_hours`` covers for the whole fleet (one row, id = 1).
undertaker_cache = Table(
    "undertaker_cache", metadata,
    Column("id", Integer, primary_key=True),
    Column("fetched_from", UtcDateTime(), nullable=False),
    Column("fetched_until", UtcDateTime(), nullable=False),
    Column("query", Text, nullable=False),
)
