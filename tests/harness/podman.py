"""Podman for the host roles' molecule scenarios: private storage, runc, cgroupfs, host network.

ENVIRONMENT.md: podman 4.3 works here only with ``--runtime runc``, the cgroupfs manager, vfs storage
and explicit ulimits. Rather than passing flags at every call, the scenarios run with
``CONTAINERS_CONF`` / ``CONTAINERS_STORAGE_CONF`` pointing at files written here, so every podman
call (molecule's create/destroy playbooks, the podman connection plugin, testinfra) sees the same
settings. Storage lives under the tests CACHE so the base image survives between runs.

No registry can be pulled from: the Debian 12 base image is a debootstrap minbase rootfs from the
machine's own apt mirror (cached as a tarball), imported with ``podman import``. Containers use the
host network (the default here is ``netns="host"``, never a bridge); the roles' servers are told to
listen on 127.0.0.1 by the scenarios.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.procs import CACHE, require

PODMAN_DIR = CACHE / "podman"
# What every role needs before its first task: Python for Ansible (with python3-apt for the apt
# module), systemd as PID 1 so services are real, and the tools the roles call.
BASE_PACKAGES = [
    "python3", "python3-apt", "systemd", "systemd-sysv", "dbus", "ca-certificates", "gnupg",
    "iproute2", "procps", "curl", "kmod", "pciutils",
]
IMAGE_REPO = "localhost/slipway-molecule/debian"
SOURCES = Path("/etc/apt/sources.list.d/debian.sources")


@dataclass
class Podman:
    env: dict[str, str]
    image: str
    apt_cache: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman", *args], env={**os.environ, **self.env}, capture_output=True,
                              text=True, check=check)


def _mirror() -> str:
    if SOURCES.exists():
        m = re.search(r"^URIs:\s*(\S+)", SOURCES.read_text(), re.MULTILINE)
        if m:
            return m.group(1)
    return "http://deb.debian.org/debian"


def podman_env() -> dict[str, str]:
    """Env for every podman call of the suite: private config and storage under CACHE."""
    PODMAN_DIR.mkdir(parents=True, exist_ok=True)
    conf = PODMAN_DIR / "containers.conf"
    conf.write_text(
        "[containers]\n"
        'netns = "host"\n'
        'default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        "[network]\n"
        'default_network = "host"\n'
    )
    storage = PODMAN_DIR / "storage.conf"
    storage.write_text(
        "[storage]\n"
        'driver = "vfs"\n'
        f'graphroot = "{PODMAN_DIR / "storage"}"\n'
        'runroot = "/run/slipway-test-podman"\n'
    )
    return {"CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}


def _rootfs_tarball(tag: str) -> Path:
    tarball = PODMAN_DIR / f"debian12-{tag}.tar"
    if tarball.exists():
        return tarball
    debootstrap = require("debootstrap", "debootstrap")
    with tempfile.TemporaryDirectory(prefix="slipway-rootfs-", dir=PODMAN_DIR) as tmp:
        root = Path(tmp) / "rootfs"
        proc = subprocess.run(
            [debootstrap, "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", "bookworm",
             str(root), _mirror()], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            pytest.fail(f"debootstrap of the Debian 12 base image failed:\n{proc.stdout[-2000:]}\n"
                        f"{proc.stderr[-2000:]}", pytrace=False)
        if SOURCES.exists():  # the machine's mirror, with updates and security
            (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
            shutil.copy(SOURCES, root / "etc/apt/sources.list.d/debian.sources")
            (root / "etc/apt/sources.list").unlink(missing_ok=True)
        # keep downloaded .debs: the scenarios share a cached /var/cache/apt/archives
        (root / "etc/apt/apt.conf.d/90slipway-keep").write_text('Binary::apt::APT::Keep-Downloaded-Packages "true";\n')
        # systemd in a container: no getty, no udev settle waits
        for unit in ("getty.target", "systemd-udevd.service", "systemd-udev-trigger.service"):
            link = root / "etc/systemd/system" / unit
            link.unlink(missing_ok=True)
            link.symlink_to("/dev/null")
        (root / "etc/hostname").write_text("molecule\n")
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], check=True)
        partial.rename(tarball)
    return tarball


def ensure_base_image(env: dict[str, str]) -> str:
    """The Debian 12 molecule image (built once, then cached); returns its name."""
    require("podman", "podman")
    tag = hashlib.sha256(" ".join(BASE_PACKAGES).encode()).hexdigest()[:12]
    image = f"{IMAGE_REPO}:12-{tag}"
    full_env = {**os.environ, **env}
    if subprocess.run(["podman", "image", "exists", image], env=full_env, check=False).returncode == 0:
        return image
    tarball = _rootfs_tarball(tag)
    proc = subprocess.run(
        ["podman", "import", "--change", 'CMD ["/sbin/init"]', "--change", "ENV container=podman",
         "--change", "STOPSIGNAL SIGRTMIN+3", str(tarball), image],
        env=full_env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"podman import of {tarball} failed:\n{proc.stderr[-2000:]}", pytrace=False)
    return image


def start_podman() -> Podman:
    env = podman_env()
    image = ensure_base_image(env)
    apt_cache = PODMAN_DIR / "apt-archives"
    (apt_cache / "partial").mkdir(parents=True, exist_ok=True)
    return Podman(env, image, apt_cache)
