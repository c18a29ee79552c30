"""Full disks: under $HOME (the SSH entries) and under the ledger, on small tmpfs mounts the test makes.

The Docker Engine and Tailscale are the fakes of tests/unit/test_launch.py (the disk is the fault here);
the SSH entries and the SQLite ledger are the real ones.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from slipway.config import Settings
from slipway.errors import LedgerError, SlipwayError
from slipway.ledger import Ledger, utcnow
from slipway.network.sshconfig import SshConfig
from slipway.vessels import VesselService
from tests.unit.test_launch import HOSTS, FakeEngine, FakeTailscale, req


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(where: Path) -> Path:
    """Write until the filesystem is full; returns the filler (delete it to make room again)."""
    filler = where / "filler"
    with contextlib.suppress(OSError), open(filler, "wb") as fh:
        while True:
            fh.write(b"\0" * 4096)
            fh.flush()
    return filler


def service(ledger_url: str, home: Path, data: Path, log: list[str]) -> tuple[VesselService, FakeEngine]:
    engine = FakeEngine(log)
    led = Ledger(ledger_url)
    led.sync_hosts(HOSTS)
    svc = VesselService(Settings(data_dir=data, ssh_home=str(home)), ledger=led,
                        engine_factory=lambda url, host: engine, tailscale_factory=lambda s: FakeTailscale(log),
                        ssh=SshConfig(home))
    return svc, engine


def test_a_full_disk_under_home_is_one_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with tmpfs(home / ".ssh", "64k") as ssh_dir:
        svc, engine = service(f"sqlite:///{tmp_path / 'ledger.db'}", home, tmp_path / "data", [])
        fill(ssh_dir)
        with pytest.raises(SlipwayError) as err:
            svc.launch(req(name="v1"))
        text = str(err.value)
        assert "ssh entries: cannot write" in text and "No space left on device" in text and "\n" not in text
        assert [p.name for p in ssh_dir.rglob("*") if p.name.startswith(".") and p.name != ".lock"] == []  # no temp
        v = svc.ledger.vessel("v1")
        assert v is not None and v.state == "failed"
        assert svc.ledger.allocations() == {"gpus": [], "cpus": [], "ports": []} and engine.containers == {}
        svc.ledger.close()


def test_a_full_ledger_disk_after_the_reservation_is_repaired_by_the_next_reconcile(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ledger", "2m") as ldir:
        url = f"sqlite:///{ldir / 'ledger.db'}"
        svc, engine = service(url, tmp_path / "home", tmp_path / "data", [])
        (tmp_path / "home" / ".ssh").mkdir(parents=True)
        real_create = engine.create

        def create_then_fill(spec, files):  # type: ignore[no-untyped-def]
            cid = real_create(spec, files)
            fill(ldir)  # the disk fills up right after the reservation and the container were made
            return cid

        engine.create = create_then_fill  # type: ignore[method-assign]
        with pytest.raises(LedgerError) as err:
            svc.launch(req(name="v1"))
        assert "database or disk is full; nothing was changed" in str(err.value)
        assert engine.containers == {}  # the rollback still removed the container
        (ldir / "filler").unlink()  # room again
        led = Ledger(url)
        v = led.vessel("v1")
        assert v is not None and v.state == "starting" and led.allocations()["cpus"]  # held: never given twice
        later = svc.reconcile_fleet(now=utcnow() + timedelta(minutes=10))  # its launcher's lease ran out
        assert [(r.vessel, r.action) for r in later] == [("v1", "mark failed, release")]
        assert led.allocations() == {"gpus": [], "cpus": [], "ports": []}
        engine.create = real_create  # type: ignore[method-assign]
        assert svc.launch(req(name="v2")).vessel["state"] == "running"
        led.close()
        svc.ledger.close()


LAUNCHER = """
import sys, time
from pathlib import Path
from slipway.config import Settings
from slipway.ledger import Ledger
from slipway.vessels import VesselService
from tests.unit.test_launch import HOSTS, FakeEngine, FakeSsh, FakeTailscale, req

url, step, flag, data = sys.argv[1:5]


class Hanging(FakeEngine):
    def _maybe_fail(self, what: str) -> None:
        super()._maybe_fail(what)
        if what == step:
            Path(flag).write_text(what)
            time.sleep(600)  # killed here


log: list[str] = []
led = Ledger(url)
led.sync_hosts(HOSTS)
engine = Hanging(log)
svc = VesselService(Settings(data_dir=Path(data)), ledger=led, engine_factory=lambda u, h: engine,
                    tailscale_factory=lambda s: FakeTailscale(log), ssh=FakeSsh(log))
svc.launch(req(name="v1"))
"""


@pytest.mark.parametrize("step", ["create", "start", "wait"],
                         ids=["after-the-reservation", "after-create", "after-start"])
def test_a_launcher_killed_at_each_step_is_rolled_back_by_reconcile(tmp_path: Path, step: str) -> None:
    import os
    import signal
    import sys
    import time

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    flag = tmp_path / "reached"
    repo = Path(__file__).resolve().parents[2]
    p = subprocess.Popen([sys.executable, "-c", LAUNCHER, url, step, str(flag), str(tmp_path / "data")], cwd=repo,
                         env={**os.environ, "PYTHONPATH": str(repo)})
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert p.poll() is None and time.monotonic() < deadline, "the launcher never reached its step"
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    led = Ledger(url)
    v = led.vessel("v1")
    assert v is not None and v.state == "starting" and led.allocations()["cpus"]
    svc, _engine = service(url, tmp_path / "home", tmp_path / "data", [])
    assert svc.reconcile_fleet() == []  # the lease is still live: it might be a launch in progress
    later = svc.reconcile_fleet(now=utcnow() + timedelta(minutes=10))
    assert [(r.vessel, r.action) for r in later] == [("v1", "mark failed, release")]
    assert led.allocations() == {"gpus": [], "cpus": [], "ports": []}
    led.close()
    svc.ledger.close()
