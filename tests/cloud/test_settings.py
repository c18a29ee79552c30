"""Stack settings: every key documented, example stacks valid, bad config refused with the key named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from slipway.cloud.settings import KEYS, Settings, config_reference
from slipway.errors import ValidationError

PULUMI = Path(__file__).resolve().parents[2] / "pulumi"


def stack_config(name: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((PULUMI / f"Pulumi.{name}.yaml").read_text())["config"]
    return config


def test_pulumi_yaml_documents_every_key() -> None:
    text = (PULUMI / "Pulumi.yaml").read_text()
    assert config_reference() in text, "regenerate the block with slipway.cloud.settings.config_reference()"
    for key in KEYS:
        assert f"#   {key.full} (" in text


def test_pulumi_dir_has_no_package_marker() -> None:
    assert not (PULUMI / "__init__.py").exists(), "pulumi/__init__.py would shadow the pulumi package"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_example_stacks_are_valid(stack: str) -> None:
    s = Settings.from_values(stack_config(stack), stack=stack)
    assert s.environment == stack
    assert s.prefix == f"slipway-{stack}"
    assert s.registry_prefix == f"slipway/{stack}"
    assert all(p.variant in s.variants for p in s.projects)
    assert set(stack_config(stack)) <= {k.full for k in KEYS}


def test_defaults_and_string_values_from_the_cli() -> None:
    # `pulumi config set` stores numbers and lists as text: they are parsed the same way.
    s = Settings.from_values({"aws:region": "us-east-1", "slipway:vpcId": "vpc-0123456789abcdef0",
                              "slipway:subnetIds": '["subnet-0123456789abcdef0"]', "slipway:keepImages": "7",
                              "slipway:projects": '["detector", {"name": "seg", "gpus": 0}]'}, stack="qa")
    assert s.keep_images == 7
    assert s.subnet_ids == ("subnet-0123456789abcdef0",)
    assert [(p.name, p.gpus) for p in s.projects] == [("detector", 1), ("seg", 0)]
    assert s.gpu_instance_types == ("g5",)
    assert s.log_retention_days == 30


BASE = {"aws:region": "eu-west-1", "slipway:vpcId": "vpc-0a1b2c3d4e5f60718",
        "slipway:subnetIds": ["subnet-0a1b2c3d4e5f60001"]}


@pytest.mark.parametrize(("change", "field", "words"), [
    # GPU instance families need a GPU AMI
    ({"slipway:gpuAmiParameter": "/aws/service/ecs/optimized-ami/amazon-linux-2/recommended/image_id"},
     "slipway:gpuAmiParameter", "GPU instances need a GPU AMI"),
    ({"slipway:gpuAmiParameter": ""}, "slipway:gpuAmiParameter", "GPU instances need a GPU AMI"),
    ({"slipway:cpuInstanceTypes": ["c6i", "g5"]}, "slipway:cpuInstanceTypes", "is a GPU family"),
    ({"slipway:gpuInstanceTypes": ["m6i"]}, "slipway:gpuInstanceTypes", "is not a GPU instance family"),
    ({"slipway:ecsGpuInstanceType": "c6i.large"}, "slipway:ecsGpuInstanceType", "GPU instance type"),
    ({"slipway:gpuAmiId": "ubuntu"}, "slipway:gpuAmiId", "is not an AMI id"),
    # negative sizes
    ({"slipway:keepImages": -1}, "slipway:keepImages", "out of range"),
    ({"slipway:ecsGpuMaxInstances": -2}, "slipway:ecsGpuMaxInstances", "out of range"),
    ({"slipway:batchCpuMaxVcpus": "-8"}, "slipway:batchCpuMaxVcpus", "out of range"),
    ({"slipway:gpuRootVolumeGib": 0}, "slipway:gpuRootVolumeGib", "out of range"),
    ({"slipway:projects": [{"name": "det", "memory": -512}]}, "slipway:projects[0].memory", "integer from"),
    ({"slipway:projects": [{"name": "det", "gpus": -1}]}, "slipway:projects[0].gpus", "integer from"),
    # region format
    ({"aws:region": "europe-west"}, "aws:region", "is not an AWS region name"),
    ({"aws:region": "EU-WEST-1"}, "aws:region", "is not an AWS region name"),
    ({"aws:region": "eu-west-1a"}, "aws:region", "is not an AWS region name"),
    # others
    ({"slipway:keepImages": "many"}, "slipway:keepImages", "must be an integer"),
    ({"slipway:subnetIds": []}, "slipway:subnetIds", "at least one subnet"),
    ({"slipway:subnetIds": ["sn-1"]}, "slipway:subnetIds", "is not a subnet id"),
    ({"slipway:vpcId": "default"}, "slipway:vpcId", "must be a VPC id"),
    ({"slipway:logRetentionDays": 10}, "slipway:logRetentionDays", "retention value"),
    ({"slipway:variants": ["ml-gpu"]}, "slipway:variants", "variant names"),
    ({"slipway:projects": [{"name": "det", "variant": "cuda"}]}, "slipway:projects[0].variant", "not one of"),
    ({"slipway:projects": [{"name": "det", "colour": "red"}]}, "slipway:projects[0].colour", "unknown"),
    ({"slipway:projects": ["det", "det"]}, "slipway:projects", "unique"),
    ({"slipway:projects": ["Bad Name"]}, "slipway:projects[0].name", "repository name"),
    ({"slipway:prefectApiUrl": "localhost:4200"}, "slipway:prefectApiUrl", "http(s) URL"),
    ({"slipway:tags": {"team": 3}}, "slipway:tags", "map of strings"),
    ({"slipway:vpcID": "vpc-0a1b2c3d4e5f60718"}, "slipway:vpcID", "unknown config key"),
    ({"slipway:environment": "Prod-1"}, "slipway:environment", "lower-case"),
    ({"slipway:registryPrefix": "Team/ML/"}, "slipway:registryPrefix", "ECR repository path"),
])
def test_bad_config_names_the_key(change: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        Settings.from_values({**BASE, **change}, stack="dev")
    assert err.value.field == field
    assert words in str(err.value)
    assert str(err.value).startswith(f"{field}: ")


def test_missing_required_key() -> None:
    with pytest.raises(ValidationError, match=r"^slipway:vpcId: is required; allowed: pulumi config set"):
        Settings.from_values({"aws:region": "eu-west-1"}, stack="dev")


def test_cpu_only_stack_needs_no_gpu_ami() -> None:
    s = Settings.from_values({**BASE, "slipway:gpuInstanceTypes": [], "slipway:ecsGpuMaxInstances": 0,
                              "slipway:gpuAmiParameter": ""}, stack="dev")
    assert s.gpu_instance_types == ()


def test_explicit_gpu_ami_replaces_the_parameter() -> None:
    s = Settings.from_values({**BASE, "slipway:gpuAmiParameter": "", "slipway:gpuAmiId": "ami-0123456789abcdef0"},
                             stack="dev")
    assert s.gpu_ami_id == "ami-0123456789abcdef0"


def test_secrets_are_not_in_repr() -> None:
    s = Settings.from_values(BASE, stack="dev", secrets={"slackWebhookUrl": "https://hooks.slack.com/sekrit"})
    assert "sekrit" not in repr(s)
