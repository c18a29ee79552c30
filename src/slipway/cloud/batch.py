"""``BatchCompute``: AWS Batch for commit-triggered DVC runs (the seed's per-project CloudFormation).

The job definitions run the runs image (``images/runs``: git, ``dvc[s3]``, ``slipway runs job``) from
each project's ECR repository, tag ``runs_image_tag``. The job role may read and write the DVC
remote's prefix and read the secrets the runner is pointed at (``SLIPWAY_*_SECRET``), nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws.batch as batch
import pulumi_aws.cloudwatch as cloudwatch
import pulumi_aws.ec2 as ec2
import pulumi_aws.iam as iam
import pulumi_aws.secretsmanager as secretsmanager

from slipway.cloud import policies
from slipway.cloud.ecs import ECS_INSTANCE_POLICY
from slipway.cloud.settings import Project

#: the job definitions' default command: the runner (a submission overrides it with its mode and args)
RUNNER_COMMAND = ("slipway", "runs", "job", "--mode", "repro")


def s3_location(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ``("bucket", "some/prefix")``."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def container_properties(project: Project, image: str, job_role_arn: str, execution_role_arn: str,
                         log_group: str, region: str, environment: Mapping[str, str] | None = None) -> str:
    """Batch container properties with the project's default vCPU/memory/GPU resource requirements;
    ``environment``: the runner's variables (secret *names*, never values)."""
    requirements = [{"type": "VCPU", "value": str(project.vcpus)},
                    {"type": "MEMORY", "value": str(project.memory)}]
    if project.gpus:
        requirements.append({"type": "GPU", "value": str(project.gpus)})
    env = {"SLIPWAY_PROJECT": project.name, "AWS_REGION": region, **(environment or {})}
    return json.dumps({
        "image": image,
        "command": list(RUNNER_COMMAND),
        "resourceRequirements": requirements,
        "jobRoleArn": job_role_arn,
        "executionRoleArn": execution_role_arn,
        "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": log_group, "awslogs-region": region, "awslogs-stream-prefix": project.name}},
    }, sort_keys=True)


@dataclass
class BatchComputeArgs:
    prefix: str
    region: str
    vpc_id: str
    subnet_ids: Sequence[str]
    projects: Sequence[Project]
    repository_urls: Mapping[str, Any]
    repository_arns: Sequence[Any]
    gpu_ami_id: Any
    cpu_instance_types: Sequence[str] = ("c6i", "m6i", "r6i")
    gpu_instance_types: Sequence[str] = ("g5",)
    cpu_max_vcpus: int = 256
    gpu_max_vcpus: int = 64
    gpu_queue_priority: int = 100
    cpu_queue_priority: int = 50
    log_retention_days: int = 30
    tags: Mapping[str, str] = field(default_factory=dict)
    #: tag of the runs image in each project's repository (``images/runs/build.sh <url>:<tag>``)
    runs_image_tag: str = "runs-latest"
    #: the DVC remote (``s3://bucket/prefix``) run jobs pull from and push to; "" = no S3 access
    dvc_remote_url: str = ""
    #: runner variable (``SLIPWAY_SLACK_WEBHOOK_SECRET``, ...) -> ARN of a secret that has a value
    job_secret_arns: Mapping[str, Any] = field(default_factory=dict)
    #: the machine credential (a secret Output); set: ``<secret_prefix>/runs-git-token`` holds it
    git_token: Any = None
    secret_prefix: str = ""


class BatchCompute(pulumi.ComponentResource):
    """Compute environments ``<prefix>-cpu-spot``, ``<prefix>-cpu-ondemand``, ``<prefix>-gpu``; job queues
    ``<prefix>-gpu`` and ``<prefix>-cpu`` (spot first, then on-demand); one job definition
    ``<prefix>-ml-<repo>`` per project."""

    def __init__(self, name: str, args: BatchComputeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:aws:BatchCompute", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        self.log_group = cloudwatch.LogGroup(f"{name}-logs", name=f"/slipway/{args.prefix}/batch",
                                             retention_in_days=args.log_retention_days, tags=tags, opts=child)
        self.security_group = ec2.SecurityGroup(
            f"{name}-sg", name=f"{args.prefix}-batch", vpc_id=args.vpc_id,
            description="Slipway Batch instances: no inbound traffic",
            egress=[ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"])],
            tags=tags, opts=child)
        self.instance_role = iam.Role(f"{name}-instance", name=f"{args.prefix}-batch-instance",
                                      assume_role_policy=pulumi.Output.json_dumps(
                                          policies.assume_role("ec2.amazonaws.com")), tags=tags, opts=child)
        self.instance_policy = iam.RolePolicyAttachment(f"{name}-instance-ecs", role=self.instance_role.name,
                                 policy_arn=ECS_INSTANCE_POLICY, opts=child)
        self.instance_profile = iam.InstanceProfile(f"{name}-instance-profile", role=self.instance_role.name,
                                                    name=f"{args.prefix}-batch-instance", opts=child)
        self.execution_role = iam.Role(f"{name}-execution", name=f"{args.prefix}-batch-execution",
                                       assume_role_policy=pulumi.Output.json_dumps(
                                           policies.assume_role("ecs-tasks.amazonaws.com")), tags=tags, opts=child)
        self.execution_policy = iam.RolePolicy(f"{name}-execution-policy", role=self.execution_role.id, opts=child,
                       policy=pulumi.Output.json_dumps(policies.document(
                           *policies.ecr_pull(args.repository_arns),
                           policies.logs_write(self.log_group.arn, self.log_group.arn.apply(lambda a: f"{a}:*")))))
        self.job_role = iam.Role(f"{name}-job", name=f"{args.prefix}-batch-job",
                                 assume_role_policy=pulumi.Output.json_dumps(
                                     policies.assume_role("ecs-tasks.amazonaws.com")), tags=tags, opts=child)
        job_env: dict[str, Any] = dict(args.job_secret_arns)
        if args.git_token is not None:
            self.git_token_secret = secretsmanager.Secret(
                f"{name}-git-token", name=f"{args.secret_prefix or args.prefix}/runs-git-token",
                description="Machine credential run jobs clone and push with (slipway runs job)",
                recovery_window_in_days=7, tags=tags, opts=child)
            token: pulumi.Output[str] = pulumi.Output.secret(args.git_token)  # type: ignore[arg-type]
            self.git_token_version = secretsmanager.SecretVersion(
                f"{name}-git-token-value", secret_id=self.git_token_secret.id, secret_string=token,
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["secret_string"]))
            job_env["SLIPWAY_GIT_TOKEN_SECRET"] = self.git_token_secret.arn
        job_statements: list[policies.Statement] = []
        if args.dvc_remote_url:
            job_statements += policies.s3_prefix_read_write(*s3_location(args.dvc_remote_url), sid="DvcRemote")
        if job_env:
            job_statements.append(policies.secrets_read([job_env[k] for k in sorted(job_env)]))
        if job_statements:
            self.job_policy = iam.RolePolicy(f"{name}-job-policy", role=self.job_role.id, opts=child,
                                             policy=pulumi.Output.json_dumps(policies.document(*job_statements)))

        def environment(suffix: str, kind: str, types: Sequence[str], max_vcpus: int, gpu: bool,
                        strategy: str) -> batch.ComputeEnvironment:
            ec2_config = None
            if gpu:
                ec2_config = [batch.ComputeEnvironmentComputeResourcesEc2ConfigurationArgs(
                    image_type="ECS_AL2_NVIDIA", image_id_override=args.gpu_ami_id)]
            return batch.ComputeEnvironment(
                f"{name}-{suffix}", name=f"{args.prefix}-{suffix}", type="MANAGED", tags=tags, opts=child,
                compute_resources=batch.ComputeEnvironmentComputeResourcesArgs(
                    type=kind, allocation_strategy=strategy, min_vcpus=0, max_vcpus=max_vcpus,
                    instance_types=list(types), instance_role=self.instance_profile.arn,
                    subnets=list(args.subnet_ids), security_group_ids=[self.security_group.id],
                    ec2_configurations=ec2_config, tags=tags))

        self.cpu_spot = environment("cpu-spot", "SPOT", args.cpu_instance_types, args.cpu_max_vcpus, False,
                                    "SPOT_PRICE_CAPACITY_OPTIMIZED")
        self.cpu_on_demand = environment("cpu-ondemand", "EC2", args.cpu_instance_types, args.cpu_max_vcpus,
                                         False, "BEST_FIT_PROGRESSIVE")
        self.queues: dict[str, batch.JobQueue] = {}
        self.queues["cpu"] = batch.JobQueue(
            f"{name}-cpu-queue", name=f"{args.prefix}-cpu", state="ENABLED", priority=args.cpu_queue_priority,
            compute_environment_orders=[
                batch.JobQueueComputeEnvironmentOrderArgs(order=1, compute_environment=self.cpu_spot.arn),
                batch.JobQueueComputeEnvironmentOrderArgs(order=2, compute_environment=self.cpu_on_demand.arn)],
            tags=tags, opts=child)
        if args.gpu_instance_types:
            self.gpu = environment("gpu", "EC2", args.gpu_instance_types, args.gpu_max_vcpus, True,
                                   "BEST_FIT_PROGRESSIVE")
            self.queues["gpu"] = batch.JobQueue(
                f"{name}-gpu-queue", name=f"{args.prefix}-gpu", state="ENABLED", priority=args.gpu_queue_priority,
                compute_environment_orders=[
                    batch.JobQueueComputeEnvironmentOrderArgs(order=1, compute_environment=self.gpu.arn)],
                tags=tags, opts=child)

        self.job_definitions: dict[str, batch.JobDefinition] = {}
        for project in args.projects:
            image = pulumi.Output.concat(args.repository_urls[project.name], f":{args.runs_image_tag}")
            def render(v: list[Any], p: Project = project) -> str:
                return container_properties(p, v[0], v[1], v[2], v[3], args.region, v[4])

            props = pulumi.Output.all(image, self.job_role.arn, self.execution_role.arn,
                                      self.log_group.name, pulumi.Output.from_input(job_env)).apply(render)
            self.job_definitions[project.name] = batch.JobDefinition(
                f"{name}-{project.name}", name=f"{args.prefix}-ml-{project.name}", type="container",
                platform_capabilities=["EC2"], container_properties=props, propagate_tags=True,
                retry_strategy=batch.JobDefinitionRetryStrategyArgs(attempts=2, evaluate_on_exits=[
                    batch.JobDefinitionRetryStrategyEvaluateOnExitArgs(on_status_reason="Host EC2*",
                                                                       action="RETRY"),
                    batch.JobDefinitionRetryStrategyEvaluateOnExitArgs(on_reason="*", action="EXIT")]),
                tags={**tags, "slipway:project": project.name}, opts=child)
        self.queue_arns = {k: q.arn for k, q in self.queues.items()}
        self.job_definition_arns = {k: d.arn for k, d in self.job_definitions.items()}
        self.register_outputs({"queue_arns": self.queue_arns, "job_definition_arns": self.job_definition_arns})
