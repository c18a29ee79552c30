"""Declare where a Prefect flow runs, and deploy it to Slipway's work pools (the seed's API)::

    workflow = Workflow(
        machine=AwsEcsMachine(is_gpu=True, cpu_value=2048, memory_value=4096, image=AwsEcsImage.ml),
    )
    workflow.deploy(api, flow_name="train", entrypoint="flows/train.py:train", project="detector",
                    image_tag="ml-1a2b3c4d", outputs=stack_outputs("prod"), commit="1a2b3c4")

GPU machines go to the ``gpu`` pool (EC2 GPU capacity provider, ``gpu_count``); CPU machines to the
``cpu`` pool (Fargate, ``ephemeral_storage``). Every mistake is a ``ValidationError`` raised before
anything is sent to Prefect.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slipway.cloud.prefect_api import PrefectApi
from slipway.errors import ValidationError

#: Fargate task sizes: cpu units -> (min MiB, max MiB, step MiB)
FARGATE_SIZES: dict[int, tuple[int, int, int]] = {
    256: (512, 2048, 512), 512: (1024, 4096, 1024), 1024: (2048, 8192, 1024), 2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024), 8192: (16384, 61440, 4096), 16384: (32768, 122880, 8192),
}


class AwsEcsImage(enum.Enum):
    """The image variant a flow runs in (tags ``<variant>-<hash>`` in the project's ECR repository)."""

    base = "base"
    ml = "ml"
    dev = "dev"


def _fargate_memory(cpu: int) -> str:
    lo, hi, step = FARGATE_SIZES[cpu]
    return f"{lo}-{hi} MiB in steps of {step} for cpu_value {cpu}"


@dataclass(frozen=True)
class AwsEcsMachine:
    is_gpu: bool = False
    storage: int | None = None
    cpu_value: int = 1024
    memory_value: int = 2048
    image: AwsEcsImage = AwsEcsImage.ml
    gpus: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.image, AwsEcsImage):
            raise ValidationError("machine.image", "must be an AwsEcsImage", got=self.image,
                                  allowed=[i.name for i in AwsEcsImage])
        if self.is_gpu:
            if not 1 <= self.gpus <= 8:
                raise ValidationError("machine.gpus", "must be 1 to 8 on a GPU machine", got=self.gpus)
            if self.storage is not None:
                raise ValidationError("machine.storage", "GPU tasks use their instance's disk "
                                      "(slipway:gpuRootVolumeGib); ECS has no per-task storage on EC2",
                                      got=self.storage, allowed="None on GPU machines")
            if self.cpu_value < 128 or self.memory_value < 512:
                raise ValidationError("machine.cpu_value/memory_value", "GPU tasks need at least 128 cpu units "
                                      "and 512 MiB", got=(self.cpu_value, self.memory_value))
            return
        if self.cpu_value not in FARGATE_SIZES:
            raise ValidationError("machine.cpu_value", "is not a Fargate CPU size", got=self.cpu_value,
                                  allowed=[str(c) for c in FARGATE_SIZES])
        lo, hi, step = FARGATE_SIZES[self.cpu_value]
        if not (lo <= self.memory_value <= hi and (self.memory_value - lo) % step == 0):
            raise ValidationError("machine.memory_value", "is not a Fargate memory size for this CPU",
                                  got=self.memory_value, allowed=_fargate_memory(self.cpu_value))
        if self.storage is not None and not 21 <= self.storage <= 200:
            raise ValidationError("machine.storage", "Fargate storage is 21 to 200 GiB", got=self.storage)

    @property
    def pool_kind(self) -> str:
        return "gpu" if self.is_gpu else "cpu"

    def job_variables(self, image_url: str) -> dict[str, Any]:
        out: dict[str, Any] = {"image": image_url, "cpu": self.cpu_value, "memory": self.memory_value}
        if self.is_gpu:
            out["gpu_count"] = str(self.gpus)
        elif self.storage is not None:
            out["ephemeral_storage"] = self.storage
        return out


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass
class Workflow:
    machine: AwsEcsMachine = field(default_factory=AwsEcsMachine)
    name: str | None = None
    tags: Sequence[str] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    cron: str | None = None

    def deployment(self, *, flow_id: str, flow_name: str, entrypoint: str, project: str, image_tag: str,
                   outputs: Mapping[str, Any], commit: str | None = None, branch: str | None = None) -> dict[str, Any]:
        """The Prefect deployment body for this workflow (validated; nothing is sent)."""
        name = self.name or (flow_name if branch in (None, "main", "master") else f"{flow_name}-{branch}")
        if not _NAME.match(name):
            raise ValidationError("workflow.name", "letters, digits, '.', '_' and '-', at most 100", got=name)
        if not _TAG.match(image_tag) or not image_tag.startswith(f"{self.machine.image.value}-"):
            raise ValidationError("image_tag", f"must be a {self.machine.image.value}-<hash> tag of the "
                                  "machine's image variant", got=image_tag)
        if ":" not in entrypoint:
            raise ValidationError("entrypoint", "must be path/to/file.py:function", got=entrypoint)
        repos = outputs.get("ecrRepositoryUrls") or {}
        if project not in repos:
            raise ValidationError("project", "has no ECR repository in the stack outputs", got=project,
                                  allowed=sorted(repos))
        pools = outputs.get("prefectWorkPools") or {}
        pool = pools.get(self.machine.pool_kind)
        if not pool:
            raise ValidationError("outputs.prefectWorkPools", f"has no {self.machine.pool_kind} pool "
                                  "(is slipway:prefectApiUrl set on the stack?)", allowed=sorted(pools))
        tags = sorted({*self.tags, f"project:{project}", f"image:{self.machine.image.value}",
                       "gpu" if self.machine.is_gpu else "cpu",
                       *([f"commit:{commit}"] if commit else []), *([f"branch:{branch}"] if branch else [])})
        body: dict[str, Any] = {
            "name": name, "flow_id": flow_id, "work_pool_name": pool, "entrypoint": entrypoint,
            "job_variables": self.machine.job_variables(f"{repos[project]}:{image_tag}"),
            "tags": tags, "parameters": dict(self.parameters), "version": commit,
            "enforce_parameter_schema": False,
        }
        if self.cron:
            body["schedules"] = [{"schedule": {"cron": self.cron, "timezone": "UTC"}, "active": True}]
        return body

    def deploy(self, api: PrefectApi, *, flow_name: str, entrypoint: str, project: str, image_tag: str,
               outputs: Mapping[str, Any], commit: str | None = None, branch: str | None = None) -> dict[str, Any]:
        """Create or update the deployment (Prefect upserts by flow and name); returns it."""
        # Validate everything before the first call: a bad workflow leaves nothing behind.
        self.deployment(flow_id="00000000-0000-0000-0000-000000000000", flow_name=flow_name, entrypoint=entrypoint,
                        project=project, image_tag=image_tag, outputs=outputs, commit=commit, branch=branch)
        flow_id = api.ensure_flow(flow_name)
        return api.create_deployment(self.deployment(
            flow_id=flow_id, flow_name=flow_name, entrypoint=entrypoint, project=project, image_tag=image_tag,
            outputs=outputs, commit=commit, branch=branch))
