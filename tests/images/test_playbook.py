"""playbooks/ci_images.yml end to end: settings from the environment, the table at the end."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.harness.dockerd import Dockerd
from tests.harness.procs import REPO
from tests.harness.registry import Registry
from tests.images.demo import make_demo

pytestmark = pytest.mark.docker


def playbook(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), "playbooks/ci_images.yml", *extra]
    return subprocess.run(argv, cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, check=False,
                          timeout=600)


def test_playbook_builds_then_reports_unchanged(tmp_path: Path, registry: Registry, dockerd: Dockerd,
                                                vessel_image: str, home: Path) -> None:
    project = make_demo(tmp_path / "demo")
    env = {"SLIPWAY_PROJECT_DIR": str(project), "SLIPWAY_REGISTRY": registry.url,
           "SLIPWAY_REPOSITORY": "team/playbook", "DOCKER_HOST": dockerd.url, "SLIPWAY_BASE_IMAGE": vessel_image,
           "SLIPWAY_PIP_ARGS": "--no-index", "SLIPWAY_WHEELS_DIR": str(project / "wheels"),
           "SLIPWAY_BRANCH": "main", "SLIPWAY_COMMIT": "0123456789abcdef"}
    only_base = ("-e", json.dumps({"slipway_ci_variants": ["base"]}))
    # check mode: asks the registry, builds nothing
    res = playbook(env, "--check", *only_base)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "would build" in res.stdout
    res = playbook(env, *only_base)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "pushed" in res.stdout and "variant" in res.stdout and "seconds" in res.stdout
    res = playbook(env, *only_base)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "unchanged" in res.stdout and "pushed" not in res.stdout
    # an exp dependency on main: the step fails, saying why
    make_demo(project, exp=("delta==1.0",))
    res = playbook(env, *only_base)
    assert res.returncode != 0
    assert "exp group must be empty on 'main'" in res.stdout


def test_playbook_needs_a_registry(tmp_path: Path, home: Path) -> None:
    res = playbook({"SLIPWAY_PROJECT_DIR": str(tmp_path), "SLIPWAY_REGISTRY": "", "SLIPWAY_REPOSITORY": ""})
    assert res.returncode != 0
    assert "slipway_ci_registry (SLIPWAY_REGISTRY" in res.stdout
