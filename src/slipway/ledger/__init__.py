"""The ledger: the one source of truth for hosts, GPUs, vessels, reservations and events.

SQLite by default (a file under the Slipway data dir), PostgreSQL for a team
(``SLIPWAY_LEDGER_URL=postgresql://...``). Reservations are atomic: on SQLite every write
transaction starts with ``BEGIN IMMEDIATE``; on PostgreSQL the chosen host's row is locked
(``SELECT ... FOR UPDATE``) while its free capacity is re-read and the allocation rows are written.
Allocation rows have primary keys on (GPU), (host, CPU) and (host, port), so a GPU can never be
given twice even by a buggy caller.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from slipway.errors import LedgerError, PlacementError, ValidationError
from slipway.ledger import schema as t
from slipway.request import VesselRequest
from slipway.scheduler import GpuSlot, HostState, Placement, place, place_on, rank

ACTIVE_STATES = t.ACTIVE_STATES
# The newest migration revision; a test checks it equals Alembic's head. Comparing against it first
# keeps every connect cheap (Alembic is imported only when the schema must change).
SCHEMA_HEAD = "0005"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


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


@dataclass(frozen=True)
class GpuSpec:
    index: int
    uuid: str
    model: str = ""
    memory_mib: int = 0
    numa_node: int = 0


@dataclass(frozen=True)
class HostSpec:
    """A host as the inventory declares it."""

    name: str
    queue: str
    docker_url: str
    address: str
    cpus: int
    memory_mib: int
    gpus: tuple[GpuSpec, ...] = ()
    numa_nodes: int = 1
    port_min: int = 20000
    port_max: int = 20999
    network_mode: str = "host"
    enabled: bool = True
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Vessel:
    id: int
    name: str
    owner: str
    host: str
    queue: str
    state: str
    image: str
    gpu_uuids: tuple[str, ...]
    cpuset: str
    cpus: int
    memory_mib: int
    shm_mib: int
    ssh_port: int | None
    jupyter_port: int | None
    address: str | None
    container_id: str | None
    tailscale_key_id: str | None
    tailscale_device_id: str | None
    tailscale_ip: str | None
    keep_until: datetime | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    host_address: str = ""
    docker_url: str = ""
    network_mode: str = "host"

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["gpu_uuids"] = list(self.gpu_uuids)
        d["gpus"] = len(self.gpu_uuids)
        for k in ("keep_until", "created_at", "updated_at", "ended_at"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


@dataclass(frozen=True)
class Event:
    id: int
    at: datetime
    actor: str
    action: str
    vessel: str | None
    host: str | None
    detail: dict[str, Any]


class Ledger:
    """Typed operations over the ledger database. Thread- and process-safe."""

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = url or default_url()
        self.engine = _make_engine(self.url)
        if migrate:
            self.migrate()

    # ---------------------------------------------------------------- plumbing
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
        """A write transaction: BEGIN IMMEDIATE on SQLite; plain BEGIN + row locks on PostgreSQL."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # ---------------------------------------------------------------- events
    @staticmethod
    def _event(conn: Connection, actor: str, action: str, vessel: str | None = None,
               host: str | None = None, **detail: Any) -> None:
        conn.execute(insert(t.events).values(at=utcnow(), actor=actor, action=action, vessel=vessel,
                                             host=host, detail=json.dumps(detail, default=str,
                                                                          sort_keys=True)))

    def record(self, actor: str, action: str, vessel: str | None = None, host: str | None = None,
               **detail: Any) -> None:
        with self.write() as conn:
            self._event(conn, actor, action, vessel, host, **detail)

    def events(self, vessel: str | None = None, limit: int = 1000) -> list[Event]:
        q = select(t.events).order_by(t.events.c.id)
        if vessel is not None:
            q = q.where(t.events.c.vessel == vessel)
        with self.read() as conn:
            rows = conn.execute(q.limit(limit)).mappings().all()
        return [Event(r["id"], _aware(r["at"]) or utcnow(), r["actor"], r["action"], r["vessel"], r["host"],
                      json.loads(r["detail"] or "{}")) for r in rows]

    # ---------------------------------------------------------------- hosts
    def sync_hosts(self, specs: Sequence[HostSpec], actor: str = "inventory") -> list[str]:
        """Insert or update hosts and their GPUs; returns the names whose record changed."""
        changed: list[str] = []
        with self.write() as conn:
            for spec in specs:
                if self._upsert_host(conn, spec):
                    changed.append(spec.name)
                    self._event(conn, actor, "host-sync", host=spec.name, queue=spec.queue,
                                gpus=len(spec.gpus), cpus=spec.cpus, memory_mib=spec.memory_mib)
        return changed

    def _upsert_host(self, conn: Connection, spec: HostSpec) -> bool:
        values = dict(queue=spec.queue, docker_url=spec.docker_url, address=spec.address, cpus=spec.cpus,
                      memory_mib=spec.memory_mib, numa_nodes=spec.numa_nodes, port_min=spec.port_min,
                      port_max=spec.port_max, network_mode=spec.network_mode, enabled=spec.enabled,
                      labels=json.dumps(spec.labels, sort_keys=True))
        row = conn.execute(select(t.hosts).where(t.hosts.c.name == spec.name)).mappings().first()
        changed = False
        if row is None:
            host_id = conn.execute(insert(t.hosts).values(name=spec.name, updated_at=utcnow(), **values)
                                   ).inserted_primary_key[0]  # type: ignore[index]
            changed = True
        else:
            host_id = row["id"]
            if any(row[k] != v for k, v in values.items()):
                conn.execute(update(t.hosts).where(t.hosts.c.id == host_id).values(updated_at=utcnow(),
                                                                                     **values))
                changed = True
        have = {r["uuid"]: r for r in conn.execute(select(t.gpus).where(t.gpus.c.host_id == host_id))
                .mappings()}
        want = {g.uuid: g for g in spec.gpus}
        for uuid, r in have.items():
            if uuid not in want:
                busy = conn.execute(select(t.gpu_allocations.c.vessel_id)
                                    .where(t.gpu_allocations.c.gpu_id == r["id"])).first()
                if busy:
                    raise ValidationError(f"hosts.{spec.name}.gpus",
                                          f"GPU {uuid} is gone from the inventory but reserved by a vessel",
                                          allowed="stop the vessel first")
                conn.execute(delete(t.gpus).where(t.gpus.c.id == r["id"]))
                changed = True
        for uuid, g in want.items():
            vals = dict(host_id=host_id, idx=g.index, model=g.model, memory_mib=g.memory_mib,
                        numa_node=g.numa_node)
            if uuid not in have:
                conn.execute(insert(t.gpus).values(uuid=uuid, **vals))
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

    def host_states(self, conn: Connection | None = None, host_ids: Sequence[int] | None = None
                    ) -> list[HostState]:
        """Capacity and what is free now, for every host (or the given ones)."""
        if conn is None:
            with self.read() as c:
                return self.host_states(c, host_ids)
        hq = select(t.hosts)
        if host_ids is not None:
            hq = hq.where(t.hosts.c.id.in_(host_ids))
        hrows = conn.execute(hq).mappings().all()
        ids = [r["id"] for r in hrows]
        free_gpus: dict[int, list[GpuSlot]] = {i: [] for i in ids}
        busy_gpu = select(t.gpu_allocations.c.gpu_id)
        for g in conn.execute(select(t.gpus).where(t.gpus.c.host_id.in_(ids), t.gpus.c.id.not_in(busy_gpu))
                              ).mappings():
            free_gpus[g["host_id"]].append(GpuSlot(g["uuid"], g["idx"], g["numa_node"]))
        gpu_total: dict[int, int] = {r[0]: r[1] for r in conn.execute(
            select(t.gpus.c.host_id, func.count()).where(t.gpus.c.host_id.in_(ids)).group_by(t.gpus.c.host_id))}
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
                gpus_total=int(gpu_total.get(hid, 0)), free_gpus=tuple(free_gpus[hid]),
                free_cpus=tuple(c for c in range(r["cpus"]) if c not in used_cpus[hid]),
                free_memory_mib=int(r["memory_mib"] - int(used_mem.get(hid) or 0)),
                numa_nodes=r["numa_nodes"], enabled=bool(r["enabled"])))
        return states

    # ---------------------------------------------------------------- reservations
    def plan(self, req: VesselRequest) -> Placement:
        """Where the request would go now; reserves nothing (check mode)."""
        return place(req, self.host_states())

    def reserve(self, req: VesselRequest, actor: str, *, ports: int = 2,
                accept: Callable[[Placement], None] | None = None,
                port_ok: Callable[[str, int], bool] | None = None) -> Vessel:
        """Atomically pick a host and reserve GPUs, CPUs, memory and ports for ``req``.

        ``accept`` may veto a placement (raise) before anything is written, e.g. to check the image
        exists on that host; ``port_ok(host, port)`` may skip ports something outside Slipway holds.
        Raises ValidationError / PlacementError with per-host reasons.
        """
        for _attempt in range(8):
            snapshot = self.host_states()
            first = place(req, snapshot)  # raises with reasons when nothing fits
            if accept is not None:
                accept(first)
            for cand in rank(req, snapshot):
                got = self._reserve_on(req, actor, cand.name, ports, port_ok)
                if got is not None:
                    return got
        states = self.host_states()
        place(req, states)  # produce the precise reason if the fleet is full now
        raise PlacementError(f"could not reserve {req.describe()}: the fleet changed under every attempt")

    def _reserve_on(self, req: VesselRequest, actor: str, host_name: str, nports: int,
                    port_ok: Callable[[str, int], bool] | None = None) -> Vessel | None:
        try:
            with self.write() as conn:
                hrow = conn.execute(select(t.hosts).where(t.hosts.c.name == host_name).with_for_update()
                                    ).mappings().first()
                if hrow is None:
                    return None
                self._check_name(conn, req)
                [state] = self.host_states(conn, [hrow["id"]])
                p = place_on(req, state)
                if p is None:
                    return None
                used = {r[0] for r in conn.execute(select(t.port_allocations.c.port)
                                                   .where(t.port_allocations.c.host_id == hrow["id"]))}
                free_ports: list[int] = []
                for q in range(hrow["port_min"], hrow["port_max"] + 1):
                    if len(free_ports) == nports:
                        break
                    if q not in used and (port_ok is None or port_ok(host_name, q)):
                        free_ports.append(q)
                if len(free_ports) < nports:
                    return None
                now = utcnow()
                vid = conn.execute(insert(t.vessels).values(
                    name=req.name, owner=req.user, host_id=hrow["id"], queue=req.queue, state="starting",
                    image=req.image, gpu_uuids=",".join(p.gpu_uuids), cpuset=p.cpuset, cpus=req.cpus,
                    memory_mib=req.memory_mib, shm_mib=req.shm_mib,
                    ssh_port=free_ports[0] if nports > 0 else None,
                    jupyter_port=free_ports[1] if nports > 1 else None,
                    address=hrow["address"], created_at=now, updated_at=now)).inserted_primary_key[0]  # type: ignore[index]
                if p.gpu_uuids:
                    gid: dict[str, int] = {r[0]: r[1] for r in conn.execute(
                        select(t.gpus.c.uuid, t.gpus.c.id).where(t.gpus.c.uuid.in_(p.gpu_uuids)))}
                    conn.execute(insert(t.gpu_allocations),
                                 [{"gpu_id": gid[u], "vessel_id": vid} for u in p.gpu_uuids])
                conn.execute(insert(t.cpu_allocations),
                             [{"host_id": hrow["id"], "cpu": c, "vessel_id": vid} for c in p.cpus])
                if free_ports:
                    conn.execute(insert(t.port_allocations),
                                 [{"host_id": hrow["id"], "port": q, "vessel_id": vid} for q in free_ports])
                self._event(conn, actor, "reserve", req.name, host_name, gpus=list(p.gpu_uuids),
                            cpuset=p.cpuset, memory_mib=req.memory_mib, ports=free_ports, image=req.image,
                            owner=req.user)
                row = conn.execute(self._vessel_query().where(t.vessels.c.id == vid)).mappings().one()
        except IntegrityError as exc:
            if "vessels" in str(exc.orig) and "name" in str(exc.orig):
                self._raise_taken(req)
            return None  # lost a race for a GPU/CPU/port: the caller tries again
        return _vessel(row)

    def _check_name(self, conn: Connection, req: VesselRequest) -> None:
        row = conn.execute(select(t.vessels.c.owner).where(t.vessels.c.name == req.name,
                                                           t.vessels.c.state.in_(ACTIVE_STATES))).first()
        if row is not None:
            self._raise_taken(req, row[0])

    def _raise_taken(self, req: VesselRequest, owner: str | None = None) -> None:
        by = f" by {owner}" if owner and owner != req.user else ""
        raise ValidationError("name", f"a vessel named {req.name!r} is already running{by}",
                              allowed="a name no active vessel uses (list them with playbooks/list_vessels.yml)")

    def update_vessel(self, name: str, actor: str, action: str | None = None, /, **values: Any) -> None:
        """Set columns of the active vessel ``name`` (and record an event when ``action`` is given)."""
        with self.write() as conn:
            row = conn.execute(select(t.vessels.c.id, t.hosts.c.name).join(t.hosts)
                               .where(t.vessels.c.name == name, t.vessels.c.state.in_(ACTIVE_STATES))
                               ).first()
            if row is None:
                raise LedgerError(f"no active vessel named {name!r}")
            conn.execute(update(t.vessels).where(t.vessels.c.id == row[0]).values(updated_at=utcnow(),
                                                                                  **values))
            if action:
                shown = {k: v for k, v in values.items() if k not in ("tailscale_key_id",)}
                self._event(conn, actor, action, name, row[1], **shown)

    def release(self, name: str, actor: str, *, state: str, reason: str, **detail: Any) -> Vessel | None:
        """End the active vessel ``name``: free its GPUs, CPUs and ports, set its final state."""
        with self.write() as conn:
            row = conn.execute(select(t.vessels.c.id, t.hosts.c.name).join(t.hosts)
                               .where(t.vessels.c.name == name, t.vessels.c.state.in_(ACTIVE_STATES))
                               ).first()
            if row is None:
                return None
            vid, host = row
            for table in (t.gpu_allocations, t.cpu_allocations, t.port_allocations):
                conn.execute(delete(table).where(table.c.vessel_id == vid))
            now = utcnow()
            conn.execute(update(t.vessels).where(t.vessels.c.id == vid).values(
                state=state, ended_at=now, updated_at=now, end_reason=reason))
            self._event(conn, actor, state, name, host, reason=reason, **detail)
        return self.vessel_by_id(vid)

    # ---------------------------------------------------------------- reads
    def _vessel_query(self) -> Any:
        return select(t.vessels, t.hosts.c.name.label("host_name"), t.hosts.c.address.label("host_address"),
                      t.hosts.c.docker_url, t.hosts.c.network_mode).join(t.hosts)

    def vessel(self, name: str) -> Vessel | None:
        """The active vessel of that name, else the newest ended one."""
        q = self._vessel_query().where(t.vessels.c.name == name).order_by(
            t.vessels.c.state.in_(ACTIVE_STATES).desc(), t.vessels.c.id.desc()).limit(1)
        with self.read() as conn:
            row = conn.execute(q).mappings().first()
        return _vessel(row) if row else None

    def vessel_by_id(self, vid: int) -> Vessel | None:
        with self.read() as conn:
            row = conn.execute(self._vessel_query().where(t.vessels.c.id == vid)).mappings().first()
        return _vessel(row) if row else None

    def vessels(self, *, active: bool = True, owner: str | None = None, host: str | None = None
                ) -> list[Vessel]:
        q = self._vessel_query()
        conds: list[Any] = []
        if active:
            conds.append(t.vessels.c.state.in_(ACTIVE_STATES))
        if owner:
            conds.append(t.vessels.c.owner == owner)
        if host:
            conds.append(t.hosts.c.name == host)
        if conds:
            q = q.where(and_(*conds))
        with self.read() as conn:
            rows = conn.execute(q.order_by(t.vessels.c.created_at, t.vessels.c.id)).mappings().all()
        return [_vessel(r) for r in rows]

    def allocations(self) -> dict[str, list[tuple[str, str]]]:
        """For audits and tests: every allocated GPU uuid, (host,cpu) and (host,port) with its vessel."""
        with self.read() as conn:
            gpus = conn.execute(select(t.gpus.c.uuid, t.vessels.c.name).select_from(
                t.gpu_allocations.join(t.gpus).join(t.vessels))).all()
            cpus = conn.execute(select(t.hosts.c.name, t.cpu_allocations.c.cpu, t.vessels.c.name).select_from(
                t.cpu_allocations.join(t.hosts).join(t.vessels))).all()
        return {"gpus": [(g, v) for g, v in gpus], "cpus": [(f"{h}:{c}", v) for h, c, v in cpus]}


def _host_spec(row: Any, gpu_rows: Sequence[Any]) -> HostSpec:
    return HostSpec(
        name=row["name"], queue=row["queue"], docker_url=row["docker_url"], address=row["address"],
        cpus=row["cpus"], memory_mib=row["memory_mib"], numa_nodes=row["numa_nodes"],
        port_min=row["port_min"], port_max=row["port_max"], network_mode=row["network_mode"],
        enabled=bool(row["enabled"]), labels=json.loads(row["labels"] or "{}"),
        gpus=tuple(GpuSpec(g["idx"], g["uuid"], g["model"], g["memory_mib"], g["numa_node"]) for g in gpu_rows))


def _vessel(r: Any) -> Vessel:
    return Vessel(
        id=r["id"], name=r["name"], owner=r["owner"], host=r["host_name"], queue=r["queue"], state=r["state"],
        image=r["image"], gpu_uuids=tuple(u for u in (r["gpu_uuids"] or "").split(",") if u),
        cpuset=r["cpuset"], cpus=r["cpus"], memory_mib=r["memory_mib"], shm_mib=r["shm_mib"],
        ssh_port=r["ssh_port"], jupyter_port=r["jupyter_port"], address=r["address"],
        container_id=r["container_id"], tailscale_key_id=r["tailscale_key_id"],
        tailscale_device_id=r["tailscale_device_id"], tailscale_ip=r["tailscale_ip"],
        keep_until=_aware(r["keep_until"]), created_at=_aware(r["created_at"]) or utcnow(),
        updated_at=_aware(r["updated_at"]) or utcnow(), ended_at=_aware(r["ended_at"]),
        end_reason=r["end_reason"], host_address=r["host_address"], docker_url=r["docker_url"],
        network_mode=r["network_mode"])


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
