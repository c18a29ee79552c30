"""Reservations: take GPUs, CPUs, memory and ports for a vessel atomically, and give them back.

One short write transaction: the hosts are ranked from aggregate counts (no per-slot rows of the whole
fleet), only the hosts tried are read in full (locked with ``FOR UPDATE`` on PostgreSQL), and the
allocation rows are inserted. Nothing outside the database runs inside it: the image check and the port
probe of a local host happen before (``blocked_ports``). The allocation keys are unique ((GPU, held),
(host, CPU), (host, port)), so a GPU can never be given twice even by a buggy caller; a lost race is
retried.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from slipway.errors import LedgerError, PlacementError, ValidationError
from slipway.identity import Actor
from slipway.ledger import schema as t
from slipway.ledger.db import LedgerConflict, utcnow
from slipway.ledger.hosts import HostsMixin
from slipway.ledger.models import Vessel
from slipway.ledger.vessels import ACTIVE_STATES, VesselsMixin
from slipway.request import VesselRequest
from slipway.scheduler import HostState, Placement, place_on, place_ranked

LEASE_SECONDS = 120.0


class ReservationsMixin(HostsMixin, VesselsMixin):
    def plan(self, req: VesselRequest) -> Placement:
        """Where the request would go now, with why the other hosts were not chosen; reserves nothing."""
        with self.read() as conn:
            return place_ranked(req, self.host_summaries(conn), lambda name: self._detail(conn, name))

    def _detail(self, conn: Connection, name: str, *, lock: bool = False, skip_locked: bool = False
                ) -> HostState | None:
        row = self._host_row(conn, name, lock=lock, skip_locked=skip_locked)
        if row is None:
            return None
        [state] = self.host_states(conn, [row["id"]])
        return state

    def reserve(self, req: VesselRequest, actor: Actor | str, *, ports: int = 2,
                blocked_ports: Mapping[str, Collection[int]] | None = None,
                lease_seconds: float = LEASE_SECONDS) -> Vessel:
        """Atomically pick a host and reserve GPUs, CPUs, memory and ports for ``req``.

        ``blocked_ports`` lists, per host, ports something outside Slipway holds (probed before).
        Raises ValidationError / PlacementError with per-host reasons; writes nothing then.
        """
        blocked = blocked_ports or {}
        last: Exception | None = None
        for attempt in range(8):
            try:
                with self.write() as conn:
                    # PostgreSQL: one statement; after a lost race, the path that passes over busy hosts
                    if self.dialect == "postgresql" and attempt == 0:
                        got = self._reserve_one_statement(conn, req, actor, ports, blocked, lease_seconds)
                        if got is not None:
                            return got
                    return self._reserve(conn, req, actor, ports, blocked, lease_seconds)
            except IntegrityError as exc:
                if "vessels" in str(exc.orig) and "name" in str(exc.orig):
                    self._raise_taken(req)
                last = exc  # lost a race for a GPU/CPU/port: try again on fresh counts
            except LedgerConflict as exc:  # a deadlock between concurrent reservations: try again
                last = exc
            except DBAPIError as exc:
                if "deadlock" not in str(exc.orig).lower():
                    raise LedgerError(f"ledger: reserving {req.name} failed: "
                                      f"{str(exc.orig).splitlines()[0]}") from None
                last = exc
        raise PlacementError(f"could not reserve {req.describe()}: the fleet changed under every attempt "
                             f"({type(last).__name__})")

    def _reserve_one_statement(self, conn: Connection, req: VesselRequest, actor: Actor | str, nports: int,
                               blocked: Mapping[str, Collection[int]], lease_seconds: float) -> Vessel | None:
        """PostgreSQL: the whole reservation in one statement (None: it fitted nowhere, or a port probe
        blocked the chosen host's ports; the general path then decides and explains)."""
        from sqlalchemy import text

        from slipway.identity import Actor as _Actor
        from slipway.ledger.reserve_pg import RESERVE_SQL

        now = utcnow()
        who = actor if isinstance(actor, _Actor) else None
        row = conn.execute(text(RESERVE_SQL), {
            "queue": req.queue, "gpus": req.gpus, "cpus": req.cpus, "memory": req.memory_mib, "nports": nports,
            "blocked": sorted({p for ps in blocked.values() for p in ps}), "name": req.name, "owner": req.user,
            "image": req.image, "shm": req.shm_mib, "now": now, "lease": now + timedelta(seconds=lease_seconds),
            "actor": (who.name if who else str(actor))[:64], "subject": who.subject if who else None,
            "email": who.email if who else None}).first()
        if row is None:
            return None
        [v] = self._vessels(conn, self._vessel_query().where(t.vessels.c.id == row[0]))
        return v

    def _reserve(self, conn: Connection, req: VesselRequest, actor: Actor | str, nports: int,
                 blocked: Mapping[str, Collection[int]], lease_seconds: float) -> Vessel:
        self._check_name(conn, req)
        taken: dict[str, list[int]] = {}
        busy: list[str] = []

        def detail(name: str, *, wait: bool) -> HostState | None:
            # PostgreSQL: a host another reservation holds right now is passed over (SKIP LOCKED) for the
            # next best one, so concurrent launches spread instead of queueing; if every fitting host is
            # busy, the second pass waits for the best one.
            state = self._detail(conn, name, lock=True, skip_locked=not wait)
            if state is None:
                busy.append(name)
                return None
            free = self._free_ports(conn, name, nports, blocked.get(name, ()))
            if free is None:
                return None
            taken[name] = free
            return state

        p = None
        # the few best-fitting hosts, ranked in SQL: if one of them takes it, the request was valid
        for name in self.fit_candidates(conn, queue=req.queue, gpus=req.gpus, cpus=req.cpus,
                                        memory_mib=req.memory_mib):
            state = detail(name, wait=self.dialect != "postgresql")
            if state is not None and (p := place_on(req, state)) is not None:
                break
        if p is None:  # the whole fleet: the exact placement, or why not, host by host
            summaries = self.host_summaries(conn)
            try:
                p = place_ranked(req, summaries, lambda name: detail(name, wait=self.dialect != "postgresql"))
            except PlacementError:
                if not busy:
                    raise
                p = place_ranked(req, summaries, lambda name: detail(name, wait=True))
        hrow = self._host_row(conn, p.host)
        free_ports = taken[p.host]
        now = utcnow()
        vid = conn.execute(insert(t.vessels).values(
            name=req.name, owner=req.user, host_id=hrow["id"], queue=req.queue, state="starting",
            image=req.image, cpuset=p.cpuset, cpus=req.cpus, memory_mib=req.memory_mib, shm_mib=req.shm_mib,
            ssh_port=free_ports[0] if nports > 0 else None, jupyter_port=free_ports[1] if nports > 1 else None,
            address=hrow["address"], created_at=now, updated_at=now,
            lease_until=now + timedelta(seconds=lease_seconds))).inserted_primary_key[0]  # type: ignore[index]
        if p.gpu_uuids:
            gid: dict[str, int] = {r[0]: r[1] for r in conn.execute(
                select(t.gpus.c.uuid, t.gpus.c.id).where(t.gpus.c.uuid.in_(p.gpu_uuids)))}
            conn.execute(insert(t.vessel_gpus), [{"gpu_id": gid[u], "vessel_id": vid, "held": 1}
                                                 for u in p.gpu_uuids])
        conn.execute(insert(t.cpu_allocations), [{"host_id": hrow["id"], "cpu": c, "vessel_id": vid}
                                                 for c in p.cpus])
        if free_ports:
            conn.execute(insert(t.port_allocations), [{"host_id": hrow["id"], "port": q, "vessel_id": vid}
                                                      for q in free_ports])
        self._event(conn, actor, "reserve", req.name, p.host, gpus=list(p.gpu_uuids), cpuset=p.cpuset,
                    memory_mib=req.memory_mib, ports=free_ports, image=req.image, owner=req.user)
        [v] = self._vessels(conn, self._vessel_query().where(t.vessels.c.id == vid))
        return v

    def _free_ports(self, conn: Connection, host: str, n: int, blocked: Collection[int]) -> list[int] | None:
        hrow = self._host_row(conn, host)
        used = {r[0] for r in conn.execute(select(t.port_allocations.c.port)
                                           .where(t.port_allocations.c.host_id == hrow["id"]))}
        out: list[int] = []
        for q in range(hrow["port_min"], hrow["port_max"] + 1):
            if len(out) == n:
                break
            if q not in used and q not in blocked:
                out.append(q)
        return out if len(out) == n else None

    def _check_name(self, conn: Connection, req: VesselRequest) -> None:
        row = conn.execute(select(t.vessels.c.owner).where(t.vessels.c.name == req.name,
                                                           t.vessels.c.state.in_(ACTIVE_STATES))).first()
        if row is not None:
            self._raise_taken(req, row[0])

    def _raise_taken(self, req: VesselRequest, owner: str | None = None) -> None:
        by = f" by {owner}" if owner and owner != req.user else ""
        raise ValidationError("name", f"a vessel named {req.name!r} is already running{by}",
                              allowed="a name no active vessel uses (list them with `slipway vessels list`)")

    def release(self, name: str, actor: Actor | str, *, state: str, reason: str, **detail: Any
                ) -> Vessel | None:
        """End the active vessel ``name``: free its GPUs, CPUs and ports, set its final state."""
        with self.write() as conn:
            got = self._active_id(conn, name, lock=True)
            if got is None:
                return None
            vid, host = got
            conn.execute(update(t.vessel_gpus).where(t.vessel_gpus.c.vessel_id == vid).values(held=None))
            for table in (t.cpu_allocations, t.port_allocations):
                conn.execute(delete(table).where(table.c.vessel_id == vid))
            now = utcnow()
            conn.execute(update(t.vessels).where(t.vessels.c.id == vid).values(
                state=state, ended_at=now, updated_at=now, end_reason=reason, lease_until=None))
            self._event(conn, actor, state, name, host, reason=reason, **detail)
        return self.vessel_by_id(vid)

    def allocations(self) -> dict[str, list[tuple[str, str]]]:
        """For audits and tests: every held GPU uuid, (host,cpu) and (host,port) with its vessel."""
        va = t.vessel_gpus
        with self.read() as conn:
            gpus = conn.execute(select(t.gpus.c.uuid, t.vessels.c.name).select_from(
                va.join(t.gpus, va.c.gpu_id == t.gpus.c.id).join(t.vessels, va.c.vessel_id == t.vessels.c.id))
                .where(va.c.held.is_not(None))).all()
            out = []
            for table, col in ((t.cpu_allocations, t.cpu_allocations.c.cpu), (t.port_allocations,
                                                                            t.port_allocations.c.port)):
                out.append(conn.execute(select(t.hosts.c.name, col, t.vessels.c.name).select_from(
                    table.join(t.hosts, table.c.host_id == t.hosts.c.id)
                    .join(t.vessels, table.c.vessel_id == t.vessels.c.id))).all())
        cpus, ports = out
        return {"gpus": [(g, v) for g, v in gpus], "cpus": [(f"{h}:{c}", v) for h, c, v in cpus],
                "ports": [(f"{h}:{p}", v) for h, p, v in ports]}
