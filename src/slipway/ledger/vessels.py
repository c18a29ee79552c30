"""Vessel records: reads (with their GPUs, stored once in ``vessel_gpus``), updates and launcher leases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, and_, select, update

from slipway.errors import LedgerError
from slipway.identity import Actor
from slipway.ledger import schema as t
from slipway.ledger.db import Db, aware, utcnow
from slipway.ledger.models import Vessel

ACTIVE_STATES = t.ACTIVE_STATES


class VesselsMixin(Db):
    def _vessel_query(self) -> Any:
        return select(t.vessels, t.hosts.c.name.label("host_name"), t.hosts.c.address.label("host_address"),
                      t.hosts.c.docker_url, t.hosts.c.network_mode).join(t.hosts)

    def _vessels(self, conn: Connection, q: Any) -> list[Vessel]:
        """The vessels ``q`` selects, each with its GPUs (one more query, whatever their number)."""
        rows = conn.execute(q).mappings().all()
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        gpus: dict[int, list[str]] = {}
        gq = (select(t.vessel_gpus.c.vessel_id, t.gpus.c.uuid).select_from(t.vessel_gpus.join(t.gpus))
              .order_by(t.gpus.c.idx))
        if len(ids) <= 500:
            gq = gq.where(t.vessel_gpus.c.vessel_id.in_(ids))
        else:  # the same selection as a subquery, not thousands of bound parameters
            gq = gq.where(t.vessel_gpus.c.vessel_id.in_(
                q.with_only_columns(t.vessels.c.id).order_by(None).scalar_subquery()))
        for vid, uuid in conn.execute(gq):
            gpus.setdefault(vid, []).append(uuid)
        return [_vessel(r, tuple(gpus.get(r["id"], ()))) for r in rows]

    def _active_id(self, conn: Connection, name: str, *, lock: bool = False) -> tuple[int, str] | None:
        q = (select(t.vessels.c.id, t.hosts.c.name).join(t.hosts)
             .where(t.vessels.c.name == name, t.vessels.c.state.in_(ACTIVE_STATES)))
        row = conn.execute(q.with_for_update(of=t.vessels) if lock else q).first()
        return (int(row[0]), str(row[1])) if row else None

    def update_vessel(self, name: str, actor: Actor | str, action: str | None = None, /, **values: Any) -> None:
        """Set columns of the active vessel ``name`` (and record an event when ``action`` is given)."""
        with self.write() as conn:
            got = self._active_id(conn, name, lock=True)
            if got is None:
                raise LedgerError(f"no active vessel named {name!r}")
            conn.execute(update(t.vessels).where(t.vessels.c.id == got[0]).values(updated_at=utcnow(), **values))
            if action:
                shown = {k: v for k, v in values.items() if k not in ("tailscale_key_id",)}
                self._event(conn, actor, action, name, got[1], **shown)

    def renew_lease(self, name: str, seconds: float) -> None:
        """A launch in progress is alive: push its ``starting`` lease forward."""
        with self.write() as conn:
            conn.execute(update(t.vessels).where(t.vessels.c.name == name, t.vessels.c.state == "starting")
                         .values(lease_until=utcnow() + timedelta(seconds=seconds)))

    def vessel(self, name: str) -> Vessel | None:
        """The active vessel of that name, else the newest ended one."""
        q = self._vessel_query().where(t.vessels.c.name == name).order_by(
            t.vessels.c.state.in_(ACTIVE_STATES).desc(), t.vessels.c.id.desc()).limit(1)
        with self.read() as conn:
            got = self._vessels(conn, q)
        return got[0] if got else None

    def vessel_by_id(self, vid: int) -> Vessel | None:
        with self.read() as conn:
            got = self._vessels(conn, self._vessel_query().where(t.vessels.c.id == vid))
        return got[0] if got else None

    def vessels(self, *, active: bool = True, owner: str | None = None, host: str | None = None,
                states: Sequence[str] | None = None) -> list[Vessel]:
        q = self._vessel_query()
        conds: list[Any] = []
        if states is not None:
            conds.append(t.vessels.c.state.in_(tuple(states)))
        elif active:
            conds.append(t.vessels.c.state.in_(ACTIVE_STATES))
        if owner:
            conds.append(t.vessels.c.owner == owner)
        if host:
            conds.append(t.hosts.c.name == host)
        if conds:
            q = q.where(and_(*conds))
        with self.read() as conn:
            return self._vessels(conn, q.order_by(t.vessels.c.created_at, t.vessels.c.id))


def _vessel(r: Any, gpus: tuple[str, ...]) -> Vessel:
    now = utcnow()
    return Vessel(
        id=r["id"], name=r["name"], owner=r["owner"], host=r["host_name"], queue=r["queue"], state=r["state"],
        image=r["image"], gpu_uuids=gpus, cpuset=r["cpuset"], cpus=r["cpus"], memory_mib=r["memory_mib"],
        shm_mib=r["shm_mib"], ssh_port=r["ssh_port"], jupyter_port=r["jupyter_port"], address=r["address"],
        container_id=r["container_id"], tailscale_key_id=r["tailscale_key_id"],
        tailscale_device_id=r["tailscale_device_id"], tailscale_ip=r["tailscale_ip"],
        keep_until=aware(r["keep_until"]), created_at=aware(r["created_at"]) or now,
        updated_at=aware(r["updated_at"]) or now, ended_at=aware(r["ended_at"]), end_reason=r["end_reason"],
        host_address=r["host_address"], docker_url=r["docker_url"], network_mode=r["network_mode"],
        lease_until=aware(r["lease_until"]), final_state=r["final_state"])


