"""The Prefect dynamic providers against a real Prefect server (started by the session fixture):
create, read back, diff, update in place, replace, delete; deployments validated by the pools'
base job templates; the job configuration a worker would render from them.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import pytest
import requests

from slipway.cloud import templates
from slipway.cloud.prefect_api import PrefectApi, PrefectApiError
from slipway.cloud.prefect_provider import BlockProvider, WorkPoolProvider, changed_paths
from tests.harness.prefect import PrefectServer

DEFAULTS = templates.EcsPoolDefaults(
    cluster="arn:aws:ecs:eu-west-1:123456789012:cluster/slipway-test",
    execution_role_arn="arn:aws:iam::123456789012:role/slipway-test-ecs-execution",
    task_role_arn="arn:aws:iam::123456789012:role/slipway-test-ecs-task",
    vpc_id="vpc-0a1b2c3d4e5f60718", subnet_ids=["subnet-0a1b2c3d4e5f60001"], security_group_ids=["sg-0123"],
    log_group="/slipway/slipway-test/ecs", region="eu-west-1", gpu_capacity_provider="slipway-test-gpu")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def api(prefect_server: PrefectServer) -> PrefectApi:
    return PrefectApi(prefect_server.api_url)


def pool_props(api: PrefectApi, name: str, template: dict[str, Any], **extra: Any) -> dict[str, Any]:
    props = {"api_url": api.api_url, "name": name, "type": "ecs", "base_job_template": template,
             "description": "GPU flows", **extra}
    result = WorkPoolProvider().check({}, props)
    assert result.failures == []
    return dict(result.inputs)


def render(api: PrefectApi, template: dict[str, Any], values: dict[str, Any]) -> Any:
    """What prefect-aws's ECS worker renders from a pool template and a deployment's job variables."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect_aws.workers.ecs_worker import ECSJobConfiguration

    async def go() -> Any:
        with temporary_settings({PREFECT_API_URL: api.api_url}):
            async with get_client() as client:
                return await ECSJobConfiguration.from_template_and_values(template, values, client=client)

    return asyncio.run(go())


def test_work_pool_create_read_diff_update_delete(api: PrefectApi, ecs_base_template: dict[str, Any]) -> None:
    provider = WorkPoolProvider()
    name = unique("slipway-test-gpu")
    props = pool_props(api, name, templates.ecs_gpu_template(ecs_base_template, DEFAULTS))

    created = provider.create(props)
    assert created.id == name
    live = api.get_work_pool(name)
    assert live is not None
    assert (live["type"], live["description"]) == ("ecs", "GPU flows")
    assert live["base_job_template"] == props["base_job_template"]
    assert created.outs["pool_id"] == live["id"]

    read = provider.read(name, created.outs)
    assert read.id == name and read.outs == created.outs

    same = provider.diff(name, created.outs, copy.deepcopy(props))
    assert same.changes is False and same.replaces == []

    # change two things: the description and the GPU count's default
    new = copy.deepcopy(props)
    new["description"] = "GPU flows (A10G)"
    new["base_job_template"]["variables"]["properties"]["gpu_count"]["default"] = "2"
    diff = provider.diff(name, created.outs, new)
    assert diff.changes is True and diff.replaces == []
    assert changed_paths(created.outs["base_job_template"], new["base_job_template"]) == [
        "variables.properties.gpu_count.default"]
    assert [k for k in ("description", "base_job_template", "concurrency_limit", "is_paused", "name", "type")
            if changed_paths(created.outs.get(k), new.get(k))] == ["description", "base_job_template"]

    updated = provider.update(name, created.outs, new)
    live = api.get_work_pool(name)
    assert live is not None
    assert live["description"] == "GPU flows (A10G)"
    assert live["base_job_template"]["variables"]["properties"]["gpu_count"]["default"] == "2"
    assert live["id"] == created.outs["pool_id"], "updated in place, not re-created"
    assert live["base_job_template"]["job_configuration"] == props["base_job_template"]["job_configuration"]
    assert updated.outs["description"] == "GPU flows (A10G)"

    # name and type cannot change in place
    renamed = provider.diff(name, updated.outs or {}, {**new, "name": name + "-x", "type": "process"})
    assert renamed.replaces == ["name", "type"] and renamed.delete_before_replace is True

    provider.delete(name, updated.outs or {})
    assert api.get_work_pool(name) is None
    assert provider.read(name, updated.outs or {}).id is None  # refresh sees it gone
    provider.delete(name, updated.outs or {})  # deleting twice is fine


def test_drift_is_seen_by_read(api: PrefectApi) -> None:
    provider = WorkPoolProvider()
    name = unique("slipway-test-local")
    props = pool_props(api, name, templates.process_template(), type="process")
    created = provider.create(props)
    api.update_work_pool(name, {"concurrency_limit": 3})  # someone changed it in the UI
    read = provider.read(name, created.outs)
    assert read.outs is not None and read.outs["concurrency_limit"] == 3
    assert provider.diff(name, read.outs, props).changes is True
    provider.update(name, read.outs, props)
    live = api.get_work_pool(name)
    assert live is not None and live["concurrency_limit"] is None
    provider.delete(name, props)


def test_bad_pool_input_is_refused_and_leaves_nothing(api: PrefectApi) -> None:
    provider = WorkPoolProvider()
    check = provider.check({}, {"api_url": "127.0.0.1:4200", "name": "", "type": ""})
    assert sorted(f.property for f in check.failures) == ["api_url", "name", "type"]

    name = unique("slipway-test-bad")
    bad = {"api_url": api.api_url, "name": name, "type": "ecs", "description": None, "concurrency_limit": None,
           "is_paused": False, "base_job_template": {"job_configuration": {"cpu": "{{ undeclared }}"},
                                                    "variables": {"type": "object", "properties": {}}}}
    with pytest.raises(PrefectApiError) as err:
        provider.create(bad)
    assert err.value.status == 422 and "undeclared" in str(err.value)
    assert api.get_work_pool(name) is None

    props = pool_props(api, unique("slipway-test-dup"), templates.process_template(), type="process")
    provider.create(props)
    with pytest.raises(PrefectApiError) as dup:
        provider.create(props)
    assert dup.value.status == 409
    provider.delete(props["name"], props)


def test_api_key_stays_out_of_errors(prefect_server: PrefectServer) -> None:
    api = PrefectApi(prefect_server.api_url, api_key="pnu_never_print_me")
    with pytest.raises(PrefectApiError) as err:
        api.create_work_pool({"name": "", "type": "ecs"})
    assert "pnu_never_print_me" not in str(err.value) and "pnu_never_print_me" not in repr(api)
    unreachable = PrefectApi("http://127.0.0.1:9/api", api_key="pnu_never_print_me")
    with pytest.raises(Exception) as down:
        unreachable.get_work_pool("x")
    assert "cannot be reached" in str(down.value) and "pnu_never_print_me" not in str(down.value)


def test_aws_credentials_block_lifecycle(api: PrefectApi) -> None:
    provider = BlockProvider()
    name = unique("slipway-test-aws")
    props = {"api_url": api.api_url, "api_key": None, "name": name, "block_type": "aws-credentials",
             "data": {"region_name": "eu-west-1"}}
    created = provider.create(props)
    doc = api.get_block_document(created.id)
    assert doc is not None and doc["name"] == name and doc["data"]["region_name"] == "eu-west-1"
    assert doc["block_type"]["slug"] == "aws-credentials"

    assert provider.diff(created.id, created.outs, props).changes is False
    moved = {**props, "data": {"region_name": "us-east-1"}}
    diff = provider.diff(created.id, created.outs, moved)
    assert diff.changes is True and diff.replaces == []
    provider.update(created.id, created.outs, moved)
    doc = api.get_block_document(created.id)
    assert doc is not None and doc["data"]["region_name"] == "us-east-1"
    assert provider.diff(created.id, created.outs, {**moved, "block_type": "aws-secret"}).replaces == ["block_type"]

    # a flow loads it the way flows do
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect_aws import AwsCredentials

    with temporary_settings({PREFECT_API_URL: api.api_url}):
        creds = AwsCredentials.load(name, _sync=True)  # type: ignore[call-arg]
        EventsWorker.drain_all(timeout=10)  # deliver the "block loaded" event while the server is up
    assert creds.region_name == "us-east-1"

    provider.delete(created.id, created.outs)
    assert api.get_block_document(created.id) is None


def test_gpu_deployment_validates_against_the_gpu_pool(api: PrefectApi, ecs_base_template: dict[str, Any]) -> None:
    provider = WorkPoolProvider()
    name = unique("slipway-test-gpu")
    template = templates.ecs_gpu_template(ecs_base_template, DEFAULTS)
    provider.create(pool_props(api, name, template))
    flow_id = api.ensure_flow("train-detector")
    gpu_vars = {"gpu_count": "2", "cpu": 4096, "memory": 16384, "image": "123.dkr.ecr/slipway/dev/detector:ml-1a2b"}

    deployment = api.create_deployment({"name": unique("gpu"), "flow_id": flow_id, "work_pool_name": name,
                                        "job_variables": gpu_vars})
    assert deployment["job_variables"] == gpu_vars

    for bad, words in (({"gpu_count": "0"}, "gpu_count"), ({"gpu_count": 2}, "gpu_count"),
                       ({"cpu": "lots"}, "cpu")):
        with pytest.raises(PrefectApiError) as err:
            api.create_deployment({"name": unique("bad"), "flow_id": flow_id, "work_pool_name": name,
                                   "job_variables": bad})
        assert err.value.status == 422 and words in str(err.value)

    config = render(api, template, gpu_vars)
    container = config.task_definition["containerDefinitions"][0]
    assert container["resourceRequirements"] == [{"type": "GPU", "value": "2"}]
    assert container["image"] == gpu_vars["image"]
    assert config.task_definition["requiresCompatibilities"] == ["EC2"]
    assert config.task_run_request["capacityProviderStrategy"] == [
        {"capacityProvider": "slipway-test-gpu", "weight": 1, "base": 0}]
    assert config.task_run_request["cluster"] == DEFAULTS.cluster
    assert config.execution_role_arn == DEFAULTS.execution_role_arn
    assert config.cloudwatch_logs_options["awslogs-group"] == DEFAULTS.log_group
    default = render(api, template, {})
    assert default.task_definition["containerDefinitions"][0]["resourceRequirements"][0]["value"] == "1"
    api.delete_deployment(deployment["id"])
    provider.delete(name, {"api_url": api.api_url})


def test_cpu_deployment_gets_ephemeral_storage(api: PrefectApi, ecs_base_template: dict[str, Any]) -> None:
    provider = WorkPoolProvider()
    name = unique("slipway-test-cpu")
    template = templates.ecs_cpu_template(ecs_base_template, DEFAULTS)
    provider.create(pool_props(api, name, template))
    flow_id = api.ensure_flow("featurize")
    dep = api.create_deployment({"name": unique("cpu"), "flow_id": flow_id, "work_pool_name": name,
                                 "job_variables": {"ephemeral_storage": 50, "cpu": 1024, "memory": 4096}})
    with pytest.raises(PrefectApiError, match="ephemeral_storage"):
        api.create_deployment({"name": unique("bad"), "flow_id": flow_id, "work_pool_name": name,
                               "job_variables": {"ephemeral_storage": 500}})
    config = render(api, template, {"ephemeral_storage": 50})
    assert config.task_definition["ephemeralStorage"] == {"sizeInGiB": 50}
    assert config.network_configuration == {"subnets": DEFAULTS.subnet_ids, "securityGroups": ["sg-0123"],
                                            "assignPublicIp": "DISABLED"}
    # unset: no size at all (the worker drops the empty block), so Fargate's default applies
    assert not render(api, template, {}).task_definition.get("ephemeralStorage")
    api.delete_deployment(dep["id"])
    provider.delete(name, {"api_url": api.api_url})


def test_server_health(prefect_server: PrefectServer) -> None:
    assert requests.get(f"{prefect_server.api_url}/health", timeout=5).json() is True


def test_gpu_task_is_what_ecs_accepts(api: PrefectApi, ecs_base_template: dict[str, Any]) -> None:
    """prefect-aws's ECS worker turns the GPU pool's rendering into a task definition and a RunTask
    request; ECS's own request schema (botocore) and moto's ECS accept them. An integer GPU count,
    which the template deliberately does not allow, is what ECS would refuse."""
    import boto3
    from botocore.exceptions import ParamValidationError
    from botocore.validate import validate_parameters
    from moto import mock_aws
    from prefect.client.schemas.objects import FlowRun
    from prefect_aws.workers.ecs_worker import ECSWorker

    template = templates.ecs_gpu_template(ecs_base_template, DEFAULTS)
    config = render(api, template, {"gpu_count": "2", "cpu": 4096, "memory": 16384, "image": "img:ml-1a2b"})
    worker = ECSWorker(work_pool_name="slipway-test-gpu")
    task_def = worker._prepare_task_definition(config, "eu-west-1", FlowRun(flow_id=uuid.uuid4(), name="run"))
    with mock_aws():
        ecs = boto3.client("ecs", region_name="eu-west-1")
        registered = ecs.register_task_definition(**task_def)["taskDefinition"]
        assert registered["containerDefinitions"][0]["resourceRequirements"] == [{"type": "GPU", "value": "2"}]
        assert registered["requiresCompatibilities"] == ["EC2"]
        request = worker._prepare_task_run_request(config, task_def, registered["taskDefinitionArn"])
        validate_parameters(request, ecs.meta.service_model.operation_model("RunTask").input_shape)
        assert request["capacityProviderStrategy"] == [{"capacityProvider": "slipway-test-gpu", "weight": 1,
                                                        "base": 0}]
        assert "launchType" not in request  # the capacity provider decides
        bad = copy.deepcopy(task_def)
        bad["containerDefinitions"][0]["resourceRequirements"][0]["value"] = 2
        with pytest.raises(ParamValidationError, match="resourceRequirements"):
            ecs.register_task_definition(**bad)


@pytest.mark.slow
def test_local_process_pool_runs_a_flow(api: PrefectApi, tmp_path: Any) -> None:
    """The ``process`` pool made by the provider takes a real flow run: a Prefect process worker
    (``--run-once``) picks it up and runs the flow to completion."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "flows.py").write_text(
        "from prefect import flow\n\n\n@flow\ndef double(n: int = 1) -> int:\n    print(f'doubling {n}')\n"
        "    return n * 2\n")
    name = unique("slipway-test-local")
    WorkPoolProvider().create(pool_props(api, name, templates.process_template(), type="process"))
    flow_id = api.ensure_flow("double")
    dep = api.create_deployment({
        "name": "local", "flow_id": flow_id, "work_pool_name": name, "entrypoint": "flows.py:double",
        "path": str(tmp_path),
        "pull_steps": [{"prefect.deployments.steps.set_working_directory": {"directory": str(tmp_path)}}]})
    run = api._call("POST", f"/deployments/{dep['id']}/create_flow_run", "start a run", json={"parameters": {"n": 21}})
    env = {**os.environ, "PREFECT_API_URL": api.api_url, "PREFECT_HOME": str(tmp_path / "worker-home")}
    worker = subprocess.run([str(Path(sys.executable).parent / "prefect"), "worker", "start", "--pool", name,
                             "--run-once"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert worker.returncode == 0, worker.stdout[-2000:] + worker.stderr[-2000:]
    assert "doubling 21" in worker.stdout
    state = api._call("GET", f"/flow_runs/{run['id']}", "read the run")["state"]
    assert state["type"] == "COMPLETED", state
    api.delete_deployment(dep["id"])
    api.delete_work_pool(name)
