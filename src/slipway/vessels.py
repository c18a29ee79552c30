"""Vessels: launch, stop, list and inspect GPU containers. The service every face calls.

launch = validate → (idempotent? return) → reserve atomically in the ledger → Tailscale key → create and
start the container → wait for sshd (or the tailnet) → SSH entry → running. Any failure after the
reservation rolls back every step before it (container removed, Tailscale device and key deleted, SSH
entry removed, reservation released) and records why in the ledger.
"""

from __future__ import annotations

import contextlib
import getpass
import ipaddress
import os
import pwd
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from slipway.engine import (
    Engine,
    VesselContainer,
    container_name,
    container_spec,
    init_script,
    vessel_env_file,
    wait_ssh,
)
from slipway.errors import NotFound, PermissionDenied, SlipwayError, ValidationError
from slipway.fleet import sync_fleet
from slipway.ledger import Ledger, Vessel, default_data_dir, utcnow
from slipway.network.sshconfig import SshConfig, SshEntry
from slipway.network.tailscale import Tailscale, TailscaleSettings
from slipway.request import VesselRequest, format_mib

PUBLIC_KEY_FILES = ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub")


def current_user() -> str:
    return os.environ.get("SLIPWAY_USER") or getpass.getuser()


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
class Settings:
    """Site settings (inventory group_vars or environment)."""

    ledger_url: str | None = None
    admins: tuple[str, ...] = ()
    tailscale: TailscaleSettings | None = None
    home: str = "volume"
    ssh_home: str | None = None  # whose ~/.ssh gets the entries (default: $HOME)
    data_dir: Path | None = None
    ready_timeout: float = 60.0
    pull: bool = True
    jupyter: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)


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


EngineFactory = Callable[[str, str], Engine]


class VesselService:
    def __init__(self, settings: Settings | None = None, *, ledger: Ledger | None = None,
                 engine_factory: EngineFactory | None = None) -> None:
        self.settings = settings or Settings()
        self.ledger = ledger or Ledger(self.settings.ledger_url)
        self._engine_factory = engine_factory or (lambda url, host: Engine(url, host))
        self._engines: dict[str, Engine] = {}
        self.ssh = SshConfig(self.settings.ssh_home)
        self.data_dir = self.settings.data_dir or default_data_dir()

    def close(self) -> None:
        for e in self._engines.values():
            e.close()
        self._engines.clear()

    def engine(self, host: str, url: str) -> Engine:
        if host not in self._engines:
            self._engines[host] = self._engine_factory(url, host)
        return self._engines[host]

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
    def launch(self, req: VesselRequest, *, actor: str | None = None, check: bool = False,
               identity_file: str | None = None) -> LaunchResult:
        actor = actor or req.user
        existing = self.ledger.vessel(req.name)
        if existing is not None and existing.active:
            if existing.owner != req.user:
                raise ValidationError("name", f"a vessel named {req.name!r} already exists and belongs to "
                                              f"{existing.owner}", allowed="a name no other user's vessel has")
            return LaunchResult(False, existing.as_dict(), self.summary(existing), {"host": existing.host})
        if check:
            p = self.ledger.plan(req)
            after = {"name": req.name, "host": p.host, "gpus": list(p.gpu_uuids), "cpuset": p.cpuset,
                     "memory": format_mib(req.memory_mib), "image": req.image, "owner": req.user}
            return LaunchResult(True, after, f"would launch {req.name} on {p.host} "
                                f"(GPUs: {', '.join(p.gpu_uuids) or 'none'}; CPUs {p.cpuset})",
                                {"host": p.host, "gpus": list(p.gpu_uuids), "cpuset": p.cpuset,
                                 "other_hosts": list(p.reasons)},
                                diff={"before": {}, "after": after})
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        hosts = {h.name: h for h in self.ledger.hosts()}
        checked: set[str] = set()

        def accept(p: Any) -> None:  # veto before anything is written: the image must exist there
            h = hosts[p.host]
            if h.name not in checked:
                self.engine(h.name, h.docker_url).ensure_image(req.image, pull=self.settings.pull)
                checked.add(h.name)

        def port_ok(host: str, port: int) -> bool:  # this machine's ports can be checked for real
            h = hosts[host]
            if not (h.docker_url.startswith("unix://") and _is_loopback(h.address)):
                return True
            return _port_free(h.address, port)

        vessel = self.ledger.reserve(req, actor, accept=accept, port_ok=port_ok)
        timings["schedule"] = time.monotonic() - t0
        try:
            vessel = self._start(req, vessel, actor, timings, checked, identity_file)
        except BaseException as exc:
            self._rollback(vessel, actor, exc)
            raise
        timings["total"] = time.monotonic() - t0
        return LaunchResult(True, vessel.as_dict(), self.summary(vessel),
                            {"host": vessel.host, "gpus": list(vessel.gpu_uuids), "cpuset": vessel.cpuset},
                            timings, diff={"before": {}, "after": _public(vessel)})

    def _start(self, req: VesselRequest, v: Vessel, actor: str, timings: dict[str, float],
               checked: set[str], identity_file: str | None = None) -> Vessel:
        host = self.ledger.host(v.host)
        assert host is not None and v.ssh_port is not None and v.jupyter_port is not None
        eng = self.engine(host.name, host.docker_url)
        if host.name not in checked:  # the reservation went to another host than first planned
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
        ts: Tailscale | None = None
        if self.settings.tailscale is not None:
            t1 = time.monotonic()
            ts = Tailscale(self.settings.tailscale)
            key = ts.create_auth_key(f"slipway vessel {v.name}")
            self.ledger.update_vessel(v.name, actor, None, tailscale_key_id=key.id)
            files["/etc/slipway/tailscale_authkey"] = (key.key.encode(), 0o600)
            timings["tailscale_key"] = time.monotonic() - t1
        listen = "127.0.0.1" if _is_loopback(host.address) else "0.0.0.0"
        vc = VesselContainer(
            vessel=v.name, owner=req.user, reservation=v.id, image=req.image, gpu_uuids=v.gpu_uuids,
            cpuset=v.cpuset, cpus=v.cpus, memory_mib=v.memory_mib, shm_mib=v.shm_mib, ssh_port=v.ssh_port,
            jupyter_port=v.jupyter_port, network_mode=host.network_mode, listen=listen,
            home=self.settings.home, uid=_uid_for(req.user), extra_env=self.settings.extra_env,
            labels={f"slipway.{k}": val for k, val in req.labels.items()})
        files["/etc/slipway/env"] = (vessel_env_file(vc).encode(), 0o644)
        t1 = time.monotonic()
        cid = eng.create(container_spec(vc), files)
        self.ledger.update_vessel(v.name, actor, None, container_id=cid)
        eng.start(cid)
        timings["container"] = time.monotonic() - t1

        def alive() -> bool:
            return eng.alive(cid)

        t1 = time.monotonic()
        address = v.address or host.address
        ts_values: dict[str, Any] = {}
        try:
            if ts is not None:
                dev = ts.wait_for_device(v.name, alive=alive)
                address = dev.ipv4 or address
                ts_values = {"tailscale_device_id": dev.id, "tailscale_ip": dev.ipv4}
            else:
                wait_ssh(address, v.ssh_port, self.settings.ready_timeout, alive)
        except SlipwayError as exc:
            tail = eng.logs_tail(cid)
            raise type(exc)(f"{exc}; container log:\n{tail}" if tail else str(exc)) from None
        timings["ssh_ready"] = time.monotonic() - t1
        self.ssh.add(SshEntry(v.name, address, v.ssh_port, req.user, host_pub, identity_file))
        if self.settings.jupyter:
            self._token_path(v.name).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tp = self._token_path(v.name)
            tp.write_text(token + "\n")
            tp.chmod(0o600)
        self.ledger.update_vessel(v.name, actor, "launch", state="running", address=address, **ts_values)
        got = self.ledger.vessel(v.name)
        assert got is not None
        return got

    def _token_path(self, name: str) -> Path:
        return self.data_dir / "vessels" / f"{name}.jupyter-token"

    def _rollback(self, v: Vessel, actor: str, exc: BaseException) -> None:
        """Undo a half-made launch. Each step runs even if an earlier one fails."""
        done: list[str] = []
        host = self.ledger.host(v.host)
        current = self.ledger.vessel(v.name) or v
        with contextlib.suppress(Exception):
            if host is not None and self.engine(host.name, host.docker_url).remove(container_name(v.name)):
                done.append("container removed")
        done += self._forget_tailscale(current)
        with contextlib.suppress(Exception):
            if self.ssh.remove(v.name):
                done.append("ssh entry removed")
        with contextlib.suppress(Exception):
            self._token_path(v.name).unlink(missing_ok=True)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.ledger.release(v.name, actor, state="failed", reason=f"launch failed: {reason}",
                            rolled_back=[*done, "reservation released"])

    def _forget_tailscale(self, v: Vessel) -> list[str]:
        if self.settings.tailscale is None:
            return []
        done = []
        ts = Tailscale(self.settings.tailscale)
        with contextlib.suppress(Exception):
            dev_id = v.tailscale_device_id
            if not dev_id:
                dev = ts.find_device(v.name)
                dev_id = dev.id if dev else None
            if dev_id:
                ts.delete_device(dev_id)
                done.append("tailscale device deleted")
        with contextlib.suppress(Exception):
            if v.tailscale_key_id:
                ts.delete_auth_key(v.tailscale_key_id)
                done.append("tailscale key revoked")
        return done

    # ------------------------------------------------------------------ stop
    def stop(self, name: str, *, actor: str, check: bool = False, reason: str | None = None,
             final_state: str = "stopped") -> StopResult:
        v = self.ledger.vessel(name)
        if v is None or not v.active:
            return StopResult(False, v.as_dict() if v else {"name": name, "state": "absent"},
                              f"{name} is not running")
        if actor != v.owner and actor not in self.settings.admins:
            raise PermissionDenied(f"{actor} may not stop {name}: it belongs to {v.owner}; only the owner "
                                   f"or an admin ({', '.join(self.settings.admins) or 'none configured'}) can")
        before = _public(v)
        if check:
            return StopResult(True, before, f"would stop {name} on {v.host}",
                              diff={"before": before, "after": {}})
        self.ledger.update_vessel(name, actor, None, state="stopping")
        removed = self.engine(v.host, v.docker_url).remove(container_name(name))
        done = ["container removed" if removed else "container was already gone"]
        done += self._forget_tailscale(v)
        self.ssh.remove(name)
        self._token_path(name).unlink(missing_ok=True)
        why = reason or f"{final_state} by {actor}"
        ended = self.ledger.release(name, actor, state=final_state, reason=why, steps=done)
        return StopResult(True, ended.as_dict() if ended else before, f"{name} {final_state} ({why})",
                          diff={"before": before, "after": {}})

    # ------------------------------------------------------------------ reads
    def probe(self, v: Vessel) -> str | None:
        """The container's real state on its host (None: no such container)."""
        return self.engine(v.host, v.docker_url).state(container_name(v.name))

    def reconcile(self, name: str, *, actor: str = "reconcile") -> str:
        """Align the ledger with the host: a vessel whose container is gone or exited is released."""
        v = self.ledger.vessel(name)
        if v is None or not v.active:
            return "absent"
        st = self.probe(v)
        if st in ("running", "restarting", "created", "paused"):
            return st or "running"
        with contextlib.suppress(Exception):
            self.engine(v.host, v.docker_url).remove(container_name(name))
        self._forget_tailscale(v)
        self.ssh.remove(name)
        self.ledger.release(name, actor, state="lost", reason=f"container {'gone' if st is None else st} "
                                                              "on its host: ledger reconciled")
        return "gone" if st is None else str(st)

    def info(self, name: str) -> dict[str, Any]:
        v = self.ledger.vessel(name)
        if v is None:
            raise NotFound(f"no vessel named {name!r} (list them with playbooks/list_vessels.yml)")
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
        return f"http://{v.address or v.host_address}:{v.jupyter_port}/"

    def summary(self, v: Vessel) -> str:
        gpus = ", ".join(v.gpu_uuids) if v.gpu_uuids else "none"
        lines = [f"Vessel {v.name} is {v.state} on {v.host}",
                 f"  GPUs:    {gpus}",
                 f"  CPUs:    {v.cpus} ({v.cpuset}), memory {format_mib(v.memory_mib)}, image {v.image}",
                 f"  Connect: ssh {v.name}    (VS Code: Remote-SSH → {v.name})"]
        if self.settings.jupyter:
            lines.append(f"  Jupyter: {self.jupyter_url(v)}  (token: cat {self._token_path(v.name)})")
        lines.append(f"  Stop:    ansible-playbook playbooks/stop_vessel.yml -e vessel={v.name}")
        return "\n".join(lines)


def vessel_rows(vessels: list[Vessel], now: datetime | None = None) -> list[dict[str, str]]:
    now = now or utcnow()
    return [{"name": v.name, "owner": v.owner, "host": v.host, "gpus": str(len(v.gpu_uuids)),
             "state": v.state, "age": _age(now - v.created_at),
             "address": f"{v.address}:{v.ssh_port}" if v.ssh_port else (v.address or "")} for v in vessels]


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


def _port_free(address: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def _uid_for(user: str) -> int:
    if user == "root":
        return 0
    try:
        uid = pwd.getpwnam(user).pw_uid
        return uid if uid >= 1000 else 1000
    except KeyError:
        return 1000


@contextlib.contextmanager
def service(settings: Settings | None = None) -> Iterator[VesselService]:
    svc = VesselService(settings)
    try:
        yield svc
    finally:
        svc.close()
        svc.ledger.close()
