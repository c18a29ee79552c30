"""playbooks/site.yml around the roles: the validation play, and the ledger learning each GPU host's GPUs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from slipway.ledger import Ledger
from tests.harness.procs import REPO
from tests.roles.conftest import VENV_BIN, ansible_env

EXAMPLE = ["-i", "inventory/example", "--vault-password-file", "inventory/example/vault-password.example"]

FAKE_NVIDIA_SMI = """#!/bin/sh
# Stand-in for nvidia-smi on a host with {n} {model} (test only): answers gpu_facts' query.
cat <<'CSV'
{rows}
CSV
"""


def playbook(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "ansible-playbook"), *args], cwd=REPO, env=ansible_env(home),
                          capture_output=True, text=True, check=False)


def write_inventory(path: Path, inv: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(inv))
    return path


def fleet(**gpu_host_vars: Any) -> dict[str, Any]:
    g1 = {"slipway_queue": "a100", "slipway_docker_url": "ssh://slipway@10.0.0.1", "slipway_address": "10.0.0.1",
          **gpu_host_vars}
    return {"all": {"children": {
        "slipway_hosts": {"children": {"gpu_hosts": {"hosts": {"g1": g1}}}},
        "monitoring": {"hosts": {"mon-01": {}}}}}}


def test_example_inventory_validates(tmp_path: Path) -> None:
    proc = playbook([*EXAMPLE, "playbooks/validate_inventory.yml"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    for line in ("a100: gpu-a100-01", "rtx3090: gpu-3090-03", "cpu: cpu-01"):
        assert line in proc.stdout


def test_example_inventory_shape(tmp_path: Path) -> None:
    proc = subprocess.run([str(VENV_BIN / "ansible-inventory"), *EXAMPLE, "--list"], cwd=REPO,
                          env=ansible_env(tmp_path), capture_output=True, text=True, check=True)
    import json
    inv = json.loads(proc.stdout)
    hv = inv["_meta"]["hostvars"]
    assert set(inv["gpu_hosts"]["children"]) == {"gpu_a100", "gpu_rtx3090"}
    assert "gpu_hosts" in inv["slipway_hosts"]["children"]
    assert {h: hv[h]["slipway_queue"] for h in ("gpu-a100-01", "gpu-3090-01", "cpu-01")} == {
        "gpu-a100-01": "a100", "gpu-3090-01": "rtx3090", "cpu-01": "cpu"}
    assert inv["kvm_hosts"]["hosts"] == ["kvm-01"] and inv["monitoring"]["hosts"] == ["mon-01"]
    # secrets come from the encrypted vault, decrypted with the documented throwaway password
    assert hv["gpu-a100-01"]["vault_slipway_tailscale_auth_key"].startswith("tskey-auth-")


@pytest.mark.parametrize(("case", "inv", "message"), [
    # the core's rules (slipway.fleet), the same a launch applies: host, variable, what is allowed
    ("no queue", fleet(slipway_queue=None), r"hosts\.g1\.slipway_queue: every vessel host needs a queue"),
    ("bad queue", fleet(slipway_queue="A100 SXM"), r"hosts\.g1\.slipway_queue: .*\(got 'A100 SXM'\); allowed: lower case"),
    ("bad docker url", fleet(slipway_docker_url="gpu-01"),
     r"hosts\.g1\.slipway_docker_url: not a Docker Engine URL \(got 'gpu-01'\); allowed: unix://"),
    ("bad port range", fleet(slipway_port_range="30000-20000"),
     r"hosts\.g1\.slipway_port_range: needs at least two ports \(got '30000-20000'\); allowed: LOW < HIGH"),
    ("privileged ports", fleet(slipway_port_range="80-90"),
     r"hosts\.g1\.slipway_port_range: out of range \(got '80'\); allowed: a whole number from 1024 to 65535"),
    ("bad network mode", fleet(slipway_network_mode="macvlan"),
     r"hosts\.g1\.slipway_network_mode: unknown network mode \(got 'macvlan'\); allowed: host, bridge"),
    ("gpu host outside", {"all": {"children": {
        "slipway_hosts": {"hosts": {"c1": fleet()["all"]["children"]["slipway_hosts"]["children"]["gpu_hosts"]["hosts"]["g1"]}},
        "gpu_hosts": {"hosts": {"g2": {}}}, "monitoring": {"hosts": {"m": {}}}}}},
     r"g2 in gpu_hosts but not in slipway_hosts: make gpu_hosts a child of slipway_hosts"),
    ("no monitoring", {"all": {"children": {"slipway_hosts": fleet()["all"]["children"]["slipway_hosts"]}}},
     r"no host in group monitoring"),
    ("bad guest", {"all": {"children": {**fleet()["all"]["children"], "kvm_hosts": {"hosts": {"k1": {
        "kvm_host_guests": [{"name": "vm1", "vcpus": 2, "memory_mib": 128, "disk_gb": 10}]}}}}}},
     r"k1: kvm_host_guests entry vm1 needs name"),
])
def test_validation_names_host_variable_and_fix(case: str, inv: dict[str, Any], message: str, tmp_path: Path) -> None:
    def drop_none(d: Any) -> Any:
        return {k: drop_none(v) for k, v in d.items() if v is not None} if isinstance(d, dict) else d
    path = write_inventory(tmp_path / "hosts.yml", drop_none(inv))
    proc = playbook(["-i", str(path), "playbooks/site.yml"], tmp_path)
    assert proc.returncode != 0, f"{case}: site.yml accepted a bad inventory"
    text = re.sub(r"\s+", " ", proc.stdout)
    assert re.search(message, text), f"{case}: expected {message!r} in:\n{proc.stdout[-3000:]}"
    # it stopped before touching any host: only the validation play ran
    assert "PLAY [Base of every managed host]" not in proc.stdout


def _fake_smi(path: Path, model: str, memory: int, uuids: list[str]) -> Path:
    rows = "\n".join(f"{i}, {u}, {model}, {memory}, 00000000:{0x17 + i:02X}:00.0" for i, u in enumerate(uuids))
    path.write_text(FAKE_NVIDIA_SMI.format(n=len(uuids), model=model, rows=rows))
    path.chmod(0o755)
    return path


def test_site_records_each_gpu_hosts_gpus_in_the_ledger(ledger_url: str, tmp_path: Path) -> None:
    a100 = [f"GPU-a100000{i}-0000-0000-0000-00000000000{i}" for i in range(4)]
    r3090 = ["GPU-3090aaaa-0000-0000-0000-000000000001", "GPU-3090aaaa-0000-0000-0000-000000000002"]
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inv = {"all": {"children": {
        "slipway_hosts": {
            "vars": {**local, "slipway_address": "127.0.0.1", "slipway_docker_url": "unix:///var/run/docker.sock"},
            "children": {"gpu_hosts": {"hosts": {
                "gpu-a100-01": {"slipway_queue": "a100", "slipway_port_range": "21000-21999",
                                "slipway_nvidia_smi": str(_fake_smi(tmp_path / "smi-a100", "NVIDIA A100-SXM4-80GB", 81920, a100))},
                "gpu-3090-01": {"slipway_queue": "rtx3090",
                                "slipway_nvidia_smi": str(_fake_smi(tmp_path / "smi-3090", "NVIDIA GeForce RTX 3090", 24576, r3090))},
            }}}},
        "monitoring": {"hosts": {"mon-01": {}}},
        "controller": {"hosts": {"localhost": local}}}}}
    path = write_inventory(tmp_path / "hosts.yml", inv)
    args = ["-i", str(path), "playbooks/site.yml", "--tags", "ledger", "-e", f"slipway_ledger_url={ledger_url}"]
    first = playbook(args, tmp_path)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert "gpu-a100-01 (a100): 4 GPU(s) NVIDIA A100-SXM4-80GB" in first.stdout

    ledger = Ledger(ledger_url)
    try:
        h = ledger.host("gpu-a100-01")
        assert h is not None and h.queue == "a100" and (h.port_min, h.port_max) == (21000, 21999)
        assert [g.uuid for g in h.gpus] == a100
        assert {g.model for g in h.gpus} == {"NVIDIA A100-SXM4-80GB"} and h.gpus[0].memory_mib == 81920
        h2 = ledger.host("gpu-3090-01")
        assert h2 is not None and [g.uuid for g in h2.gpus] == r3090 and h2.queue == "rtx3090"
    finally:
        ledger.close()

    again = playbook(args, tmp_path)
    assert again.returncode == 0
    recap = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s*:.*?changed=(\d+)", again.stdout, re.M)}
    assert recap.get("gpu-a100-01") == 0 and recap.get("gpu-3090-01") == 0, again.stdout[-2000:]
    assert ledger_url not in first.stdout + first.stderr  # the ledger URL is no_log


@pytest.mark.parametrize(("role", "bad", "message"), [
    ("docker_engine", {"docker_engine_source": "snap"},
     r"value of docker_engine_source must be one of: distribution, docker, got: snap"),
    ("nvidia_driver", {"nvidia_driver_kernel_modules": "custom"},
     r"value of nvidia_driver_kernel_modules must be one of: precompiled, dkms, got: custom"),
    ("dcgm_exporter", {"dcgm_exporter_counters": [["DCGM_FI_DEV_FB_USED", "gauge", "used"]]},
     r"dcgm_exporter_counters must be \[name, gauge\|counter, help\] entries and include DCGM_FI_DEV_GPU_UTIL"),
    ("kvm_host", {"kvm_host_guests": [{"name": "vm1", "vcpus": 2, "memory_mib": 4096, "disk_gb": 10,
                                       "gpus": ["17:00.0"]}]},
     r"kvm_host_guests entry vm1: needs .* gpus as PCI addresses like 0000:17:00.0"),
    ("tailscale", {"tailscale_tags": ["slipway"], "tailscale_install": False},
     r"tailscale_tags entries must look like tag:name"),
])
def test_roles_reject_bad_input_before_changing_anything(role: str, bad: dict[str, Any], message: str,
                                                          tmp_path: Path) -> None:
    play = [{"name": "Bad input", "hosts": "localhost", "gather_facts": False, "become": False,
             "tasks": [{"ansible.builtin.include_role": {"name": role}, "vars": bad}]}]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    proc = playbook(["-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
                     "--check", str(path)], tmp_path)
    assert proc.returncode != 0
    text = re.sub(r"\s+", " ", proc.stdout)
    assert re.search(message, text), proc.stdout[-3000:]
    assert "changed=0" in proc.stdout
