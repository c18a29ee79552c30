"""Stack settings: every ``slipway:*`` config key, read once and validated before any resource exists.

``Settings.from_values`` is the whole validation (plain values in, a frozen dataclass out, or a
``ValidationError`` naming the key and what is allowed); ``Settings.from_pulumi`` only gathers the
values from ``pulumi.Config`` and keeps secret ones wrapped as secret Outputs. ``KEYS`` is the one
list of keys: ``pulumi/Pulumi.yaml`` documents exactly these (a test checks it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slipway.errors import ValidationError

NAMESPACE = "slipway"

#: ECS-optimised Amazon Linux 2 GPU AMI, published by AWS as a public SSM parameter.
DEFAULT_GPU_AMI_PARAMETER = "/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/recommended/image_id"

#: Instance families with NVIDIA GPUs (Batch accepts families, e.g. ``g5``, or sizes, e.g. ``g5.xlarge``).
GPU_FAMILIES = frozenset({
    "p2", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200",
    "g3", "g3s", "g4dn", "g5", "g6", "g6e", "g6f", "gr6", "gr6f",
})

#: Retention values CloudWatch Logs accepts (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-(central|north|south|east|west|northeast|northwest|"
                     r"southeast|southwest)-\d$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_VARIANT = re.compile(r"^[a-z0-9]{1,32}$")
_ENV = re.compile(r"^[a-z][a-z0-9]{0,15}$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_VPC = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_AMI = re.compile(r"^ami-[0-9a-f]{8,17}$")
_INSTANCE = re.compile(r"^[a-z][a-z0-9-]*[0-9][a-z0-9-]*(\.[a-z0-9]+)?$")
_S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>[^\s*?]*?))?/*$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class Key:
    """One config key: its name (without ``slipway:``), kind, default and meaning."""

    name: str
    kind: str  # string | integer | boolean | array | object
    default: Any
    doc: str
    secret: bool = False
    namespace: str = NAMESPACE

    @property
    def full(self) -> str:
        return f"{self.namespace}:{self.name}"


REQUIRED = object()

KEYS: tuple[Key, ...] = (
    Key("region", "string", REQUIRED, "AWS region, e.g. eu-west-1.", namespace="aws"),
    Key("environment", "string", None, "Short environment name used in every resource name "
        "(slipway-<environment>-...). Default: the stack name."),
    Key("vpcId", "string", REQUIRED, "VPC for ECS and Batch instances (vpc-...)."),
    Key("subnetIds", "array", REQUIRED, "Private subnets (subnet-...) for tasks, jobs and GPU instances."),
    Key("projects", "array", [], "Projects (one ECR repository and one Batch job definition each): "
        "a list of names or of objects {name, variant, vcpus, memory, gpus}."),
    Key("variants", "array", ["base", "ml", "dev"], "Image variants; tags are <variant>-<hash>."),
    Key("registryPrefix", "string", None, "ECR repository prefix. Default: slipway/<environment>."),
    Key("keepImages", "integer", 10, "Newest images kept per variant by the ECR lifecycle policy."),
    Key("untaggedExpiryDays", "integer", 1, "Days before untagged images expire."),
    Key("gpuAmiParameter", "string", DEFAULT_GPU_AMI_PARAMETER,
        "SSM parameter holding the ECS GPU-optimised AMI id (must be a GPU AMI)."),
    Key("gpuAmiId", "string", None, "Explicit GPU AMI id (ami-...), instead of the SSM parameter."),
    Key("ecsGpuInstanceType", "string", "g5.xlarge", "Instance type of the ECS GPU Auto Scaling group."),
    Key("ecsGpuMaxInstances", "integer", 4, "Maximum size of the ECS GPU Auto Scaling group."),
    Key("gpuRootVolumeGib", "integer", 100, "Root volume (GiB) of GPU instances: the disk GPU tasks get."),
    Key("cpuInstanceTypes", "array", ["c6i", "m6i", "r6i"], "Batch CPU instance families or types."),
    Key("gpuInstanceTypes", "array", ["g5"], "Batch GPU instance families or types (GPU families only)."),
    Key("batchCpuMaxVcpus", "integer", 256, "Max vCPUs of each Batch CPU compute environment."),
    Key("batchGpuMaxVcpus", "integer", 64, "Max vCPUs of the Batch GPU compute environment."),
    Key("gpuQueuePriority", "integer", 100, "Priority of the GPU job queue (0-1000, higher first)."),
    Key("cpuQueuePriority", "integer", 50, "Priority of the CPU job queue (0-1000, higher first)."),
    Key("logRetentionDays", "integer", 30, "CloudWatch Logs retention for tasks and jobs."),
    Key("prefectApiUrl", "string", None, "Prefect API URL (.../api); without it no work pools are made."),
    Key("prefectApiKey", "string", None, "Prefect API key (Prefect Cloud).", secret=True),
    Key("slackWebhookUrl", "string", None, "Slack incoming webhook URL stored in Secrets Manager.",
        secret=True),
    Key("tailscaleApiKey", "string", None, "Tailscale API key stored in Secrets Manager.", secret=True),
    Key("webhookUuids", "array", None, "Authorised Bitbucket/GitHub webhook UUIDs (JSON list), stored "
        "in Secrets Manager.", secret=True),
    Key("tags", "object", {}, "Extra tags on every resource."),
    # commit-triggered runs (slipway.runs; docs/runs.md)
    Key("webhook", "boolean", True, "Deploy the push webhook of commit-triggered runs (Lambda + HTTP API; "
        "output webhookUrl)."),
    Key("githubWebhookSecret", "string", None, "HMAC secret of the GitHub push webhooks, stored in Secrets "
        "Manager (slipway/<environment>/github-webhook-secret).", secret=True),
    Key("runsGitToken", "string", None, "Machine credential (token) run jobs clone and push with, stored in "
        "Secrets Manager (slipway/<environment>/runs-git-token).", secret=True),
    Key("dvcRemoteUrl", "string", None, "DVC remote of the projects (s3://bucket/prefix): Batch run jobs may "
        "read and write under it. Default: no S3 access."),
    Key("runsImageTag", "string", "runs-latest", "Tag of the runs image (images/runs) in each project's ECR "
        "repository: what the Batch job definitions run."),
)

KEY_NAMES = {k.full for k in KEYS}


@dataclass(frozen=True)
class Project:
    """One ML repository: an ECR repository and a Batch job definition with default resources."""

    name: str
    variant: str = "ml"
    vcpus: int = 4
    memory: int = 16384
    gpus: int = 1


@dataclass(frozen=True)
class Settings:
    """Everything the components need, validated. Components never read config themselves."""

    environment: str
    region: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    projects: tuple[Project, ...] = ()
    variants: tuple[str, ...] = ("base", "ml", "dev")
    registry_prefix: str = ""
    keep_images: int = 10
    untagged_expiry_days: int = 1
    gpu_ami_parameter: str = DEFAULT_GPU_AMI_PARAMETER
    gpu_ami_id: str | None = None
    ecs_gpu_instance_type: str = "g5.xlarge"
    ecs_gpu_max_instances: int = 4
    gpu_root_volume_gib: int = 100
    cpu_instance_types: tuple[str, ...] = ("c6i", "m6i", "r6i")
    gpu_instance_types: tuple[str, ...] = ("g5",)
    batch_cpu_max_vcpus: int = 256
    batch_gpu_max_vcpus: int = 64
    gpu_queue_priority: int = 100
    cpu_queue_priority: int = 50
    log_retention_days: int = 30
    prefect_api_url: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    webhook: bool = True
    dvc_remote_url: str | None = None
    runs_image_tag: str = "runs-latest"
    # Secret values: plain str only in tests; from Pulumi they are secret Outputs (never printed).
    secrets: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def prefix(self) -> str:
        """``slipway-<environment>``: the start of every physical name."""
        return f"slipway-{self.environment}"

    def all_tags(self) -> dict[str, str]:
        return {"slipway:environment": self.environment, "managed-by": "slipway-pulumi", **self.tags}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_values(cls, values: Mapping[str, Any], *, stack: str,
                    secrets: Mapping[str, Any] | None = None) -> Settings:
        """Validate plain config values (``{"slipway:vpcId": ..., "aws:region": ...}``)."""
        unknown = sorted(k for k in values if k.startswith(f"{NAMESPACE}:") and k not in KEY_NAMES)
        if unknown:
            raise ValidationError(unknown[0], "unknown config key",
                                  allowed=sorted(k for k in KEY_NAMES if k.startswith(NAMESPACE)))
        v = _Reader(values)
        env = v.string("environment") or stack
        if not _ENV.match(env):
            raise ValidationError(f"{NAMESPACE}:environment", "must be 1-16 lower-case letters/digits, "
                                  "starting with a letter", got=env, allowed="e.g. dev, prod, staging2")
        region = v.string("region", namespace="aws")
        if not region or not _REGION.match(region):
            raise ValidationError("aws:region", "is not an AWS region name", got=region,
                                  allowed="<area>-<direction>-<n>, e.g. us-east-1, eu-west-1, ap-southeast-2")
        vpc_id = v.string("vpcId")
        if not vpc_id or not _VPC.match(vpc_id):
            raise ValidationError(f"{NAMESPACE}:vpcId", "must be a VPC id", got=vpc_id, allowed="vpc-<hex>")
        subnets = v.strings("subnetIds")
        if not subnets:
            raise ValidationError(f"{NAMESPACE}:subnetIds", "needs at least one subnet", got=subnets,
                                  allowed="a list of subnet-<hex> ids")
        for s in subnets:
            if not _SUBNET.match(s):
                raise ValidationError(f"{NAMESPACE}:subnetIds", "is not a subnet id", got=s,
                                      allowed="subnet-<hex>")
        variants = v.strings("variants")
        if not variants:
            raise ValidationError(f"{NAMESPACE}:variants", "needs at least one variant", allowed="e.g. [ml]")
        for var in variants:
            if not _VARIANT.match(var):
                raise ValidationError(f"{NAMESPACE}:variants", "variant names are 1-32 lower-case letters "
                                      "or digits (tags are <variant>-<hash>)", got=var)
        raw_projects = v.parsed("projects")
        if not isinstance(raw_projects, list):
            raise ValidationError(f"{NAMESPACE}:projects", "must be a list of names or objects", got=raw_projects)
        projects = tuple(_project(p, i, variants) for i, p in enumerate(raw_projects))
        names = [p.name for p in projects]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValidationError(f"{NAMESPACE}:projects", "project names must be unique", got=dupes[0])

        cpu_types = v.strings("cpuInstanceTypes")
        gpu_types = v.strings("gpuInstanceTypes")
        for t in (*cpu_types, *gpu_types):
            if not _INSTANCE.match(t):
                raise ValidationError(f"{NAMESPACE}:{'cpu' if t in cpu_types else 'gpu'}InstanceTypes",
                                      "is not an EC2 instance family or type", got=t,
                                      allowed="e.g. c6i, m6i.2xlarge, g5, p4d.24xlarge")
        for t in cpu_types:
            if _family(t) in GPU_FAMILIES:
                raise ValidationError(f"{NAMESPACE}:cpuInstanceTypes", "is a GPU family; list it in "
                                      "gpuInstanceTypes so it gets the GPU AMI", got=t)
        for t in gpu_types:
            if _family(t) not in GPU_FAMILIES:
                raise ValidationError(f"{NAMESPACE}:gpuInstanceTypes", "is not a GPU instance family",
                                      got=t, allowed=sorted(GPU_FAMILIES))
        ecs_gpu_type = v.string("ecsGpuInstanceType") or ""
        if "." not in ecs_gpu_type or _family(ecs_gpu_type) not in GPU_FAMILIES:
            raise ValidationError(f"{NAMESPACE}:ecsGpuInstanceType", "must be a GPU instance type with a size",
                                  got=ecs_gpu_type, allowed="e.g. g5.xlarge, g6.2xlarge, p3.2xlarge")
        gpu_ami_parameter = v.string("gpuAmiParameter") or ""
        gpu_ami_id = v.string("gpuAmiId") or None  # "" (Pulumi.yaml's default) is unset
        if gpu_ami_id is not None and not _AMI.match(gpu_ami_id):
            raise ValidationError(f"{NAMESPACE}:gpuAmiId", "is not an AMI id", got=gpu_ami_id, allowed="ami-<hex>")
        wants_gpu = bool(gpu_types) or v.integer("ecsGpuMaxInstances", minimum=0) > 0
        if wants_gpu and gpu_ami_id is None and not _is_gpu_ami_parameter(gpu_ami_parameter):
            raise ValidationError(f"{NAMESPACE}:gpuAmiParameter", "GPU instances need a GPU AMI, and this "
                                  "parameter is not one of the GPU-optimised AMI parameters",
                                  got=gpu_ami_parameter,
                                  allowed=f"{DEFAULT_GPU_AMI_PARAMETER} (or another .../gpu/... parameter), "
                                          "or set slipway:gpuAmiId")
        retention = v.integer("logRetentionDays", minimum=1)
        if retention not in LOG_RETENTION_DAYS:
            raise ValidationError(f"{NAMESPACE}:logRetentionDays", "is not a CloudWatch retention value",
                                  got=retention, allowed=[str(d) for d in LOG_RETENTION_DAYS])
        prefect_url = v.string("prefectApiUrl") or None  # "" (Pulumi.yaml's default) is unset
        if prefect_url is not None and not re.match(r"^https?://[^\s/]+(/\S*)?$", prefect_url):
            raise ValidationError(f"{NAMESPACE}:prefectApiUrl", "must be an http(s) URL", got=prefect_url,
                                  allowed="e.g. http://127.0.0.1:4200/api")
        tags = v.parsed("tags")
        if not isinstance(tags, Mapping) or not all(isinstance(t, str) and isinstance(x, str)
                                                    for t, x in tags.items()):
            raise ValidationError(f"{NAMESPACE}:tags", "must be a map of strings to strings", got=tags)
        prefix = v.string("registryPrefix") or f"slipway/{env}"
        if not re.fullmatch(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*", prefix) or len(prefix) > 150:
            raise ValidationError(f"{NAMESPACE}:registryPrefix", "is not an ECR repository path", got=prefix,
                                  allowed="lower-case letters and digits separated by '/', '-', '_' or '.'")
        dvc_remote = v.string("dvcRemoteUrl") or None  # "" (Pulumi.yaml's default) is unset
        if dvc_remote is not None and not _S3_URL.match(dvc_remote):
            raise ValidationError(f"{NAMESPACE}:dvcRemoteUrl", "must be an S3 URL", got=dvc_remote,
                                  allowed="s3://<bucket>[/<prefix>], e.g. s3://acme-dvc/store")
        runs_tag = v.string("runsImageTag") or ""
        if not _IMAGE_TAG.match(runs_tag):
            raise ValidationError(f"{NAMESPACE}:runsImageTag", "is not an image tag", got=runs_tag,
                                  allowed="1-128 letters, digits, '_', '.', '-', e.g. runs-latest")
        return cls(
            environment=env, region=region, vpc_id=vpc_id, subnet_ids=tuple(subnets), projects=projects,
            variants=tuple(variants), registry_prefix=prefix,
            keep_images=v.integer("keepImages", minimum=1, maximum=1000),
            untagged_expiry_days=v.integer("untaggedExpiryDays", minimum=1, maximum=3650),
            gpu_ami_parameter=gpu_ami_parameter, gpu_ami_id=gpu_ami_id, ecs_gpu_instance_type=ecs_gpu_type,
            ecs_gpu_max_instances=v.integer("ecsGpuMaxInstances", minimum=0, maximum=1000),
            gpu_root_volume_gib=v.integer("gpuRootVolumeGib", minimum=30, maximum=16384),
            cpu_instance_types=tuple(cpu_types), gpu_instance_types=tuple(gpu_types),
            batch_cpu_max_vcpus=v.integer("batchCpuMaxVcpus", minimum=0, maximum=100_000),
            batch_gpu_max_vcpus=v.integer("batchGpuMaxVcpus", minimum=0, maximum=100_000),
            gpu_queue_priority=v.integer("gpuQueuePriority", minimum=0, maximum=1000),
            cpu_queue_priority=v.integer("cpuQueuePriority", minimum=0, maximum=1000),
            log_retention_days=retention, prefect_api_url=prefect_url, tags=dict(tags),
            webhook=v.boolean("webhook"), dvc_remote_url=dvc_remote, runs_image_tag=runs_tag,
            secrets=dict(secrets or {}),
        )

    @classmethod
    def from_pulumi(cls) -> Settings:  # pragma: no cover - exercised by the program test under mocks
        """Read every key once from the stack's config; secret keys stay secret Outputs."""
        import pulumi

        stack = pulumi.get_stack()
        values: dict[str, Any] = {}
        secrets: dict[str, Any] = {}
        configs = {ns: pulumi.Config(ns) for ns in {k.namespace for k in KEYS}}
        for key in KEYS:
            cfg = configs[key.namespace]
            if key.secret:
                secret = cfg.get_secret(key.name)
                if secret is not None:
                    secrets[key.name] = secret
                continue
            raw = cfg.get_object(key.name) if key.kind in ("array", "object") else cfg.get(key.name)
            if raw is not None:
                values[key.full] = raw
        # Typos (slipway:vpcID) would otherwise be ignored silently: pass every slipway:* key along.
        from pulumi.runtime.config import CONFIG

        for name in CONFIG.get():
            if name.startswith(f"{NAMESPACE}:") and name not in KEY_NAMES:
                values[name] = "(set)"
        return cls.from_values(values, stack=stack, secrets=secrets)


def _is_gpu_ami_parameter(name: str) -> bool:
    """AWS publishes its GPU AMIs under .../gpu/... (ECS) or with "nvidia" in the path (Batch, EKS)."""
    return name.startswith("/") and ("/gpu/" in name or "nvidia" in name.lower())


def _family(instance: str) -> str:
    return instance.split(".", 1)[0]


def _project(raw: Any, index: int, variants: list[str]) -> Project:
    where = f"{NAMESPACE}:projects[{index}]"
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, Mapping):
        raise ValidationError(where, "must be a name or an object {name, variant, vcpus, memory, gpus}",
                              got=raw)
    extra = sorted(set(raw) - {"name", "variant", "vcpus", "memory", "gpus"})
    if extra:
        raise ValidationError(f"{where}.{extra[0]}", "unknown project field",
                              allowed="name, variant, vcpus, memory, gpus")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(f"{where}.name", "must be a repository name: lower-case letters, digits, "
                              "- and _, at most 63", got=name)
    variant = raw.get("variant", "ml")
    if variant not in variants:
        raise ValidationError(f"{where}.variant", "is not one of slipway:variants", got=variant,
                              allowed=variants)
    limits = {"vcpus": (1, 256, 4), "memory": (128, 2_000_000, 16384), "gpus": (0, 16, 1)}
    nums: dict[str, int] = {}
    for key, (lo, hi, default) in limits.items():
        val = raw.get(key, default)
        if isinstance(val, bool) or not isinstance(val, int) or not lo <= val <= hi:
            raise ValidationError(f"{where}.{key}", f"must be an integer from {lo} to {hi}", got=val)
        nums[key] = val
    return Project(name=name, variant=variant, **nums)


class _Reader:
    """Typed access to plain config values with defaults from ``KEYS``."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.keys = {k.full: k for k in KEYS}

    def raw(self, name: str, namespace: str = NAMESPACE) -> Any:
        full = f"{namespace}:{name}"
        key = self.keys[full]
        if full in self.values and self.values[full] is not None:
            return self.values[full]
        if key.default is REQUIRED:
            raise ValidationError(full, "is required", allowed=f"pulumi config set {full} ...")
        return key.default

    def parsed(self, name: str) -> Any:
        """Arrays and objects arrive as JSON text from `pulumi config set`, as values from YAML."""
        val = self.raw(name)
        if isinstance(val, str) and self.keys[f"{NAMESPACE}:{name}"].kind in ("array", "object"):
            try:
                return json.loads(val)
            except ValueError:
                return [val] if self.keys[f"{NAMESPACE}:{name}"].kind == "array" else val
        return val

    def string(self, name: str, namespace: str = NAMESPACE) -> str | None:
        val = self.raw(name, namespace)
        if val is not None and not isinstance(val, str):
            raise ValidationError(f"{namespace}:{name}", "must be a string", got=val)
        return val

    def strings(self, name: str) -> list[str]:
        val = self.parsed(name)
        if not isinstance(val, list) or not all(isinstance(x, str) for x in val):
            raise ValidationError(f"{NAMESPACE}:{name}", "must be a list of strings", got=val)
        return list(val)

    def boolean(self, name: str) -> bool:
        full = f"{NAMESPACE}:{name}"
        val = self.raw(name)
        if isinstance(val, str) and val.strip().lower() in ("true", "false"):
            val = val.strip().lower() == "true"
        if not isinstance(val, bool):
            raise ValidationError(full, "must be true or false", got=val, allowed=["true", "false"])
        return val

    def integer(self, name: str, *, minimum: int, maximum: int | None = None) -> int:
        full = f"{NAMESPACE}:{name}"
        val = self.raw(name)
        if isinstance(val, str) and re.fullmatch(r"-?\d+", val.strip()):
            val = int(val)
        if isinstance(val, bool) or not isinstance(val, int):
            raise ValidationError(full, "must be an integer", got=val)
        if val < minimum or (maximum is not None and val > maximum):
            allowed = f"{minimum} or more" if maximum is None else f"{minimum} to {maximum}"
            raise ValidationError(full, "is out of range", got=val, allowed=allowed)
        return val


def config_reference() -> str:
    """The comment block ``pulumi/Pulumi.yaml`` carries: one entry per key (a test keeps them equal)."""
    lines = ["# Config keys (pulumi config set [--secret] KEY VALUE; arrays/objects with --path or JSON):"]
    for key in KEYS:
        if key.default is REQUIRED:
            default = "required"
        elif key.default is None:
            default = "optional"
        else:
            default = f"default {json.dumps(key.default)}"
        secret = ", secret" if key.secret else ""
        lines.append(f"#   {key.full} ({key.kind}, {default}{secret})")
        lines.append(f"#       {key.doc}")
    return "\n".join(lines) + "\n"
