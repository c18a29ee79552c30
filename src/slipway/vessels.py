"""Vessels: launch, stop, list and inspect GPU containers. The service every use case drives.

A launch is a list of steps, each of which registers its undo before it acts: reserve (in the ledger) →
Tailscale key → container (create, files, start) → wait for sshd (or the tailnet) → SSH entry → Jupyter
token → running. A failure anywhere walks the completed steps back in reverse order, records what was
undone, and releases the reservation. The clients (Docker Engine, Tailscale, SSH entries) sit behind the
small Protocols of :mod:`slipway.clients`, so fakes can stand in for them in unit tests.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import socket
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from slipway.clients import EngineClient, SshEntries, TailscaleClient
from slipway.config import Settings, load_settings
from slipway.engine import (
    Engine,
    VesselContainer,
    container_name,
    container_spec,
    init_script,
    vessel_env_file,
)
from slipway.errors import NotFound, SlipwayError, ValidationError
from slipway.fleet import sync_fleet
from slipway.hints import hint
from slipway.identity import Actor, as_actor, local_user, require_manage, system_actor
from slipway.ledger import LEASE_SECONDS, Ledger, Vessel, default_data_dir, utcnow
from slipway.network.policy import owner_tag
from slipway.network.sshconfig import SshConfig, SshEntry
from slipway.network.tailscale import Tailscale
from slipway.request import VesselRequest, format_mib

PUBLIC_KEY_FILES = ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub")
LEASE_RENEW_SECONDS = 10.0


def current_user() -> str:
    return local_user()


def default_key_pair(home: str | Path | None = None) -> tuple[str, str | None]:
    """The caller's public key line and its private key file (if beside it), or ("", None)."""
    ssh = Path(home or os.path.expanduser("~")) / ".ssh"
    for name in PUBLIC_KEY_FILES:
        p = ssh / name
        if p.is_file():
            priv = p.with_suffix("")
            return p.read_text().strip(), (str(priv) if priv.is_file() else None)
    return "", None


def default_public_key(home: str | Path | None = None) -> str:
    return default_key_pair(home)[0]


@dataclass
class LaunchResult:
    changed: bool
    vessel: dict[str, Any]
    summary: str
    placement: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    diff: dict[str, Any] = field(default_factory=dict)


@dataclass
class StopResult:
    changed: bool
    vessel: dict[str, Any]
    summary: str
    diff: dict[str, Any] = field(default_factory=dict)


class Rollback:
    """The undo of each step that ran, walked back in reverse order; every undo runs even if one fails."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Callable[[], object]]] = []

    def push(self, done: str, undo: Callable[[], object]) -> None:
        """Register ``undo`` (returning False when there was nothing to undo) before the step acts."""
        self._steps.append((done, undo))

    def run(self) -> list[str]:
        undone: list[str] = []
        for done, undo in reversed(self._steps):
            try:
                if undo() is not False:
                    undone.append(done)
            except Exception as exc:
                undone.append(f"{done}: FAILED ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})")
        self._steps.clear()
        return undone


EngineFactory = Callable[[str, str], EngineClient]
TailscaleFactory = Callable[[Any], TailscaleClient]


class VesselService:
    def __init__(self, settings: Settings | None = None, *, ledger: Ledger | None = None,
                 engine_factory: EngineFactory | None = None, tailscale_factory: TailscaleFactory | None = None,
                 ssh: SshEntries | None = None) -> None:
        self.settings = settings or load_settings()
        self.ledger = ledger or Ledger(self.settings.ledger_url)
        self._engine_factory: EngineFactory = engine_factory or (lambda url, host: Engine(url, host))
        self._tailscale_factory: TailscaleFactory = tailscale_factory or Tailscale
        self._engines: dict[str, EngineClient] = {}
        self.ssh: SshEntries = ssh or SshConfig(self.settings.ssh_home)
        self.data_dir = self.settings.data_dir or default_data_dir()

    def close(self) -> None:
        for e in self._engines.values():
            e.close()
        self._engines.clear()

    def engine(self, host: str, url: str) -> EngineClient:
        if host not in self._engines:
            self._engines[host] = self._engine_factory(url, host)
        return self._engines[host]

    def tailscale(self) -> TailscaleClient | None:
        ts = self.settings.tailscale
        return self._tailscale_factory(ts) if ts is not None else None

    def actor(self, actor: Actor | str | None = None) -> Actor:
        return as_actor(actor if actor is not None else local_user(), self.settings.admins)

    # ------------------------------------------------------------------ fleet
    def sync_fleet(self, fleet: Any) -> list[str]:
        def probe(url: str) -> dict[str, int]:
            eng = Engine(url)
            try:
                return eng.capacity()
            finally:
                eng.close()
        return sync_fleet(self.ledger, fleet, probe=probe)

    # ------------------------------------------------------------------ launch
    def with_name(self, req: VesselRequest) -> VesselRequest:
        """The request with the name the launch will use: given, or ``<user>-<n>`` (lowest free n)."""
        if req.name:
            return req
        base = re.sub(r"[^a-z0-9-]", "-", req.user.lower()).strip("-")[:40] or "vessel"
        if not base[0].isalpha():
            base = "v" + base[:39]
        taken = {v.name for v in self.ledger.vessels(active=True)}
        n = 1
        while f"{base}-{n}" in taken:
            n += 1
        return replace(req, name=f"{base}-{n}")

    def _check_name(self, name: str) -> None:
        """Refuse names that would capture another SSH target: localhost, a fleet host, a Host of ~/.ssh/config."""
        if name == "localhost" or name in {h.name for h in self.ledger.hosts()}:
            raise ValidationError("name", f"{name!r} is the name of a host: `ssh {name}` would reach the vessel "
                                          "instead", allowed="a name that is not localhost or a fleet host's name")
        claimed = self.ssh.claimed(name)
        if claimed:
            raise ValidationError("name", f"your ~/.ssh/config already answers {name!r} ({claimed!r})",
                                  allowed="a name no Host pattern of your SSH config matches")

    def launch(self, req: VesselRequest, *, actor: Actor | str | None = None, check: bool = False,
               identity_file: str | None = None, replace_existing: bool = False) -> LaunchResult:
        who = self.actor(actor if actor is not None else req.user)
        if req.user != who.name and not who.admin:
            raise ValidationError("user", f"{who.name} may not launch a vessel for {req.user}",
                                  allowed=f"{who.name} (only admins launch for others)")
        req = self.with_name(req)
        self._check_name(req.name)
        existing = self.ledger.vessel(req.name)
        if existing is not None and existing.active:
            if existing.owner != req.user:
                raise ValidationError("name", f"a vessel named {req.name!r} already exists and belongs to "
                                              f"{existing.owner}", allowed="a name no other user's vessel has")
            differ = _differences(req, existing)
            if differ and not replace_existing:
                raise ValidationError("name", f"{req.name} is already {existing.state} with another spec: "
                                              + "; ".join(differ),
                                      allowed="the same spec, another name, or replace it (--replace / replace=true)")
            if existing.state != "running" and not differ:
                raise ValidationError("name", f"{req.name} is {existing.state}, not running",
                                      allowed=f"wait, or `{hint('reconcile', self.settings.face)}` first")
            if not differ:
                return LaunchResult(False, existing.as_dict(), self.summary(existing), {"host": existing.host})
            if not check:
                self.stop(req.name, actor=who, reason=f"replaced by a new launch ({'; '.join(differ)})")
        p = self.ledger.plan(req)
        if check:
            after = {"name": req.name, "host": p.host, "gpus": list(p.gpu_uuids), "cpuset": p.cpuset,
                     "cpus": req.cpus, "memory": format_mib(req.memory_mib), "image": req.image,
                     "owner": req.user}
            lines = [f"would launch {req.name} on {p.host} (GPUs: {', '.join(p.gpu_uuids) or 'none'}; "
                     f"CPUs {req.cpus}: {p.cpuset})"]
            if p.reasons:
                lines += ["other hosts:", *(f"  {r}" for r in p.reasons)]
            return LaunchResult(True, after, "\n".join(lines),
                                {"host": p.host, "gpus": list(p.gpu_uuids), "cpuset": p.cpuset,
                                 "other_hosts": list(p.reasons)}, diff={"before": {}, "after": after})
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        planned = self.ledger.host(p.host)
        assert planned is not None
        # the chosen host first agrees with the ledger (one list call): no orphan holds what we take
        if any(r.action != "none" for r in self.reconcile_fleet(hosts=[planned.name], actor=who)):
            p = self.ledger.plan(req)
            planned = self.ledger.host(p.host)
            assert planned is not None
        # everything outside the database happens before the reservation: the image and the ports
        self.engine(planned.name, planned.docker_url).ensure_image(req.image, pull=self.settings.pull)
        blocked = {planned.name: _foreign_ports(planned)} if _probe_ports(planned) else {}
        vessel = self.ledger.reserve(req, who, blocked_ports=blocked)
        timings["schedule"] = time.monotonic() - t0
        steps = Rollback()
        try:
            vessel = self._start(req, vessel, who, steps, timings, image_checked=vessel.host == planned.name,
                                 identity_file=identity_file)
        except BaseException as exc:
            undone = steps.run()
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if any(u.startswith("container removed: FAILED") for u in undone):
                # the container may still run (a daemon that died with live-restore): keep what it holds,
                # so nothing is given twice; the next reconcile or stop finishes the removal
                self.ledger.update_vessel(vessel.name, who, None, state="stopping",
                                          end_reason=f"launch failed: {reason}", lease_until=None)
                self.ledger.record(who, "launch-failed", vessel.name, vessel.host, reason=reason, rolled_back=undone,
                                   kept="the reservation: the container is not confirmed gone")
            else:
                self.ledger.release(vessel.name, who, state="failed", reason=f"launch failed: {reason}",
                                    rolled_back=[*undone, "reservation released"])
            raise
        timings["total"] = time.monotonic() - t0
        return LaunchResult(True, vessel.as_dict(), self.summary(vessel),
                            {"host": vessel.host, "gpus": list(vessel.gpu_uuids), "cpuset": vessel.cpuset},
                            timings, diff={"before": {}, "after": _public(vessel)})

    def _start(self, req: VesselRequest, v: Vessel, actor: Actor, steps: Rollback, timings: dict[str, float],
               *, image_checked: bool, identity_file: str | None = None) -> Vessel:
        host = self.ledger.host(v.host)
        assert host is not None and v.ssh_port is not None and v.jupyter_port is not None
        eng = self.engine(host.name, host.docker_url)
        if not image_checked:  # the reservation went to another host than planned
            eng.ensure_image(req.image, pull=self.settings.pull)
        hostkey = Ed25519PrivateKey.generate()
        host_priv = hostkey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                          serialization.NoEncryption())
        host_pub = hostkey.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                     serialization.PublicFormat.OpenSSH).decode()
        token = secrets.token_urlsafe(24)
        files: dict[str, tuple[bytes, int]] = {
            "/etc/slipway/init.sh": (init_script().encode(), 0o755),
            "/etc/slipway/ssh_host_ed25519_key": (host_priv, 0o600),
            "/etc/slipway/ssh_host_ed25519_key.pub": (host_pub.encode() + b"\n", 0o644),
            f"/etc/slipway/authorized_keys/{req.user}": (req.ssh_public_key.encode() + b"\n", 0o644),
        }
        if self.settings.jupyter:
            files["/etc/slipway/jupyter_token"] = (token.encode(), 0o600)
        ts = self.tailscale()
        ts_name = v.name
        strangers: frozenset[str] = frozenset()
        if ts is not None:
            t1 = time.monotonic()
            # a device of the tailnet already called like the vessel is a stranger: never adopted, never deleted
            strangers = frozenset(d.id for d in ts.devices()
                                  if v.name in (d.hostname, d.name.split(".")[0]))
            if strangers:
                ts_name = f"{v.name}-{v.id}"
                self.ledger.record(actor, "tailscale-name", v.name, v.host, hostname=ts_name,
                                   why=f"the tailnet already has a device named {v.name}")
            # the owner's tag: the tailnet policy (slipway tailnet policy) lets only them (and admins) reach it
            key = ts.create_auth_key(f"slipway vessel {v.name}", extra_tags=(owner_tag(req.user),))
            steps.push("tailscale key revoked", lambda: ts.delete_auth_key(key.id))
            steps.push("tailscale device deleted", lambda: self._delete_device(ts, ts_name, None, strangers))
            self.ledger.update_vessel(v.name, actor, None, tailscale_key_id=key.id)
            files["/etc/slipway/tailscale_authkey"] = (key.key.encode(), 0o600)
            timings["tailscale_key"] = time.monotonic() - t1
        vc = replace(self.container_for(req, v, host), tailscale_hostname=ts_name)
        files["/etc/slipway/env"] = (vessel_env_file(vc).encode(), 0o644)
        t1 = time.monotonic()
        steps.push("container removed", lambda: eng.remove(container_name(v.name)))
        cid = eng.create(container_spec(vc), files)
        self.ledger.update_vessel(v.name, actor, None, container_id=cid)
        eng.start(cid)
        timings["container"] = time.monotonic() - t1

        renewed = [time.monotonic()]

        def alive() -> bool:
            if time.monotonic() - renewed[0] > LEASE_RENEW_SECONDS:  # this launcher is alive: keep the lease
                self.ledger.renew_lease(v.name, LEASE_SECONDS)
                renewed[0] = time.monotonic()
            return eng.alive(cid)

        t1 = time.monotonic()
        address = v.address or host.address
        ts_values: dict[str, Any] = {}
        try:
            if ts is not None:
                dev = ts.wait_for_device(ts_name, alive=alive, exclude=strangers)
                address = dev.ipv4 or address
                ts_values = {"tailscale_device_id": dev.id, "tailscale_ip": dev.ipv4}
            else:
                eng.wait_ssh(address, v.ssh_port, self.settings.ready_timeout, alive)
        except SlipwayError as exc:
            tail = eng.logs_tail(cid)
            raise type(exc)(f"{exc}; container log:\n{tail}" if tail else str(exc)) from None
        timings["ssh_ready"] = time.monotonic() - t1
        steps.push("ssh entry removed", lambda: self.ssh.remove(v.name))
        forward = v.jupyter_port if self.settings.jupyter and ts is None else None
        self.ssh.add(SshEntry(v.name, address, v.ssh_port, req.user, host_pub, identity_file, forward))
        if self.settings.jupyter:
            tp = self._token_path(v.name)
            steps.push("jupyter token removed", lambda: tp.unlink(missing_ok=True))
            tp.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(token + "\n")
        self.ledger.update_vessel(v.name, actor, "launch", state="running", address=address, lease_until=None,
                                  **ts_values)
        got = self.ledger.vessel(v.name)
        assert got is not None
        return got

    def container_for(self, req: VesselRequest, v: Vessel, host: Any) -> VesselContainer:
        """What the engine is asked to run for a reserved vessel."""
        assert v.ssh_port is not None and v.jupyter_port is not None
        listen = "127.0.0.1" if _is_loopback(host.address) else "0.0.0.0"
        return VesselContainer(
            vessel=v.name, owner=req.user, reservation=v.id, image=req.image, gpu_uuids=v.gpu_uuids,
            cpuset=v.cpuset, cpus=v.cpus, memory_mib=v.memory_mib, shm_mib=v.shm_mib, ssh_port=v.ssh_port,
            jupyter_port=v.jupyter_port, network_mode=host.network_mode, listen=listen,
            home=self.settings.home, uid=vessel_uid(req.user, self.settings.uid_base),
            extra_env=self.settings.extra_env,
            labels={f"slipway.{k}": val for k, val in req.labels.items()})

    def _token_path(self, name: str) -> Path:
        return self.data_dir / "vessels" / f"{name}.jupyter-token"

    def _delete_device(self, ts: TailscaleClient, name: str, device_id: str | None,
                       strangers: frozenset[str] = frozenset()) -> bool:
        """Delete the vessel's own device: by the id it joined with; before it joined, only a new device."""
        if not device_id:
            dev = next((d for d in ts.devices() if d.id not in strangers
                        and name in (d.hostname, d.name.split(".")[0])), None)
            device_id = dev.id if dev else None
        if not device_id:
            return False
        ts.delete_device(device_id)
        return True

    def _teardown(self, v: Vessel) -> list[str]:
        """Remove what a running vessel has outside the ledger: container, Tailscale, SSH entry, token."""
        removed = self.engine(v.host, v.docker_url).remove(container_name(v.name))
        done = ["container removed" if removed else "container was already gone"]
        steps = Rollback()
        ts = self.tailscale()
        if ts is not None:
            if v.tailscale_key_id:
                key_id = v.tailscale_key_id
                steps.push("tailscale key revoked", lambda: ts.delete_auth_key(key_id))
            if v.tailscale_device_id:
                dev_id = v.tailscale_device_id
                steps.push("tailscale device deleted", lambda: self._delete_device(ts, v.name, dev_id))
        steps.push("ssh entry removed", lambda: self.ssh.remove(v.name))
        steps.push("jupyter token removed", lambda: self._token_path(v.name).unlink(missing_ok=True))
        return done + steps.run()

    # ------------------------------------------------------------------ stop
    def stop(self, name: str, *, actor: Actor | str | None = None, check: bool = False,
             reason: str | None = None, final_state: str = "stopped", force: bool = False) -> StopResult:
        """Stop a vessel (owner or admin). ``force`` (admins): when its host cannot be reached, release the
        reservation anyway; the ledger records who and why (the container may still exist there)."""
        who = self.actor(actor)
        v = self.ledger.vessel(name)
        if v is None:
            raise NotFound(f"no vessel named {name!r} (list them with `{hint('list', self.settings.face)}`)")
        if not v.active:
            return StopResult(False, v.as_dict(), f"{name} already ended ({v.state}: {v.end_reason or '-'})")
        require_manage(who, v.owner, "stop", name)
        before = _public(v)
        if check:
            return StopResult(True, before, f"would stop {name} on {v.host}",
                              diff={"before": before, "after": {}})
        self.ledger.update_vessel(name, who, None, state="stopping", final_state=final_state)
        try:
            done = self._teardown(v)
        except SlipwayError:
            if not force:
                raise
            from slipway.undertaker.release import force_release

            r = force_release(self.ledger, name, actor=who, reason=reason or "", force=True)
            return StopResult(True, r.before, r.summary, diff={"before": r.before, "after": {}})
        why = reason or f"{final_state} by {who.name}"
        ended = self.ledger.release(name, who, state=final_state, reason=why, steps=done)
        return StopResult(True, ended.as_dict() if ended else before, f"{name} {final_state} ({why})",
                          diff={"before": before, "after": {}})

    # ------------------------------------------------------------------ reads
    def probe(self, v: Vessel) -> str | None:
        """The container's real state on its host (None: no such container)."""
        return self.engine(v.host, v.docker_url).state(container_name(v.name))

    def reconcile(self, name: str, *, actor: Actor | str = "reconcile") -> str:
        """Align the ledger with the host: a vessel whose container is gone or exited is released."""
        v = self.ledger.vessel(name)
        if v is None or not v.active:
            return "absent"
        st = self.probe(v)
        if st in ("running", "restarting", "created", "paused"):
            return st or "running"
        with contextlib.suppress(Exception):
            self._teardown(v)
        self.ledger.release(name, actor, state="lost", reason=f"container {'gone' if st is None else st} "
                                                              "on its host: ledger reconciled")
        return "gone" if st is None else str(st)

    def reconcile_fleet(self, *, hosts: list[str] | None = None, check: bool = False,
                        actor: Actor | None = None, now: datetime | None = None) -> list[Repair]:
        """Compare every host's containers (by Slipway's labels) with the ledger and repair what disagrees.

        One list call per host. A container the ledger does not hold as active is removed; a ``running``
        vessel whose container is gone or stopped is marked lost (its GPUs, CPUs and ports released); a
        ``starting`` vessel whose launcher's lease ran out is rolled back; a ``stopping`` one is finished.
        ``check`` says what it would do and changes nothing.
        """
        who = actor or system_actor("reconcile")
        now = now or utcnow()
        wanted = set(hosts) if hosts else None
        repairs: list[Repair] = []
        by_engine: dict[str, list[Any]] = {}
        for h in self.ledger.hosts():  # hosts that share one engine are compared with it together
            by_engine.setdefault(h.docker_url, []).append(h)
        for group in by_engine.values():
            if wanted is not None and not wanted & {h.name for h in group}:
                continue
            try:
                found = self.engine(group[0].name, group[0].docker_url).managed()
            except SlipwayError as exc:
                repairs += [Repair("", h.name, "engine unreachable", "none", str(exc).splitlines()[0])
                            for h in group]
                continue
            repairs += self._reconcile_engine(group, found, who, now, check)
        return repairs

    def _reconcile_engine(self, group: list[Any], found: dict[str, dict[str, Any]], who: Actor, now: datetime,
                          check: bool) -> list[Repair]:
        out: list[Repair] = []
        names = {g.name for g in group}
        active = {v.name: v for v in self.ledger.vessels() if v.host in names}
        h = group[0]
        eng = self.engine(h.name, h.docker_url)
        for name, c in sorted(found.items()):
            v = active.get(name)
            if v is None:
                out.append(Repair(name, h.name, f"container {c['state']} but the ledger holds no active vessel",
                                  "remove container", "an orphan holds CPUs/GPUs the ledger may give away"))
                if not check:
                    eng.remove(str(c["id"]))
                    self.ledger.record(who, "reconcile", name, h.name, finding="orphan container",
                                       done="container removed", container_state=c["state"])
        for name, v in sorted(active.items()):
            got = found.get(name)
            state = got["state"] if got else None
            if v.state == "running" and state in RUNNING:
                continue
            why_lost = ""
            if v.state == "running" and state in ("exited", "created") and got is not None:
                # the host or its daemon restarted and did not bring it back: start it again
                if check:
                    out.append(Repair(name, v.host, f"running in the ledger, container {state}",
                                      "restart container", "vessels restart with their host"))
                    continue
                try:
                    eng.start(str(got["id"]))
                    out.append(Repair(name, v.host, f"running in the ledger, container {state}",
                                      "restart container", "vessels restart with their host"))
                    self.ledger.record(who, "reconcile", name, h.name, finding=f"container {state}",
                                       done="container started again")
                    continue
                except SlipwayError as exc:
                    why_lost = f", and it does not start ({str(exc).splitlines()[0]})"
            if v.state == "starting" and (v.lease_until is None or v.lease_until > now):
                continue  # a launch in progress
            if v.state == "running":
                finding, final = f"running in the ledger, container {state or 'gone'}{why_lost}", "lost"
            elif v.state == "starting":
                finding, final = "starting, but its launcher stopped renewing its lease", "failed"
            else:  # an unfinished stop ends as what it was meant to be (a burial stays a burial)
                finding, final = f"stopping, container {state or 'gone'}", v.final_state or "stopped"
            out.append(Repair(name, v.host, finding, f"mark {final}, release", "the ledger must match the host"))
            if not check:
                steps = self._teardown(v)
                self.ledger.release(name, who, state=final, reason=f"reconcile: {finding}", steps=steps)
        return out

    def info(self, name: str) -> dict[str, Any]:
        v = self.ledger.vessel(name)
        if v is None:
            raise NotFound(f"no vessel named {name!r} (list them with `{hint('list', self.settings.face)}`)")
        d = _public(v)
        d["ssh"] = f"ssh {v.name}" if v.active else None
        d["ssh_config"] = self.ssh.entry_text(v.name)
        d["jupyter_url"] = self.jupyter_url(v) if v.active else None
        d["jupyter_token_file"] = str(self._token_path(v.name)) if v.active else None
        d["events"] = [{"at": e.at.isoformat(), "actor": e.actor, "action": e.action, **e.detail}
                       for e in self.ledger.events(vessel=v.name)]
        d["container_state"] = None
        if v.active:
            with contextlib.suppress(Exception):
                d["container_state"] = self.probe(v)
        return d

    def jupyter_url(self, v: Vessel) -> str:
        """Jupyter listens on loopback only: through the tailnet, else through `ssh <vessel>`'s LocalForward."""
        return f"http://{v.tailscale_ip or 'localhost'}:{v.jupyter_port}/"

    def summary(self, v: Vessel) -> str:
        gpus = ", ".join(v.gpu_uuids) if v.gpu_uuids else "none"
        face = self.settings.face
        lines = [f"Vessel {v.name} is {v.state} on {v.host}",
                 f"  GPUs:    {gpus}",
                 f"  CPUs:    {v.cpus} (cpuset {v.cpuset}), memory {format_mib(v.memory_mib)}, image {v.image}",
                 f"  Connect: ssh {v.name}    (VS Code: Remote-SSH → {v.name})"]
        if self.settings.jupyter:
            lines.append(f"  Jupyter: {self.jupyter_url(v)}  (token: cat {self._token_path(v.name)})")
        lines.append(f"  Stop:    {hint('stop', face, name=v.name)}")
        return "\n".join(lines)


RUNNING = ("running", "restarting", "paused")


@dataclass(frozen=True)
class Repair:
    """One disagreement between a host and the ledger, and what reconcile did (or would do) about it."""

    vessel: str
    host: str
    finding: str
    action: str
    why: str

    def row(self) -> dict[str, str]:
        return {"vessel": self.vessel or "-", "host": self.host, "finding": self.finding, "action": self.action}


LIST_COLUMNS = ("name", "owner", "host", "gpus", "cpus", "cpuset", "state", "age", "address")
LIST_ALL_COLUMNS = (*LIST_COLUMNS, "ended", "end_reason")


def vessel_rows(vessels: list[Vessel], now: datetime | None = None) -> list[dict[str, str]]:
    now = now or utcnow()
    return [{"name": v.name, "owner": v.owner, "host": v.host, "gpus": str(len(v.gpu_uuids)),
             "cpus": str(v.cpus), "cpuset": v.cpuset, "state": v.state, "age": _age(now - v.created_at),
             "address": f"{v.address}:{v.ssh_port}" if v.ssh_port else (v.address or ""),
             "ended": v.ended_at.strftime("%Y-%m-%d %H:%M") if v.ended_at else "",
             "end_reason": v.end_reason or ""} for v in vessels]


def _age(delta: Any) -> str:
    s = int(delta.total_seconds())
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _public(v: Vessel) -> dict[str, Any]:
    d = v.as_dict()
    d.pop("tailscale_key_id", None)
    return d


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return address == "localhost"


def _probe_ports(h: Any) -> bool:
    """Only this machine's ports can be checked for real (a local engine on a loopback address)."""
    return bool(h.docker_url.startswith("unix://") and _is_loopback(h.address))


def _foreign_ports(h: Any) -> set[int]:
    """Ports of the host's range that something already listens on (checked before reserving)."""
    busy = set()
    for port in range(h.port_min, h.port_max + 1):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((h.address, port))
            except OSError:
                busy.add(port)
    return busy


UID_SPAN = 65536


def vessel_uid(user: str, base: int) -> int:
    """The owner's uid inside vessels: from a range no host account uses (``slipway_uid_base``), the same
    for a user on every host, so a host account can never read a vessel process's /proc by uid."""
    if user == "root":
        return 0
    return base + zlib.crc32(user.encode()) % UID_SPAN


def _differences(req: VesselRequest, v: Vessel) -> list[str]:
    """What a relaunch asks for that the running vessel does not have."""
    out = []
    for what, asked, has in (("gpus", req.gpus, len(v.gpu_uuids)), ("cpus", req.cpus, v.cpus),
                             ("memory", format_mib(req.memory_mib), format_mib(v.memory_mib)),
                             ("image", req.image, v.image)):
        if asked != has:
            out.append(f"{what} {has} (asked {asked})")
    return out


@contextlib.contextmanager
def service(settings: Settings | None = None) -> Iterator[VesselService]:
    svc = VesselService(settings)
    try:
        yield svc
    finally:
        svc.close()
        svc.ledger.close()
