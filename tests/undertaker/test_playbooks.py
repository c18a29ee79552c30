"""The undertaker's playbooks as an admin and a researcher run them (ansible-playbook, local inventory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import dump_ledger
from tests.undertaker.conftest import Site

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.docker


@pytest.fixture
def play(site: Site, home: Path, tmp_path: Path) -> Any:
    env = {**os.environ, "HOME": str(home), "SLIPWAY_LEDGER_URL": site.ledger.url, "SLIPWAY_USER": "alice",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    extra = {"undertaker_prometheus_url": site.prom.url, "undertaker_slack_webhook_url": site.slack.url,
             "undertaker_admins": ["root-admin"], "undertaker_slack_users": {"alice": "U0ALICE"},
             "undertaker_calendar": {"timezone": "Europe/London", "start_hour": 9, "end_hour": 17}}

    def run(playbook: str, *args: str, check: bool = False, user: str = "alice", **over: Any
            ) -> subprocess.CompletedProcess[str]:
        cmd = ["ansible-playbook", f"playbooks/{playbook}", "-e", json.dumps({**extra, **over}), *args]
        return subprocess.run(cmd + (["--check"] if check else []), cwd=REPO, env={**env, "SLIPWAY_USER": user},
                              capture_output=True, text=True, timeout=300, check=False)

    return run


def test_check_prints_the_decisions_and_changes_nothing_then_a_run_acts(play: Any, site: Site, tiny_image: str
                                                                        ) -> None:
    for name, gpu in (("pb-idle", "GPU-idle-0"), ("pb-busy", "GPU-busy-0")):
        site.vessel(name, [gpu], host="h-pb")  # the run reconciles the fleet with the engines first
        site.container(name, tiny_image)
    before = dump_ledger(site.ledger)
    out = play("undertaker.yml", "-vvv", check=True, undertaker_now="2026-03-09T13:00:00Z")
    assert out.returncode == 0, out.stdout + out.stderr
    for words in ("VESSEL", "ACTION", "IDLE_WORK_H", "REASON", "pb-idle", "warn", "pb-busy", "keep",
                  "in use: GPU busy (60%)"):
        assert words in out.stdout
    assert site.slack.posts == [] and dump_ledger(site.ledger) == before
    assert site.slack.secret not in out.stdout + out.stderr

    out = play("undertaker.yml", "-vvv", undertaker_now="2026-03-09T13:00:00Z")
    assert out.returncode == 0 and "warned alice about pb-idle" in out.stdout and "changed=1" in out.stdout
    assert len(site.slack.posts) == 1 and site.slack.secret not in out.stdout + out.stderr
    again = play("undertaker.yml", undertaker_now="2026-03-09T13:30:00Z")
    assert again.returncode == 0 and "changed=0" in again.stdout and len(site.slack.posts) == 1


def test_bad_configuration_fails_with_the_field_and_does_nothing(play: Any, site: Site, tiny_image: str) -> None:
    site.vessel("pb-cfg", ["GPU-idle-0"])
    site.container("pb-cfg", tiny_image)  # the run reconciles the fleet first: nothing to repair
    before = dump_ledger(site.ledger)
    out = play("undertaker.yml", undertaker_calendar={"timezone": "Mars/Olympus_Mons"},
               undertaker_now="2026-03-10T13:00:00Z")
    assert out.returncode != 0 and "undertaker_calendar.timezone: unknown time zone" in out.stdout
    out = play("undertaker.yml", undertaker_prometheus_url="http://127.0.0.1:9")
    assert out.returncode != 0 and "Prometheus at http://127.0.0.1:9 cannot be reached" in out.stdout
    assert site.slack.posts == [] and dump_ledger(site.ledger) == before


def test_keep_vessel_sets_and_clears_the_flag(play: Any, site: Site) -> None:
    site.vessel("pb-keep", ["GPU-idle-0"])
    out = play("keep_vessel.yml", vessel="pb-keep", hours=24)
    assert out.returncode == 0 and "pb-keep is kept until" in out.stdout, out.stdout
    v = site.ledger.vessel("pb-keep")
    assert v is not None and v.keep_until is not None
    denied = play("keep_vessel.yml", vessel="pb-keep", hours=24, user="mallory")
    assert denied.returncode != 0 and "mallory may not keep pb-keep" in denied.stdout
    cleared = play("keep_vessel.yml", vessel="pb-keep", keep=False)
    assert cleared.returncode == 0 and "pb-keep has no keep flag" in cleared.stdout
    v = site.ledger.vessel("pb-keep")
    assert v is not None and v.keep_until is None


def test_install_undertaker_manages_one_cron_entry_idempotently(play: Any, tmp_path: Path) -> None:
    cron = tmp_path / "cron.d" / "slipway-undertaker"
    cron.parent.mkdir()
    opts = {"undertaker_cron_file": str(cron), "undertaker_lock_file": str(tmp_path / "u.lock"),
            "undertaker_log_file": str(tmp_path / "u.log")}
    out = play("install_undertaker.yml", check=True, **opts)
    assert out.returncode == 0 and not cron.exists()
    out = play("install_undertaker.yml", **opts)
    assert out.returncode == 0 and "changed=1" in out.stdout, out.stdout
    line = [x for x in cron.read_text().splitlines() if x and not x.startswith("#")]
    assert len(line) == 1
    assert line[0].startswith("*/30 * * * * root cd ")
    assert f"flock -n {tmp_path / 'u.lock'} " in line[0] and "playbooks/undertaker.yml" in line[0]
    assert "changed=0" in play("install_undertaker.yml", **opts).stdout
    out = play("install_undertaker.yml", undertaker_cron_state="absent", **opts)
    assert out.returncode == 0 and "playbooks/undertaker.yml" not in (cron.read_text() if cron.exists() else "")

    # the job's lock: while one run holds it, the next one skips at once instead of overlapping
    holder = subprocess.Popen(["flock", str(tmp_path / "u.lock"), "sleep", "5"])
    try:
        time.sleep(0.3)
        second = subprocess.run(["flock", "-n", str(tmp_path / "u.lock"), "true"], check=False, timeout=5)
        assert second.returncode == 1
    finally:
        holder.kill()
        holder.wait()
