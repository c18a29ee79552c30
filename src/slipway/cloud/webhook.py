"""``RunsWebhook``: the push webhook of commit-triggered runs on AWS (Lambda behind an HTTP API).

``POST /webhooks/github`` and ``POST /webhooks/bitbucket`` reach one Lambda function running
``slipway.runs.webhook.handler`` (the same ASGI app as anywhere else, through Mangum). Its role may
read exactly the two webhook secrets, submit to the project's queues with its job definitions, and
write its own log group. Limits of the keywords (vCPUs, memory, GPUs per project) are computed here
from the settings with the same rule as from Batch's descriptions, so the function needs no
``Describe*`` permissions on compute environments.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws.apigatewayv2 as apigatewayv2
import pulumi_aws.cloudwatch as cloudwatch
import pulumi_aws.iam as iam
import pulumi_aws.lambda_ as lambda_
import pulumi_aws.secretsmanager as secretsmanager

from slipway.cloud import policies
from slipway.cloud.batch import BatchCompute
from slipway.cloud.settings import Project, Settings
from slipway.runs.keywords import DEFAULT_PREFIX, Limits, limits_from_batch

#: stack output -> what reads it (added to the stack's outputs when the webhook is built)
OUTPUTS: dict[str, str] = {
    "webhookUrl": "base URL of the push webhook: <url>/github and <url>/bitbucket go into the repositories' "
                  "webhook settings",
}

ROUTES = ("POST /webhooks/github", "POST /webhooks/bitbucket")
HANDLER = "slipway.runs.webhook.handler"

#: pure-Python packages the function imports besides the runtime's boto3
CODE_PACKAGES = ("slipway", "starlette", "mangum", "anyio", "sniffio", "idna", "typing_extensions")


def lambda_code() -> pulumi.AssetArchive:
    """The function's code from the deploying machine's installed packages (all pure Python)."""
    assets: dict[str, Any] = {}
    for name in CODE_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            assets[name] = pulumi.FileArchive(str(origin.parent))
        else:
            assets[origin.name] = pulumi.FileAsset(str(origin))
    return pulumi.AssetArchive(assets)


def project_limits(projects: Sequence[Project], cpu_types: Sequence[str], cpu_max_vcpus: int,
                   gpu_types: Sequence[str], gpu_max_vcpus: int) -> dict[str, dict[str, int]]:
    """project -> ``Limits`` fields, by ``limits_from_batch`` over what Batch will describe."""
    cpu = [{"computeResources": {"maxvCpus": cpu_max_vcpus, "instanceTypes": list(cpu_types)}}]
    gpu = [{"computeResources": {"maxvCpus": gpu_max_vcpus, "instanceTypes": list(gpu_types)}}] if gpu_types else []
    out: dict[str, dict[str, int]] = {}
    for p in projects:
        req = [{"type": "VCPU", "value": str(p.vcpus)}, {"type": "MEMORY", "value": str(p.memory)}]
        if p.gpus:
            req.append({"type": "GPU", "value": str(p.gpus)})
        lim: Limits = limits_from_batch({"containerProperties": {"resourceRequirements": req}}, cpu, gpu)
        out[p.name] = asdict(lim)
    return out


def _definition_arns(arn: str) -> list[str]:
    """A job definition ARN and its every revision (``.../name`` and ``.../name:*``)."""
    base = arn.rsplit(":", 1)[0] if ":" in arn.rsplit("/", 1)[-1] else arn
    return [base, f"{base}:*"]


def _jobs_arn(queue_arn: str) -> str:
    return queue_arn.split(":job-queue/")[0] + ":job/*"


@dataclass
class RunsWebhookArgs:
    prefix: str
    secret_prefix: str
    uuids_secret_arn: Any
    queue_arns: Mapping[str, Any]
    job_definition_names: Mapping[str, Any]
    job_definition_arns: Sequence[Any]
    limits: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    code: Any = None
    github_secret: Any = None
    keyword_prefix: str = DEFAULT_PREFIX
    secrets_ttl: int = 30
    runtime: str = "python3.12"
    log_retention_days: int = 30
    tags: Mapping[str, str] = field(default_factory=dict)


class RunsWebhook(pulumi.ComponentResource):
    """Lambda ``<prefix>-webhook`` + its role, log group, the GitHub HMAC secret
    ``<secret_prefix>/github-webhook-secret`` and an HTTP API with the two push routes."""

    def __init__(self, name: str, args: RunsWebhookArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:aws:RunsWebhook", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        fn_name = f"{args.prefix}-webhook"

        self.github_secret = secretsmanager.Secret(
            f"{name}-github-secret", name=f"{args.secret_prefix}/github-webhook-secret",
            description="HMAC secret(s) of the GitHub push webhooks (a string, or a JSON list while rotating)",
            recovery_window_in_days=7, tags=tags, opts=child)
        if args.github_secret is not None:
            text: pulumi.Output[str] = pulumi.Output.secret(args.github_secret)  # type: ignore[arg-type]
            self.github_secret_version = secretsmanager.SecretVersion(
                f"{name}-github-secret-value", secret_id=self.github_secret.id, secret_string=text,
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["secret_string"]))

        self.log_group = cloudwatch.LogGroup(f"{name}-logs", name=f"/aws/lambda/{fn_name}",
                                             retention_in_days=args.log_retention_days, tags=tags, opts=child)
        self.role = iam.Role(f"{name}-role", name=fn_name, tags=tags, opts=child,
                             assume_role_policy=pulumi.Output.json_dumps(policies.assume_role("lambda.amazonaws.com")))
        queue_arns = list(args.queue_arns.values())
        definition_arns = pulumi.Output.all(*args.job_definition_arns).apply(
            lambda arns: [a for arn in arns for a in _definition_arns(arn)])
        jobs_arns = pulumi.Output.all(*queue_arns).apply(lambda arns: sorted({_jobs_arn(a) for a in arns}))
        self.policy_document = pulumi.Output.json_dumps(policies.document(
            policies.secrets_read([args.uuids_secret_arn, self.github_secret.arn]),
            policies.allow(["batch:SubmitJob"], pulumi.Output.all(queue_arns, definition_arns).apply(
                lambda v: [*v[0], *v[1]]), sid="SubmitRuns"),
            policies.allow(["batch:TagResource"], jobs_arns, sid="TagRuns"),
            # the idempotency record is the job itself: ListJobs has no resource-level permission in IAM
            policies.allow(["batch:DescribeJobs", "batch:ListJobs"], "*", sid="FindRuns"),
            policies.logs_write(self.log_group.arn, self.log_group.arn.apply(lambda a: f"{a}:*"))))
        self.policy = iam.RolePolicy(f"{name}-policy", role=self.role.id, policy=self.policy_document, opts=child)

        variables = {
            "SLIPWAY_WEBHOOK_UUIDS_SECRET": args.uuids_secret_arn,
            "SLIPWAY_GITHUB_SECRET": self.github_secret.arn,
            "SLIPWAY_SECRETS_TTL": str(args.secrets_ttl),
            "SLIPWAY_RUNS_PREFIX": args.keyword_prefix,
            "SLIPWAY_BATCH_QUEUES": pulumi.Output.json_dumps(dict(args.queue_arns)),
            "SLIPWAY_BATCH_JOB_DEFINITIONS": pulumi.Output.json_dumps(dict(args.job_definition_names)),
            "SLIPWAY_RUN_LIMITS": json.dumps({k: dict(v) for k, v in args.limits.items()}, sort_keys=True),
        }
        self.function = lambda_.Function(
            f"{name}-function", name=fn_name, runtime=args.runtime, handler=HANDLER, role=self.role.arn,
            code=args.code if args.code is not None else lambda_code(), timeout=30, memory_size=256,
            environment=lambda_.FunctionEnvironmentArgs(variables=variables), tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, self.policy]))

        self.api = apigatewayv2.Api(f"{name}-api", name=fn_name, protocol_type="HTTP", tags=tags, opts=child)
        self.integration = apigatewayv2.Integration(
            f"{name}-integration", api_id=self.api.id, integration_type="AWS_PROXY",
            integration_uri=self.function.invoke_arn, integration_method="POST", payload_format_version="2.0",
            opts=child)
        self.routes = [apigatewayv2.Route(f"{name}-route-{key.split('/')[-1]}", api_id=self.api.id, route_key=key,
                                          target=self.integration.id.apply(lambda i: f"integrations/{i}"),
                                          opts=child)
                       for key in ROUTES]
        self.stage = apigatewayv2.Stage(f"{name}-stage", api_id=self.api.id, name="$default", auto_deploy=True,
                                        tags=tags, opts=child)
        self.permission = lambda_.Permission(
            f"{name}-invoke", action="lambda:InvokeFunction", function=self.function.name,
            principal="apigateway.amazonaws.com",
            source_arn=self.api.execution_arn.apply(lambda a: f"{a}/*/POST/webhooks/*"), opts=child)
        self.url = pulumi.Output.concat(self.api.api_endpoint, "/webhooks")
        self.register_outputs({"url": self.url, "function": self.function.name})


def webhook_args(s: Settings, uuids_secret_arn: Any, batch: BatchCompute, code: Any,
                 tags: Mapping[str, str]) -> RunsWebhookArgs:
    """The component's arguments from the stack's settings and the Batch component (wiring only)."""
    return RunsWebhookArgs(
        prefix=s.prefix, secret_prefix=f"slipway/{s.environment}", uuids_secret_arn=uuids_secret_arn,
        queue_arns=batch.queue_arns, job_definition_names={p: d.name for p, d in batch.job_definitions.items()},
        job_definition_arns=[d.arn for d in batch.job_definitions.values()],
        limits=project_limits(s.projects, s.cpu_instance_types, s.batch_cpu_max_vcpus, s.gpu_instance_types,
                              s.batch_gpu_max_vcpus),
        code=code, github_secret=s.secrets.get("githubWebhookSecret"), log_retention_days=s.log_retention_days,
        tags=tags)
