"""Every Ubuntu release branch of the roles' variables (vars/<OS>-<release>.yml), without a host.

Ubuntu images cannot be pulled here, so the molecule scenarios run on Debian 12; these tests read
the per-release variables every role loads and check what each release would get.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.roles.conftest import ROLES

UBUNTU = {"20.04": "focal", "22.04": "jammy", "24.04": "noble"}
RELEASES = [f"Ubuntu-{v}" for v in UBUNTU] + ["Debian-12"]
# The host roles of site.yml (roles/ also holds roles of other features).
ALL_ROLES = ["dcgm_exporter", "docker_engine", "kvm_host", "node_exporter", "nvidia_container_toolkit",
             "nvidia_driver", "prometheus", "tailscale"]


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def role_vars(role: str, release: str) -> dict[str, Any]:
    return load(ROLES / role / "vars" / f"{release}.yml")


def driver_packages(v: dict[str, Any], branch: str, modules: str, *, open_: bool = False,
                    fabricmanager: bool = False) -> list[str]:
    """What roles/nvidia_driver/tasks/driver.yml computes from a release's variables."""
    pk = v["_nvidia_driver_packages"]
    names = pk["common"] + pk[modules] + (pk["fabricmanager"] if fabricmanager else [])
    return [n.replace("{branch}", branch).replace("{open}", "-open" if open_ else "") for n in names]


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("release", RELEASES)
def test_every_role_has_vars_for_every_release(role: str, release: str) -> None:
    v = role_vars(role, release)
    assert isinstance(v, dict) and v, f"{role}/vars/{release}.yml is empty"
    assert all(k.startswith(f"_{role}_") for k in v), f"{role}: private vars must start with _{role}_"


@pytest.mark.parametrize("role", ALL_ROLES)
def test_argument_specs_declare_every_default(role: str) -> None:
    defaults = load(ROLES / role / "defaults/main.yml") or {}
    spec = load(ROLES / role / "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == set(spec), f"{role}: defaults and argument_specs differ: {set(defaults) ^ set(spec)}"
    for name, value in defaults.items():
        assert name.startswith(f"{role}_"), f"{role}: {name} is not prefixed with the role name"
        if "default" in spec[name] and not (isinstance(value, str) and "{{" in value):
            assert spec[name]["default"] == value, f"{role}: {name} default differs between defaults and spec"


@pytest.mark.parametrize(("version", "branch", "others"), [
    ("20.04", "535", ["470"]), ("22.04", "550", ["470", "535", "570"]), ("24.04", "550", ["535", "570"])])
def test_driver_branches_per_ubuntu_release(version: str, branch: str, others: list[str]) -> None:
    v = role_vars("nvidia_driver", f"Ubuntu-{version}")
    assert v["_nvidia_driver_default_branch"] == branch
    assert set(v["_nvidia_driver_branches"]) == {branch, *others}
    assert v["_nvidia_driver_repository"] == {}, "Ubuntu's own archive carries the driver"


@pytest.mark.parametrize("version", list(UBUNTU))
def test_driver_headless_server_packages_per_release(version: str) -> None:
    v = role_vars("nvidia_driver", f"Ubuntu-{version}")
    for branch in v["_nvidia_driver_branches"]:
        pre = driver_packages(v, branch, "precompiled")
        assert pre == [f"nvidia-utils-{branch}-server", f"nvidia-compute-utils-{branch}-server",
                       f"nvidia-headless-no-dkms-{branch}-server", f"linux-modules-nvidia-{branch}-server-generic"]
        assert driver_packages(v, branch, "dkms")[-1] == f"nvidia-headless-{branch}-server"
        assert driver_packages(v, branch, "dkms", open_=True)[-1] == f"nvidia-headless-{branch}-server-open"
        assert driver_packages(v, branch, "precompiled", open_=True)[-1] == \
            f"linux-modules-nvidia-{branch}-server-open-generic"
        assert driver_packages(v, branch, "dkms", fabricmanager=True)[-1] == f"nvidia-fabricmanager-{branch}"
        assert not any("{" in p for p in pre)


def test_driver_on_debian_comes_from_non_free() -> None:
    v = role_vars("nvidia_driver", "Debian-12")
    assert v["_nvidia_driver_repository"]["components"] == ["non-free", "non-free-firmware"]
    assert "nvidia-driver" in driver_packages(v, "535", "dkms")


@pytest.mark.parametrize("version", list(UBUNTU))
def test_docker_repository_codename_per_release(version: str) -> None:
    v = role_vars("docker_engine", f"Ubuntu-{version}")
    assert v["_docker_engine_codename"] == UBUNTU[version]
    assert v["_docker_engine_packages"]["distribution"] == ["docker.io"]
    assert "docker-ce" in v["_docker_engine_packages"]["docker"]


@pytest.mark.parametrize("version", list(UBUNTU))
def test_tailscale_repository_per_release(version: str) -> None:
    v = role_vars("tailscale", f"Ubuntu-{version}")
    assert (v["_tailscale_repo_path"], v["_tailscale_codename"]) == ("ubuntu", UBUNTU[version])
    # what tasks/install.yml builds from them
    key = f"https://pkgs.tailscale.com/stable/{v['_tailscale_repo_path']}/{v['_tailscale_codename']}.noarmor.gpg"
    assert key == f"https://pkgs.tailscale.com/stable/ubuntu/{UBUNTU[version]}.noarmor.gpg"


@pytest.mark.parametrize("version", list(UBUNTU))
def test_cuda_repository_for_dcgm_per_release(version: str) -> None:
    v = role_vars("dcgm_exporter", f"Ubuntu-{version}")
    assert v["_dcgm_exporter_cuda_distro"] == "ubuntu" + version.replace(".", "")
    assert v["_dcgm_exporter_keyring"].endswith(".asc")


@pytest.mark.parametrize(("version", "qemu"), [("20.04", "qemu-kvm"), ("22.04", "qemu-system-x86"),
                                               ("24.04", "qemu-system-x86")])
def test_kvm_packages_per_release(version: str, qemu: str) -> None:
    v = role_vars("kvm_host", f"Ubuntu-{version}")
    assert qemu in v["_kvm_host_packages"]
    assert {"libvirt-daemon-system", "python3-libvirt", "qemu-utils", "ovmf"} <= set(v["_kvm_host_packages"])
    assert v["_kvm_host_bridge_backend"] == "netplan"
    assert role_vars("kvm_host", "Debian-12")["_kvm_host_bridge_backend"] == "networkd"


@pytest.mark.parametrize("role", ["node_exporter", "prometheus"])
@pytest.mark.parametrize("release", RELEASES)
def test_prometheus_packages_are_the_distributions(role: str, release: str) -> None:
    v = role_vars(role, release)
    assert v[f"_{role}_package"] in {"prometheus", "prometheus-node-exporter"}


def test_dcgm_counters_default_include_gpu_util() -> None:
    counters = load(ROLES / "dcgm_exporter/defaults/main.yml")["dcgm_exporter_counters"]
    assert counters[0][:2] == ["DCGM_FI_DEV_GPU_UTIL", "gauge"]
    assert all(c[1] in {"gauge", "counter"} for c in counters)
