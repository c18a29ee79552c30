"""gpu_facts on a fleet host over SSH (stdlib-only Python there) and fleet_host recording it in the ledger."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from slipway.ledger import Ledger
from tests.harness.sshd import Sshd

REPO = Path(__file__).resolve().parents[2]

FAKE_SMI = """#!/bin/sh
echo '0, GPU-aaaaaaaa-0000-1111-2222-333333333333, NVIDIA RTX A6000, 49140, 00000000:17:00.0'
echo '1, GPU-bbbbbbbb-0000-1111-2222-333333333333, NVIDIA RTX A6000, 49140, 00000000:65:00.0'
"""

RECORD = """      slipway.infra.fleet_host:
        name: "{{ inventory_hostname }}"
        queue: rtx
        docker_url: "ssh://root@127.0.0.1:{{ ansible_port }}"
        address: 127.0.0.1
        cpus: "{{ slipway_gpu_facts.cpus }}"
        memory_mib: "{{ slipway_gpu_facts.memory_mib }}"
        gpus: "{{ slipway_gpu_facts.gpus }}"
        ledger_url: "{{ ledger }}"
      delegate_to: localhost
"""

PLAY = f"""
- name: Learn a GPU host
  hosts: gpu_hosts
  gather_facts: false
  tasks:
    - name: Facts
      slipway.infra.gpu_facts:
        nvidia_smi: "{{{{ smi }}}}"
    - name: Record the host
{RECORD}      register: recorded
    - name: Again (idempotent)
{RECORD}      register: again
    - name: Check
      ansible.builtin.assert:
        that: [recorded is changed, again is not changed, slipway_gpu_facts.gpu_count == 2]
"""


def test_gpu_facts_over_ssh_then_ledger(tmp_path: Path, home: Path, user_key: Path, sshd_host: Sshd) -> None:
    smi = tmp_path / "nvidia-smi"
    smi.write_text(FAKE_SMI)
    smi.chmod(0o755)
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    inv = tmp_path / "hosts.yml"
    inv.write_text(f"""all:
  children:
    gpu_hosts:
      hosts:
        gpu-07:
          ansible_host: 127.0.0.1
          ansible_port: {sshd_host.port}
          ansible_user: root
          ansible_connection: ssh
          ansible_ssh_private_key_file: {user_key}
          ansible_ssh_common_args: -o UserKnownHostsFile={home}/.ssh/known_hosts
          ansible_python_interpreter: /usr/bin/python3
          smi: {smi}
          ledger: {ledger}
    local:
      hosts:
        localhost:
          ansible_connection: local
          ansible_python_interpreter: {sys.executable}
""")
    pb = tmp_path / "play.yml"
    pb.write_text(PLAY)
    env = {**os.environ, "HOME": str(home), "ANSIBLE_NOCOLOR": "1"}
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inv), str(pb)],
                         cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    h = Ledger(ledger).host("gpu-07")
    assert h is not None and h.queue == "rtx"
    assert [g.uuid for g in h.gpus] == ["GPU-aaaaaaaa-0000-1111-2222-333333333333",
                                        "GPU-bbbbbbbb-0000-1111-2222-333333333333"]
    assert h.gpus[0].model == "NVIDIA RTX A6000" and h.gpus[0].memory_mib == 49140
