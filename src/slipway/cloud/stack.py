"""The whole stack: ``Settings`` in, components built, the outputs the rest of Slipway reads out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from slipway.cloud.batch import BatchCompute, BatchComputeArgs
from slipway.cloud.ecs import EcsCompute, EcsComputeArgs
from slipway.cloud.ecs_storage import EcsTaskStorage, EcsTaskStorageArgs
from slipway.cloud.registry import ImageRegistry, ImageRegistryArgs
from slipway.cloud.secrets import Secrets, SecretsArgs
from slipway.cloud.settings import Settings

#: stack output -> what reads it
OUTPUTS: dict[str, str] = {
    "environment": "the environment name in every resource name",
    "region": "the AWS region of everything below",
    "ecrRepositoryUrls": "project -> ECR repository URL: the CI image step pushes <variant>-<hash> tags here",
    "ecsClusterArn": "the ECS cluster Prefect ECS workers launch flow runs into",
    "ecsGpuCapacityProvider": "capacity provider of GPU tasks (the gpu work pool's default)",
    "ecsExecutionRoleArn": "role ECS uses to pull images, write logs and read Slipway's secrets",
    "ecsTaskRoleArn": "role flow runs assume (attach what flows need)",
    "ecsLogGroup": "CloudWatch log group of flow runs",
    "prefectWorkerPolicyArn": "IAM policy to attach to the role that runs the Prefect ECS worker",
    "ecsInfrastructureRoleArn": "role ECS assumes to create the EBS task volumes (slipway flows deploy: roleArn)",
    "prefectWorkerStoragePolicyArn": "IAM policy to attach next to prefectWorkerPolicyArn: pass that role to ECS",
    "batchJobQueueArns": "gpu/cpu -> Batch job queue ARN: where the commit-triggered DVC runner submits",
    "batchJobDefinitions": "project -> Batch job definition name slipway-<env>-ml-<repo>",
    "secretArns": "Secrets Manager ARNs (webhook UUIDs, Slack webhook, Tailscale key); never the values",
    "prefectWorkPools": "cpu/gpu/local -> Prefect work pool names deployments target",
    "prefectAwsBlock": "name of the aws-credentials block flows load",
}


@dataclass
class Stack:
    outputs: dict[str, Any]
    components: dict[str, pulumi.ComponentResource]


def build_stack(s: Settings, *, ecs_base_template: dict[str, Any] | None = None,
                process_base_template: dict[str, Any] | None = None, webhook: bool = False,
                webhook_code: Any = None) -> Stack:
    tags = s.all_tags()
    registry = ImageRegistry("registry", ImageRegistryArgs(
        prefix=s.registry_prefix, projects=[p.name for p in s.projects], variants=s.variants,
        keep_images=s.keep_images, untagged_expiry_days=s.untagged_expiry_days, tags=tags))
    secrets = Secrets("secrets", SecretsArgs(prefix=f"slipway/{s.environment}", values=s.secrets, tags=tags))
    ecs = EcsCompute("ecs", EcsComputeArgs(
        prefix=s.prefix, vpc_id=s.vpc_id, subnet_ids=s.subnet_ids, repository_arns=registry.repository_arns,
        secret_arns=list(secrets.arns.values()), gpu_ami_parameter=s.gpu_ami_parameter, gpu_ami_id=s.gpu_ami_id,
        gpu_instance_type=s.ecs_gpu_instance_type, gpu_max_instances=s.ecs_gpu_max_instances,
        gpu_root_volume_gib=s.gpu_root_volume_gib, log_retention_days=s.log_retention_days, tags=tags))
    storage = EcsTaskStorage("storage", EcsTaskStorageArgs(prefix=s.prefix, tags=tags))
    batch = BatchCompute("batch", BatchComputeArgs(
        prefix=s.prefix, region=s.region, vpc_id=s.vpc_id, subnet_ids=s.subnet_ids, projects=s.projects,
        repository_urls={p: r.repository_url for p, r in registry.repositories.items()},
        repository_arns=registry.repository_arns, gpu_ami_id=ecs.gpu_ami_id,
        cpu_instance_types=s.cpu_instance_types, gpu_instance_types=s.gpu_instance_types,
        cpu_max_vcpus=s.batch_cpu_max_vcpus, gpu_max_vcpus=s.batch_gpu_max_vcpus,
        gpu_queue_priority=s.gpu_queue_priority, cpu_queue_priority=s.cpu_queue_priority,
        log_retention_days=s.log_retention_days, tags=tags, runs_image_tag=s.runs_image_tag,
        dvc_remote_url=s.dvc_remote_url or "", git_token=s.secrets.get("runsGitToken"),
        secret_prefix=f"slipway/{s.environment}",
        job_secret_arns={"SLIPWAY_SLACK_WEBHOOK_SECRET": secrets.arns["slackWebhookUrl"]}
        if s.secrets.get("slackWebhookUrl") is not None else {}))
    outputs: dict[str, Any] = {
        "environment": s.environment,
        "region": s.region,
        "ecrRepositoryUrls": registry.repository_urls,
        "ecsClusterArn": ecs.cluster.arn,
        "ecsGpuCapacityProvider": ecs.gpu_capacity_provider.name,
        "ecsExecutionRoleArn": ecs.execution_role.arn,
        "ecsTaskRoleArn": ecs.task_role.arn,
        "ecsLogGroup": ecs.log_group.name,
        "prefectWorkerPolicyArn": ecs.worker_policy.arn,
        "ecsInfrastructureRoleArn": storage.role.arn,
        "prefectWorkerStoragePolicyArn": storage.pass_policy.arn,
        "batchJobQueueArns": batch.queue_arns,
        "batchJobDefinitions": {p: d.name for p, d in batch.job_definitions.items()},
        "secretArns": secrets.arns,
    }
    components: dict[str, pulumi.ComponentResource] = {"registry": registry, "secrets": secrets, "ecs": ecs,
                                                        "storage": storage, "batch": batch}
    if webhook:  # the push webhook of commit-triggered runs (slipway.cloud.webhook)
        from slipway.cloud.webhook import RunsWebhook, webhook_args

        hook = RunsWebhook("webhook", webhook_args(s, secrets.arns["webhookUuids"], batch, webhook_code, tags))
        outputs["webhookUrl"] = hook.url
        components["webhook"] = hook
    if s.prefect_api_url:
        from slipway.cloud.platform import PrefectPlatform, PrefectPlatformArgs
        from slipway.flow.ecs_template import ecs_base_with_task_volume

        platform = PrefectPlatform("prefect", PrefectPlatformArgs(
            prefix=s.prefix, api_url=s.prefect_api_url, api_key=s.secrets.get("prefectApiKey"), region=s.region,
            cluster_arn=ecs.cluster.arn, execution_role_arn=ecs.execution_role.arn,
            task_role_arn=ecs.task_role.arn, vpc_id=s.vpc_id, subnet_ids=s.subnet_ids,
            security_group_ids=[ecs.security_group.id], log_group=ecs.log_group.name,
            gpu_capacity_provider=ecs.gpu_capacity_provider.name,
            ecs_base_template=ecs_base_with_task_volume(ecs_base_template),
            process_base_template=process_base_template))
        outputs["prefectWorkPools"] = platform.pool_names
        outputs["prefectAwsBlock"] = platform.aws_block.name
        components["prefect"] = platform
    return Stack(outputs, components)


def export(stack: Stack) -> None:
    for key, value in stack.outputs.items():
        pulumi.export(key, value)
