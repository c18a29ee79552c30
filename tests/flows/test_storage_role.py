"""The ECS infrastructure role GPU task volumes need, under Pulumi's mock engine."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from slipway.cloud import policies
from slipway.cloud.ecs_storage import VOLUMES_POLICY, EcsTaskStorage, EcsTaskStorageArgs
from tests.cloud.pulumi_mocks import Engine, start_engine

pytestmark = pytest.mark.filterwarnings("ignore:aws.ec2/encryptioncontrol:DeprecationWarning")


@pytest.fixture
def engine() -> Engine:
    return start_engine("dev", {"aws:region": "eu-west-1"})


@pulumi.runtime.test
def test_infrastructure_role_and_pass_policy(engine: Engine) -> Any:
    storage = EcsTaskStorage("storage", EcsTaskStorageArgs(prefix="slipway-dev", tags={"team": "ml"}))

    def check(values: list[Any]) -> None:
        role_arn = values[0]
        role = engine.one("aws:iam/role:Role", "storage-infrastructure").inputs
        assert role["name"] == "slipway-dev-ecs-infrastructure" and role["tags"] == {"team": "ml"}
        trust = json.loads(role["assumeRolePolicy"])
        assert trust["Statement"][0]["Principal"] == {"Service": "ecs.amazonaws.com"}
        attached = engine.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "storage-volumes").inputs
        assert attached["policyArn"] == VOLUMES_POLICY
        doc = engine.one("aws:iam/policy:Policy", "storage-pass").inputs["policy"]
        assert policies.violations(doc) == []
        statement = json.loads(doc)["Statement"][0]
        assert statement["Action"] == ["iam:PassRole"] and statement["Resource"] == [role_arn]
        assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs.amazonaws.com"}}
        for r in engine.registered:
            if r.custom:
                assert r.parent_types[-1] == "slipway:aws:EcsTaskStorage", r.name

    return pulumi.Output.all(storage.role.arn, storage.pass_policy.arn, storage.volumes_policy.id).apply(check)


@pytest.fixture
def dev_engine() -> Engine:
    from tests.cloud.test_stack import DEV

    return start_engine("dev", DEV)


@pulumi.runtime.test
def test_the_stacks_ecs_pools_map_task_volumes(dev_engine: Engine, ecs_base: dict[str, Any]) -> Any:
    """Both ECS pools the stack creates declare the task volume variables (so a GPU workflow's
    storage is validated by Prefect and rendered by the worker, not silently dropped)."""
    from slipway.cloud.settings import Settings
    from slipway.cloud.stack import build_stack
    from slipway.cloud.templates import process_template
    from slipway.flow.ecs_template import VOLUME_VARIABLES
    from tests.cloud.test_stack import settled

    stack = build_stack(Settings.from_pulumi(), ecs_base_template=ecs_base, process_base_template=process_template())

    def check(_: Any) -> None:
        pools = {r.inputs["name"]: r.inputs["base_job_template"]
                 for r in dev_engine.of_type("pulumi-python:dynamic/prefect:WorkPool")}
        for name in ("slipway-dev-gpu", "slipway-dev-cpu"):
            template = pools[name]
            assert set(VOLUME_VARIABLES) <= set(template["variables"]["properties"]), name
            config = template["job_configuration"]
            assert config["task_run_request"]["volumeConfigurations"] == "{{ volume_configurations }}"
            assert config["task_definition"]["volumes"] == "{{ task_volumes }}"
        gpu_container = pools["slipway-dev-gpu"]["job_configuration"]["task_definition"]["containerDefinitions"][0]
        assert gpu_container["mountPoints"] == "{{ mount_points }}"
        assert gpu_container["resourceRequirements"] == [{"type": "GPU", "value": "{{ gpu_count }}"}]
        assert "task_volumes" not in pools["slipway-dev-local"]["variables"]["properties"]

    return settled(stack).apply(check)
