"""What the routes call: the core's use cases with an authenticated :class:`Actor`.

Each function is one use case of :mod:`slipway.vessels` / :mod:`slipway.undertaker` plus the one
owner-or-admin rule (:func:`slipway.identity.require_manage`). While the core still takes the actor as a
name, the admin right travels as a one-call ``admins`` list; once it takes an ``Actor`` it is passed whole.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from slipway.errors import NotFound, SlipwayError, ValidationError
from slipway.identity import Actor, may_manage, require_manage
from slipway.ledger import Vessel, utcnow
from slipway.network.sshconfig import SshConfig
from slipway.notify import NotifyError
from slipway.request import build_request
from slipway.undertaker.service import set_keep
from slipway.vessels import VesselService

log = logging.getLogger("slipway.server")
DETAIL_KEYS = ("ssh", "ssh_config", "ssh_entry", "jupyter_url", "jupyter_token_file", "events", "container_state")


def _takes_actor(fn: Callable[..., Any]) -> bool:
    ann = inspect.signature(fn).parameters["actor"].annotation
    return "Actor" in str(ann)


def _who(fn: Callable[..., Any], actor: Actor) -> Any:
    return actor if _takes_actor(fn) else actor.name


IDENTITY_FIELDS = ("user", "owner", "admin", "admins")


def launch(svc: VesselService, actor: Actor, body: dict[str, Any]) -> dict[str, Any]:
    for k in IDENTITY_FIELDS:
        if k in body:
            raise ValidationError(k, "has no effect through the server: the owner is the authenticated user "
                                     f"({actor.name}) and admin rights come from the role mapping",
                                  allowed="leave it out", got=body[k])
    req = build_request(user=actor.name, name=body.get("name"), gpus=body.get("gpus", 0), queue=body.get("queue"),
                        cpus=body.get("cpus"), memory=body.get("memory"), image=body.get("image"),
                        ssh_public_key=body.get("ssh_public_key", ""), shm_size=body.get("shm_size"),
                        require_key=not body.get("check", False))
    check = bool(body.get("check", False))
    res = svc.launch(req, actor=_who(svc.launch, actor), check=check)
    out = {"changed": res.changed, "check": check, "vessel": public(res.vessel), "summary": res.summary,
           "placement": res.placement, "timings": res.timings}
    if not check:
        out["vessel"] = details(svc, actor, req.name)
    return out


def stop(svc: VesselService, actor: Actor, name: str, *, check: bool = False,
         reason: str | None = None) -> dict[str, Any]:
    v = svc.ledger.vessel(name)
    if v is not None and v.active:
        require_manage(actor, v.owner, "stop", name)
    if _takes_actor(svc.stop):
        res = cast(Any, svc.stop)(name, actor=actor, check=check, reason=reason)
    else:  # the core still wants a name: give it this call's admin right explicitly
        one = VesselService(dataclasses.replace(svc.settings, admins=(actor.name,) if actor.admin else ()),
                            ledger=svc.ledger)
        try:
            res = one.stop(name, actor=actor.name, check=check, reason=reason)
        finally:
            one.close()
    return {"changed": res.changed, "check": check, "vessel": public(res.vessel), "summary": res.summary}


def keep(svc: VesselService, actor: Actor, name: str, *, hours: float | None = None,
         until: datetime | None = None, clear: bool = False, check: bool = False) -> dict[str, Any]:
    v = svc.ledger.vessel(name)
    if v is None or not v.active:
        raise NotFound(f"no running vessel named {name!r}")
    require_manage(actor, v.owner, "keep", name)
    kw: dict[str, Any] = {"hours": hours, "until": until, "clear": clear, "check": check}
    if _takes_actor(set_keep):
        changed, before, after = cast(Any, set_keep)(svc.ledger, name, actor=actor, **kw)
    else:
        changed, before, after = set_keep(svc.ledger, name, actor=actor.name,
                                          admins=(actor.name,) if actor.admin else (), **kw)
    return {"changed": changed, "check": check, "before": before, "after": after}


@dataclass
class Snapshot:
    """What the lists and the fleet show, read once: the running vessels and the hosts with their GPUs."""

    at: float
    vessels: list[dict[str, Any]]
    hosts: list[dict[str, Any]]


Judge = Callable[[VesselService], dict[str, dict[str, Any]]]


def undertaker_judge(prometheus_url: str, options: Mapping[str, Any]) -> Judge:
    """What the undertaker would do now with each vessel (a check-mode plan: one Prometheus query, nothing
    written, nobody told): its idle work hours, the action, when it would bury it."""
    from slipway.metrics import Prometheus
    from slipway.undertaker.config import UndertakerConfig
    from slipway.undertaker.service import Undertaker

    cfg = UndertakerConfig.parse({**options, "prometheus_url": prometheus_url})

    class _Silent:
        channel = "none"

        def send(self, text: str) -> None:
            raise NotifyError("a check-mode plan sends nothing")

    def judge(svc: VesselService) -> dict[str, dict[str, Any]]:
        metrics = Prometheus(prometheus_url)
        try:
            res = Undertaker(cfg, svc, metrics, _Silent()).plan(utcnow(), store=False)
        except SlipwayError as exc:
            log.warning("the undertaker's view is unavailable: %s", exc)
            return {}
        finally:
            metrics.close()
        return {d.vessel: {"idle_work_h": d.idle_hours, "undertaker": d.action, "reason": d.reason,
                           "bury_at": d.bury_at.isoformat() if d.bury_at else None,
                           "idle_since": d.idle_since.isoformat() if d.idle_since else None}
                for d in res.decisions}
    return judge


class Reads:
    """The fleet snapshot, shared by concurrent readers and re-read in the background every ``ttl`` seconds;
    every change made through this server drops it (so a launch is listed at once; changes made elsewhere,
    by the undertaker or the CLI, show within ``ttl`` plus one read)."""

    def __init__(self, ttl: float = 1.0, judge: Judge | None = None, judge_ttl: float = 300.0) -> None:
        self.ttl = ttl
        self.judge = judge
        self.judge_ttl = judge_ttl
        self._judged: tuple[float, dict[str, dict[str, Any]]] = (0.0, {})
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None
        self._gen = 0
        self._refreshing = False
        self._judging = False

    def get(self, svc: VesselService) -> Snapshot:
        """The snapshot; an expired one is still served while one background thread reads the next."""
        with self._lock:
            snap, gen = self._snap, self._gen
            stale = snap is not None and time.monotonic() - snap.at >= self.ttl
            refresh = stale and not self._refreshing
            if refresh:
                self._refreshing = True
        if snap is not None and not stale:
            return snap
        if snap is not None:
            if refresh:
                threading.Thread(target=self._refresh, args=(svc, gen), daemon=True).start()
            return snap
        new = _snapshot(svc)
        with self._lock:
            if self._gen == gen:
                self._snap = new
        return new

    def _refresh(self, svc: VesselService, gen: int) -> None:
        try:
            new = _snapshot(svc)
            with self._lock:
                if self._gen == gen:
                    self._snap = new
        finally:
            with self._lock:
                self._refreshing = False

    def invalidate(self) -> None:
        with self._lock:
            self._snap = None
            self._gen += 1


    def judged(self, svc: VesselService) -> dict[str, dict[str, Any]]:
        """The undertaker's view, refreshed in the background every ``judge_ttl`` seconds (never waited on)."""
        if self.judge is None:
            return {}
        at, view = self._judged
        with self._lock:
            due = time.monotonic() - at >= self.judge_ttl and not self._judging
            if due:
                self._judging = True
        if due:
            threading.Thread(target=self._judge, args=(svc,), daemon=True).start()
        return view

    def _judge(self, svc: VesselService) -> None:
        try:
            assert self.judge is not None
            self._judged = (time.monotonic(), self.judge(svc))
        finally:
            with self._lock:
                self._judging = False


def _snapshot(svc: VesselService) -> Snapshot:
    t = time.monotonic()
    vs = svc.ledger.vessels()
    return Snapshot(t, [public(v.as_dict()) for v in vs], _hosts(svc, vs))


def vessels(svc: VesselService, actor: Actor, *, show_all: bool = False, owner: str | None = None,
            host: str | None = None, reads: Reads | None = None) -> list[dict[str, Any]]:
    """The list, the actor's own vessels first, each with its age."""
    if show_all or reads is None:
        rows = [public(v.as_dict()) for v in svc.ledger.vessels(active=not show_all, owner=owner or None,
                                                                 host=host or None)]
    else:
        rows = [d for d in reads.get(svc).vessels
                if (not owner or d["owner"] == owner) and (not host or d["host"] == host)]
    now = utcnow()
    judged = reads.judged(svc) if reads is not None else {}
    out = [{**d, "age": _age(now, d["created_at"]), **judged.get(d["name"], {})} for d in rows]
    out.sort(key=lambda d: d["owner"] != actor.name)
    return out


def _age(now: datetime, created: str) -> str:
    s = int((now - datetime.fromisoformat(created)).total_seconds())
    return f"{s}s" if s < 120 else f"{s // 60}m" if s < 7200 else f"{s // 3600}h" if s < 172800 else f"{s // 86400}d"


def details(svc: VesselService, actor: Actor, name: str) -> dict[str, Any]:
    """A vessel's status; its SSH entry, Jupyter and events only for its owner or an admin."""
    v = svc.ledger.vessel(name)
    if v is None:
        raise NotFound(f"no vessel named {name!r}")
    if not may_manage(actor, v.owner):
        d = public(v.as_dict())
        d["details"] = False
        return d
    d = public(svc.info(name))
    d["ssh_entry"] = ssh_entry(svc, v)
    d["details"] = True
    return d


def ssh_entry(svc: VesselService, v: Vessel) -> dict[str, Any] | None:
    """What a client needs to write its own ``Host <vessel>`` block (all public: no key, no token)."""
    if not v.active or v.ssh_port is None:
        return None
    host_key = ""
    kh = svc.ssh.known_hosts if isinstance(svc.ssh, SshConfig) else None
    if kh is not None and kh.exists():
        for line in kh.read_text().splitlines():
            alias, _, key = line.partition(" ")
            if alias == f"slipway-{v.name}":
                host_key = key
    return {"vessel": v.name, "hostname": v.address or v.host_address, "port": v.ssh_port, "user": v.owner,
            "host_key": host_key, "jupyter_port": v.jupyter_port}


def hosts(svc: VesselService, reads: Reads | None = None) -> list[dict[str, Any]]:
    """Every host with its GPUs: free, or the vessel and owner holding each."""
    return reads.get(svc).hosts if reads is not None else _hosts(svc, svc.ledger.vessels())


def _hosts(svc: VesselService, running: list[Vessel]) -> list[dict[str, Any]]:
    holder: dict[str, tuple[str, str]] = {}
    used_mem: dict[str, int] = {}
    used_cpus: dict[str, int] = {}
    for v in running:
        for u in v.gpu_uuids:
            holder[u] = (v.name, v.owner)
        used_mem[v.host] = used_mem.get(v.host, 0) + v.memory_mib
        used_cpus[v.host] = used_cpus.get(v.host, 0) + v.cpus
    out = []
    for h in svc.ledger.hosts():
        out.append({
            "name": h.name, "queue": h.queue, "address": h.address, "enabled": h.enabled,
            "cpus": h.cpus, "cpus_used": used_cpus.get(h.name, 0),
            "memory_mib": h.memory_mib, "memory_used_mib": used_mem.get(h.name, 0),
            "gpus": [{"index": g.index, "uuid": g.uuid, "model": g.model, "memory_mib": g.memory_mib,
                      "vessel": holder.get(g.uuid, (None, None))[0], "owner": holder.get(g.uuid, (None, None))[1]}
                     for g in h.gpus]})
    return out


def events(svc: VesselService, *, vessel: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    evs = svc.ledger.events(vessel=vessel, limit=100_000 if vessel is None else limit)
    evs = evs[-limit:]
    return [event_dict(e) for e in evs]


def event_dict(e: Any) -> dict[str, Any]:
    d = {"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action, "vessel": e.vessel,
         "host": e.host, "detail": e.detail}
    for k in ("subject", "email"):  # the authenticated identity behind ``actor``
        d[k] = getattr(e, f"actor_{k}", None)
    return d


def undertaker_state(svc: VesselService, limit: int = 200) -> dict[str, Any]:
    actions = ("warn", "bury", "buried", "reconcile", "metrics-missing", "keep", "keep-cleared", "lost")
    evs = [e for e in svc.ledger.events(limit=100_000) if e.actor == "undertaker" or e.action in actions]
    notices_fn = getattr(svc.ledger, "notices", None)
    notices: list[dict[str, Any]] = []
    if callable(notices_fn):
        notices = [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(n).items()}
                   for n in notices_fn()][-limit:]
    kept = [{"name": v.name, "owner": v.owner, "keep_until": v.keep_until.isoformat()}
            for v in svc.ledger.vessels() if v.keep_until is not None and v.keep_until > utcnow()]
    return {"events": [event_dict(e) for e in evs[-limit:]], "notices": notices, "kept": kept}


def public(d: dict[str, Any]) -> dict[str, Any]:
    """A vessel dict fit for any response: nothing secret (the Tailscale key id, the Docker URL)."""
    return {k: v for k, v in d.items() if k not in ("tailscale_key_id", "docker_url")}
