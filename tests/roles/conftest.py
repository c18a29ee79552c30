"""Fixtures for the host roles: podman with a locally built Debian 12 image, molecule's environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.podman import Podman, start_podman
from tests.harness.procs import REPO

ROLES = REPO / "roles"
# (role, passed, seconds) of each molecule scenario run, for the summary table
RESULTS: list[tuple[str, bool, float]] = []
VENV_BIN = REPO / ".venv" / "bin"


@pytest.fixture(scope="session")
def podman() -> Podman:
    return start_podman()


@pytest.fixture(scope="session")
def molecule_env(podman: Podman, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment for molecule: our podman settings, the image, a private HOME, no colours."""
    home = tmp_path_factory.mktemp("molecule-home")
    env = {
        **os.environ,
        **podman.env,
        "HOME": str(home),
        "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "MOLECULE_IMAGE": podman.image,
        "MOLECULE_APT_CACHE": str(podman.apt_cache),
        "NO_COLOR": "1",
        "PY_COLORS": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
    }
    yield env


def role_names() -> list[str]:
    return sorted(p.parent.parent.parent.name for p in ROLES.glob("*/molecule/default/molecule.yml"))


def ansible_env(home: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(home), "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.write_sep("-", "molecule scenarios")
    terminalreporter.write_line(f"{'role':<26} {'result':<8} {'seconds':>8}")
    for role, ok, seconds in sorted(RESULTS):
        terminalreporter.write_line(f"{role:<26} {'passed' if ok else 'FAILED':<8} {seconds:>8.0f}")
