"""The seed's declaration verbatim becomes a GPU deployment with a 50 GiB task volume, validated by a
real Prefect server against the gpu pool's template; the task definition and RunTask request
prefect-aws's ECS worker would send carry the GPU and the volume, as ECS's schema and moto accept."""

from __future__ import annotations

import asyncio
import copy
import uuid
from pathlib import Path
from typing import Any

import pytest

from slipway.cloud.prefect_api import PrefectApi, PrefectApiError
from slipway.flow.deploy import FlowsConfig, Images, apply, discover, plan, prefect_client, variant_tags
from slipway.flow.gitinfo import GitContext
from tests.flows.conftest import INFRA_ROLE, REPO_URL
from tests.flows.sample import make_repo
from tests.harness.prefect import PrefectServer

COMMIT = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"


@pytest.fixture(scope="module")
def seed_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("seed"))


def render(api_url: str, template: dict[str, Any], values: dict[str, Any]) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect_aws.workers.ecs_worker import ECSJobConfiguration

    async def go() -> Any:
        with temporary_settings({PREFECT_API_URL: api_url}):
            async with get_client() as client:
                return await ECSJobConfiguration.from_template_and_values(template, values, client=client)

    return asyncio.run(go())


def test_seed_declaration_becomes_a_gpu_deployment_with_a_task_volume(
        prefect_server: PrefectServer, outputs: dict[str, Any], pool_templates: dict[str, Any],
        seed_repo: Path) -> None:
    import boto3
    from botocore.validate import validate_parameters
    from moto import mock_aws
    from prefect.client.schemas.objects import FlowRun
    from prefect_aws.workers.ecs_worker import ECSWorker

    declared = discover(seed_repo, ["flows/train.py"])
    assert [(d.flow_name, d.entrypoint) for d in declared] == [("train", "flows/train.py:train")]
    tags = variant_tags(seed_repo, ["ml"])
    branch = f"seed/{uuid.uuid4().hex[:6]}"  # its own (dev) deployment, whatever else the session deployed
    specs = plan(declared, ctx=GitContext("team/demo", branch, COMMIT, "git"), cfg=FlowsConfig(project="demo"),
                 outputs=outputs, images=Images(REPO_URL, tags), exp=[], project_dir=seed_repo)
    with prefect_client(prefect_server.api_url) as client:
        rows = apply(client, specs)
        dep = client.read_deployment(rows[0].deployment_id)
    assert rows[0].action == "created" and dep.work_pool_name == outputs["prefectWorkPools"]["gpu"]
    variables = dict(dep.job_variables)
    assert variables["gpu_count"] == "1" and (variables["cpu"], variables["memory"]) == (2048, 4096)
    assert variables["image"] == f"{REPO_URL}:{tags['ml']}" and tags["ml"].startswith("ml-")
    ebs = variables["volume_configurations"][0]["managedEBSVolume"]
    assert (ebs["sizeInGiB"], ebs["volumeType"], ebs["roleArn"]) == (50, "gp3", INFRA_ROLE)
    assert variables["task_volumes"] == [{"name": "scratch", "configuredAtLaunch": True}]

    config = render(prefect_server.api_url, pool_templates["gpu"], variables)
    worker = ECSWorker(work_pool_name=outputs["prefectWorkPools"]["gpu"])
    task_def = worker._prepare_task_definition(config, "eu-west-1", FlowRun(flow_id=uuid.uuid4(), name="run"))
    container = task_def["containerDefinitions"][0]
    assert container["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
    assert container["mountPoints"] == [{"sourceVolume": "scratch", "containerPath": "/scratch"}]
    assert task_def["volumes"] == [{"name": "scratch", "configuredAtLaunch": True}]
    with mock_aws():
        ecs = boto3.client("ecs", region_name="eu-west-1")
        model = ecs.meta.service_model
        validate_parameters(task_def, model.operation_model("RegisterTaskDefinition").input_shape)
        registered = ecs.register_task_definition(**task_def)["taskDefinition"]
        assert registered["containerDefinitions"][0]["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
        request = worker._prepare_task_run_request(config, task_def, registered["taskDefinitionArn"])
        validate_parameters(request, model.operation_model("RunTask").input_shape)
        assert request["volumeConfigurations"] == [{"name": "scratch", "managedEBSVolume": {
            "sizeInGiB": 50, "volumeType": "gp3", "encrypted": True, "filesystemType": "ext4", "roleArn": INFRA_ROLE,
            "terminationPolicy": {"deleteOnTermination": True}}}]
        assert request["capacityProviderStrategy"][0]["capacityProvider"] == "slipway-test-gpu"

    # without storage the same template renders no volume at all (unset lists are dropped)
    plain = render(prefect_server.api_url, pool_templates["gpu"], {"gpu_count": "2"})
    assert not plain.task_definition.get("volumes") and "volumeConfigurations" not in plain.task_run_request
    assert "mountPoints" not in plain.task_definition["containerDefinitions"][0]


@pytest.mark.parametrize(("change", "words"), [
    (lambda v: v["volume_configurations"][0]["managedEBSVolume"].update(sizeInGiB=0), "sizeInGiB"),
    (lambda v: v["volume_configurations"][0]["managedEBSVolume"].update(sizeInGiB=20000), "sizeInGiB"),
    (lambda v: v["volume_configurations"][0]["managedEBSVolume"].update(roleArn="admin"), "roleArn"),
    (lambda v: v.update(gpu_count="0"), "gpu_count"),
])
def test_the_gpu_pool_refuses_what_ecs_would(prefect_server: PrefectServer, outputs: dict[str, Any],
                                            change: Any, words: str) -> None:
    from slipway.flow import AwsEcsImage, AwsEcsMachine

    api = PrefectApi(prefect_server.api_url)
    good = AwsEcsMachine(is_gpu=True, storage=50, image=AwsEcsImage.ml).job_variables(
        "img:ml-1", infrastructure_role_arn=INFRA_ROLE)
    bad = copy.deepcopy(good)
    change(bad)
    flow_id = api.ensure_flow("refused")
    with pytest.raises(PrefectApiError) as err:
        api.create_deployment({"name": f"bad-{uuid.uuid4().hex[:6]}", "flow_id": flow_id,
                               "work_pool_name": outputs["prefectWorkPools"]["gpu"], "job_variables": bad})
    assert err.value.status == 422 and words in str(err.value)


def test_a_pool_without_task_volumes_is_refused_before_anything_is_created(
        prefect_server: PrefectServer, outputs: dict[str, Any], ecs_base: dict[str, Any], seed_repo: Path) -> None:
    """Prefect would accept job variables its pool's template does not declare, and the worker would
    drop them: the deploy step checks the pool first and creates nothing."""
    from slipway.cloud import templates
    from slipway.cloud.prefect_provider import WorkPoolProvider
    from tests.cloud.test_prefect import DEFAULTS

    old = f"slipway-old-{uuid.uuid4().hex[:6]}-gpu"
    WorkPoolProvider().create({"api_url": prefect_server.api_url, "name": old, "type": "ecs", "description": None,
                               "base_job_template": templates.ecs_gpu_template(ecs_base, DEFAULTS),
                               "concurrency_limit": None, "is_paused": False})
    declared = discover(seed_repo, ["flows/train.py"])
    branch = f"old/{uuid.uuid4().hex[:6]}"
    specs = plan(declared, ctx=GitContext("team/demo", branch, COMMIT, "git"), cfg=FlowsConfig(project="demo"),
                 outputs={**outputs, "prefectWorkPools": {**outputs["prefectWorkPools"], "gpu": old}},
                 images=Images(REPO_URL, variant_tags(seed_repo, ["ml"])), exp=[], project_dir=seed_repo)
    from prefect.exceptions import ObjectNotFound

    from slipway.errors import ValidationError

    with prefect_client(prefect_server.api_url) as client:
        with pytest.raises(ValidationError) as err:
            apply(client, specs)
        assert err.value.field == "work_pool" and "mount_points, task_volumes, volume_configurations" in str(err.value)
        with pytest.raises(ObjectNotFound):
            client.read_deployment_by_name(specs[0].full_name)
    PrefectApi(prefect_server.api_url).delete_work_pool(old)


def test_a_dev_deployment_hands_its_exp_group_to_the_container(
        prefect_server: PrefectServer, outputs: dict[str, Any], pool_templates: dict[str, Any], seed_repo: Path) -> None:
    """On a branch, the exp requirements ride in the job variables' env: the ECS worker puts them in
    the container's environment, where the image's entry point installs them before the flow."""
    declared = discover(seed_repo, ["flows/train.py"])
    [spec] = plan(declared, ctx=GitContext("team/demo", "try/delta", COMMIT, "git"), cfg=FlowsConfig(project="demo"),
                  outputs=outputs, images=Images(REPO_URL, variant_tags(seed_repo, ["ml"])), exp=["delta==1.0"],
                  project_dir=seed_repo)
    assert spec.name == "try-delta" and "dev" in spec.tags and spec.schedules == ()
    config = render(prefect_server.api_url, pool_templates["gpu"], spec.job_variables)
    from prefect.client.schemas.objects import FlowRun
    from prefect_aws.workers.ecs_worker import ECSWorker

    worker = ECSWorker(work_pool_name="gpu")
    task_def = worker._prepare_task_definition(config, "eu-west-1", FlowRun(flow_id=uuid.uuid4(), name="run"))
    request = worker._prepare_task_run_request(config, task_def, "arn:aws:ecs:eu-west-1:1:task-definition/x:1")
    env = {e["name"]: e["value"] for o in request["overrides"]["containerOverrides"] for e in o.get("environment", [])}
    env |= {e["name"]: e["value"] for c in task_def["containerDefinitions"] for e in c.get("environment", [])}
    assert env["SLIPWAY_EXP"] == "delta==1.0"
    from slipway.errors import ValidationError

    with pytest.raises(ValidationError, match="exp group must be empty on 'main'"):
        plan(declared, ctx=GitContext("team/demo", "main", COMMIT, "git"), cfg=FlowsConfig(project="demo"),
             outputs=outputs, images=Images(REPO_URL, {"ml": "ml-1"}), exp=["delta==1.0"], project_dir=seed_repo)
