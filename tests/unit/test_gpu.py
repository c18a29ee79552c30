"""nvidia-smi parsing (the part of gpu_facts that runs on every host)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from slipway.gpu import GpuQueryError, parse_nvidia_smi_csv, query_gpus

# As printed by nvidia-smi 535 on a DGX A100 (index, uuid, name, memory.total, pci.bus_id; nounits)
A100 = """0, GPU-5f4e1c2a-0b8e-7a51-63bd-9f0c7d1e2a3b, NVIDIA A100-SXM4-80GB, 81920, 00000000:07:00.0
1, GPU-0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9, NVIDIA A100-SXM4-80GB, 81920, 00000000:0F:00.0
"""
# The query without nounits/pci: "memory.total [MiB]" values carry the unit
RTX = """0, GPU-11111111-2222-3333-4444-555555555555, NVIDIA GeForce RTX 3090, 24576 MiB
1, GPU-66666666-7777-8888-9999-000000000000, NVIDIA GeForce RTX 3090, 24576 MiB

"""


def test_parses_a100_with_bus_ids() -> None:
    gpus = parse_nvidia_smi_csv(A100)
    assert [g.index for g in gpus] == [0, 1]
    assert gpus[0].uuid == "GPU-5f4e1c2a-0b8e-7a51-63bd-9f0c7d1e2a3b"
    assert gpus[0].model == "NVIDIA A100-SXM4-80GB" and gpus[0].memory_mib == 81920
    assert gpus[1].pci_bus_id == "00000000:0F:00.0"


def test_parses_units_and_blank_lines() -> None:
    gpus = parse_nvidia_smi_csv(RTX)
    assert len(gpus) == 2 and gpus[1].memory_mib == 24576 and gpus[1].pci_bus_id == ""


def test_model_names_with_commas_are_quoted_csv() -> None:
    gpus = parse_nvidia_smi_csv('0, GPU-aa, "Weird, Inc. GPU", 1024\n')
    assert gpus[0].model == "Weird, Inc. GPU"


@pytest.mark.parametrize("bad", ["garbage", "0, not-a-uuid, X, 10", "x, GPU-a, X, 10"])
def test_malformed_output_is_an_error_naming_the_line(bad: str) -> None:
    with pytest.raises(GpuQueryError, match="unexpected nvidia-smi line"):
        parse_nvidia_smi_csv(bad)


def test_no_driver_is_zero_gpus_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    gpus, note = query_gpus()
    assert gpus == [] and "no NVIDIA driver" in note


def test_failing_nvidia_smi_is_zero_gpus(tmp_path: Path) -> None:
    exe = tmp_path / "nvidia-smi"
    exe.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA "
                   "driver.' >&2\nexit 9\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    gpus, note = query_gpus(str(exe))
    assert gpus == [] and "could not communicate" in note


def test_query_runs_the_binary(tmp_path: Path) -> None:
    exe = tmp_path / "nvidia-smi"
    exe.write_text("#!/bin/sh\ncat <<'EOF'\n" + A100 + "EOF\n")
    exe.chmod(0o755)
    gpus, note = query_gpus(str(exe))
    assert len(gpus) == 2 and note == "2 GPU(s) found"
    assert os.path.basename(str(exe)) == "nvidia-smi"
