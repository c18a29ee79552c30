"""The playbooks as a researcher runs them, on the local inventory (the embedded default)."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from slipway.ledger import Ledger
from tests.harness.dockerd import Dockerd
from tests.harness.tailscale_standin import StandIn
from tests.integration.conftest import dump_ledger, ssh

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.docker


@pytest.fixture
def play(home: Path, dockerd: Dockerd, vessel_image: str, user_key: Path, tmp_path: Path) -> Any:
    ledger_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    env = {**os.environ, "HOME": str(home), "DOCKER_HOST": dockerd.url, "SLIPWAY_LEDGER_URL": ledger_url,
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_FORCE_COLOR": "0", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "ANSIBLE_CALLBACK_RESULT_FORMAT": "json", "ANSIBLE_STDOUT_CALLBACK": "default"}

    def run(playbook: str, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        cmd = ["ansible-playbook", f"playbooks/{playbook}", *args] + (["--check"] if check else [])
        return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)

    run.ledger_url = ledger_url  # type: ignore[attr-defined]
    run.env = env  # type: ignore[attr-defined]
    yield run
    led = Ledger(ledger_url)
    for v in led.vessels():
        run("stop_vessel.yml", "-e", f"vessel={v.name}")
    led.close()


def ledger_state(url: str) -> tuple[list[str], dict[str, list[tuple[str, str]]]]:
    led = Ledger(url)
    try:
        return [v.name for v in led.vessels()], led.allocations()
    finally:
        led.close()


def test_launch_connect_list_status_stop(play: Any, home: Path, user_key: Path, dockerd: Dockerd) -> None:
    out = play("launch_vessel.yml", "-e", "vessel=pb-1", "-e", "memory=2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Vessel pb-1 is running on localhost" in out.stdout and "ssh pb-1" in out.stdout
    assert ssh(home, user_key, "pb-1", "echo ok").stdout.strip() == "ok"

    again = play("launch_vessel.yml", "-e", "vessel=pb-1", "-e", "memory=2")
    assert again.returncode == 0 and "changed=0" in again.stdout  # idempotent

    listed = play("list_vessels.yml")
    assert listed.returncode == 0
    for col in ("NAME", "OWNER", "HOST", "GPUS", "STATE", "AGE", "ADDRESS"):
        assert col in listed.stdout
    assert "pb-1" in listed.stdout and "running" in listed.stdout

    status = play("vessel_status.yml", "-e", "vessel=pb-1")
    assert status.returncode == 0 and "pb-1: running on localhost (container: running)" in status.stdout

    stopped = play("stop_vessel.yml", "-e", "vessel=pb-1")
    assert stopped.returncode == 0 and "pb-1 stopped" in stopped.stdout
    assert ledger_state(play.ledger_url) == ([], {"gpus": [], "cpus": [], "ports": []})
    assert "pb-1" not in (home / ".ssh" / "slipway" / "config").read_text()


def test_gpus_1_on_a_machine_without_gpus_says_why(play: Any) -> None:
    out = play("launch_vessel.yml", "-e", "gpus=1")
    assert out.returncode != 0
    assert "gpus: no host in queue any has 1 GPU: localhost has 0" in out.stdout


@pytest.mark.parametrize(("args", "words"), [
    (["-e", "gpus=-1"], "gpus: out of range"),
    (["-e", "gpus=abc"], "gpus: must be a whole number (got 'abc')"),
    (["-e", "gpus=99"], "gpus: no host in queue any has 99 GPUs"),
    (["-e", "memory=100000"], "memory: no host in queue any has 100000 GiB"),
    (["-e", "queue=h100"], "queue: unknown queue 'h100'; allowed: any, local"),
    (["-e", "image=slipway/nope:0"], "image: image 'slipway/nope:0' does not exist on host localhost"),
    (["-e", "cpus=0"], "cpus: out of range"),
    (["-e", "vessel=Bad_Name"], "name: not a valid vessel name"),
])
def test_bad_input_fails_cleanly_and_leaves_nothing(play: Any, dockerd: Dockerd, args: list[str],
                                                     words: str) -> None:
    out = play("launch_vessel.yml", *args)
    assert out.returncode != 0
    assert words in out.stdout, out.stdout[-2000:]
    assert ledger_state(play.ledger_url) == ([], {"gpus": [], "cpus": [], "ports": []})
    c = dockerd.client()
    try:
        assert c.containers.list(all=True, filters={"label": "slipway.managed=true"}) == []
    finally:
        c.close()


def test_duplicate_name_of_another_user(play: Any, home: Path) -> None:
    assert play("launch_vessel.yml", "-e", "vessel=taken", "-e", "memory=1").returncode == 0
    other_key = (home / ".ssh" / "id_ed25519.pub").read_text()
    out = play("launch_vessel.yml", "-e", "vessel=taken", "-e", "user=bob", "-e", '{"slipway_admins": ["root"]}',
               "-e", f"ssh_public_key='{other_key.strip()}'")
    assert out.returncode != 0
    assert "name: a vessel named 'taken' already exists and belongs to" in out.stdout, out.stdout[-1500:]
    assert ledger_state(play.ledger_url)[0] == ["taken"]


def test_check_mode_shows_placement_and_reserves_nothing(play: Any) -> None:
    out = play("launch_vessel.yml", "-e", "vessel=dry", check=True)
    assert out.returncode == 0, out.stdout
    assert "would launch dry on localhost" in out.stdout
    assert ledger_state(play.ledger_url) == ([], {"gpus": [], "cpus": [], "ports": []})


def test_secrets_never_reach_output_at_any_verbosity(play: Any, tailscale: StandIn, ts_image: Any) -> None:
    image = ts_image(tailscale.url)
    api_key = tailscale.state.api_key
    # as from a vault: the key is in a vars file, not on the command line
    secrets_file = Path(play.env["HOME"]) / "vault.yml"
    secrets_file.write_text(json.dumps({"slipway_tailscale_api_key": api_key,
                                        "slipway_tailscale_api_url": tailscale.url}))
    out = play("launch_vessel.yml", "-vvvv", "-e", "vessel=sec-1", "-e", f"image={image}",
               "-e", f"@{secrets_file}", "-e", "memory=1")
    assert out.returncode == 0, out.stdout[-3000:]
    [key] = tailscale.state.keys.values()
    token_file = Path(play.env["HOME"]) / ".local/share/slipway/vessels/sec-1.jupyter-token"
    token = token_file.read_text().strip()
    text = out.stdout + out.stderr
    for secret in (api_key, key["key"], token):
        assert secret not in text
    assert all(s not in dump_ledger(Ledger(play.ledger_url)) for s in (api_key, key["key"], token))
    stop = play("stop_vessel.yml", "-vvvv", "-e", "vessel=sec-1", "-e", f"@{secrets_file}")
    assert stop.returncode == 0 and api_key not in stop.stdout + stop.stderr
    assert tailscale.state.devices == {} and tailscale.state.keys == {}
    assert json.dumps(tailscale.state.calls).count("DELETE") == 2


def test_stopping_a_vessel_that_does_not_exist_fails_clearly(play: Any) -> None:
    out = play("stop_vessel.yml", "-e", "vessel=nope")
    assert out.returncode != 0 and "no vessel named 'nope'" in out.stdout, out.stdout[-2000:]
    cli = subprocess.run([str(Path(sys.executable).parent / "slipway"), "vessels", "stop", "nope"],
                         env=play.env, capture_output=True, text=True, check=False)
    assert cli.returncode == 5 and "error: no vessel named 'nope' (list them with `slipway vessels list`)" in cli.stderr


def test_cli_check_lists_and_ended_vessels(play: Any) -> None:
    slipway = str(Path(sys.executable).parent / "slipway")
    env = play.env
    launched = play("launch_vessel.yml", "-e", "memory=1")  # also records the local host in the ledger
    assert launched.returncode == 0, launched.stdout[-2000:]
    check = subprocess.run([slipway, "vessels", "launch", "--check", "--memory", "1"], env=env, capture_output=True,
                           text=True, check=False)
    me = os.environ.get("SLIPWAY_USER") or getpass.getuser()
    # the name the launch would get: <user>-<lowest free n> (the playbook's launch took <user>-1)
    assert check.returncode == 0 and f"would launch {me}-2 on localhost" in check.stdout, check.stdout + check.stderr
    name = Ledger(play.ledger_url).vessels()[0].name
    listed = subprocess.run([slipway, "vessels", "list"], env=env, capture_output=True, text=True, check=True)
    assert "CPUS" in listed.stdout and "CPUSET" in listed.stdout and name in listed.stdout
    subprocess.run([slipway, "vessels", "stop", name, "--reason", "done for today"], env=env, check=True,
                   capture_output=True)
    ended = subprocess.run([slipway, "vessels", "list", "--all"], env=env, capture_output=True, text=True, check=True)
    assert "ENDED" in ended.stdout and "done for today" in ended.stdout and "stopped" in ended.stdout


def test_a_private_key_given_as_the_public_key_is_refused_and_never_echoed(play: Any, tmp_path: Path) -> None:
    key = tmp_path / "oops"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    private = key.read_text()
    body = "".join(private.splitlines()[1:-1])  # the secret part, without the BEGIN/END lines
    vars_file = tmp_path / "oops.yml"
    vars_file.write_text(json.dumps({"ssh_public_key": private}))
    out = play("launch_vessel.yml", "-vvvv", "-e", "vessel=pk-1", "-e", f"@{vars_file}")
    assert out.returncode != 0 and "ssh_public_key: not an OpenSSH public key line" in out.stdout
    text = out.stdout + out.stderr
    assert body[:40] not in text and body[-40:] not in text
    assert Ledger(play.ledger_url).vessels(active=False) == []
