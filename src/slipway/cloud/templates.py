"""Base job templates for Slipway's Prefect work pools.

Starting from prefect-aws's own ECS template, Slipway adds what it lacks:

* ``<prefix>-cpu`` (type ``ecs``, Fargate): ``ephemeral_storage`` (GiB, 21-200) mapped to the task
  definition's ``ephemeralStorage.sizeInGiB``.
* ``<prefix>-gpu`` (type ``ecs``, EC2 GPU capacity provider): ``gpu_count`` mapped to the container's
  ``resourceRequirements`` (``{"type": "GPU", "value": ...}``) and a capacity provider strategy that
  sends the task to the GPU Auto Scaling group. ECS wants that value as a string, so the variable is
  a string of digits. A GPU task's disk is its instance's root volume (``gpuRootVolumeGib``): ECS
  has no per-task ephemeral storage on EC2.

Two ECS pools rather than one: an unset GPU count would leave ``{"type": "GPU"}`` without a value
in the task definition, which ECS rejects; a pool per kind keeps every rendered task valid.
The stack's cluster, roles, network and log group become the variables' defaults, so a deployment
only sets what differs (image, cpu, memory, gpu_count, ephemeral_storage).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

GPU_COUNT_PATTERN = r"^[1-9][0-9]?$"


@dataclass(frozen=True)
class EcsPoolDefaults:
    cluster: str
    execution_role_arn: str
    task_role_arn: str
    vpc_id: str
    subnet_ids: Sequence[str]
    security_group_ids: Sequence[str]
    log_group: str
    region: str
    gpu_capacity_provider: str
    image: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def prefect_aws_ecs_template() -> dict[str, Any]:
    """prefect-aws's default ECS base job template (imported lazily: prefect is slow to import)."""
    from prefect_aws.workers.ecs_worker import ECSWorker

    return copy.deepcopy(ECSWorker.get_default_base_job_template())


def process_template() -> dict[str, Any]:
    from prefect.workers.process import ProcessWorker

    return copy.deepcopy(ProcessWorker.get_default_base_job_template())


def _set_default(template: dict[str, Any], var: str, value: Any) -> None:
    template["variables"]["properties"][var]["default"] = value


def _common(base: dict[str, Any], d: EcsPoolDefaults) -> dict[str, Any]:
    t = copy.deepcopy(base)
    _set_default(t, "cluster", d.cluster)
    _set_default(t, "execution_role_arn", d.execution_role_arn)
    _set_default(t, "task_role_arn", d.task_role_arn)
    _set_default(t, "vpc_id", d.vpc_id)
    _set_default(t, "configure_cloudwatch_logs", True)
    _set_default(t, "cloudwatch_logs_options", {"awslogs-group": d.log_group, "awslogs-region": d.region,
                                                "awslogs-create-group": "false"})
    if d.image:
        _set_default(t, "image", d.image)
    if d.env:
        _set_default(t, "env", dict(d.env))
    return t


def ecs_cpu_template(base: dict[str, Any], d: EcsPoolDefaults) -> dict[str, Any]:
    """Fargate pool: prefect-aws's template plus ``ephemeral_storage``."""
    t = _common(base, d)
    _set_default(t, "launch_type", "FARGATE")
    _set_default(t, "network_configuration", {"subnets": list(d.subnet_ids),
                                              "securityGroups": list(d.security_group_ids),
                                              "assignPublicIp": "DISABLED"})
    t["variables"]["properties"]["ephemeral_storage"] = {
        "title": "Ephemeral storage (GiB)",
        "description": "Task disk on Fargate, 21 to 200 GiB. Unset: Fargate's 20 GiB.",
        "type": "integer", "minimum": 21, "maximum": 200,
    }
    t["job_configuration"]["task_definition"]["ephemeralStorage"] = {"sizeInGiB": "{{ ephemeral_storage }}"}
    return t


def ecs_gpu_template(base: dict[str, Any], d: EcsPoolDefaults) -> dict[str, Any]:
    """GPU pool: prefect-aws's template plus ``gpu_count`` and the GPU capacity provider."""
    t = _common(base, d)
    _set_default(t, "launch_type", "EC2")
    _set_default(t, "capacity_provider_strategy",
                 [{"capacityProvider": d.gpu_capacity_provider, "weight": 1, "base": 0}])
    t["variables"]["properties"]["gpu_count"] = {
        "title": "GPUs",
        "description": "NVIDIA GPUs reserved for the flow's container (digits, e.g. \"1\"; ECS wants a string).",
        "type": "string", "pattern": GPU_COUNT_PATTERN, "default": "1",
    }
    task_def = t["job_configuration"]["task_definition"]
    task_def["requiresCompatibilities"] = ["EC2"]
    task_def["containerDefinitions"][0]["resourceRequirements"] = [{"type": "GPU", "value": "{{ gpu_count }}"}]
    return t


def variables_of(template: dict[str, Any]) -> set[str]:
    return set(template["variables"]["properties"])
