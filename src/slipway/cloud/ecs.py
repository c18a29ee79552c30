"""``EcsCompute``: the ECS cluster Prefect flows run on (Fargate for CPU, a GPU Auto Scaling group)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws.autoscaling as autoscaling
import pulumi_aws.cloudwatch as cloudwatch
import pulumi_aws.ec2 as ec2
import pulumi_aws.ecs as ecs
import pulumi_aws.iam as iam
import pulumi_aws.ssm as ssm

from slipway.cloud import policies

ECS_INSTANCE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"


def gpu_ami(parameter: str, ami_id: str | None, opts: pulumi.InvokeOptions | None = None) -> pulumi.Output[str]:
    """The GPU AMI: the explicit id, or the value of AWS's public SSM parameter."""
    if ami_id:
        return pulumi.Output.from_input(ami_id)
    return ssm.get_parameter_output(name=parameter, opts=opts).value


def user_data(cluster_name: str) -> str:
    script = ("#!/bin/bash\n"
              f"echo ECS_CLUSTER={cluster_name} >> /etc/ecs/ecs.config\n"
              "echo ECS_ENABLE_GPU_SUPPORT=true >> /etc/ecs/ecs.config\n")
    return base64.b64encode(script.encode()).decode()


@dataclass
class EcsComputeArgs:
    prefix: str
    vpc_id: str
    subnet_ids: Sequence[str]
    repository_arns: Sequence[Any]
    secret_arns: Sequence[Any] = ()
    gpu_ami_parameter: str = ""
    gpu_ami_id: str | None = None
    gpu_instance_type: str = "g5.xlarge"
    gpu_max_instances: int = 4
    gpu_root_volume_gib: int = 100
    log_retention_days: int = 30
    tags: Mapping[str, str] = field(default_factory=dict)


class EcsCompute(pulumi.ComponentResource):
    """Cluster ``<prefix>`` with capacity providers FARGATE, FARGATE_SPOT and ``<prefix>-gpu``.

    Roles: the task execution role may pull only the project repositories, write only the log
    group and read only Slipway's secrets; the task role starts empty (attach what flows need).
    """

    def __init__(self, name: str, args: EcsComputeArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:aws:EcsCompute", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        self.log_group = cloudwatch.LogGroup(f"{name}-logs", name=f"/slipway/{args.prefix}/ecs",
                                             retention_in_days=args.log_retention_days, tags=tags, opts=child)
        self.cluster = ecs.Cluster(f"{name}-cluster", name=args.prefix, tags=tags, opts=child,
                                   settings=[ecs.ClusterSettingArgs(name="containerInsights", value="enabled")])

        # Roles for tasks: execution (pull, logs, secrets) and the flow's own (empty by default).
        self.execution_role = iam.Role(f"{name}-execution", name=f"{args.prefix}-ecs-execution",
                                       assume_role_policy=pulumi.Output.json_dumps(
                                           policies.assume_role("ecs-tasks.amazonaws.com")),
                                       tags=tags, opts=child)
        statements = [*policies.ecr_pull(args.repository_arns),
                      policies.logs_write(self.log_group.arn, self.log_group.arn.apply(lambda a: f"{a}:*"))]
        if args.secret_arns:
            statements.append(policies.secrets_read(args.secret_arns))
        self.execution_policy = iam.RolePolicy(f"{name}-execution-policy", role=self.execution_role.id,
                                               policy=pulumi.Output.json_dumps(policies.document(*statements)),
                                               opts=child)
        self.task_role = iam.Role(f"{name}-task", name=f"{args.prefix}-ecs-task",
                                  assume_role_policy=pulumi.Output.json_dumps(
                                      policies.assume_role("ecs-tasks.amazonaws.com")),
                                  tags=tags, opts=child)

        # GPU instances: egress-only security group, ECS GPU AMI, scale from zero.
        self.security_group = ec2.SecurityGroup(
            f"{name}-sg", name=f"{args.prefix}-ecs", vpc_id=args.vpc_id,
            description="Slipway ECS tasks and GPU instances: no inbound traffic",
            egress=[ec2.SecurityGroupEgressArgs(protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"])],
            tags=tags, opts=child)
        self.instance_role = iam.Role(f"{name}-instance", name=f"{args.prefix}-ecs-instance",
                                      assume_role_policy=pulumi.Output.json_dumps(
                                          policies.assume_role("ec2.amazonaws.com")),
                                      tags=tags, opts=child)
        self.instance_policy = iam.RolePolicyAttachment(f"{name}-instance-ecs", role=self.instance_role.name,
                                 policy_arn=ECS_INSTANCE_POLICY, opts=child)
        self.instance_profile = iam.InstanceProfile(f"{name}-instance-profile", name=f"{args.prefix}-ecs-instance",
                                                    role=self.instance_role.name, opts=child)
        self.gpu_ami_id = gpu_ami(args.gpu_ami_parameter, args.gpu_ami_id, pulumi.InvokeOptions(parent=self))
        self.launch_template = ec2.LaunchTemplate(
            f"{name}-gpu-lt", name=f"{args.prefix}-ecs-gpu", image_id=self.gpu_ami_id,
            instance_type=args.gpu_instance_type, user_data=user_data(args.prefix),
            iam_instance_profile=ec2.LaunchTemplateIamInstanceProfileArgs(arn=self.instance_profile.arn),
            vpc_security_group_ids=[self.security_group.id],
            metadata_options=ec2.LaunchTemplateMetadataOptionsArgs(http_tokens="required", http_endpoint="enabled"),
            block_device_mappings=[ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",
                ebs=ec2.LaunchTemplateBlockDeviceMappingEbsArgs(volume_size=args.gpu_root_volume_gib,
                                                                volume_type="gp3", encrypted="true",
                                                                delete_on_termination="true"))],
            tags=tags, opts=child)
        self.gpu_group = autoscaling.Group(
            f"{name}-gpu-asg", name=f"{args.prefix}-ecs-gpu", min_size=0, max_size=args.gpu_max_instances,
            vpc_zone_identifiers=list(args.subnet_ids), protect_from_scale_in=True,
            launch_template=autoscaling.GroupLaunchTemplateArgs(id=self.launch_template.id, version="$Latest"),
            tags=[autoscaling.GroupTagArgs(key="AmazonECSManaged", value="true", propagate_at_launch=True),
                  *(autoscaling.GroupTagArgs(key=k, value=v, propagate_at_launch=True) for k, v in tags.items())],
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desired_capacity"]))
        self.gpu_capacity_provider = ecs.CapacityProvider(
            f"{name}-gpu-cp", name=f"{args.prefix}-gpu",
            auto_scaling_group_provider=ecs.CapacityProviderAutoScalingGroupProviderArgs(
                auto_scaling_group_arn=self.gpu_group.arn, managed_termination_protection="ENABLED",
                managed_scaling=ecs.CapacityProviderAutoScalingGroupProviderManagedScalingArgs(
                    status="ENABLED", target_capacity=100)),
            tags=tags, opts=child)
        self.capacity_providers = ecs.ClusterCapacityProviders(
            f"{name}-capacity", cluster_name=self.cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT", self.gpu_capacity_provider.name],
            default_capacity_provider_strategies=[
                ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs(capacity_provider="FARGATE",
                                                                                weight=1, base=0)],
            opts=child)
        self.worker_policy = iam.Policy(
            f"{name}-prefect-worker", name=f"{args.prefix}-prefect-ecs-worker",
            description="Attach to whatever runs the Prefect ECS worker for this cluster",
            policy=pulumi.Output.all(self.cluster.arn, self.execution_role.arn, self.task_role.arn,
                                     self.log_group.arn).apply(
                lambda v: json.dumps(policies.prefect_ecs_worker(v[0], [v[1], v[2]], v[3]))),
            tags=tags, opts=child)
        self.register_outputs({
            "prefect_worker_policy_arn": self.worker_policy.arn,
            "cluster_arn": self.cluster.arn, "cluster_name": self.cluster.name,
            "gpu_capacity_provider": self.gpu_capacity_provider.name,
            "execution_role_arn": self.execution_role.arn, "task_role_arn": self.task_role.arn,
            "log_group": self.log_group.name, "security_group_id": self.security_group.id,
        })
