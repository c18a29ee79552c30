"""Task storage for Slipway's ECS pools: an EBS volume ECS creates for a task at launch.

prefect-aws's ECS template has no task volumes. ``with_task_volume`` adds three job variables, each
a list that is absent unless a deployment sets it (Prefect drops unset placeholders, so tasks
without storage render exactly as before):

* ``task_volumes`` -> ``task_definition.volumes`` (``[{"name": ..., "configuredAtLaunch": true}]``)
* ``mount_points`` -> ``containerDefinitions[0].mountPoints``
* ``volume_configurations`` -> RunTask's ``volumeConfigurations`` (``managedEBSVolume.sizeInGiB``,
  ``volumeType``, ``roleArn``: the ECS infrastructure role that creates the volume)

This works on EC2 capacity (the GPU pool) as on Fargate. The schemas carry ECS's own limits
(gp3 1-16384 GiB, one volume configured at launch per task), so Prefect refuses a bad deployment
with HTTP 422 before any task is started.
"""

from __future__ import annotations

import copy
from typing import Any

from slipway.flow.machines import EBS_GP3_GIB

VOLUME_VARIABLES = ("task_volumes", "mount_points", "volume_configurations")
_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,255}$"}


def volume_variables() -> dict[str, Any]:
    return {
        "task_volumes": {
            "title": "Task volumes configured at launch",
            "description": "Task-definition volumes whose EBS volume ECS creates at launch (set by Slipway "
                           "for machines with storage).",
            "type": "array", "maxItems": 1,
            "items": {"type": "object", "required": ["name", "configuredAtLaunch"],
                      "properties": {"name": _NAME, "configuredAtLaunch": {"const": True}}},
        },
        "mount_points": {
            "title": "Container mount points", "type": "array",
            "items": {"type": "object", "required": ["sourceVolume", "containerPath"],
                      "properties": {"sourceVolume": _NAME, "containerPath": {"type": "string", "pattern": "^/"},
                                     "readOnly": {"type": "boolean"}}},
        },
        "volume_configurations": {
            "title": "EBS volumes ECS attaches at launch",
            "type": "array", "maxItems": 1,
            "items": {"type": "object", "required": ["name", "managedEBSVolume"], "properties": {
                "name": _NAME,
                "managedEBSVolume": {"type": "object", "required": ["sizeInGiB", "roleArn"], "properties": {
                    "sizeInGiB": {"type": "integer", "minimum": EBS_GP3_GIB[0], "maximum": EBS_GP3_GIB[1]},
                    "volumeType": {"enum": ["gp3", "gp2", "io1", "io2", "st1", "sc1", "standard"]},
                    "encrypted": {"type": "boolean"},
                    "filesystemType": {"enum": ["ext3", "ext4", "xfs", "ntfs"]},
                    "roleArn": {"type": "string", "pattern": r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$"},
                    "terminationPolicy": {"type": "object",
                                          "properties": {"deleteOnTermination": {"type": "boolean"}}},
                }},
            }},
        },
    }


def with_task_volume(template: dict[str, Any]) -> dict[str, Any]:
    """A copy of an ECS pool template (``templates.ecs_gpu_template``/``ecs_cpu_template``) with the
    task volume variables and their mappings."""
    t = copy.deepcopy(template)
    t["variables"]["properties"].update(volume_variables())
    config = t["job_configuration"]
    config["task_definition"]["volumes"] = "{{ task_volumes }}"
    config["task_definition"]["containerDefinitions"][0]["mountPoints"] = "{{ mount_points }}"
    config["task_run_request"]["volumeConfigurations"] = "{{ volume_configurations }}"
    return t


def ecs_base_with_task_volume(base: dict[str, Any] | None = None) -> dict[str, Any]:
    """prefect-aws's ECS template (or ``base``) with task volumes: both of Slipway's ECS pools build on it."""
    if base is None:
        from slipway.cloud.templates import prefect_aws_ecs_template

        base = prefect_aws_ecs_template()
    return with_task_volume(base)
