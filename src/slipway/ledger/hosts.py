"""Hosts and their GPUs: inventory sync (race-free upserts) and what is free on each host."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from slipway.errors import ValidationError
from slipway.identity import Actor
from slipway.ledger import schema as t
from slipway.ledger.db import Db, utcnow
from slipway.ledger.models import GpuSpec, HostSpec
from slipway.scheduler import GpuSlot, HostState

ACTIVE_STATES = t.ACTIVE_STATES


class HostsMixin(Db):
    def sync_hosts(self, specs: Sequence[HostSpec], actor: Actor | str = "inventory") -> list[str]:
        """Insert or update hosts and their GPUs; returns the names whose record changed.

        Concurrent first syncs of the same host (32 launches on a fresh ledger) are safe: the insert is
        ``INSERT ... ON CONFLICT (name) DO NOTHING`` and the row is then read and updated under the lock.
        """
        changed: list[str] = []
        with self.write() as conn:
            for spec in specs:
                if self._upsert_host(conn, spec):
                    changed.append(spec.name)
                    self._event(conn, actor, "host-sync", host=spec.name, queue=spec.queue,
                                gpus=len(spec.gpus), cpus=spec.cpus, memory_mib=spec.memory_mib)
        return changed

    def _insert_ignore(self, table: Any, index: list[str], **values: Any) -> Any:
        """``INSERT ... ON CONFLICT DO NOTHING`` in the ledger's dialect (imported only when needed)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).values(**values).on_conflict_do_nothing(index_elements=index)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).values(**values).on_conflict_do_nothing(index_elements=index)

    def _upsert_host(self, conn: Connection, spec: HostSpec) -> bool:
        values = dict(queue=spec.queue, docker_url=spec.docker_url, address=spec.address, cpus=spec.cpus,
                      memory_mib=spec.memory_mib, numa_nodes=spec.numa_nodes, port_min=spec.port_min,
                      port_max=spec.port_max, network_mode=spec.network_mode, enabled=spec.enabled,
                      labels=json.dumps(spec.labels, sort_keys=True))
        inserted = conn.execute(self._insert_ignore(t.hosts, ["name"], name=spec.name, updated_at=utcnow(),
                                                    **values).returning(t.hosts.c.id)).first() is not None
        row = conn.execute(select(t.hosts).where(t.hosts.c.name == spec.name).with_for_update()
                           ).mappings().one()
        host_id = row["id"]
        changed = bool(inserted)
        if not inserted and any(row[k] != v for k, v in values.items()):
            conn.execute(update(t.hosts).where(t.hosts.c.id == host_id).values(updated_at=utcnow(), **values))
            changed = True
        have = {r["uuid"]: r for r in conn.execute(select(t.gpus).where(t.gpus.c.host_id == host_id))
                .mappings()}
        want = {g.uuid: g for g in spec.gpus}
        for uuid, r in have.items():
            if uuid not in want:
                busy = conn.execute(select(t.vessel_gpus.c.vessel_id).where(
                    t.vessel_gpus.c.gpu_id == r["id"], t.vessel_gpus.c.held.is_not(None))).first()
                if busy:
                    raise ValidationError(f"hosts.{spec.name}.gpus",
                                          f"GPU {uuid} is gone from the inventory but reserved by a vessel",
                                          allowed="stop the vessel first")
                conn.execute(delete(t.vessel_gpus).where(t.vessel_gpus.c.gpu_id == r["id"]))
                conn.execute(delete(t.gpus).where(t.gpus.c.id == r["id"]))
                changed = True
        for uuid, g in want.items():
            vals = dict(host_id=host_id, idx=g.index, model=g.model, memory_mib=g.memory_mib,
                        numa_node=g.numa_node)
            if uuid not in have:
                conn.execute(self._insert_ignore(t.gpus, ["uuid"], uuid=uuid, **vals))
                changed = True
            elif any(have[uuid][k] != v for k, v in vals.items()):
                conn.execute(update(t.gpus).where(t.gpus.c.uuid == uuid).values(**vals))
                changed = True
        return changed

    def host(self, name: str) -> HostSpec | None:
        with self.read() as conn:
            row = conn.execute(select(t.hosts).where(t.hosts.c.name == name)).mappings().first()
            if row is None:
                return None
            gs = conn.execute(select(t.gpus).where(t.gpus.c.host_id == row["id"]).order_by(t.gpus.c.idx)
                              ).mappings().all()
        return _host_spec(row, gs)

    def hosts(self) -> list[HostSpec]:
        with self.read() as conn:
            rows = conn.execute(select(t.hosts).order_by(t.hosts.c.name)).mappings().all()
            gs = conn.execute(select(t.gpus).order_by(t.gpus.c.idx)).mappings().all()
        by_host: dict[int, list[Any]] = {}
        for g in gs:
            by_host.setdefault(g["host_id"], []).append(g)
        return [_host_spec(r, by_host.get(r["id"], [])) for r in rows]

    # ---------------------------------------------------------------- capacity
    def host_summaries(self, conn: Connection | None = None) -> list[HostState]:
        """Every host's capacity and free counts, from aggregates (no per-GPU or per-CPU rows).

        Enough for the scheduler to validate a request, rank the hosts and say why each one does not fit;
        :meth:`host_states` adds the free GPU and CPU slots of the hosts a reservation looks at.
        """
        if conn is None:
            with self.read() as c:
                return self.host_summaries(c)
        held = (select(t.gpus.c.host_id, func.count().label("n")).select_from(t.vessel_gpus.join(t.gpus))
                .where(t.vessel_gpus.c.held.is_not(None)).group_by(t.gpus.c.host_id))
        total = {r[0]: int(r[1]) for r in conn.execute(
            select(t.gpus.c.host_id, func.count()).group_by(t.gpus.c.host_id))}
        busy = {r[0]: int(r[1]) for r in conn.execute(held)}
        cpus = {r[0]: int(r[1]) for r in conn.execute(
            select(t.cpu_allocations.c.host_id, func.count()).group_by(t.cpu_allocations.c.host_id))}
        mem = {r[0]: int(r[1] or 0) for r in conn.execute(
            select(t.vessels.c.host_id, func.sum(t.vessels.c.memory_mib))
            .where(t.vessels.c.state.in_(ACTIVE_STATES)).group_by(t.vessels.c.host_id))}
        out = []
        for r in conn.execute(select(t.hosts.c.id, t.hosts.c.name, t.hosts.c.queue, t.hosts.c.cpus,
                                     t.hosts.c.memory_mib, t.hosts.c.numa_nodes, t.hosts.c.enabled)):
            hid = r[0]
            out.append(HostState(name=r[1], queue=r[2], cpus_total=r[3], memory_total_mib=r[4],
                                 gpus_total=total.get(hid, 0), free_memory_mib=int(r[4] - mem.get(hid, 0)),
                                 numa_nodes=r[5], enabled=bool(r[6]),
                                 free_gpu_count=total.get(hid, 0) - busy.get(hid, 0),
                                 free_cpu_count=r[3] - cpus.get(hid, 0)))
        return out

    def fit_candidates(self, conn: Connection, *, queue: str, gpus: int, cpus: int, memory_mib: int,
                       limit: int = 4) -> list[str]:
        """The hosts that can take the request now, best fit first (the scheduler's ``rank`` key, in SQL):
        a reservation on a large fleet looks at a few rows, not at every host."""
        vg = t.vessel_gpus
        gfree = (select(t.gpus.c.host_id, func.count().label("free"))
                 .select_from(t.gpus.outerjoin(vg, (vg.c.gpu_id == t.gpus.c.id) & vg.c.held.is_not(None)))
                 .where(vg.c.gpu_id.is_(None)).group_by(t.gpus.c.host_id).subquery())
        cused = (select(t.cpu_allocations.c.host_id, func.count().label("used"))
                 .group_by(t.cpu_allocations.c.host_id).subquery())
        mused = (select(t.vessels.c.host_id, func.sum(t.vessels.c.memory_mib).label("used"))
                 .where(t.vessels.c.state.in_(ACTIVE_STATES)).group_by(t.vessels.c.host_id).subquery())
        free_g = func.coalesce(gfree.c.free, 0)
        free_c = t.hosts.c.cpus - func.coalesce(cused.c.used, 0)
        free_m = t.hosts.c.memory_mib - func.coalesce(mused.c.used, 0)
        q = (select(t.hosts.c.name)
             .select_from(t.hosts.outerjoin(gfree, gfree.c.host_id == t.hosts.c.id)
                          .outerjoin(cused, cused.c.host_id == t.hosts.c.id)
                          .outerjoin(mused, mused.c.host_id == t.hosts.c.id))
             .where(t.hosts.c.enabled.is_(True), free_g >= gpus, free_c >= cpus, free_m >= memory_mib)
             .order_by(free_g - gpus, free_c - cpus, free_m - memory_mib,
                       t.hosts.c.name.collate("C") if self.dialect == "postgresql" else t.hosts.c.name)
             .limit(limit))  # ties by name in code-point order, as Python sorts
        if queue != "any":
            q = q.where(t.hosts.c.queue == queue)
        return [r[0] for r in conn.execute(q)]

    def host_states(self, conn: Connection | None = None, host_ids: Sequence[int] | None = None
                    ) -> list[HostState]:
        """Capacity and the free GPU/CPU slots now, for every host (or the given ones)."""
        if conn is None:
            with self.read() as c:
                return self.host_states(c, host_ids)
        hq = select(t.hosts)
        if host_ids is not None:
            hq = hq.where(t.hosts.c.id.in_(host_ids))
        hrows = conn.execute(hq).mappings().all()
        ids = [r["id"] for r in hrows]
        free_gpus: dict[int, list[GpuSlot]] = {i: [] for i in ids}
        held = select(t.vessel_gpus.c.gpu_id).where(t.vessel_gpus.c.held.is_not(None))
        gpu_total: dict[int, int] = dict.fromkeys(ids, 0)
        for g in conn.execute(select(t.gpus.c.host_id, t.gpus.c.uuid, t.gpus.c.idx, t.gpus.c.numa_node,
                                     t.gpus.c.id.in_(held).label("busy"))
                              .where(t.gpus.c.host_id.in_(ids))).mappings():
            gpu_total[g["host_id"]] += 1
            if not g["busy"]:
                free_gpus[g["host_id"]].append(GpuSlot(g["uuid"], g["idx"], g["numa_node"]))
        used_cpus: dict[int, set[int]] = {i: set() for i in ids}
        for hid, cpu in conn.execute(select(t.cpu_allocations.c.host_id, t.cpu_allocations.c.cpu)
                                     .where(t.cpu_allocations.c.host_id.in_(ids))).all():
            used_cpus[hid].add(cpu)
        used_mem: dict[int, int] = {r[0]: int(r[1] or 0) for r in conn.execute(
            select(t.vessels.c.host_id, func.sum(t.vessels.c.memory_mib))
            .where(t.vessels.c.host_id.in_(ids), t.vessels.c.state.in_(ACTIVE_STATES))
            .group_by(t.vessels.c.host_id))}
        states = []
        for r in hrows:
            hid = r["id"]
            states.append(HostState(
                name=r["name"], queue=r["queue"], cpus_total=r["cpus"], memory_total_mib=r["memory_mib"],
                gpus_total=gpu_total[hid], free_gpus=tuple(sorted(free_gpus[hid], key=lambda g: g.index)),
                free_cpus=tuple(c for c in range(r["cpus"]) if c not in used_cpus[hid]),
                free_memory_mib=int(r["memory_mib"] - int(used_mem.get(hid) or 0)),
                numa_nodes=r["numa_nodes"], enabled=bool(r["enabled"])))
        return states

    def _host_row(self, conn: Connection, name: str, *, lock: bool = False, skip_locked: bool = False) -> Any:
        q = select(t.hosts).where(t.hosts.c.name == name)
        if lock:
            q = q.with_for_update(skip_locked=skip_locked)
        return conn.execute(q).mappings().first()

    def _insert(self, conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(insert(table), rows)


def _host_spec(row: Any, gpu_rows: Sequence[Any]) -> HostSpec:
    return HostSpec(
        name=row["name"], queue=row["queue"], docker_url=row["docker_url"], address=row["address"],
        cpus=row["cpus"], memory_mib=row["memory_mib"], numa_nodes=row["numa_nodes"],
        port_min=row["port_min"], port_max=row["port_max"], network_mode=row["network_mode"],
        enabled=bool(row["enabled"]), labels=json.loads(row["labels"] or "{}"),
        gpus=tuple(GpuSpec(g["idx"], g["uuid"], g["model"], g["memory_mib"], g["numa_node"]) for g in gpu_rows))
