"""The webhook against moto server (Secrets Manager + Batch): ASGI app and Lambda entry point."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from slipway.runs import webhook
from slipway.runs.aws import BatchRuns, SecretsManager
from slipway.runs.push import github_signature
from slipway.runs.webhook import WebhookConfig, create_app
from tests.harness.moto import REGION
from tests.runs.conftest import GITHUB_SECRET, UUID, BatchStack

SHA1 = "1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
SHA2 = "2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
SHA3 = "3333333ccccccccccccccccccccccccccccccccc"


def github_push(repo: str, commits: list[tuple[str, str]], ref: str = "refs/heads/main") -> bytes:
    return json.dumps({
        "ref": ref, "repository": {"name": repo, "full_name": f"team/{repo}",
                                   "clone_url": f"https://github.com/team/{repo}.git"},
        "commits": [{"id": sha, "message": msg, "author": {"name": "Ada", "username": "ada"}}
                    for sha, msg in commits]}).encode()


def bitbucket_push(repo: str, commits: list[tuple[str, str]], branch: str = "main") -> bytes:
    listed = [{"hash": sha, "message": msg, "author": {"raw": "Ada <ada@example.com>", "user": {"nickname": "ada"}}}
              for sha, msg in reversed(commits)]  # Bitbucket lists newest first
    return json.dumps({
        "repository": {"name": repo, "full_name": f"team/{repo}",
                       "links": {"html": {"href": f"https://bitbucket.org/team/{repo}"}}},
        "push": {"changes": [{"new": {"type": "branch", "name": branch, "target": listed[0]},
                              "commits": listed}]}}).encode()


def gh_headers(body: bytes, secret: str = GITHUB_SECRET, event: str = "push") -> dict[str, str]:
    return {"X-GitHub-Event": event, "X-Hub-Signature-256": github_signature(secret, body),
            "Content-Type": "application/json"}


def bb_headers(uuid: str = UUID, event: str = "repo:push") -> dict[str, str]:
    return {"X-Event-Key": event, "X-Hook-UUID": uuid, "Content-Type": "application/json"}


def make_client(stack: BatchStack, **config: Any) -> TestClient:
    cfg = WebhookConfig(uuids_secret=stack.uuids_secret, github_secret=stack.github_secret, **config)
    runner = BatchRuns(stack.queues, stack.job_definitions, region=REGION, endpoint_url=stack.url)
    return TestClient(create_app(cfg, SecretsManager(region=REGION, endpoint_url=stack.url), runner))


def test_signed_github_push_submits_each_run_commit_once(stack: BatchStack) -> None:
    client = make_client(stack)
    body = github_push("detector", [(SHA1, "prose only"),
                                    (SHA2, "train\n\n:SLIPWAY_RUN: --single-item 'train model'\n:SLIPWAY_MEMORY: 4096"),
                                    (SHA3, "exp\n:SLIPWAY_RUN: -S lr=0.1\n:SLIPWAY_RUN_EXP:\n:SLIPWAY_GPUS: 2")])
    r = client.post("/webhooks/github", content=body, headers=gh_headers(body))
    assert r.status_code == 202, r.text
    assert [c["status"] for c in r.json()["commits"]] == ["nothing", "submitted", "submitted"]
    jobs = {j["jobName"]: j for j in stack.jobs()}
    assert set(jobs) == {"detector-2222222", "detector-3333333"}
    cpu, gpu = jobs["detector-2222222"], jobs["detector-3333333"]
    assert cpu["jobQueue"] == stack.queues["cpu"] and gpu["jobQueue"] == stack.queues["gpu"]
    assert cpu["jobDefinition"].split("/")[-1].startswith("slipway-test-ml-detector")
    assert cpu["container"]["command"] == ["slipway", "runs", "job", "--mode", "repro", "--",
                                           "--single-item", "train model"]
    assert gpu["container"]["command"] == ["slipway", "runs", "job", "--mode", "exp", "--", "-S", "lr=0.1"]
    assert cpu["tags"] == {"slipway:repo": "detector", "slipway:commit": SHA2, "slipway:branch": "main",
                           "slipway:author": "ada", "slipway:mode": "repro"}
    env = {e["name"]: e["value"] for e in cpu["container"]["environment"]}
    assert env["SLIPWAY_RUN_COMMIT"] == SHA2
    assert env["SLIPWAY_RUN_CLONE_URL"] == "https://github.com/team/detector.git"
    # the overrides' resources (moto keeps containerOverrides as given)
    submitted = {o["job_name"]: o for o in r.json()["submitted"]}
    assert submitted["detector-3333333"]["queue"] == stack.queues["gpu"]

    # the same delivery again (GitHub's redelivery): nothing new
    again = client.post("/webhooks/github", content=body, headers=gh_headers(body))
    assert again.status_code == 200
    assert [c["status"] for c in again.json()["commits"]] == ["nothing", "duplicate", "duplicate"]
    assert len(stack.jobs()) == 2


def test_concurrent_duplicate_deliveries_submit_once(stack: BatchStack) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client = make_client(stack)
    body = github_push("detector", [(SHA1, ":SLIPWAY_RUN:")])
    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(lambda _: client.post("/webhooks/github", content=body,
                                                    headers=gh_headers(body)).status_code, range(4)))
    assert sorted(codes) == [200, 200, 200, 202]
    assert [j["jobName"] for j in stack.jobs()] == ["detector-1111111"]


def test_bitbucket_push_with_authorised_uuid(stack: BatchStack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="slipway")
    client = make_client(stack, clone_url="git://127.0.0.1:9/{repo}.git")
    body = bitbucket_push("segmenter", [(SHA1, "a\n:SLIPWAY_RUN:\n:SLIPWAY_VCPUS: 8"), (SHA2, "b\n:SLIPWAY_RUN:")])
    r = client.post("/webhooks/bitbucket", content=body, headers=bb_headers(UUID.strip("{}").upper()))
    assert r.status_code == 202, r.text
    assert [c["job_name"] for c in r.json()["submitted"]] == ["segmenter-1111111", "segmenter-2222222"]
    job = next(j for j in stack.jobs() if j["jobName"] == "segmenter-1111111")
    assert {e["name"]: e["value"] for e in job["container"]["environment"]}["SLIPWAY_RUN_CLONE_URL"] == \
        "git://127.0.0.1:9/segmenter.git"
    assert "submitted run segmenter-1111111" in caplog.text
    assert UUID.strip("{}") not in caplog.text.lower() and UUID.strip("{}") not in r.text.lower()


def test_bad_requests_change_nothing(stack: BatchStack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="slipway")  # our logs (botocore's own DEBUG prints bodies)
    client = make_client(stack, max_body=4096)
    body = github_push("detector", [(SHA1, ":SLIPWAY_RUN:")])
    cases = [
        ("github", body, {"X-GitHub-Event": "push"}, 401),
        ("github", body, gh_headers(body, secret="wrong"), 403),
        ("github", body, {**gh_headers(body), "X-Hub-Signature-256": "sha256=" + "0" * 64}, 403),
        ("github", body + b" ", gh_headers(body), 403),  # body changed after signing
        ("github", b"{not json", gh_headers(b"{not json"), 400),
        ("github", b'{"ref": "refs/heads/main"}', gh_headers(b'{"ref": "refs/heads/main"}'), 400),
        ("github", body, gh_headers(body, event="issues"), 400),
        ("github", b"x" * 5000, gh_headers(b"x" * 5000), 413),
        ("bitbucket", bitbucket_push("detector", [(SHA1, ":SLIPWAY_RUN:")]), {"X-Event-Key": "repo:push"}, 401),
        ("bitbucket", bitbucket_push("detector", [(SHA1, ":SLIPWAY_RUN:")]), bb_headers("{not-listed}"), 403),
        ("bitbucket", b"[]", bb_headers(), 400),
        ("bitbucket", bitbucket_push("detector", [(SHA1, ":SLIPWAY_RUN:")]), bb_headers(event="repo:fork"), 400),
    ]
    for source, content, headers, status in cases:
        r = client.post(f"/webhooks/{source}", content=content, headers=headers)
        assert r.status_code == status, (source, headers, r.text)
        assert GITHUB_SECRET not in r.text and r.json()["submitted"] == []
    ping = client.post("/webhooks/github", content=b"{}", headers=gh_headers(b"{}", event="ping"))
    assert ping.status_code == 200 and ping.json()["submitted"] == []
    assert stack.jobs() == []
    assert GITHUB_SECRET not in caplog.text and UUID not in caplog.text


def test_keyword_error_submits_nothing_and_says_why(stack: BatchStack) -> None:
    client = make_client(stack)
    body = github_push("detector", [(SHA1, ":SLIPWAY_RUN:\n:SLIPWAY_VCPUS: 1000"),
                                    (SHA2, ":SLIPWAY_RUN:\n:SLIPWAY_MEMRY: 4")])
    r = client.post("/webhooks/github", content=body, headers=gh_headers(body))
    assert r.status_code == 200
    errors = [c["error"] for c in r.json()["commits"]]
    assert ":SLIPWAY_VCPUS:" in errors[0] and "1..64" in errors[0]  # the cpu compute environment's maxvCpus
    assert ":SLIPWAY_MEMRY:" in errors[1] and "unknown keyword" in errors[1]
    unknown = github_push("nobody", [(SHA3, ":SLIPWAY_RUN:")])
    r = client.post("/webhooks/github", content=unknown, headers=gh_headers(unknown))
    assert "no Batch job definition" in r.json()["commits"][0]["error"]
    assert stack.jobs() == []


def test_new_uuid_is_accepted_after_the_ttl(stack: BatchStack) -> None:
    client = make_client(stack, secrets_ttl=1.0)
    new = "{d1b8a3c2-0000-4000-8000-0000000000ff}"
    body = bitbucket_push("detector", [(SHA1, ":SLIPWAY_RUN:")])
    assert client.post("/webhooks/bitbucket", content=body, headers=bb_headers(new)).status_code == 403
    stack.client("secretsmanager").put_secret_value(SecretId=stack.uuids_secret,
                                                    SecretString=json.dumps([UUID, new]))
    time.sleep(1.2)
    r = client.post("/webhooks/bitbucket", content=body, headers=bb_headers(new))
    assert r.status_code == 202, r.text


def apigw_event(path: str, body: bytes, headers: dict[str, str], *, b64: bool = False) -> dict[str, Any]:
    return {"version": "2.0", "routeKey": f"POST {path}", "rawPath": path, "rawQueryString": "",
            "headers": {k.lower(): v for k, v in headers.items()},
            "requestContext": {"http": {"method": "POST", "path": path, "sourceIp": "192.0.2.1",
                                        "protocol": "HTTP/1.1", "userAgent": "test"},
                               "stage": "$default", "requestId": "r1", "accountId": "123456789012"},
            "body": base64.b64encode(body).decode() if b64 else body.decode(), "isBase64Encoded": b64}


def test_lambda_entry_point_gets_api_gateway_v2_events(stack: BatchStack, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"SLIPWAY_WEBHOOK_UUIDS_SECRET": stack.uuids_secret, "SLIPWAY_GITHUB_SECRET": stack.github_secret,
           "SLIPWAY_SECRETS_TTL": "5", "SLIPWAY_BATCH_QUEUES": json.dumps(stack.queues),
           "SLIPWAY_BATCH_JOB_DEFINITIONS": json.dumps(stack.job_definitions), "AWS_ENDPOINT_URL": stack.url,
           "AWS_REGION": REGION, "SLIPWAY_RUN_LIMITS": json.dumps({"detector": {
               "vcpus": 2, "memory": 2048, "gpus": 0, "max_vcpus": 16, "max_memory": 65536, "max_gpus": 4}})}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(webhook, "_HANDLER", None)
    body = github_push("detector", [(SHA1, ":SLIPWAY_RUN: -s train")])
    out = webhook.handler(apigw_event("/webhooks/github", body, gh_headers(body), b64=True), None)
    assert out["statusCode"] == 202, out
    assert json.loads(out["body"])["submitted"][0]["job_name"] == "detector-1111111"
    dup = webhook.handler(apigw_event("/webhooks/github", body, gh_headers(body)), None)
    assert dup["statusCode"] == 200 and json.loads(dup["body"])["commits"][0]["status"] == "duplicate"
    bad = webhook.handler(apigw_event("/webhooks/github", body, gh_headers(body, secret="nope")), None)
    assert bad["statusCode"] == 403
    bb = bitbucket_push("detector", [(SHA2, ":SLIPWAY_RUN:")])
    ok = webhook.handler(apigw_event("/webhooks/bitbucket", bb, bb_headers()), None)
    assert ok["statusCode"] == 202
    # the limits the stack computed at deploy time apply (no Describe* calls from the function)
    big = github_push("detector", [(SHA3, ":SLIPWAY_RUN:\n:SLIPWAY_VCPUS: 17")])
    out = webhook.handler(apigw_event("/webhooks/github", big, gh_headers(big)), None)
    assert out["statusCode"] == 200 and "1..16" in json.loads(out["body"])["commits"][0]["error"]
    assert sorted(j["jobName"] for j in stack.jobs()) == ["detector-1111111", "detector-2222222"]
