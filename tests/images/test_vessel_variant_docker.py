"""A vessel launched with a variant image runs the team's locked environment, over `ssh <vessel>`.

The image step builds the demo project's `ml` variant (pushed to a real registry), the vessel layer
over it (images/vessel-layer), and `ml` resolves to that vessel image; a vessel started from it on the
test dockerd imports the variant's packages from its venv.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from slipway.images.build import BuildOptions
from slipway.images.ci import CiSettings, run
from slipway.images.registry import OciRegistry
from slipway.images.vessel_image import resolve_vessel_image, vessel_repository
from slipway.request import build_request
from tests.harness.dockerd import Dockerd
from tests.harness.registry import Registry
from tests.images.demo import make_demo
from tests.integration.conftest import fleet_host, ssh

# the vessel fixtures of tests/integration, reused here (explicit re-exports register them)
from tests.integration.conftest import make_service as make_service
from tests.integration.conftest import sshd_host as sshd_host
from tests.integration.conftest import user_key as user_key

pytestmark = pytest.mark.docker


def test_a_vessel_of_the_ml_variant_imports_its_packages(tmp_path: Path, registry: Registry, dockerd: Dockerd,
                                                         vessel_image: str, make_service: Any, user_key: Path,
                                                         home: Path) -> None:
    project = make_demo(tmp_path / "demo")
    repo = "team/vx"
    reg = OciRegistry(registry.url)
    client = dockerd.client()
    try:
        opts = BuildOptions(base_image=vessel_image, pip_args="--no-index", wheels_dir=project / "wheels")
        # the image step builds the variant and the vessel layer over it (the base has Debian's Jupyter)
        rows = run(project, reg, client, CiSettings(repository=repo, variants=["ml"], build=opts, vessels=True,
                                                    vessel_jupyter=""))
        assert rows[0].action == "pushed + vessel"
        vessel_ref = resolve_vessel_image("ml", project_dir=project, registry_host=registry.host, repository=repo)
        assert vessel_ref == f"{registry.host}/{vessel_repository(repo)}:{rows[0].tag}"
    finally:
        client.close()
    assert resolve_vessel_image("ml", project_dir=project, registry_host=registry.host, repository=repo,
                                registry=reg) == vessel_ref

    svc = make_service({"local": fleet_host(dockerd.url)})
    req = build_request(user="alice", ssh_public_key=user_key.with_suffix(".pub").read_text(), memory=2, cpus=1,
                        name="ml-1", image=vessel_ref)
    res = svc.launch(req, identity_file=str(user_key))
    assert res.vessel["state"] == "running"
    out = ssh(home, user_key, "ml-1", "python -c 'import alpha, beta; print(alpha.VERSION, beta.VERSION)' && "
                                      "python3 -c 'import sys; print(sys.prefix)' && command -v jupyter")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    assert lines[0] == "1.0 1.0" and lines[1] == "/opt/venv" and lines[2], out.stdout
    # gamma is the dev group's: not in the ml image
    assert ssh(home, user_key, "ml-1", "python -c 'import gamma'").returncode != 0
    svc.stop("ml-1", actor="alice")
