"""End to end on the real dockerd: `slipway login` against the real provider → launch through the server →
ssh into the vessel → a researcher may not stop or keep another's vessel, an admin may; events carry the
token's identity; the cached login refreshes."""

from __future__ import annotations

import contextlib
import json
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from slipway.auth.errors import Unauthenticated
from slipway.errors import PermissionDenied, ValidationError
from slipway.server import client as sc
from tests.harness.dockerd import Dockerd
from tests.harness.oidc import CLIENT_SECRET, Provider
from tests.integration.conftest import FAKE_GPUS, fleet_host
from tests.server.conftest import Api, make_api, ssh_keypair, team_oidc

pytestmark = pytest.mark.docker


def drive_login(provider: Provider, sub: str) -> Callable[[str], None]:
    """What the user does in the browser: submit the provider's form, follow the redirect to the CLI."""
    def open_url(url: str) -> None:
        r = requests.post(url, data={"sub": sub}, allow_redirects=False, timeout=10)
        assert r.status_code in (302, 303), r.text[:300]
        assert requests.get(r.headers["Location"], timeout=10).status_code == 200
    return open_url


@pytest.fixture
def fleet_api(tmp_path: Path, provider: Provider, id_tokens: Callable[[str], str], dockerd: Dockerd,
              vessel_image: str) -> Iterator[Api]:
    api, served = make_api(tmp_path, oidc=team_oidc(provider, opaque_via_userinfo=True), tokens=id_tokens)
    api.svc.sync_fleet({"local": fleet_host(dockerd.url, gpus=FAKE_GPUS)})
    yield api
    for v in api.svc.ledger.vessels():
        with contextlib.suppress(Exception):  # best effort: leave no container behind
            api.svc.stop(v.name, actor=v.owner)
    served.stop()
    api.svc.close()
    api.svc.ledger.close()


def ssh(config: Path, key: Path, vessel: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ssh", "-F", str(config), "-i", str(key), "-o", "BatchMode=yes", "-o",
                           "ConnectTimeout=10", vessel, command], capture_output=True, text=True, timeout=60,
                          check=False)


def test_login_launch_ssh_stop(fleet_api: Api, provider: Provider, id_tokens: Callable[[str], str],
                               tmp_path: Path, dockerd: Dockerd) -> None:
    api = fleet_api
    cache = sc.TokenCache(tmp_path / "alice-config" / "slipway" / "tokens.json")
    # slipway login (the provider's form driven as the user would)
    res = sc.login(api.url, open_url=drive_login(provider, "alice"), cache=cache, client_secret=CLIENT_SECRET)
    assert (res.name, res.roles) == ("alice", ("researcher",))
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    alice = sc.Client(api.url, cache=cache)

    key = ssh_keypair(tmp_path / "alice-keys")
    preview = alice.launch(name="al-1", gpus=1, cpus=1, memory="2G", check=True)
    assert preview["check"] and preview["placement"]["host"] == "local"
    out = alice.launch(name="al-1", gpus=1, cpus=1, memory="2G", ssh_public_key=key.with_suffix(".pub").read_text())
    v = out["vessel"]
    assert v["state"] == "running" and v["owner"] == "alice" and v["details"]
    assert v["ssh_entry"]["user"] == "alice" and v["ssh_entry"]["host_key"].startswith("ssh-ed25519 ")
    # ssh <vessel> from the client machine, with the entry the server's answer carries
    client_home = tmp_path / "alice-home"
    assert sc.write_ssh_entry(v, identity_file=str(key), home=client_home)
    r = ssh(client_home / ".ssh" / "slipway" / "config", key, "al-1", "id -un; echo $NVIDIA_VISIBLE_DEVICES")
    assert r.returncode == 0, r.stderr
    user, gpus = r.stdout.split()
    assert user == "alice" and gpus == v["gpu_uuids"][0]

    # the fleet shows who holds the GPU
    [host] = alice.hosts()
    held = [g for g in host["gpus"] if g["vessel"]]
    assert [(g["vessel"], g["owner"]) for g in held] == [("al-1", "alice")]

    # bob (a researcher) may see it but not its details, and may not stop or keep it
    bob = sc.Client(api.url, token=id_tokens("bob"))
    seen = bob.status("al-1")
    assert seen["details"] is False and "ssh_entry" not in seen and "ssh_config" not in seen
    with pytest.raises(PermissionDenied, match="belongs to alice"):
        bob.stop("al-1")
    with pytest.raises(PermissionDenied, match="belongs to alice"):
        bob.keep("al-1", hours=2)
    # the owner may keep it
    kept = alice.keep("al-1", hours=2)
    assert kept["changed"] and kept["after"]["keep_until"]

    # the cached login refreshes when it expires (the refresh token at the provider's token endpoint)
    data = json.loads(cache.path.read_text())
    entry = data[api.url]
    old = entry["bearer"]
    entry["expires_at"] = 0
    cache.put(api.url, entry)
    assert alice.whoami()["name"] == "alice"
    assert cache.get(api.url)["bearer"] != old  # type: ignore[index]
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600

    # an admin may stop it
    carol = sc.Client(api.url, token=id_tokens("carol"))
    stopped = carol.stop("al-1", reason="maintenance")
    assert stopped["changed"] and "maintenance" in stopped["summary"]
    c = dockerd.client()
    try:
        assert not c.containers.list(all=True, filters={"name": "slipway-al-1"})
    finally:
        c.close()

    # every event carries the authenticated identity, not a typed name
    evs = {(e["action"], e["actor"], e["subject"], e["email"]) for e in carol.events(vessel="al-1")}
    assert ("reserve", "alice", "alice", "alice@example.com") in evs
    assert ("launch", "alice", "alice", "alice@example.com") in evs
    assert ("keep", "alice", "alice", "alice@example.com") in evs
    assert ("stopped", "carol", "carol", "carol@example.com") in evs
    assert not any(a == "bob" for _, a, _, _ in evs)


def test_not_logged_in_and_forged_owner(fleet_api: Api, tmp_path: Path, id_tokens: Callable[[str], str]) -> None:
    cache = sc.TokenCache(tmp_path / "nobody" / "tokens.json")
    with pytest.raises(Unauthenticated, match="slipway login"):
        sc.Client(fleet_api.url, cache=cache).vessels()
    # the owner is the token's user: a body naming another is refused, with a clear error
    bob = sc.Client(fleet_api.url, token=id_tokens("bob"))
    with pytest.raises(ValidationError, match="has no effect through the server") as e:
        bob.launch(name="x-1", user="alice", check=True)
    assert e.value.field == "user" and e.value.got == "alice"
    out: dict[str, Any] = bob.launch(name="x-1", check=True)
    assert out["vessel"]["owner"] == "bob"


def test_the_cli_goes_through_the_server_once_configured(fleet_api: Api, id_tokens: Callable[[str], str],
                                                         tmp_path: Path) -> None:
    """`slipway vessels ...` with SLIPWAY_SERVER_URL (and a token): launch, ssh, list, stop, all through the
    server's API; a caller-set SLIPWAY_USER is refused in team mode."""
    import os
    import sys

    home = tmp_path / "cli-home"
    key = ssh_keypair(home / ".ssh")
    env = {**os.environ, "HOME": str(home), "SLIPWAY_SERVER_URL": fleet_api.url, "SLIPWAY_TOKEN": id_tokens("alice"),
           "SLIPWAY_LEDGER_URL": "sqlite:////nonexistent/never-used.db"}
    env.pop("SLIPWAY_USER", None)
    slipway = str(Path(sys.executable).parent / "slipway")

    def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([slipway, "vessels", *args], env={**env, **extra}, capture_output=True, text=True,
                              timeout=180, check=False)

    out = cli("launch", "--name", "cli-1", "--memory", "1G")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Vessel cli-1 is running" in out.stdout
    r = ssh(home / ".ssh" / "slipway" / "config", key, "cli-1", "id -un")
    assert r.returncode == 0 and r.stdout.strip() == "alice", r.stderr
    listed = cli("list")
    assert listed.returncode == 0 and "cli-1" in listed.stdout and "alice" in listed.stdout
    refused = cli("stop", "cli-1", SLIPWAY_USER="carol")
    assert refused.returncode == 2 and "SLIPWAY_USER: has no effect through the server" in refused.stderr
    stopped = cli("stop", "cli-1")
    assert stopped.returncode == 0 and "cli-1 stopped" in stopped.stdout, stopped.stderr
    assert "cli-1" not in (home / ".ssh" / "slipway" / "config").read_text()
    assert [e.actor_subject for e in fleet_api.svc.ledger.events(vessel="cli-1") if e.action == "stopped"] == ["alice"]


def test_the_playbooks_go_through_the_server_with_slipway_server_url(fleet_api: Api, id_tokens: Callable[[str], str],
                                                                      tmp_path: Path) -> None:
    import os
    import sys

    repo = Path(__file__).resolve().parents[2]
    home = tmp_path / "pb-home"
    key = ssh_keypair(home / ".ssh")
    env = {**os.environ, "HOME": str(home), "SLIPWAY_TOKEN": id_tokens("alice"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("SLIPWAY_USER", None)

    def play(playbook: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ansible-playbook", f"playbooks/{playbook}", "-e", f"slipway_server_url={fleet_api.url}",
                               *extra], cwd=repo, env=env, capture_output=True, text=True, timeout=300, check=False)

    out = play("launch_vessel.yml", "-e", "vessel=pb-1", "-e", "memory=1G")
    assert out.returncode == 0, out.stdout[-3000:]
    assert fleet_api.svc.ledger.vessel("pb-1").owner == "alice"  # type: ignore[union-attr]
    r = ssh(home / ".ssh" / "slipway" / "config", key, "pb-1", "id -un")
    assert r.returncode == 0 and r.stdout.strip() == "alice", r.stderr
    stopped = play("stop_vessel.yml", "-e", "vessel=pb-1")
    assert stopped.returncode == 0 and "pb-1 stopped" in stopped.stdout, stopped.stdout[-2000:]
