"""Where a workflow runs: ``AwsEcsMachine`` (ECS, CPU on Fargate or GPU on the GPU capacity provider),
``LocalMachine`` (a ``process`` pool on a local Prefect server) and ``AwsEcsImage.<variant>``.

Every value is checked against what ECS accepts when the machine is declared, so a bad declaration
fails at import (and ``slipway flows deploy`` fails before it creates anything).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from slipway.errors import ValidationError
from slipway.variants.hashing import tag_for

#: Fargate task sizes: cpu units -> (min MiB, max MiB, step MiB)
FARGATE_SIZES: dict[int, tuple[int, int, int]] = {
    256: (512, 2048, 512), 512: (1024, 4096, 1024), 1024: (2048, 8192, 1024), 2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024), 8192: (16384, 61440, 4096), 16384: (32768, 122880, 8192),
}
#: Fargate ephemeral storage (GiB) a CPU task may ask for
FARGATE_STORAGE = (21, 200)
#: a gp3 EBS volume ECS attaches to a task at launch (managedEBSVolume.sizeInGiB)
EBS_GP3_GIB = (1, 16384)
#: ECS task-level limits on EC2 (cpu units, MiB); GPUs per container on the largest GPU instances
EC2_CPU = (128, 196608)
EC2_MEMORY_MIN = 512
GPUS = (1, 8)
#: where a GPU task's scratch volume is mounted (also in $SLIPWAY_SCRATCH)
SCRATCH_PATH = "/scratch"
SCRATCH_VOLUME = "scratch"

BASE_IMAGE_VARIANT = "base"
_VARIANT = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class _Variants(type):
    """``AwsEcsImage.ml`` is ``AwsEcsImage("ml")``: any variant the project declares."""

    def __getattr__(cls, name: str) -> AwsEcsImage:
        if name.startswith("__"):
            raise AttributeError(name)
        return AwsEcsImage(name)


class AwsEcsImage(metaclass=_Variants):
    """The image of one of the project's variants (``[tool.slipway.variants.<name>]``, plus ``base``).

    It resolves to ``<ECR repository URL>:<variant>-<hash>``: the tag the CI image step pushes for
    the variant's current lock hash, so a flow always runs in the image its lock describes.
    Whether the variant exists is checked against the project when the workflow is deployed.
    """

    __slots__ = ("variant",)

    def __init__(self, variant: str) -> None:
        if not isinstance(variant, str) or not _VARIANT.match(variant):
            raise ValidationError("machine.image", "must name a variant (lowercase letters, digits, . _ -)",
                                  got=variant)
        self.variant = variant

    def __repr__(self) -> str:
        return f"AwsEcsImage.{self.variant}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AwsEcsImage) and other.variant == self.variant

    def __hash__(self) -> int:
        return hash(("AwsEcsImage", self.variant))

    def tag(self, digest: str) -> str:
        return tag_for(self.variant, digest)

    def uri(self, repository_url: str, digest: str) -> str:
        return f"{repository_url}:{self.tag(digest)}"


def _int(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, "must be an integer", got=value, allowed="an int, e.g. 2048")
    return value


def _fargate_memory(cpu: int) -> str:
    lo, hi, step = FARGATE_SIZES[cpu]
    return f"{lo}-{hi} MiB in steps of {step} for cpu_value {cpu}"


@dataclass(frozen=True)
class AwsEcsMachine:
    """An ECS task: ``cpu_value`` (CPU units, 1024 = 1 vCPU), ``memory_value`` (MiB), ``storage`` (GiB).

    CPU machines run on Fargate (its task sizes; ``storage`` is Fargate's ephemeral storage, 21-200
    GiB). GPU machines run on the GPU capacity provider with ``gpus`` GPUs; their ``storage`` is a
    gp3 EBS volume ECS creates for the task at launch (1-16384 GiB), mounted at ``/scratch``.
    """

    is_gpu: bool = False
    storage: int | None = None
    cpu_value: int = 1024
    memory_value: int = 2048
    image: AwsEcsImage = field(default_factory=lambda: AwsEcsImage(BASE_IMAGE_VARIANT))
    gpus: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.image, AwsEcsImage):
            raise ValidationError("machine.image", "must be AwsEcsImage.<variant>", got=self.image,
                                  allowed="AwsEcsImage.base, AwsEcsImage.<a variant of tool.slipway.variants>")
        if not isinstance(self.is_gpu, bool):
            raise ValidationError("machine.is_gpu", "must be a bool", got=self.is_gpu, allowed=["True", "False"])
        cpu, memory = _int("machine.cpu_value", self.cpu_value), _int("machine.memory_value", self.memory_value)
        storage = None if self.storage is None else _int("machine.storage", self.storage)
        if self.is_gpu:
            gpus = _int("machine.gpus", self.gpus)
            if not GPUS[0] <= gpus <= GPUS[1]:
                raise ValidationError("machine.gpus", "is out of range for a GPU machine", got=gpus,
                                      allowed=f"{GPUS[0]} to {GPUS[1]}")
            if not EC2_CPU[0] <= cpu <= EC2_CPU[1]:
                raise ValidationError("machine.cpu_value", "is out of range for an ECS task on EC2", got=cpu,
                                      allowed=f"{EC2_CPU[0]} to {EC2_CPU[1]} CPU units")
            if memory < EC2_MEMORY_MIN:
                raise ValidationError("machine.memory_value", "is too small for an ECS task", got=memory,
                                      allowed=f"at least {EC2_MEMORY_MIN} MiB")
            if storage is not None and not EBS_GP3_GIB[0] <= storage <= EBS_GP3_GIB[1]:
                raise ValidationError("machine.storage", "is out of range for the task's EBS volume (gp3)",
                                      got=storage, allowed=f"{EBS_GP3_GIB[0]} to {EBS_GP3_GIB[1]} GiB")
            return
        if cpu not in FARGATE_SIZES:
            raise ValidationError("machine.cpu_value", "is not a Fargate CPU size", got=cpu,
                                  allowed=[str(c) for c in FARGATE_SIZES])
        lo, hi, step = FARGATE_SIZES[cpu]
        if not (lo <= memory <= hi and (memory - lo) % step == 0):
            raise ValidationError("machine.memory_value", "is not a Fargate memory size for this CPU",
                                  got=memory, allowed=_fargate_memory(cpu))
        if storage is not None and not FARGATE_STORAGE[0] <= storage <= FARGATE_STORAGE[1]:
            raise ValidationError("machine.storage", "is out of range for Fargate ephemeral storage", got=storage,
                                  allowed=f"{FARGATE_STORAGE[0]} to {FARGATE_STORAGE[1]} GiB")

    @property
    def pool_kind(self) -> str:
        return "gpu" if self.is_gpu else "cpu"

    @property
    def variant(self) -> str:
        return self.image.variant

    def job_variables(self, image_uri: str, *, infrastructure_role_arn: str | None = None) -> dict[str, Any]:
        """The deployment's job variables on Slipway's ECS pools (see ``slipway.flow.ecs_template``)."""
        out: dict[str, Any] = {"image": image_uri, "cpu": self.cpu_value, "memory": self.memory_value}
        if not self.is_gpu:
            if self.storage is not None:
                out["ephemeral_storage"] = self.storage
            return out
        out["gpu_count"] = str(self.gpus)  # ECS wants the GPU count as a string
        if self.storage is not None:
            if not infrastructure_role_arn:
                raise ValidationError("outputs.ecsInfrastructureRoleArn", "is needed for a GPU machine with "
                                      "storage: ECS creates the task's EBS volume with this role (the "
                                      "EcsTaskStorage component; or [tool.slipway.flows].infrastructure_role_arn)",
                                      allowed="the ARN of a role with AmazonECSInfrastructureRolePolicyForVolumes")
            out.update(scratch_job_variables(self.storage, infrastructure_role_arn))
        return out


def scratch_job_variables(size_gib: int, role_arn: str) -> dict[str, Any]:
    """A task volume ECS configures at launch: a managed gp3 EBS volume of ``size_gib`` at /scratch."""
    return {
        "task_volumes": [{"name": SCRATCH_VOLUME, "configuredAtLaunch": True}],
        "mount_points": [{"sourceVolume": SCRATCH_VOLUME, "containerPath": SCRATCH_PATH}],
        "volume_configurations": [{"name": SCRATCH_VOLUME, "managedEBSVolume": {
            "sizeInGiB": size_gib, "volumeType": "gp3", "encrypted": True, "filesystemType": "ext4",
            "roleArn": role_arn, "terminationPolicy": {"deleteOnTermination": True}}}],
    }


@dataclass(frozen=True)
class LocalMachine:
    """The embedded default: a ``process`` work pool on a local Prefect server (the flow runs in the
    worker's environment, from the repository checkout)."""

    pool: str | None = None

    @property
    def pool_kind(self) -> str:
        return "local"

    @property
    def variant(self) -> None:
        return None

    def job_variables(self) -> dict[str, Any]:
        return {}


Machine = AwsEcsMachine | LocalMachine
