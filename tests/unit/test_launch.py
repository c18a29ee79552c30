"""The launch use case with fake clients (Docker Engine, Tailscale, SSH entries) over a real SQLite ledger.

Fast checks of what the real-dockerd tests also show: steps undo themselves in reverse order, the
container spec, the env file and the file archive; check mode names the vessel the launch will get.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from slipway.config import Settings, load_settings
from slipway.engine import VesselContainer, container_spec, tar_files, vessel_env_file
from slipway.errors import EngineError, NotFound, PermissionDenied, TailscaleError, ValidationError
from slipway.identity import Actor
from slipway.ledger import GpuSpec, HostSpec, Ledger
from slipway.network.sshconfig import SshEntry
from slipway.network.tailscale import AuthKey, Device, TailscaleSettings
from slipway.request import build_request
from slipway.vessels import Rollback, VesselService

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx5 alice@laptop"
HOSTS = [
    HostSpec("gpu-01", "a100", "unix:///fake.sock", "10.9.0.1", cpus=8, memory_mib=32768,
             gpus=(GpuSpec(0, "GPU-a"), GpuSpec(1, "GPU-b"))),
    HostSpec("gpu-02", "a100", "unix:///fake.sock", "10.9.0.2", cpus=8, memory_mib=32768,
             gpus=(GpuSpec(0, "GPU-c"),)),
]


class FakeEngine:
    def __init__(self, log: list[str], fail: str | None = None) -> None:
        self.log, self.fail = log, fail
        self.containers: dict[str, dict[str, Any]] = {}
        self.files: dict[str, Mapping[str, tuple[bytes, int]]] = {}

    def _maybe_fail(self, step: str) -> None:
        self.log.append(step)
        if self.fail == step:
            raise EngineError(f"host fake: {step} failed")

    def close(self) -> None:
        pass

    def capacity(self) -> dict[str, int]:
        return {"cpus": 8, "memory_mib": 32768}

    def ensure_image(self, ref: str, *, pull: bool = True) -> None:
        self._maybe_fail("image")

    def create(self, spec: Mapping[str, Any], files: Mapping[str, tuple[bytes, int]]) -> str:
        self.containers[spec["name"]] = dict(spec)
        self.files[spec["name"]] = files
        self._maybe_fail("create")
        return f"id-{spec['name']}"

    def start(self, container_id: str) -> None:
        self._maybe_fail("start")

    def remove(self, name_or_id: str) -> bool:
        self.log.append(f"remove {name_or_id}")
        return self.containers.pop(name_or_id, None) is not None

    def state(self, name_or_id: str) -> str | None:
        return "running" if name_or_id in self.containers else None

    def alive(self, name_or_id: str) -> bool:
        return True

    def logs_tail(self, name_or_id: str, lines: int = 20) -> str:
        return ""

    def managed(self) -> dict[str, dict[str, Any]]:
        return {n.removeprefix("slipway-"): {"state": "running", "id": f"id-{n}", "owner": "alice"}
                for n in self.containers}

    def wait_ssh(self, address: str, port: int, timeout: float, alive: Callable[[], bool] | None = None) -> float:
        self._maybe_fail("wait")
        return 0.0


class FakeTailscale:
    def __init__(self, log: list[str], fail: str | None = None) -> None:
        self.log, self.fail = log, fail
        self.keys: set[str] = set()
        self.devs: dict[str, Device] = {}

    def create_auth_key(self, description: str, extra_tags: tuple[str, ...] = ()) -> AuthKey:
        self.log.append("ts key")
        self.tags = extra_tags
        self.keys.add("k1")
        return AuthKey("k1", "tskey-auth-secret")

    def delete_auth_key(self, key_id: str) -> None:
        self.log.append(f"ts delete key {key_id}")
        self.keys.discard(key_id)

    def devices(self) -> list[Device]:  # type: ignore[override]
        return list(self.devs.values())

    def find_device(self, hostname: str) -> Device | None:
        return self.devs.get(hostname)

    def wait_for_device(self, hostname: str, timeout: float | None = None, alive: Any = None,
                        exclude: frozenset[str] = frozenset()) -> Device:
        self.log.append("ts wait")
        if self.fail == "join":
            raise TailscaleError("the vessel did not join the tailnet")
        dev = self.devs[hostname] = Device("d1", hostname, hostname, ("100.64.0.7",))
        return dev

    def delete_device(self, device_id: str) -> None:
        self.log.append(f"ts delete device {device_id}")
        self.devs = {k: d for k, d in self.devs.items() if d.id != device_id}


class FakeSsh:
    def __init__(self, log: list[str], fail: bool = False) -> None:
        self.log, self.fail = log, fail
        self.entries: dict[str, SshEntry] = {}

    def add(self, entry: SshEntry) -> bool:
        self.log.append("ssh add")
        if self.fail:
            raise OSError(28, "No space left on device")
        self.entries[entry.vessel] = entry
        return True

    def remove(self, vessel: str) -> bool:
        self.log.append("ssh remove")
        return self.entries.pop(vessel, None) is not None

    def entry_text(self, name: str) -> str:
        return ""

    def claimed(self, name: str) -> str | None:
        return "Host prod-*" if name.startswith("prod-") else None


class World:
    def __init__(self, tmp_path: Path, *, fail: str | None = None, tailscale: bool = False,
                 admins: tuple[str, ...] = ()) -> None:
        self.log: list[str] = []
        self.engine = FakeEngine(self.log, fail)
        self.ts = FakeTailscale(self.log, fail)
        self.ssh = FakeSsh(self.log, fail == "ssh")
        self.ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
        self.ledger.sync_hosts(HOSTS)
        ts = TailscaleSettings(api_key="tskey-api-secret") if tailscale else None
        self.settings = Settings(tailscale=ts, data_dir=tmp_path / "data", admins=admins)
        self.svc = VesselService(self.settings, ledger=self.ledger, engine_factory=lambda url, host: self.engine,
                                 tailscale_factory=lambda s: self.ts, ssh=self.ssh)


def req(**kw: Any) -> Any:
    return build_request(**{"user": "alice", "ssh_public_key": KEY, "gpus": 1, "queue": "a100", "cpus": 2,
                            "memory": "4G", **kw})


def test_rollback_walks_back_in_reverse_and_runs_every_undo() -> None:
    ran: list[str] = []
    rb = Rollback()
    rb.push("a undone", lambda: ran.append("a"))
    rb.push("b undone", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    rb.push("c undone", lambda: False)  # nothing to undo: not reported
    rb.push("d undone", lambda: ran.append("d"))
    assert rb.run() == ["d undone", "b undone: FAILED (RuntimeError: boom)", "a undone"]
    assert ran == ["d", "a"]


@pytest.mark.parametrize(("fail", "undone"), [
    ("create", ["container removed", "tailscale key revoked"]),  # no device joined yet: nothing to delete
    ("start", ["container removed", "tailscale key revoked"]),
    ("join", ["container removed", "tailscale key revoked"]),
    ("ssh", ["container removed", "tailscale device deleted", "tailscale key revoked"]),
])
def test_a_failed_step_undoes_the_steps_before_it(tmp_path: Path, fail: str, undone: list[str]) -> None:
    w = World(tmp_path, fail=fail, tailscale=True)
    with pytest.raises((EngineError, TailscaleError, OSError)):
        w.svc.launch(req(name="v1"))
    v = w.ledger.vessel("v1")
    assert v is not None and v.state == "failed" and not v.active
    assert w.ledger.allocations() == {"gpus": [], "cpus": [], "ports": []}
    assert w.engine.containers == {} and w.ts.keys == set() and w.ts.devs == {} and w.ssh.entries == {}
    failed = next(e for e in w.ledger.events(vessel="v1") if e.action == "failed")
    assert failed.detail["rolled_back"] == [*undone, "reservation released"]


def test_missing_image_reserves_nothing(tmp_path: Path) -> None:
    w = World(tmp_path, fail="image")
    with pytest.raises(EngineError):
        w.svc.launch(req(name="v1"))
    assert w.ledger.vessel("v1") is None and "create" not in w.log


def test_launch_then_stop_leaves_nothing(tmp_path: Path) -> None:
    w = World(tmp_path, tailscale=True)
    res = w.svc.launch(req(name="v1"))
    assert res.changed and res.vessel["state"] == "running" and res.vessel["address"] == "100.64.0.7"
    assert w.ts.tags == ("tag:slipway-owner-alice",)  # the owner's tag: the tailnet policy keys on it
    assert set(w.ssh.entries) == {"v1"} and (tmp_path / "data/vessels/v1.jupyter-token").stat().st_mode & 0o777 == 0o600
    stopped = w.svc.stop("v1", actor=Actor("alice"))
    assert stopped.changed and stopped.vessel["state"] == "stopped"
    assert w.engine.containers == {} and w.ts.devs == {} and w.ts.keys == set() and w.ssh.entries == {}
    assert not (tmp_path / "data/vessels/v1.jupyter-token").exists()
    ended = w.ledger.vessel("v1")
    assert ended is not None and ended.gpu_uuids == ("GPU-c",)  # the record keeps which GPUs it had


def test_check_names_the_vessel_the_launch_gets_and_why_not_the_others(tmp_path: Path) -> None:
    w = World(tmp_path)
    plan = w.svc.launch(req(), check=True)
    assert plan.vessel["name"] == "alice-1" and plan.vessel["host"] == "gpu-02"
    assert "other hosts:" in plan.summary and "gpu-01: fits, but leaves more free" in plan.summary
    assert w.ledger.vessels() == []
    real = w.svc.launch(req())
    assert real.vessel["name"] == "alice-1"
    assert w.svc.launch(req(), check=True).vessel["name"] == "alice-2"


def test_stop_of_an_unknown_vessel_is_an_error_and_of_an_ended_one_a_no_op(tmp_path: Path) -> None:
    w = World(tmp_path)
    with pytest.raises(NotFound, match="no vessel named 'nope'"):
        w.svc.stop("nope", actor=Actor("alice"))
    w.svc.launch(req(name="v1"))
    w.svc.stop("v1", actor=Actor("alice"))
    again = w.svc.stop("v1", actor=Actor("alice"))
    assert not again.changed and "already ended" in again.summary


def test_only_the_owner_or_an_admin_stops(tmp_path: Path) -> None:
    w = World(tmp_path, admins=("root",))
    w.svc.launch(req(name="v1"))
    with pytest.raises(PermissionDenied, match="bob may not stop v1: it belongs to alice"):
        w.svc.stop("v1", actor=Actor("bob"))
    assert w.svc.stop("v1", actor="root").changed  # an admin by the site's list


def test_only_admins_launch_for_someone_else(tmp_path: Path) -> None:
    w = World(tmp_path)
    with pytest.raises(ValidationError, match="user: bob may not launch a vessel for alice"):
        w.svc.launch(req(name="v1"), actor=Actor("bob"))
    assert w.ledger.vessel("v1") is None


def _vc(**kw: Any) -> VesselContainer:
    base: dict[str, Any] = dict(vessel="v1", owner="alice", reservation=7, image="img:1", gpu_uuids=("GPU-a",),
                                cpuset="0,1", cpus=2, memory_mib=4096, shm_mib=1024, ssh_port=20000,
                                jupyter_port=20001)
    return VesselContainer(**{**base, **kw})


@pytest.mark.parametrize("mode", ["host", "bridge"])
def test_container_spec_hostname_is_the_vessel_in_every_network_mode(mode: str) -> None:
    spec = container_spec(_vc(network_mode=mode))
    assert spec["hostname"] == "v1"
    assert spec["cpuset_cpus"] == "0,1" and spec["nano_cpus"] == 2_000_000_000
    assert spec["mem_limit"] == spec["memswap_limit"] == "4096m" and spec["shm_size"] == "1024m"
    assert spec["restart_policy"] == {"Name": "unless-stopped"}
    assert spec["labels"]["slipway.reservation"] == "7" and spec["labels"]["slipway.gpus"] == "GPU-a"
    assert spec["device_requests"][0]["DeviceIDs"] == ["GPU-a"]
    assert ("ports" in spec) == (mode == "bridge") and (spec.get("network_mode") == "host") == (mode == "host")


def test_env_file_and_file_archive() -> None:
    env = vessel_env_file(_vc(listen="127.0.0.1"))
    assert "SLIPWAY_SSH_PORT='20000'" in env and "SLIPWAY_LISTEN='127.0.0.1'" in env
    assert "SLIPWAY_SSH_PORT='22'" in vessel_env_file(_vc(network_mode="bridge"))
    data = tar_files({"/etc/slipway/a": (b"x", 0o600), "/etc/slipway/sub/b": (b"yy", 0o644)})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["etc/slipway/a"].mode == 0o600 and members["etc/slipway/sub/b"].size == 2
    assert members["etc/slipway/sub"].isdir()


def test_settings_come_from_one_loader(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yml"
    cfg.write_text("slipway_admins: [root]\nslipway_tailscale_api_key: tskey-from-file\n"
                   "slipway_default_image: '{{ lookup(\"x\") }}'\n")
    s = load_settings({"ledger_url": None, "admins": []}, env={"SLIPWAY_DEFAULT_CPUS": "4"}, config_file=cfg)
    assert s.admins == ("root",) and s.default_cpus == 4 and s.default_image == "slipway/vessel:latest"
    assert s.tailscale is not None and s.tailscale.api_key == "tskey-from-file"
    assert "tskey" not in repr(s)
    given = load_settings({"admins": ["ops"]}, env={"SLIPWAY_ADMINS": "x,y"}, config_file=cfg)
    assert given.admins == ("ops",)
    with pytest.raises(ValidationError, match="slipway_default_cpus: must be a number"):
        load_settings(env={"SLIPWAY_DEFAULT_CPUS": "many"}, config_file=cfg)


def test_tailscale_never_adopts_or_deletes_a_stranger_of_the_same_name(tmp_path: Path) -> None:
    w = World(tmp_path, tailscale=True)
    stranger = Device("stranger", "v1", "v1.tail.ts.net", ("100.64.0.99",))
    w.ts.devs["v1"] = stranger
    res = w.svc.launch(req(name="v1"))
    assert res.vessel["address"] == "100.64.0.7" and res.vessel["tailscale_device_id"] == "d1"
    env = dict(line.split("=", 1) for line in w.engine.files["slipway-v1"]["/etc/slipway/env"][0].decode().split())
    assert env["SLIPWAY_TAILSCALE_HOSTNAME"] == f"'v1-{res.vessel['id']}'"
    assert any(e.action == "tailscale-name" for e in w.ledger.events(vessel="v1"))
    w.svc.stop("v1", actor=Actor("alice"))
    assert list(w.ts.devs.values()) == [stranger]  # its own device deleted, the stranger left alone


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": "bad\n"}, "name: not a valid vessel name"),
    ({"name": "localhost"}, "name: 'localhost' is the name of a host"),
    ({"name": "gpu-01"}, "name: 'gpu-01' is the name of a host"),
    ({"name": "prod-db"}, "name: your ~/.ssh/config already answers 'prod-db' ('Host prod-*')"),
    ({"image": "a/../../containers/json"}, "image: not a valid image reference"),
    ({"image": "Slipway/Vessel"}, "image: repository names must be lower case"),
    ({"image": "img:bad tag"}, "image: not a valid image reference"),
    ({"memory": "0.001"}, "memory: below the container engine's minimum"),
    ({"gpus": "\u0661"}, "gpus: must be a whole number"),  # ARABIC-INDIC DIGIT ONE: ASCII digits only
    ({"ssh_public_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"},
     "ssh_public_key: not an OpenSSH public key line"),
])
def test_hostile_input_is_refused_before_anything_is_reserved(tmp_path: Path, fields: dict[str, Any],
                                                                message: str) -> None:
    w = World(tmp_path)
    with pytest.raises(ValidationError) as err:
        w.svc.launch(req(**fields))
    assert message in str(err.value) and err.value.exit_code == 2
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in str(err.value)
    assert w.ledger.vessels(active=False) == [] and w.engine.containers == {}


def test_relaunch_with_another_spec_says_what_differs_or_replaces(tmp_path: Path) -> None:
    w = World(tmp_path)
    w.svc.launch(req(name="v1"))
    assert not w.svc.launch(req(name="v1")).changed  # the same spec: idempotent
    with pytest.raises(ValidationError, match=r"v1 is already running with another spec: memory 4 GiB \(asked 8 GiB\)"):
        w.svc.launch(req(name="v1", memory="8G"))
    res = w.svc.launch(req(name="v1", memory="8G"), replace_existing=True)
    assert res.changed and res.vessel["memory_mib"] == 8192
    assert [v.state for v in w.ledger.vessels(active=False)] == ["stopped", "running"]


def test_a_rollback_that_cannot_remove_the_container_keeps_the_reservation(tmp_path: Path) -> None:
    w = World(tmp_path, fail="wait")
    w.engine.remove = lambda name: (_ for _ in ()).throw(EngineError("host fake: removing failed: down"))  # type: ignore[method-assign]
    with pytest.raises(EngineError):
        w.svc.launch(req(name="v1"))
    v = w.ledger.vessel("v1")
    assert v is not None and v.state == "stopping"  # still holds its GPU and CPUs: nothing is given twice
    assert [g for g, _ in w.ledger.allocations()["gpus"]] == list(v.gpu_uuids)


def test_stop_of_an_unreachable_host_keeps_the_reservation_unless_an_admin_forces(tmp_path: Path) -> None:
    w = World(tmp_path, admins=("root",))
    w.svc.launch(req(name="v1"))
    w.engine.remove = lambda name: (_ for _ in ()).throw(EngineError("host fake: removing failed: down"))  # type: ignore[method-assign]
    with pytest.raises(EngineError):
        w.svc.stop("v1", actor=Actor("alice"), final_state="buried")
    v = w.ledger.vessel("v1")
    assert v is not None and v.state == "stopping" and v.final_state == "buried" and w.ledger.allocations()["gpus"]
    with pytest.raises(PermissionDenied):
        w.svc.stop("v1", actor=Actor("alice"), force=True, reason="host is gone")
    forced = w.svc.stop("v1", actor="root", force=True, reason="host is gone")
    assert forced.changed and "released by force by root: host is gone" in forced.summary
    assert w.ledger.allocations() == {"gpus": [], "cpus": [], "ports": []}


def test_reconcile_compares_hosts_that_share_one_engine_together(tmp_path: Path) -> None:
    w = World(tmp_path)  # both hosts of HOSTS are on the same engine URL
    a = w.svc.launch(req(name="v1")).vessel
    b = w.svc.launch(req(name="v2", gpus=2)).vessel
    assert {a["host"], b["host"]} == {"gpu-01", "gpu-02"}
    assert w.svc.reconcile_fleet() == []  # neither vessel's container is an orphan of the other host
    w.engine.containers.pop("slipway-v2")  # gone behind the ledger's back
    repairs = w.svc.reconcile_fleet(check=True)
    assert [(r.vessel, r.host, r.action) for r in repairs] == [("v2", b["host"], "mark lost, release")]
