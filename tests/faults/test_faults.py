"""Vessels under faults: a private dockerd the test SIGKILLs and restarts, a launcher killed mid-launch,
orphans, concurrent first use of a fresh PostgreSQL ledger. After each fault one reconcile leaves the
ledger and the engine in agreement (checked from every container's labels and cpuset against the
allocation rows) and the next launch succeeds.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from slipway import usecases
from slipway.config import Settings
from slipway.ledger import Ledger, utcnow
from slipway.request import VesselRequest
from slipway.vessels import VesselService
from tests.harness.dockerd import Dockerd
from tests.harness.faultd import FaultyDockerd, copy_image, ensure_slow_sshd_image, wait_container
from tests.harness.postgres import Postgres, fresh_database
from tests.integration.conftest import fleet_host

pytestmark = [pytest.mark.docker, pytest.mark.slow]
SLIPWAY = str(Path(sys.executable).parent / "slipway")


BOTH = pytest.mark.parametrize("faultd", [True, False], ids=["live-restore", "plain"], indirect=True)
LIVE = pytest.mark.parametrize("faultd", [True], ids=["live-restore"], indirect=True)


@pytest.fixture
def faultd(request: pytest.FixtureRequest, tmp_path: Path, dockerd: Dockerd, vessel_image: str
           ) -> Iterator[FaultyDockerd]:
    fd = FaultyDockerd(tmp_path, live_restore=request.param)
    copy_image(dockerd, fd, vessel_image)
    yield fd
    with_daemon = fd.d.proc.proc.poll() is None
    if not with_daemon:
        fd.restart()
    fd.stop()


class Site:
    def __init__(self, fd: FaultyDockerd, home: Path, tmp_path: Path) -> None:
        self.fd, self.home = fd, home
        self.url = f"sqlite:///{tmp_path / 'ledger.db'}"
        self.fleet = tmp_path / "fleet.yml"
        self.fleet.write_text(yaml.safe_dump({"faulty": fleet_host(fd.url, cpus=2, memory_mib=4096,
                                                                     ports="22000-22999")}))
        key = home / ".ssh" / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        self.env = {**os.environ, "HOME": str(home), "SLIPWAY_USER": "alice", "SLIPWAY_LEDGER_URL": self.url,
                    "SLIPWAY_HOME": str(home / ".slipway"), "SLIPWAY_READY_TIMEOUT": "40",
                    "SLIPWAY_PULL": "false"}  # never a registry outside this machine

    def launch(self, name: str, image: str = "slipway/vessel:latest") -> subprocess.Popen[str]:
        return subprocess.Popen([SLIPWAY, "vessels", "launch", "--fleet", str(self.fleet), "--name", name,
                                 "--image", image, "--cpus", "1", "--memory", "1G"], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SLIPWAY, "vessels", *args], env=self.env, capture_output=True, text=True,
                              timeout=120, check=False)

    def service(self) -> VesselService:
        return VesselService(Settings(ledger_url=self.url, ssh_home=str(self.home),
                                      data_dir=self.home / ".slipway", pull=False))

    def reconcile(self, *, later: float = 0.0) -> list[Any]:
        """One reconcile, as if ``later`` seconds had passed (a dead launcher's lease runs out)."""
        svc = self.service()
        try:
            return svc.reconcile_fleet(now=utcnow() + timedelta(seconds=later))
        finally:
            svc.close()
            svc.ledger.close()

    def assert_agree(self) -> None:
        """Every container is an active vessel with exactly its allocation rows; nothing is held twice."""
        led = Ledger(self.url)
        try:
            active = {v.name: v for v in led.vessels()}
            alloc = led.allocations()
        finally:
            led.close()
        containers = self.fd.managed()
        for cname, c in containers.items():
            v = active.get(cname.removeprefix("slipway-"))
            assert v is not None, f"{cname} runs but the ledger holds no active vessel"
            assert c["reservation"] == str(v.id) and c["cpuset"] == v.cpuset
        for name, v in active.items():
            assert f"slipway-{name}" in containers, f"{name} is {v.state} in the ledger without a container"
        cpus = [c for c, _ in alloc["cpus"]]
        assert len(cpus) == len(set(cpus))
        held = sorted(f"faulty:{cpu}" for v in active.values() for cpu in v.cpuset.split(",") if cpu)
        assert sorted(cpus) == held

    def launch_ok(self, name: str) -> None:
        p = self.launch(name)
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, out + err
        self.assert_agree()


@pytest.fixture
def site(faultd: FaultyDockerd, home: Path, tmp_path: Path) -> Site:
    return Site(faultd, home, tmp_path)


def _no_traceback(err: str) -> None:
    assert "Traceback" not in err and err.strip().count("\n") < 4, err


@BOTH
def test_daemon_killed_while_the_launch_waits_for_sshd(site: Site) -> None:
    slow = ensure_slow_sshd_image(site.fd, "slipway/vessel:latest")
    p = site.launch("crash-1", slow)
    wait_container(site.fd, "crash-1")
    site.fd.kill()
    _out, err = p.communicate(timeout=120)
    assert p.returncode != 0
    _no_traceback(err)
    assert "host faulty" in err and "cannot be reached" in err
    led = Ledger(site.url)
    v = led.vessel("crash-1")
    # the container may still run (it does with live-restore): what it holds is kept, never given twice
    assert v is not None and v.state == "stopping" and led.allocations()["cpus"] == [("faulty:0", "crash-1")]
    led.close()
    site.fd.restart()
    repairs = site.reconcile()
    assert [(r.vessel, r.action) for r in repairs] == [("crash-1", "mark stopped, release")]
    site.assert_agree()
    assert site.fd.managed() == {}
    site.launch_ok("after-crash")


@LIVE
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_launcher_killed_mid_launch(site: Site, sig: signal.Signals) -> None:
    slow = ensure_slow_sshd_image(site.fd, "slipway/vessel:latest")
    p = site.launch("killed-1", slow)
    wait_container(site.fd, "killed-1")
    p.send_signal(sig)
    _out, err = p.communicate(timeout=60)
    assert p.returncode != 0
    led = Ledger(site.url)
    v = led.vessel("killed-1")
    led.close()
    assert v is not None
    if sig == signal.SIGTERM:  # rolled back like Ctrl-C
        _no_traceback(err)
        assert v.state == "failed" and site.fd.managed() == {}
    else:  # no chance to clean up: the lease runs out and reconcile rolls it back
        assert v.state == "starting"
        assert site.reconcile() == []  # the lease is still live: a launch may be in progress
        relaunch = site.cli("launch", "--fleet", str(site.fleet), "--name", "killed-1", "--cpus", "1",
                            "--memory", "1G", "--image", slow)
        assert relaunch.returncode == 2 and "killed-1 is starting, not running" in relaunch.stderr
        repairs = site.reconcile(later=600)
        assert [(r.vessel, r.action) for r in repairs] == [("killed-1", "mark failed, release")]
    site.assert_agree()
    site.launch_ok("after-kill")


@BOTH
def test_daemon_restart_and_containers_removed_behind_the_ledgers_back(site: Site) -> None:
    site.launch_ok("survivor")
    site.launch_ok("victim")
    site.fd.kill()
    site.fd.restart()  # `restart: unless-stopped` brings them back (or live-restore kept them)
    c = site.fd.client()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and {v["state"] for v in site.fd.managed().values()} != {"running"}:
            time.sleep(0.2)
        restarted = [(r.vessel, r.action) for r in site.reconcile()]  # confirmed, or started again
        assert restarted in ([], [("survivor", "restart container"), ("victim", "restart container")])
        if site.fd.live_restore:
            assert restarted == []  # they kept running through the crash
        assert {n: v["state"] for n, v in site.fd.managed().items()} == {"slipway-survivor": "running",
                                                                         "slipway-victim": "running"}
        assert site.reconcile() == []
        c.containers.get("slipway-victim").remove(force=True)  # gone behind the ledger's back (a CPU vessel)
    finally:
        c.close()
    check = site.cli("reconcile", "--check")
    assert check.returncode == 0 and "victim" in check.stdout and "mark lost, release" in check.stdout
    assert "check: nothing changed" in check.stdout
    done = site.cli("reconcile")
    assert done.returncode == 0 and "victim" in done.stdout
    led = Ledger(site.url)
    v = led.vessel("victim")
    led.close()
    assert v is not None and v.state == "lost"
    site.assert_agree()
    assert site.cli("reconcile").stdout.strip() == "the ledger and the hosts agree"


@LIVE
def test_orphan_containers_are_removed(site: Site) -> None:
    site.launch_ok("kept")
    c = site.fd.client()
    try:  # what a daemon killed between reservation and start leaves: a created container the ledger lacks
        c.containers.create("slipway/vessel:latest", ["/bin/true"], name="slipway-ghost", network_mode="none",
                            labels={"slipway.managed": "true", "slipway.vessel": "ghost", "slipway.owner": "alice",
                                    "slipway.reservation": "999"})
    finally:
        c.close()
    repairs = site.reconcile()
    assert [(r.vessel, r.action) for r in repairs] == [("ghost", "remove container")]
    site.assert_agree()
    site.launch_ok("after-orphan")  # a launch reconciles its host first as well


def _first_use(url: str, i: int, q: mp.Queue) -> None:  # type: ignore[type-arg]
    from slipway.fleet import sync_fleet

    led = Ledger(url)
    try:
        sync_fleet(led, {"pg-01": {"slipway_queue": "q", "slipway_docker_url": "unix:///x", "slipway_cpus": 64,
                                   "slipway_memory_mib": 65536}})
        led.reserve(VesselRequest(f"v{i}", "alice", cpus=1, memory_mib=256, queue="q"), "alice")
        q.put("ok")
    except Exception as exc:
        q.put(repr(exc))
    finally:
        led.close()


def test_32_concurrent_first_launches_on_a_fresh_postgresql_ledger(postgres: Postgres) -> None:
    url = fresh_database(postgres, f"first_use_{os.getpid()}")
    Ledger(url).close()  # migrated, no host yet
    ctx = mp.get_context("fork")
    q: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=_first_use, args=(url, i, q)) for i in range(32)]
    for p in procs:
        p.start()
    got = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
    assert got == ["ok"] * 32
    assert len(usecases.list_vessels(Settings(ledger_url=url)).vessels) == 32
