"""A team's own Pulumi program built from Slipway's components (``slipway.cloud``).

The components come from the installed distribution ``slipway-infra[cloud]``, not from a Slipway
checkout. This program makes only what this team needs, in its existing VPC: one ECR repository
per ML repository for its variant images (``<variant>-<hash>`` tags, lifecycle policy), and AWS
Batch compute environments, job queues and one job definition per repository.

    pulumi config set aws:region eu-west-1
    pulumi config set team vision
    pulumi config set vpcId vpc-0123456789abcdef0
    pulumi config set --path 'subnetIds[0]' subnet-0123456789abcdef0
    pulumi config set --path 'projects[0]' detector
    pulumi up
"""

from __future__ import annotations

import pulumi
import pulumi_aws.ssm as ssm

from slipway.cloud.batch import BatchCompute, BatchComputeArgs
from slipway.cloud.registry import ImageRegistry, ImageRegistryArgs
from slipway.cloud.settings import DEFAULT_GPU_AMI_PARAMETER, Project

config = pulumi.Config()
team = config.require("team")
prefix = f"{team}-{pulumi.get_stack()}"
projects = [Project(name=name, variant="ml") for name in config.require_object("projects")]
tags = {"team": team, "managed-by": "pulumi"}

registry = ImageRegistry("images", ImageRegistryArgs(
    prefix=team, projects=[p.name for p in projects], variants=config.get_object("variants") or ["ml"],
    tags=tags))
batch = BatchCompute("batch", BatchComputeArgs(
    prefix=prefix, region=pulumi.Config("aws").require("region"), vpc_id=config.require("vpcId"),
    subnet_ids=config.require_object("subnetIds"), projects=projects,
    repository_urls={name: repo.repository_url for name, repo in registry.repositories.items()},
    repository_arns=registry.repository_arns,
    gpu_ami_id=ssm.get_parameter_output(name=DEFAULT_GPU_AMI_PARAMETER).value, tags=tags))

pulumi.export("repositoryUrls", registry.repository_urls)
pulumi.export("jobQueueArns", batch.queue_arns)
pulumi.export("jobDefinitions", {name: d.name for name, d in batch.job_definitions.items()})
