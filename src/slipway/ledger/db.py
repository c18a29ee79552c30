"""Ledger plumbing: the database connection, migrations, transactions and the event log.

SQLite by default (a file under the Slipway data dir), PostgreSQL for a team
(``SLIPWAY_LEDGER_URL=postgresql://...``). On SQLite every write transaction starts with
``BEGIN IMMEDIATE``; on PostgreSQL writers lock the rows they change.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from slipway.errors import LedgerError, ValidationError
from slipway.identity import Actor
from slipway.ledger import schema as t
from slipway.ledger.models import Event

# The newest migration revision; a test checks it equals Alembic's head. Comparing against it first
# keeps every connect cheap (Alembic is imported only when the schema must change).
SCHEMA_HEAD = "0005"


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def default_data_dir() -> Path:
    base = os.environ.get("SLIPWAY_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "slipway")
    return Path(base)


def default_url() -> str:
    return os.environ.get("SLIPWAY_LEDGER_URL") or f"sqlite:///{default_data_dir() / 'ledger.db'}"


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable ledger URL>"


def _actor_columns(actor: Actor | str) -> dict[str, Any]:
    if isinstance(actor, Actor):
        return {"actor": actor.name[:64], "actor_subject": actor.subject, "actor_email": actor.email}
    return {"actor": str(actor)[:64]}


class LedgerConflict(LedgerError):
    """A transaction lost a race the database detected (a deadlock): nothing was changed; try again."""


class Db:
    """Connection, transactions and events; the aggregates (hosts, reservations, ...) build on it."""

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = url or default_url()
        self.engine = _make_engine(self.url)
        if migrate:
            self.migrate()

    def __repr__(self) -> str:
        return f"Ledger({safe_url(self.url)})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self) -> None:
        """Bring the schema to the newest revision (a no-op when it is already there)."""
        try:
            with self.engine.connect() as conn:
                current = None
                if inspect(conn).has_table("alembic_version"):
                    current = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except OperationalError as exc:
            raise LedgerError(f"ledger {safe_url(self.url)} cannot be reached: {exc.orig}") from None
        if current == SCHEMA_HEAD:
            return
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", "slipway.ledger:migrations")
        with self.engine.connect() as conn:
            conn = conn.execution_options(immediate=True)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: BEGIN IMMEDIATE on SQLite; plain BEGIN + row locks on PostgreSQL.

        A database that cannot take the write (locked past the busy timeout, a full disk, gone) is one
        LedgerError line; the transaction is rolled back, so nothing was changed.
        """
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(immediate=True)
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            why = self._why(exc)
            raise (LedgerConflict if "deadlock" in why else LedgerError)(why) from None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except OperationalError as exc:
            raise LedgerError(self._why(exc)) from None

    def _why(self, exc: OperationalError) -> str:
        text = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
        if "locked" in text:
            return "ledger is locked by another writer; nothing was changed"
        return f"ledger {safe_url(self.url)}: {text}; nothing was changed"

    # ---------------------------------------------------------------- events
    @staticmethod
    def _event(conn: Connection, actor: Actor | str, action: str, vessel: str | None = None,
               host: str | None = None, **detail: Any) -> None:
        conn.execute(insert(t.events).values(at=utcnow(), action=action, vessel=vessel, host=host,
                                             detail=json.dumps(detail, default=str, sort_keys=True),
                                             **_actor_columns(actor)))

    def record(self, actor: Actor | str, action: str, vessel: str | None = None, host: str | None = None,
               **detail: Any) -> None:
        with self.write() as conn:
            self._event(conn, actor, action, vessel, host, **detail)

    def events(self, vessel: str | None = None, limit: int = 1000) -> list[Event]:
        q = select(t.events).order_by(t.events.c.id)
        if vessel is not None:
            q = q.where(t.events.c.vessel == vessel)
        with self.read() as conn:
            rows = conn.execute(q.limit(limit)).mappings().all()
        return [Event(r["id"], aware(r["at"]) or utcnow(), r["actor"], r["action"], r["vessel"], r["host"],
                      json.loads(r["detail"] or "{}"), r["actor_subject"], r["actor_email"]) for r in rows]


def _make_engine(url: str) -> Engine:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() == "sqlite":
        db = u.database or ""
        if db and db != ":memory:":
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        pool = {"poolclass": NullPool} if db in ("", ":memory:") else {"pool_size": 2, "max_overflow": 8}
        engine = create_engine(u, connect_args={"timeout": 60}, **pool)  # type: ignore[arg-type]

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout = 60000")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if u.get_backend_name() == "postgresql":
        return create_engine(u, pool_pre_ping=True, pool_size=2, max_overflow=8)
    raise ValidationError("ledger_url", f"unsupported database {u.get_backend_name()!r}",
                          allowed="sqlite:///PATH or postgresql://USER@HOST/DB")
