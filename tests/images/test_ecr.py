"""The ECR path against moto server: the existence check, the tag rule, and what gets built.

moto's ECR API has no registry to push layers into, so this checks the boto3 side end to end
(describe_images, create_repository, get_authorization_token) and builds without pushing;
the push itself is the same docker push the OCI-registry test exercises.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from slipway.images.build import BuildOptions
from slipway.images.ci import CiSettings, plan, run
from slipway.images.registry import EcrRegistry, RegistryError, registry_from
from tests.harness.dockerd import Dockerd
from tests.harness.moto import CREDENTIALS, REGION, Moto
from tests.images.demo import make_demo

pytestmark = pytest.mark.docker


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto: Moto) -> Moto:
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    moto.reset()
    return moto


def test_ecr_check_and_build(tmp_path: Path, aws_env: Moto, dockerd: Dockerd, vessel_image: str) -> None:
    project = make_demo(tmp_path / "demo")
    reg = registry_from(f"ecr://{REGION}", endpoint_url=aws_env.url)
    assert isinstance(reg, EcrRegistry)
    ecr = boto3.client("ecr", region_name=REGION, endpoint_url=aws_env.url)
    settings = CiSettings(repository="team/demo", push=False,
                          build=BuildOptions(base_image=vessel_image, pip_args="--no-index",
                                             wheels_dir=project / "wheels"))
    # no repository yet: nothing exists
    _, planned = plan(project, reg, settings)
    assert [exists for *_, exists in planned] == [False, False, False]
    assert reg.host.endswith(".amazonaws.com")

    # the base image is already in ECR under its hash tag: base is unchanged, only dev and ml are built
    reg.prepare("team/demo")
    base_tag = next(tag for r, _, tag, _ in planned if r.variant.name == "base")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                           "digest": "sha256:" + "0" * 64}, "layers": []}
    ecr.put_image(repositoryName="team/demo", imageManifest=json.dumps(manifest), imageTag=base_tag)
    client = dockerd.client()
    try:
        rows = run(project, reg, client, settings)
    finally:
        client.close()
    assert {r.variant: r.action for r in rows} == {"base": "unchanged", "dev": "built", "ml": "built"}


def test_ecr_unreachable_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.harness.procs import free_port

    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    project = make_demo(tmp_path / "demo")
    reg = registry_from(f"ecr://{REGION}", endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(RegistryError, match="ECR .* is unreachable"):
        plan(project, reg, CiSettings(repository="team/demo"))
