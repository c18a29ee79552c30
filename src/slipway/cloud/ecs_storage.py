"""``EcsTaskStorage``: the ECS infrastructure role that creates the EBS volumes tasks get at launch.

A GPU workflow with ``storage=50`` runs a task whose definition has a volume ``configuredAtLaunch``;
its RunTask request carries ``volumeConfigurations[].managedEBSVolume`` with this role's ARN
(``roleArn``): ECS assumes it to create, attach and delete the volume (AWS's managed policy
``AmazonECSInfrastructureRolePolicyForVolumes``). The Prefect ECS worker passes the role to ECS, so
the component also makes a policy allowing exactly that (``iam:PassRole`` to ``ecs.amazonaws.com``),
to attach next to ``prefectWorkerPolicyArn``.

``build_stack`` creates it as ``storage`` and exports ``role.arn`` as ``ecsInfrastructureRoleArn`` (read by
``slipway flows deploy``) and ``pass_policy.arn`` as ``prefectWorkerStoragePolicyArn``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws.iam as iam

from slipway.cloud import policies

VOLUMES_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonECSInfrastructureRolePolicyForVolumes"


@dataclass
class EcsTaskStorageArgs:
    prefix: str
    tags: Mapping[str, str] = field(default_factory=dict)


class EcsTaskStorage(pulumi.ComponentResource):
    def __init__(self, name: str, args: EcsTaskStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:aws:EcsTaskStorage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        self.role = iam.Role(f"{name}-infrastructure", name=f"{args.prefix}-ecs-infrastructure",
                             description="ECS creates, attaches and deletes the EBS volumes of Slipway tasks",
                             assume_role_policy=pulumi.Output.json_dumps(policies.assume_role("ecs.amazonaws.com")),
                             tags=tags, opts=child)
        self.volumes_policy = iam.RolePolicyAttachment(f"{name}-volumes", role=self.role.name,
                                                       policy_arn=VOLUMES_POLICY, opts=child)
        self.pass_policy = iam.Policy(
            f"{name}-pass", name=f"{args.prefix}-pass-ecs-infrastructure",
            description="Attach to whatever runs the Prefect ECS worker: pass the volume role to ECS",
            policy=self.role.arn.apply(lambda arn: json.dumps(policies.document(policies.allow(
                ["iam:PassRole"], [arn], sid="PassInfrastructureRole",
                condition={"StringEquals": {"iam:PassedToService": "ecs.amazonaws.com"}})))),
            tags=tags, opts=child)
        self.register_outputs({"infrastructure_role_arn": self.role.arn, "pass_policy_arn": self.pass_policy.arn})
