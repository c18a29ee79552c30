"""README command 1 (scripts/up.sh) on this machine: set-up is idempotent, and it ends with a vessel that
``ssh <vessel>`` reaches. Docker is the suite's dockerd (DOCKER_HOST), HOME a private one without a key."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from slipway.ledger import Ledger
from tests.harness.dockerd import Dockerd
from tests.integration.conftest import ssh

REPO = Path(__file__).resolve().parents[2]


def test_up_sh_ends_with_a_reachable_vessel(home: Path, dockerd: Dockerd, vessel_image: str, tmp_path: Path) -> None:
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    env = {**os.environ, "HOME": str(home), "DOCKER_HOST": dockerd.url, "SLIPWAY_LEDGER_URL": ledger,
           "ANSIBLE_NOCOLOR": "1"}
    out = subprocess.run(["bash", "scripts/up.sh", "-e", "memory=1"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=900, check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "creating ~/.ssh/id_ed25519" in out.stderr  # the fresh HOME had no key
    m = re.search(r"Connect: ssh (\S+)", out.stdout)
    assert m, out.stdout[-2000:]
    vessel = m.group(1)
    done = ssh(home, home / ".ssh" / "id_ed25519", vessel, "python3 -c 'print(6*7)'")
    assert done.stdout.strip() == "42", done.stderr
    stop = subprocess.run([str(REPO / ".venv/bin/ansible-playbook"), "playbooks/stop_vessel.yml", "-e",
                           f"vessel={vessel}"], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert stop.returncode == 0, stop.stdout[-2000:]
    assert Ledger(ledger).vessels() == []
