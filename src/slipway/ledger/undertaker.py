"""The undertaker's state in the ledger: its outbox, notices, hourly GPU cache, and the facts it judges.

The outbox (revision 0004) is what makes a run safe to interrupt: every action (bury, reconcile, a stop
to finish) and every message is written here, in one transaction, *before* anything is done or sent, and
marked done after. A later run executes whatever is still pending, in order, so a crash at any point
neither loses nor repeats a message. Delivered messages are also copied to ``undertaker_notices``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import (
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import DBAPIError

from slipway.errors import LedgerError
from slipway.identity import Actor
from slipway.ledger import schema as t
from slipway.ledger.db import Db, safe_url
from slipway.ledger.schema import UtcDateTime, metadata
from slipway.ledger.vessels import ACTIVE_STATES

LOCKED = "ledger is locked by another writer; nothing was changed"

# ---------------------------------------------------------------- tables (revision 0004)
# One row per intended action or message. ``kind``: an action (bury / reconcile / stop) or ``message``;
# ``topic`` says what a message is about (warn, bury, reconcile, metrics-missing, stop-stuck,
# prometheus-down, prometheus-up). ``key`` makes an intent unique while it is pending (warn:<vessel id>, ...).
# A message with ``after_id`` waits for that action to be done (and is cancelled with it).
undertaker_outbox = Table(
    "undertaker_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UtcDateTime(), nullable=False),  # the run's "now"
    Column("kind", String(16), nullable=False),
    Column("topic", String(32), nullable=False),
    Column("key", String(160), nullable=False),
    Column("vessel_id", Integer, ForeignKey("vessels.id")),
    Column("vessel", String(64)),
    Column("host", String(255)),
    Column("recipients", Text, nullable=False, server_default=""),
    Column("text", Text, nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default="{}"),
    Column("idle_since", UtcDateTime()),
    Column("after_id", Integer),
    Column("state", String(16), nullable=False),  # pending | done | cancelled
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("done_at", UtcDateTime()),  # the "now" of the run that did it
    Column("closed_at", UtcDateTime()),  # a warning whose idle streak ended (no longer starts a burial clock)
    Index("ix_undertaker_outbox_state", "state", "id"),
    Index("ix_undertaker_outbox_key", "key"),
)

# Small named values the undertaker keeps between runs (e.g. consecutive Prometheus failures).
undertaker_state = Table(
    "undertaker_state", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

OUTBOX_TABLES = (undertaker_outbox, undertaker_state)


_EVENTS = {"warn": "idle-warning", "metrics-missing": "metrics-missing", "stop-stuck": "stop-stuck",
           "prometheus-down": "prometheus-down", "prometheus-up": "prometheus-up"}


class LedgerLocked(LedgerError):
    """Another writer holds the ledger's write lock for longer than the undertaker waits."""


class ActiveVessel(NamedTuple):
    id: int
    name: str
    owner: str
    host: str
    state: str
    gpu_uuids: tuple[str, ...]
    created_at: datetime
    keep_until: datetime | None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class IdleWarning:
    at: datetime  # when the warning was delivered (the run's "now")
    idle_since: datetime | None  # the start of the idle streak it was about
    outbox_id: int


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    created_at: datetime
    kind: str
    topic: str
    key: str
    vessel_id: int | None
    vessel: str | None
    host: str | None
    recipients: str
    text: str
    detail: dict[str, Any]
    idle_since: datetime | None
    after_id: int | None
    state: str
    attempts: int
    error: str | None


@lru_cache(maxsize=65536)
def _parse_utc(text: str) -> datetime:
    dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _utc(value: Any) -> datetime | None:
    """A timestamp column's raw value (SQLite text, PostgreSQL datetime) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return _parse_utc(str(value))


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` (from any ledger call) means another writer holds the lock."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, LedgerLocked):
            return True
        if isinstance(seen, DBAPIError):
            text = str(seen.orig).lower()
            if "database is locked" in text or "lock timeout" in text or "could not obtain lock" in text:
                return True
        seen = seen.__cause__ or seen.__context__
    return False


class UndertakerMixin(Db):
    # ---------------------------------------------------------------- transactions
    @contextmanager
    def quick_write(self, timeout_s: float) -> Iterator[Connection]:
        """A write transaction that waits at most ``timeout_s`` for the lock, then raises LedgerLocked."""
        ms = max(1, int(timeout_s * 1000))
        try:
            with self.engine.connect() as conn:
                sqlite = self.dialect == "sqlite"
                raw: Any = conn.connection.dbapi_connection if sqlite else None
                if raw is not None:
                    raw.execute(f"PRAGMA busy_timeout = {ms}")
                try:
                    conn = conn.execution_options(immediate=True)
                    with conn.begin():
                        if not sqlite:
                            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{ms}ms'")
                        yield conn
                finally:
                    if raw is not None:
                        raw.execute("PRAGMA busy_timeout = 60000")
        except DBAPIError as exc:
            if is_locked(exc):
                raise LedgerLocked(LOCKED) from None
            raise LedgerError(f"ledger {safe_url(self.url)}: {str(exc.orig).splitlines()[0]}") from None

    # ---------------------------------------------------------------- facts
    def active_vessel_facts(self) -> list[ActiveVessel]:
        """The active vessels with just the columns the idle rule needs (two queries, no per-row objects).

        Timestamps are read as the database gives them and parsed once here (``fromisoformat`` on SQLite's
        text), which is several times faster for a large fleet than the generic column types."""
        v, h = t.vessels, t.hosts
        raw = [type_coerce(c, String) for c in (v.c.created_at, v.c.keep_until, v.c.updated_at)]
        q = (select(v.c.id, v.c.name, v.c.owner, h.c.name, v.c.state, *raw)
             .join(h, v.c.host_id == h.c.id).where(v.c.state.in_(ACTIVE_STATES)).order_by(v.c.created_at, v.c.id))
        gq = (select(t.vessel_gpus.c.vessel_id, t.gpus.c.uuid).select_from(t.vessel_gpus.join(t.gpus))
              .where(t.vessel_gpus.c.held.is_not(None)).order_by(t.gpus.c.idx))
        with self.read() as conn:
            gpus: dict[int, list[str]] = {}
            for vid, uuid in conn.execute(gq):
                got = gpus.get(vid)
                if got is None:
                    gpus[vid] = [uuid]
                else:
                    got.append(uuid)
            out = []
            for vid, name, owner, host, state, created, keep, updated in conn.execute(q):
                out.append(ActiveVessel(vid, name, owner, host, state, tuple(gpus.get(vid, ())),
                                        _utc(created) or datetime.min.replace(tzinfo=UTC), _utc(keep),
                                        _utc(updated)))
            return out

    def open_warnings(self) -> dict[int, IdleWarning]:
        """Per vessel id, its newest delivered idle warning whose streak has not been seen to end."""
        o = undertaker_outbox
        q = (select(o.c.vessel_id, o.c.done_at, o.c.idle_since, o.c.id)
             .where(o.c.kind == "message", o.c.topic == "warn", o.c.state == "done", o.c.closed_at.is_(None),
                    o.c.vessel_id.is_not(None)).order_by(o.c.id))
        with self.read() as conn:
            return {vid: IdleWarning(at, since, oid) for vid, at, since, oid in conn.execute(q)}

    def warned_at(self) -> dict[int, datetime]:
        """Per vessel id, when its open idle warning went out."""
        return {vid: w.at for vid, w in self.open_warnings().items()}

    def host_alerted_since(self, host: str, since: datetime) -> bool:
        n = t.undertaker_notices
        q = select(func.count()).where(n.c.kind == "metrics-missing", n.c.host == host, n.c.delivered.is_(True),
                                       n.c.at > since)
        with self.read() as conn:
            return bool(conn.execute(q).scalar())

    def hosts_alerted_since(self, since: datetime) -> set[str]:
        n = t.undertaker_notices
        q = select(n.c.host).where(n.c.kind == "metrics-missing", n.c.delivered.is_(True), n.c.at > since,
                                   n.c.host.is_not(None)).distinct()
        with self.read() as conn:
            return {h for (h,) in conn.execute(q)}

    def add_notice(self, **values: Any) -> None:
        with self.write() as conn:
            conn.execute(insert(t.undertaker_notices).values(**values))

    def notices(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = conn.execute(select(t.undertaker_notices).order_by(t.undertaker_notices.c.id)).mappings().all()
        return [dict(r) for r in rows]

    # ---------------------------------------------------------------- outbox
    def outbox(self, *, pending: bool = False) -> list[OutboxEntry]:
        o = undertaker_outbox
        q = select(o).order_by(o.c.id)
        if pending:
            q = q.where(o.c.state == "pending")
        with self.read() as conn:
            rows = conn.execute(q).mappings().all()
        return [OutboxEntry(r["id"], r["created_at"], r["kind"], r["topic"], r["key"], r["vessel_id"], r["vessel"],
                            r["host"], r["recipients"], r["text"], json.loads(r["detail"] or "{}"), r["idle_since"],
                            r["after_id"], r["state"], r["attempts"], r["error"]) for r in rows]

    def outbox_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` are taken: a pending entry, or a done one that must happen once (``once``)."""
        want = list(dict.fromkeys(keys))
        if not want:
            return set()
        o = undertaker_outbox
        out: set[str] = set()
        with self.read() as conn:
            for i in range(0, len(want), 500):
                chunk = want[i:i + 500]
                q = select(o.c.key).where(o.c.key.in_(chunk), (o.c.state == "pending")
                                          | ((o.c.state == "done") & o.c.key.like("once:%")))
                out.update(k for (k,) in conn.execute(q))
        return out

    def outbox_plan(self, entries: Sequence[Mapping[str, Any]], *, cancel: Iterable[int] = (),
                    close_warnings: Iterable[int] = (), state: Mapping[str, Any] | None = None,
                    timeout_s: float = 30.0) -> list[int]:
        """Record intended actions and messages (all or nothing), with the undertaker's small ``state``
        values (None deletes one). An entry's ``after`` is the index of an earlier entry in ``entries`` it
        waits for. Returns the new ids."""
        o, s = undertaker_outbox, undertaker_state
        ids: list[int] = []
        with self.quick_write(timeout_s) as conn:
            for key, value in (state or {}).items():
                conn.execute(delete(s).where(s.c.key == key))
                if value is not None:
                    conn.execute(insert(s).values(key=key, value=json.dumps(value, default=str, sort_keys=True)))
            cancel_ids = list(cancel)
            if cancel_ids:
                conn.execute(update(o).where(o.c.id.in_(cancel_ids), o.c.state == "pending")
                             .values(state="cancelled"))
            closing = list(close_warnings)
            if closing:
                conn.execute(update(o).where(o.c.id.in_(closing)).values(closed_at=func.coalesce(o.c.done_at,
                                                                                                 o.c.created_at)))
            for e in entries:
                values = {k: v for k, v in e.items() if k != "after"}
                if "detail" in values:
                    values["detail"] = json.dumps(values["detail"], default=str, sort_keys=True)
                if e.get("after") is not None:
                    values["after_id"] = ids[int(e["after"])]
                values.setdefault("state", "pending")
                got = conn.execute(insert(o).values(**values)).inserted_primary_key
                ids.append(int(got[0]))  # type: ignore[index]
        return ids

    def outbox_states(self, ids: Iterable[int]) -> dict[int, str]:
        want = list(set(ids))
        if not want:
            return {}
        o = undertaker_outbox
        with self.read() as conn:
            return {i: st for i, st in conn.execute(select(o.c.id, o.c.state).where(o.c.id.in_(want)))}

    def outbox_done(self, ids: Sequence[int], at: datetime, *, actor: Actor | str = "undertaker",
                    timeout_s: float = 30.0) -> None:
        """Mark entries done (idempotent); a delivered message is also recorded in ``undertaker_notices``
        and as an event."""
        if not ids:
            return
        o, n = undertaker_outbox, t.undertaker_notices
        with self.quick_write(timeout_s) as conn:
            rows = conn.execute(select(o).where(o.c.id.in_(list(ids)), o.c.state == "pending")).mappings().all()
            for r in rows:
                conn.execute(update(o).where(o.c.id == r["id"]).values(state="done", done_at=at, error=None))
                if r["kind"] != "message":
                    continue
                conn.execute(insert(n).values(at=at, kind=r["topic"], vessel_id=r["vessel_id"],
                                              vessel=r["vessel"], host=r["host"], recipients=r["recipients"],
                                              idle_since=r["idle_since"], delivered=True, error=None))
                event = _EVENTS.get(r["topic"])
                if event:
                    detail = json.loads(r["detail"] or "{}")
                    self._event(conn, actor, event, r["vessel"], r["host"], recipients=r["recipients"],
                                idle_since=r["idle_since"], planned_at=r["created_at"], **detail)

    def outbox_cancel(self, ids: Sequence[int], *, timeout_s: float = 30.0) -> None:
        o = undertaker_outbox
        with self.quick_write(timeout_s) as conn:
            conn.execute(update(o).where(o.c.id.in_(list(ids)), o.c.state == "pending").values(state="cancelled"))

    def outbox_failed(self, oid: int, error: str, *, timeout_s: float = 30.0) -> None:
        o = undertaker_outbox
        with self.quick_write(timeout_s) as conn:
            conn.execute(update(o).where(o.c.id == oid).values(attempts=o.c.attempts + 1, error=error[:500]))

    def outbox_cancel_vessel(self, vessel_id: int, conn: Connection | None = None) -> None:
        """Cancel what is pending for a vessel (an admin released it by force)."""
        o = undertaker_outbox
        stmt = update(o).where(o.c.vessel_id == vessel_id, o.c.state == "pending", o.c.kind != "message") \
            .values(state="cancelled", error="released by force")
        msgs = update(o).where(o.c.vessel_id == vessel_id, o.c.state == "pending", o.c.kind == "message",
                               o.c.topic.in_(("bury", "warn", "reconcile"))) \
            .values(state="cancelled", error="released by force")
        if conn is not None:
            conn.execute(stmt)
            conn.execute(msgs)
            return
        with self.write() as c:
            c.execute(stmt)
            c.execute(msgs)

    # ---------------------------------------------------------------- small state
    def undertaker_value(self, key: str) -> Any:
        s = undertaker_state
        with self.read() as conn:
            got = conn.execute(select(s.c.value).where(s.c.key == key)).scalar()
        return json.loads(got) if got is not None else None

    def set_undertaker_value(self, key: str, value: Any, *, timeout_s: float = 30.0) -> None:
        s = undertaker_state
        with self.quick_write(timeout_s) as conn:
            conn.execute(delete(s).where(s.c.key == key))
            if value is not None:
                conn.execute(insert(s).values(key=key, value=json.dumps(value, default=str, sort_keys=True)))

    # ---------------------------------------------------------------- hour cache
    def hour_cache(self, expr: str) -> tuple[datetime, datetime] | None:
        """The hours ``undertaker_hours`` covers for query ``expr`` (None: nothing cached for it)."""
        c = t.undertaker_cache
        with self.read() as conn:
            row = conn.execute(select(c.c.fetched_from, c.c.fetched_until, c.c.query).where(c.c.id == 1)).first()
        if row is None or row[2] != expr:
            return None
        return row[0], row[1]

    def cached_hours(self, first: datetime, until: datetime) -> list[tuple[int, str]]:
        """The cached hours in [first, until] as (hour end, JSON text {GPU UUID: average})."""
        h = t.undertaker_hours
        with self.read() as conn:
            rows = conn.execute(select(h.c.bucket_end, h.c.averages)
                                .where(h.c.bucket_end >= int(first.timestamp()),
                                       h.c.bucket_end <= int(until.timestamp()))).all()
        return [(int(end), str(averages)) for end, averages in rows]

    def store_hours(self, expr: str, begin: datetime, first: datetime, start: datetime, until: datetime,
                    rows: Mapping[int, Any], *, index_key: str | None = None, index: Sequence[str] = (),
                    timeout_s: float = 60.0) -> None:
        """Replace the cached hours from ``start`` on with ``rows`` (JSON values: a map or a list in the
        order of ``index``, saved under ``index_key`` in the same transaction); drop those before ``first``."""
        h, c, s = t.undertaker_hours, t.undertaker_cache, undertaker_state
        with self.quick_write(timeout_s) as conn:
            if index_key is not None:
                conn.execute(delete(s).where(s.c.key == index_key))
                conn.execute(insert(s).values(key=index_key, value=json.dumps(list(index), separators=(",", ":"))))
            conn.execute(delete(h).where((h.c.bucket_end < int(first.timestamp()))
                                         | (h.c.bucket_end >= int(start.timestamp()))))
            if rows:
                conn.execute(insert(h), [{"bucket_end": end, "averages": json.dumps(avg, separators=(",", ":"))}
                                         for end, avg in sorted(rows.items())])
            conn.execute(delete(c))
            conn.execute(insert(c).values(id=1, fetched_from=begin, fetched_until=until, query=expr))

