"""The runs webhook on AWS under Pulumi's mock engine: Lambda + least-privilege role + HTTP API routes +
URL output, wired into the stack."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from slipway.cloud import policies
from slipway.cloud.settings import Settings
from slipway.cloud.stack import Stack, build_stack
from slipway.cloud.webhook import HANDLER, ROUTES, lambda_code, project_limits
from tests.cloud.pulumi_mocks import ACCOUNT, Engine, Mocks, RecordingMonitor

pytestmark = [pytest.mark.filterwarnings("ignore:aws.ec2/encryptioncontrol:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:aws.lambda/microvmsimage:DeprecationWarning")]

PULUMI = Path(__file__).resolve().parents[2] / "pulumi"
DEV = {k: v for k, v in yaml.safe_load((PULUMI / "Pulumi.dev.yaml").read_text())["config"].items()
       if k != "slipway:prefectApiUrl"}
UUIDS = '["{plaintext-uuid-77aa}"]'


class WebhookMocks(Mocks):
    """What AWS computes for the API and the function besides ids and ARNs."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        rid, state = super().new_resource(args)
        if args.typ == "aws:apigatewayv2/api:Api":
            state["api_endpoint"] = "https://abc123.execute-api.eu-west-1.amazonaws.com"
            state["execution_arn"] = f"arn:aws:execute-api:eu-west-1:{ACCOUNT}:abc123"
        if args.typ == "aws:lambda/function:Function":
            state["invoke_arn"] = f"arn:aws:apigateway:eu-west-1:lambda:path/functions/{state['arn']}/invocations"
        if args.typ == "aws:batch/jobDefinition:JobDefinition":
            state["arn"] = f"arn:aws:batch:eu-west-1:{ACCOUNT}:job-definition/{state['name']}:1"
        if args.typ == "aws:batch/jobQueue:JobQueue":
            state["arn"] = f"arn:aws:batch:eu-west-1:{ACCOUNT}:job-queue/{state['name']}"
        return rid, state


def start_webhook_engine(stack: str, config: dict[str, Any], secret_keys: list[str] | None = None) -> Engine:
    """``start_engine`` with the API's endpoint and the function's invoke ARN computed as AWS does."""
    asyncio.set_event_loop(asyncio.new_event_loop())
    mocks = WebhookMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="slipway", stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config({k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()},
                                  secret_keys or [])
    return Engine(mocks, monitor, dict(config))


@pytest.fixture
def engine() -> Engine:
    return start_webhook_engine("dev", {**DEV, "slipway:webhookUuids": UUIDS}, ["slipway:webhookUuids"])


def settled(stack: Stack) -> pulumi.Output[Any]:
    from tests.cloud.test_stack import _resources

    res = _resources(list(stack.components.values()), set())
    return pulumi.Output.all(*[r.urn for r in res], *stack.outputs.values())


@pulumi.runtime.test
def test_webhook_function_role_and_routes(engine: Engine) -> Any:
    stack = build_stack(Settings.from_pulumi(), webhook=True, webhook_code=pulumi.AssetArchive({}))

    def check(values: list[Any]) -> None:
        outputs = dict(zip(stack.outputs, values[-len(stack.outputs):], strict=True))
        assert outputs["webhookUrl"] == "https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks"
        fn = engine.one("aws:lambda/function:Function", "webhook-function").inputs
        assert (fn["name"], fn["handler"], fn["runtime"]) == ("slipway-dev-webhook", HANDLER, "python3.12")
        env = fn["environment"]["variables"]
        queues = json.loads(env["SLIPWAY_BATCH_QUEUES"])
        assert queues == {"cpu": f"arn:aws:batch:eu-west-1:{ACCOUNT}:job-queue/slipway-dev-cpu",
                          "gpu": f"arn:aws:batch:eu-west-1:{ACCOUNT}:job-queue/slipway-dev-gpu"}
        assert json.loads(env["SLIPWAY_BATCH_JOB_DEFINITIONS"]) == {
            "detector": "slipway-dev-ml-detector", "forecaster": "slipway-dev-ml-forecaster"}
        limits = json.loads(env["SLIPWAY_RUN_LIMITS"])
        assert limits["forecaster"] == {"vcpus": 8, "memory": 32768, "gpus": 1, "max_vcpus": 64,
                                        "max_memory": 768 * 1024, "max_gpus": 8}
        assert 0 < float(env["SLIPWAY_SECRETS_TTL"]) <= 60
        assert env["SLIPWAY_WEBHOOK_UUIDS_SECRET"].endswith("/slipway/dev/webhook-uuids")
        assert env["SLIPWAY_GITHUB_SECRET"].endswith("/slipway/dev/github-webhook-secret")
        assert "plaintext-uuid-77aa" not in json.dumps(fn)  # ARNs only, never values

        role = engine.one("aws:iam/role:Role", "webhook-role").inputs
        assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
        doc = json.loads(engine.one("aws:iam/rolePolicy:RolePolicy", "webhook-policy").inputs["policy"])
        # ListJobs (the idempotency look-up) has no resource-level permission in IAM: policies.STAR_ONLY_ACTIONS
        assert policies.violations(doc) == []
        assert "batch:ListJobs" in policies.STAR_ONLY_ACTIONS
        st = {s["Sid"]: s for s in doc["Statement"]}
        assert st["ReadSecrets"]["Action"] == ["secretsmanager:GetSecretValue"]
        assert sorted(r.rsplit(":", 1)[-1] for r in st["ReadSecrets"]["Resource"]) == [
            "secret/slipway/dev/github-webhook-secret", "secret/slipway/dev/webhook-uuids"]
        assert st["SubmitRuns"]["Action"] == ["batch:SubmitJob"]
        assert sorted(st["SubmitRuns"]["Resource"]) == sorted([
            *queues.values(),
            f"arn:aws:batch:eu-west-1:{ACCOUNT}:job-definition/slipway-dev-ml-detector",
            f"arn:aws:batch:eu-west-1:{ACCOUNT}:job-definition/slipway-dev-ml-detector:*",
            f"arn:aws:batch:eu-west-1:{ACCOUNT}:job-definition/slipway-dev-ml-forecaster",
            f"arn:aws:batch:eu-west-1:{ACCOUNT}:job-definition/slipway-dev-ml-forecaster:*"])
        assert st["TagRuns"]["Resource"] == [f"arn:aws:batch:eu-west-1:{ACCOUNT}:job/*"]
        assert set(st) == {"ReadSecrets", "SubmitRuns", "TagRuns", "FindRuns", "Logs"}

        routes = {r.inputs["routeKey"] for r in engine.of_type("aws:apigatewayv2/route:Route")}
        assert routes == set(ROUTES) == {"POST /webhooks/github", "POST /webhooks/bitbucket"}
        integ = engine.one("aws:apigatewayv2/integration:Integration", "webhook-integration").inputs
        assert (integ["integrationType"], integ["payloadFormatVersion"]) == ("AWS_PROXY", "2.0")
        assert integ["integrationUri"].endswith("/invocations")
        api = engine.one("aws:apigatewayv2/api:Api", "webhook-api").inputs
        assert api["protocolType"] == "HTTP"
        stage = engine.one("aws:apigatewayv2/stage:Stage", "webhook-stage").inputs
        assert (stage["name"], stage["autoDeploy"]) == ("$default", True)
        perm = engine.one("aws:lambda/permission:Permission", "webhook-invoke").inputs
        assert perm["principal"] == "apigateway.amazonaws.com"
        assert perm["sourceArn"] == f"arn:aws:execute-api:eu-west-1:{ACCOUNT}:abc123/*/POST/webhooks/*"
        logs = engine.one("aws:cloudwatch/logGroup:LogGroup", "webhook-logs").inputs
        assert (logs["name"], logs["retentionInDays"]) == ("/aws/lambda/slipway-dev-webhook", 14)
        for r in engine.registered:
            if r.custom and "RunsWebhook" in r.urn:
                assert r.name.startswith("webhook-") and r.parent_types[-1] == "slipway:aws:RunsWebhook", r.name

    return pulumi.Output.all(settled(stack), *stack.outputs.values()).apply(check)


def test_github_secret_from_config_is_a_secret_version() -> None:
    """`pulumi config set --secret githubWebhookSecret ...`: the value lands in the github-webhook-secret,
    wrapped as a secret, and nowhere else in clear text."""
    from tests.cloud.test_stack import _strip_secrets

    engine = start_webhook_engine("dev", {**DEV, "slipway:githubWebhookSecret": "plaintext-hmac-41c2"},
                                  ["slipway:githubWebhookSecret"])

    @pulumi.runtime.test
    def program() -> Any:
        s = Settings.from_pulumi()
        stack = build_stack(s, webhook=s.webhook, webhook_code=pulumi.AssetArchive({}))
        return settled(stack)

    program()
    version = engine.one("aws:secretsmanager/secretVersion:SecretVersion", "webhook-github-secret-value")
    assert version.secret_inputs == ["secretString"]
    assert version.inputs["secretId"] == "webhook-github-secret-id"
    for r in engine.registered:
        assert "plaintext-hmac-41c2" not in json.dumps(_strip_secrets(r.raw)), f"{r.type} {r.name}"


@pulumi.runtime.test
def test_stack_without_webhook_is_unchanged(engine: Engine) -> Any:
    stack = build_stack(Settings.from_pulumi())

    def check(_: Any) -> None:
        assert "webhookUrl" not in stack.outputs and "webhook" not in stack.components
        assert not engine.of_type("aws:lambda/function:Function")

    return settled(stack).apply(check)


def test_lambda_code_bundles_the_handler_and_its_imports() -> None:
    archive = lambda_code()
    assert {"slipway", "starlette", "mangum", "anyio"} <= set(archive.assets)
    assert Path(archive.assets["slipway"].path, "runs", "webhook.py").exists()


def test_project_limits_follow_the_batch_rule() -> None:
    from slipway.cloud.settings import Project

    lim = project_limits([Project("a", vcpus=2, memory=1024, gpus=0)], ["c6i"], 32, [], 0)
    assert lim == {"a": {"vcpus": 2, "memory": 1024, "gpus": 0, "max_vcpus": 32, "max_memory": 256 * 1024,
                         "max_gpus": 0}}
