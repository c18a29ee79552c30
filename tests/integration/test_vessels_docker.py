"""Vessels end to end on a real dockerd: launch → ssh → Jupyter → stop, GPUs, rollback, Tailscale, ssh://."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from slipway.errors import EngineError, PermissionDenied, ValidationError
from slipway.request import build_request
from tests.harness.dockerd import Dockerd
from tests.harness.sshd import Sshd
from tests.harness.tailscale_standin import StandIn
from tests.integration.conftest import FAKE_GPUS, dump_ledger, fleet_host, ssh

pytestmark = pytest.mark.docker


def req(key: Path, **kw: Any) -> Any:
    base: dict[str, Any] = {"user": "alice", "ssh_public_key": key.with_suffix(".pub").read_text(), "memory": 2,
                            "cpus": 1}
    base.update(kw)
    return build_request(**base)


def containers(d: Dockerd) -> list[str]:
    c = d.client()
    try:
        return [x.name for x in c.containers.list(all=True, filters={"label": "slipway.managed=true"})]
    finally:
        c.close()


def test_launch_ssh_jupyter_stop(make_service: Any, dockerd: Dockerd, vessel_image: str, home: Path,
                                 user_key: Path) -> None:
    svc = make_service({"local": fleet_host(dockerd.url)})
    res = svc.launch(req(user_key, name="nb-1"), identity_file=str(user_key))
    v = res.vessel
    assert res.changed and v["state"] == "running" and v["host"] == "local"
    assert "ssh nb-1" in res.summary and "Jupyter: http://localhost:" in res.summary
    assert set(res.timings) >= {"schedule", "container", "ssh_ready", "total"}

    out = ssh(home, user_key, "nb-1", "id -un; echo $HOME; touch ~/made-here && ls -ld ~ | cut -d' ' -f3; "
                                      "cat /sys/fs/cgroup/cpuset/cpuset.cpus 2>/dev/null || cat /sys/fs/cgroup/cpuset.cpus.effective; "
                                      "echo $SLIPWAY_VESSEL; hostname; id -u")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.split()) == 7, out.stdout
    user, homedir, owner, cpuset, name, hostname, uid = out.stdout.split()
    assert (user, homedir, owner, name) == ("alice", "/home/alice", "alice", "nb-1")
    assert cpuset == v["cpuset"]
    assert hostname == "nb-1"  # the vessel's own name, under network_mode host too
    assert 200000 <= int(uid) < 200000 + 65536  # a uid no host account has

    c = dockerd.client()
    try:
        info = c.api.inspect_container("slipway-nb-1")
    finally:
        c.close()
    assert info["HostConfig"]["Memory"] == 2 * 1024**3 and info["HostConfig"]["CpusetCpus"] == v["cpuset"]
    assert info["Config"]["Labels"]["slipway.owner"] == "alice"
    assert info["Config"]["Labels"]["slipway.reservation"] == str(v["id"])
    token = (home / ".slipway" / "vessels" / "nb-1.jupyter-token").read_text().strip()
    assert token not in repr(info)  # the token went in by put_archive, not env/labels
    # nor in the Jupyter process's environment or command line (readable through /proc from the host)
    procs = ssh(home, user_key, "nb-1", "for p in $(pgrep -f jupyter); do cat /proc/$p/environ /proc/$p/cmdline; "
                                        "echo; done; stat -c %a /etc/slipway/jupyter_token")
    assert procs.returncode == 0 and "jupyter" in procs.stdout and token not in procs.stdout, procs.stdout
    assert procs.stdout.split()[-1] == "400"
    # Jupyter listens on loopback only; the SSH entry forwards its port (`ssh nb-1`, then localhost)
    forward = f"LocalForward {v['jupyter_port']} 127.0.0.1:{v['jupyter_port']}"
    assert forward in (home / ".ssh" / "slipway" / "config").read_text()

    url = f"http://127.0.0.1:{v['jupyter_port']}/api/status"
    deadline = time.monotonic() + 30
    while True:
        try:
            ok = requests.get(url, params={"token": token}, timeout=2)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "Jupyter never answered"
            time.sleep(0.3)
    assert ok.status_code == 200
    assert requests.get(url, timeout=2).status_code in (401, 403)

    # idempotent: launching the same name for the same owner changes nothing
    again = svc.launch(req(user_key, name="nb-1"))
    assert not again.changed and again.vessel["id"] == v["id"]

    # ownership: bob may not stop it
    with pytest.raises(PermissionDenied, match="bob may not stop nb-1: it belongs to alice"):
        svc.stop("nb-1", actor="bob")

    stopped = svc.stop("nb-1", actor="alice")
    assert stopped.changed and stopped.vessel["state"] == "stopped"
    assert "slipway-nb-1" not in containers(dockerd)
    assert svc.ledger.allocations() == {"gpus": [], "cpus": [], "ports": []}
    assert "nb-1" not in (home / ".ssh" / "slipway" / "config").read_text()
    assert "slipway-nb-1" not in (home / ".ssh" / "slipway" / "known_hosts").read_text()
    assert not svc.stop("nb-1", actor="alice").changed  # stopping twice is a no-op
    # the home volume outlives the vessel
    svc.launch(req(user_key, name="nb-2"), identity_file=str(user_key))
    assert ssh(home, user_key, "nb-2", "ls ~/made-here").returncode == 0


def test_gpu_request_carries_exactly_the_reserved_uuids(make_service: Any, dockerd: Dockerd, vessel_image: str,
                                                        home: Path, user_key: Path, ledger_url: str) -> None:
    # on the SQLite ledger and on PostgreSQL (a team's shared ledger)
    svc = make_service({"gpu-a": fleet_host(dockerd.url, gpus=FAKE_GPUS, queue="a100")}, ledger_url=ledger_url)
    v = svc.launch(req(user_key, name="g-1", gpus=1, queue="a100"), identity_file=str(user_key)).vessel
    assert v["gpu_uuids"] == [FAKE_GPUS[0]["uuid"]]
    c = dockerd.client()
    try:
        reqs = c.api.inspect_container("slipway-g-1")["HostConfig"]["DeviceRequests"]
    finally:
        c.close()
    assert reqs == [{"Driver": "", "Count": 0, "DeviceIDs": [FAKE_GPUS[0]["uuid"]], "Capabilities": [["gpu"]],
                     "Options": {}}]
    out = ssh(home, user_key, "g-1", "echo $NVIDIA_VISIBLE_DEVICES")
    assert out.stdout.strip() == FAKE_GPUS[0]["uuid"], out.stderr
    # the second GPU goes to the next vessel; a third request finds none free
    v2 = svc.launch(req(user_key, name="g-2", gpus=1, queue="a100"), identity_file=str(user_key)).vessel
    assert v2["gpu_uuids"] == [FAKE_GPUS[1]["uuid"]]
    with pytest.raises(Exception, match="no host in queue a100 has 1 free GPU: gpu-a has 0 free"):
        svc.launch(req(user_key, name="g-3", gpus=1, queue="a100"))


def test_host_without_nvidia_runtime_gives_a_clear_error_and_rolls_back(
        make_service: Any, plain_dockerd: Dockerd, home: Path, user_key: Path) -> None:
    svc = make_service({"old-box": fleet_host(plain_dockerd.url, gpus=FAKE_GPUS[:1])})
    with pytest.raises(EngineError, match="no NVIDIA container runtime.*nvidia-container-toolkit"
                                          ".*could not select device driver"):
        svc.launch(req(user_key, name="g-x", gpus=1, image="slipway/tiny:1"))
    assert containers(plain_dockerd) == []
    assert svc.ledger.vessels() == [] and svc.ledger.allocations() == {"gpus": [], "cpus": [], "ports": []}
    [ended] = svc.ledger.vessels(active=False)
    assert ended.state == "failed" and "NVIDIA" in (ended.end_reason or "")


def test_missing_image_reserves_nothing(make_service: Any, dockerd: Dockerd, home: Path, user_key: Path) -> None:
    svc = make_service({"local": fleet_host(dockerd.url)})
    with pytest.raises(ValidationError, match="image: image 'slipway/does-not-exist:1' does not exist on host "
                                              "local and could not be pulled"):
        svc.launch(req(user_key, name="x-1", image="slipway/does-not-exist:1"))
    assert svc.ledger.vessels(active=False) == []
    assert [e.action for e in svc.ledger.events()] == ["host-sync"]
    assert containers(dockerd) == []


def test_failure_after_reservation_rolls_everything_back(make_service: Any, dockerd: Dockerd, vessel_image: str,
                                                          home: Path, user_key: Path) -> None:
    # the debootstrap base has no sshd: the vessel dies at start, after its reservation
    svc = make_service({"local": fleet_host(dockerd.url)})
    with pytest.raises(EngineError, match="stopped before sshd answered(.|\n)*no /usr/sbin/sshd"):
        svc.launch(req(user_key, name="broken", image="slipway/debian-base:bookworm"))
    assert containers(dockerd) == []
    assert svc.ledger.vessels() == [] and svc.ledger.allocations() == {"gpus": [], "cpus": [], "ports": []}
    assert not (home / ".ssh" / "slipway" / "config").exists() or \
        "broken" not in (home / ".ssh" / "slipway" / "config").read_text()
    last = svc.ledger.events()[-1]
    assert last.action == "failed" and "container removed" in last.detail["rolled_back"]
    assert "reservation released" in last.detail["rolled_back"]


def test_tailscale_ephemeral_node_and_cleanup(make_service: Any, dockerd: Dockerd, ts_image: Any, home: Path,
                                              user_key: Path, tailscale: StandIn) -> None:
    image = ts_image(tailscale.url)
    svc = make_service({"local": fleet_host(dockerd.url)}, tailscale=tailscale)
    res = svc.launch(req(user_key, name="ts-1", image=image))
    st = tailscale.state
    [key] = st.keys.values()
    assert key["body"]["capabilities"]["devices"]["create"] == {
        "reusable": False, "ephemeral": True, "preauthorized": True,
        "tags": ["tag:vessel", "tag:slipway-owner-alice"]}  # the owner's tag for the tailnet policy
    assert key["used"]
    [dev] = st.devices.values()
    assert dev["hostname"] == "ts-1" and res.vessel["tailscale_ip"] == dev["addresses"][0]
    entry = (home / ".ssh" / "slipway" / "config").read_text()
    assert f"HostName {dev['addresses'][0]}" in entry
    secrets = [key["key"], st.api_key]
    blob = dump_ledger(svc.ledger) + repr(res) + str(svc.info("ts-1"))
    assert not any(s in blob for s in secrets)
    svc.stop("ts-1", actor="alice")
    assert st.devices == {} and st.keys == {}


def test_tailscale_stranger_of_the_same_name_is_never_adopted(make_service: Any, dockerd: Dockerd, ts_image: Any,
                                                              home: Path, user_key: Path, tailscale: StandIn) -> None:
    image = ts_image(tailscale.url)
    st = tailscale.state
    st.devices["stranger"] = {"id": "stranger", "nodeId": "stranger", "hostname": "ts-3", "addresses": ["100.64.9.9"],
                              "name": "ts-3.tail-test.ts.net", "tags": [], "ephemeral": False}
    svc = make_service({"local": fleet_host(dockerd.url)}, tailscale=tailscale)
    res = svc.launch(req(user_key, name="ts-3", image=image))
    own = next(d for d in st.devices.values() if d["id"] != "stranger")
    assert own["hostname"] == f"ts-3-{res.vessel['id']}" and res.vessel["tailscale_ip"] == own["addresses"][0]
    assert "HostName 100.64.9.9" not in (home / ".ssh" / "slipway" / "config").read_text()
    assert any(e.action == "tailscale-name" for e in svc.ledger.events(vessel="ts-3"))
    svc.stop("ts-3", actor="alice")
    assert list(st.devices) == ["stranger"]  # its own device deleted; the stranger's left alone


def test_tailscale_failure_rolls_back_the_key(make_service: Any, dockerd: Dockerd, ts_image: Any, home: Path,
                                              user_key: Path, tailscale: StandIn) -> None:
    image = ts_image(tailscale.url)
    svc = make_service({"local": fleet_host(dockerd.url)}, tailscale=tailscale)
    tailscale.state.fail["GET devices"] = 1000  # the API breaks after the key was made
    with pytest.raises(Exception, match="Tailscale API GET .*devices: HTTP 500"):
        svc.launch(req(user_key, name="ts-2", image=image))
    tailscale.state.fail.clear()
    assert tailscale.state.keys == {}  # revoked
    assert containers(dockerd) == [] and svc.ledger.vessels() == []
    assert tailscale.state.api_key not in dump_ledger(svc.ledger)


def test_fleet_host_over_ssh(make_service: Any, sshd_host: Sshd, dockerd: Dockerd, vessel_image: str, home: Path,
                             user_key: Path) -> None:
    url = f"ssh://root@127.0.0.1:{sshd_host.port}"
    svc = make_service({"remote-01": fleet_host(url)})
    v = svc.launch(req(user_key, name="far-1"), identity_file=str(user_key)).vessel
    assert v["host"] == "remote-01" and v["docker_url"] == url
    assert ssh(home, user_key, "far-1", "hostname >/dev/null && echo hi").stdout.strip() == "hi"
    assert "slipway-far-1" in containers(dockerd)
    svc.stop("far-1", actor="alice")
    assert "slipway-far-1" not in containers(dockerd)


def test_reconcile_releases_a_vessel_removed_behind_the_ledgers_back(
        make_service: Any, dockerd: Dockerd, vessel_image: str, home: Path, user_key: Path) -> None:
    svc = make_service({"local": fleet_host(dockerd.url)})
    svc.launch(req(user_key, name="gone-1"))
    c = dockerd.client()
    try:
        c.api.remove_container("slipway-gone-1", force=True)
    finally:
        c.close()
    assert svc.reconcile("gone-1") == "gone"
    v = svc.ledger.vessel("gone-1")
    assert v is not None and v.state == "lost" and svc.ledger.allocations()["cpus"] == []
