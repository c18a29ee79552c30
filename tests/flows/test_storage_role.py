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
