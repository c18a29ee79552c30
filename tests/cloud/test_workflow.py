"""The seed's Workflow / AwsEcsMachine / AwsEcsImage API: machine checks (pure) and deployments on
the pools Slipway creates, validated by a real Prefect server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from slipway.cloud import templates
from slipway.cloud.prefect_api import PrefectApi
from slipway.cloud.prefect_provider import WorkPoolProvider
from slipway.cloud.workflow import AwsEcsImage, AwsEcsMachine, Workflow
from slipway.errors import ValidationError
from tests.cloud.test_prefect import DEFAULTS
from tests.harness.prefect import PrefectServer

REPO_URL = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/slipway/dev/detector"


@pytest.mark.parametrize(("machine", "field"), [
    ({"cpu_value": 3000}, "machine.cpu_value"),
    ({"cpu_value": 1024, "memory_value": 1024}, "machine.memory_value"),
    ({"cpu_value": 8192, "memory_value": 18000}, "machine.memory_value"),
    ({"storage": 10}, "machine.storage"),
    ({"storage": 500}, "machine.storage"),
    ({"is_gpu": True, "gpus": 0}, "machine.gpus"),
    ({"is_gpu": True, "storage": 50}, "machine.storage"),
    ({"is_gpu": True, "memory_value": 100}, "machine.cpu_value/memory_value"),
    ({"image": "ml"}, "machine.image"),
])
def test_bad_machines_are_refused(machine: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        AwsEcsMachine(**machine)
    assert err.value.field == field


@pytest.mark.parametrize(("cpu", "memory"), [(256, 512), (1024, 8192), (4096, 30720), (16384, 122880)])
def test_fargate_sizes_are_accepted(cpu: int, memory: int) -> None:
    assert AwsEcsMachine(cpu_value=cpu, memory_value=memory).job_variables("img:ml-1") == {
        "image": "img:ml-1", "cpu": cpu, "memory": memory}


def test_gpu_machine_variables() -> None:
    m = AwsEcsMachine(is_gpu=True, cpu_value=2048, memory_value=4096, image=AwsEcsImage.ml, gpus=2)
    assert m.pool_kind == "gpu"
    assert m.job_variables("img:ml-1") == {"image": "img:ml-1", "cpu": 2048, "memory": 4096, "gpu_count": "2"}


@pytest.fixture(scope="module")
def pools(prefect_server: PrefectServer, _ecs_base_template: dict[str, Any]) -> Any:
    api = PrefectApi(prefect_server.api_url)
    provider = WorkPoolProvider()
    suffix = uuid.uuid4().hex[:6]
    made = {}
    for kind, build in (("gpu", templates.ecs_gpu_template), ("cpu", templates.ecs_cpu_template)):
        name = f"slipway-wf{suffix}-{kind}"
        provider.create({"api_url": api.api_url, "name": name, "type": "ecs", "description": None,
                         "base_job_template": build(_ecs_base_template, DEFAULTS), "concurrency_limit": None,
                         "is_paused": False})
        made[kind] = name
    yield {"ecrRepositoryUrls": {"detector": REPO_URL}, "prefectWorkPools": made}
    for name in made.values():
        api.delete_work_pool(name)


def deployments(api: PrefectApi) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = api._call("POST", "/deployments/filter", "list deployments", json={})
    return result


def test_gpu_workflow_deploys_and_redeploys(prefect_server: PrefectServer, pools: dict[str, Any]) -> None:
    api = PrefectApi(prefect_server.api_url)
    wf = Workflow(machine=AwsEcsMachine(is_gpu=True, cpu_value=2048, memory_value=4096, image=AwsEcsImage.ml),
                  tags=["nightly"], cron="0 3 * * *")
    first = wf.deploy(api, flow_name="train-detector", entrypoint="flows/train.py:train", project="detector",
                      image_tag="ml-1a2b3c", outputs=pools, commit="1a2b3c")
    assert first["work_pool_name"] == pools["prefectWorkPools"]["gpu"]
    assert first["job_variables"] == {"image": f"{REPO_URL}:ml-1a2b3c", "cpu": 2048, "memory": 4096,
                                      "gpu_count": "1"}
    assert set(first["tags"]) == {"nightly", "project:detector", "image:ml", "gpu", "commit:1a2b3c"}
    assert first["schedules"][0]["schedule"]["cron"] == "0 3 * * *"
    again = wf.deploy(api, flow_name="train-detector", entrypoint="flows/train.py:train", project="detector",
                      image_tag="ml-4d5e6f", outputs=pools, commit="4d5e6f")
    assert again["id"] == first["id"], "a new commit updates the same deployment"
    assert again["job_variables"]["image"].endswith(":ml-4d5e6f") and again["version"] == "4d5e6f"
    branch = wf.deploy(api, flow_name="train-detector", entrypoint="flows/train.py:train", project="detector",
                       image_tag="ml-4d5e6f", outputs=pools, commit="4d5e6f", branch="feature-x")
    assert branch["name"] == "train-detector-feature-x" and branch["id"] != first["id"]


def test_cpu_workflow_gets_storage(prefect_server: PrefectServer, pools: dict[str, Any]) -> None:
    api = PrefectApi(prefect_server.api_url)
    wf = Workflow(machine=AwsEcsMachine(storage=50, cpu_value=1024, memory_value=4096, image=AwsEcsImage.base))
    dep = wf.deploy(api, flow_name="featurize", entrypoint="flows/etl.py:featurize", project="detector",
                    image_tag="base-9a8b7c", outputs=pools)
    assert dep["work_pool_name"] == pools["prefectWorkPools"]["cpu"]
    assert dep["job_variables"]["ephemeral_storage"] == 50


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"project": "segmenter"}, "project"),
    ({"image_tag": "dev-1a2b"}, "image_tag"),
    ({"entrypoint": "flows/train.py"}, "entrypoint"),
    ({"outputs": {"ecrRepositoryUrls": {"detector": REPO_URL}}}, "outputs.prefectWorkPools"),
])
def test_bad_deploy_sends_nothing(prefect_server: PrefectServer, pools: dict[str, Any], kwargs: dict[str, Any],
                                  field: str) -> None:
    api = PrefectApi(prefect_server.api_url)
    before = len(deployments(api))
    args: dict[str, Any] = {"flow_name": f"never-{uuid.uuid4().hex[:6]}", "entrypoint": "flows/train.py:train",
                            "project": "detector", "image_tag": "ml-1a2b", "outputs": pools, **kwargs}
    with pytest.raises(ValidationError) as err:
        Workflow(machine=AwsEcsMachine(is_gpu=True)).deploy(api, **args)
    assert err.value.field == field
    assert len(deployments(api)) == before
    flows = api._call("POST", "/flows/filter", "flows", json={"flows": {"name": {"any_": [args["flow_name"]]}}})
    assert flows == []
