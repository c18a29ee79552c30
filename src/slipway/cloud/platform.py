"""``PrefectPlatform``: Slipway's Prefect work pools and blocks, as code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from slipway.cloud import templates
from slipway.cloud.prefect_provider import Block, WorkPool


@dataclass
class PrefectPlatformArgs:
    prefix: str
    api_url: str
    region: str
    cluster_arn: Any
    execution_role_arn: Any
    task_role_arn: Any
    vpc_id: str
    subnet_ids: Sequence[str]
    security_group_ids: Sequence[Any]
    log_group: Any
    gpu_capacity_provider: Any
    api_key: Any = None
    #: prefect-aws's default ECS template; None: read it from prefect-aws (slow import).
    ecs_base_template: dict[str, Any] | None = None
    process_base_template: dict[str, Any] | None = None


TYPE = "slipway:prefect:PrefectPlatform"


class PrefectPlatform(pulumi.ComponentResource):
    """Work pools ``<prefix>-cpu`` (ecs, Fargate), ``<prefix>-gpu`` (ecs, GPU capacity provider) and
    ``<prefix>-local`` (process), plus the ``aws-credentials`` block ``<prefix>-aws`` flows use (no
    keys: the task role's credentials, in the stack's region)."""

    def __init__(self, name: str, args: PrefectPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # Type tokens are slipway:<what the component manages>:<Name>: slipway:aws:* for the AWS ones;
        # this one manages Prefect. The alias keeps stacks made under the old token (no replacement).
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            aliases=[pulumi.Alias(type_="slipway:aws:PrefectPlatform")]))
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ecs_base = args.ecs_base_template or templates.prefect_aws_ecs_template()
        process_base = args.process_base_template or templates.process_template()

        def build(values: list[Any], gpu: bool) -> dict[str, Any]:
            cluster, execution, task, sgs, log_group, capacity = values
            defaults = templates.EcsPoolDefaults(
                cluster=cluster, execution_role_arn=execution, task_role_arn=task, vpc_id=args.vpc_id,
                subnet_ids=list(args.subnet_ids), security_group_ids=list(sgs), log_group=log_group,
                region=args.region, gpu_capacity_provider=capacity)
            return (templates.ecs_gpu_template if gpu else templates.ecs_cpu_template)(ecs_base, defaults)

        inputs = pulumi.Output.all(args.cluster_arn, args.execution_role_arn, args.task_role_arn,
                                   pulumi.Output.all(*args.security_group_ids), args.log_group,
                                   args.gpu_capacity_provider)
        common = {"api_url": args.api_url, "api_key": args.api_key, "opts": child}
        self.cpu_pool = WorkPool(f"{name}-cpu", name=f"{args.prefix}-cpu", type="ecs",
                                 description="Slipway CPU flows on ECS Fargate",
                                 base_job_template=inputs.apply(lambda v: build(v, gpu=False)), **common)
        self.gpu_pool = WorkPool(f"{name}-gpu", name=f"{args.prefix}-gpu", type="ecs",
                                 description="Slipway GPU flows on the ECS GPU capacity provider",
                                 base_job_template=inputs.apply(lambda v: build(v, gpu=True)), **common)
        self.local_pool = WorkPool(f"{name}-local", name=f"{args.prefix}-local", type="process",
                                   description="Slipway flows run as local processes",
                                   base_job_template=process_base, **common)
        self.aws_block = Block(f"{name}-aws", name=f"{args.prefix}-aws", block_type="aws-credentials",
                               data={"region_name": args.region}, **common)
        self.pool_names = {"cpu": self.cpu_pool.name, "gpu": self.gpu_pool.name, "local": self.local_pool.name}
        self.register_outputs({"pool_names": self.pool_names, "aws_block": self.aws_block.name})
