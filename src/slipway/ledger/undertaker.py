"""The undertaker's state in the ledger: its notices, the hourly GPU cache, and the facts it judges."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, func, insert, select

from slipway.ledger import schema as t
from slipway.ledger.db import Db, aware
from slipway.ledger.vessels import ACTIVE_STATES


class ActiveVessel(NamedTuple):
    id: int
    name: str
    owner: str
    host: str
    state: str
    gpu_uuids: tuple[str, ...]
    created_at: datetime
    keep_until: datetime | None


class UndertakerMixin(Db):
    def active_vessel_facts(self) -> list[ActiveVessel]:
        """The active vessels with just the columns the idle rule needs (two queries, no per-row objects)."""
        v, h = t.vessels, t.hosts
        q = (select(v.c.id, v.c.name, v.c.owner, h.c.name, v.c.state, v.c.created_at, v.c.keep_until)
             .join(h, v.c.host_id == h.c.id).where(v.c.state.in_(ACTIVE_STATES)).order_by(v.c.created_at, v.c.id))
        gq = (select(t.vessel_gpus.c.vessel_id, t.gpus.c.uuid).select_from(t.vessel_gpus.join(t.gpus))
              .where(t.vessel_gpus.c.held.is_not(None)).order_by(t.gpus.c.idx))
        with self.read() as conn:
            gpus: dict[int, list[str]] = {}
            for vid, uuid in conn.execute(gq):
                gpus.setdefault(vid, []).append(uuid)
            return [ActiveVessel(vid, name, owner, host, state, tuple(gpus.get(vid, ())), aware(created) or created,
                                 aware(keep)) for vid, name, owner, host, state, created, keep in conn.execute(q)]

    def warned_at(self) -> dict[int, datetime]:
        """Per vessel id, when its last delivered idle warning went out."""
        n = t.undertaker_notices
        q = (select(n.c.vessel_id, func.max(n.c.at)).where(n.c.kind == "warn", n.c.delivered.is_(True),
                                                           n.c.vessel_id.is_not(None))
             .group_by(n.c.vessel_id))
        with self.read() as conn:
            return {vid: at for vid, at in conn.execute(q).all()}

    def host_alerted_since(self, host: str, since: datetime) -> bool:
        n = t.undertaker_notices
        q = select(func.count()).where(n.c.kind == "metrics-missing", n.c.host == host, n.c.delivered.is_(True),
                                       n.c.at > since)
        with self.read() as conn:
            return bool(conn.execute(q).scalar())

    def add_notice(self, **values: Any) -> None:
        with self.write() as conn:
            conn.execute(insert(t.undertaker_notices).values(**values))

    def notices(self) -> list[dict[str, Any]]:
        with self.read() as conn:
            rows = conn.execute(select(t.undertaker_notices).order_by(t.undertaker_notices.c.id)).mappings().all()
        return [dict(r) for r in rows]

    # ---------------------------------------------------------------- hour cache
    def hour_cache(self, expr: str) -> tuple[datetime, datetime] | None:
        """The hours ``undertaker_hours`` covers for query ``expr`` (None: nothing cached for it)."""
        c = t.undertaker_cache
        with self.read() as conn:
            row = conn.execute(select(c.c.fetched_from, c.c.fetched_until, c.c.query).where(c.c.id == 1)).first()
        if row is None or row[2] != expr:
            return None
        return row[0], row[1]

    def cached_hours(self, first: datetime, until: datetime) -> list[tuple[int, dict[str, float]]]:
        h = t.undertaker_hours
        with self.read() as conn:
            rows = conn.execute(select(h.c.bucket_end, h.c.averages)
                                .where(h.c.bucket_end >= int(first.timestamp()),
                                       h.c.bucket_end <= int(until.timestamp()))).all()
        return [(int(end), json.loads(averages)) for end, averages in rows]

    def store_hours(self, expr: str, begin: datetime, first: datetime, start: datetime, until: datetime,
                    rows: dict[int, dict[str, float]]) -> None:
        """Replace the cached hours from ``start`` on with ``rows``; drop those before ``first``."""
        h, c = t.undertaker_hours, t.undertaker_cache
        with self.write() as conn:
            conn.execute(delete(h).where((h.c.bucket_end < int(first.timestamp()))
                                         | (h.c.bucket_end >= int(start.timestamp()))))
            if rows:
                conn.execute(insert(h), [{"bucket_end": end, "averages": json.dumps(avg, separators=(",", ":"))}
                                         for end, avg in sorted(rows.items())])
            conn.execute(delete(c))
            conn.execute(insert(c).values(id=1, fetched_from=begin, fetched_until=until, query=expr))
