"""The ledger: the one source of truth for hosts, GPUs, vessels, reservations and events.

It is the only code that writes SQL. One facade, :class:`Ledger`, over one module per aggregate:

- ``db``: connection, migrations, transactions, the event log
- ``hosts``: inventory sync (race-free upserts) and free capacity
- ``reservations``: atomic reserve and release
- ``vessels``: vessel records, updates, launcher leases
- ``undertaker``: the undertaker's notices and hour cache

SQLite by default, PostgreSQL for a team (``SLIPWAY_LEDGER_URL=postgresql://...``).
"""

from __future__ import annotations

from slipway.ledger.db import SCHEMA_HEAD, aware, default_data_dir, default_url, safe_url, utcnow
from slipway.ledger.models import Event, GpuSpec, HostSpec, Vessel
from slipway.ledger.reservations import LEASE_SECONDS, ReservationsMixin
from slipway.ledger.schema import ACTIVE_STATES
from slipway.ledger.tokens import TokensMixin
from slipway.ledger.undertaker import ActiveVessel, UndertakerMixin


class Ledger(ReservationsMixin, UndertakerMixin, TokensMixin):
    """Typed operations over the ledger database. Thread- and process-safe."""


__all__ = ["ACTIVE_STATES", "LEASE_SECONDS", "SCHEMA_HEAD", "ActiveVessel", "Event", "GpuSpec", "HostSpec",
           "Ledger", "Vessel", "aware", "default_data_dir", "default_url", "safe_url", "utcnow"]
