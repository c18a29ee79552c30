"""End to end: a push reaches the webhook, moto's Batch runs the job as a real container (runs image) that
clones a tiny DVC project from the git daemon, runs DVC, pushes its outputs to a DVC remote on moto's S3
and its results back to git; the test reads the branch and the data. The local runner does the same
without moto's Batch (the DVC remote is still moto's S3)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from starlette.testclient import TestClient

from slipway.runs.aws import BatchRuns, SecretsManager
from slipway.runs.webhook import WebhookConfig, create_app
from tests.harness.dockerd import Dockerd
from tests.harness.gitd import GitDaemon
from tests.harness.moto import CREDENTIALS, REGION, Moto
from tests.harness.slack import SlackReceiver
from tests.runs.conftest import BatchStack, make_stack
from tests.runs.dvcproject import Project, make_project, result_of
from tests.runs.test_webhook import bb_headers, bitbucket_push, gh_headers, github_push

pytestmark = pytest.mark.docker

JOB_ENV = {k: v for k, v in CREDENTIALS.items()}


@pytest.fixture
def cloud(moto_docker: Moto, runs_image: str, monkeypatch: pytest.MonkeyPatch) -> BatchStack:
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    moto_docker.reset()
    boto3.client("s3", region_name=REGION, endpoint_url=moto_docker.url).create_bucket(Bucket="dvc-store")
    return make_stack(moto_docker.url, {"detector": {"image": runs_image, "environment": JOB_ENV}})


def wait_job(stack: BatchStack, job_id: str, timeout: float = 240) -> dict[str, Any]:
    b = stack.client("batch")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = b.describe_jobs(jobs=[job_id])["jobs"][0]
        if job["status"] in ("SUCCEEDED", "FAILED"):
            return job
        time.sleep(1)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def job_logs(stack: BatchStack, job_id: str) -> str:
    return BatchRuns(stack.queues, stack.job_definitions, region=REGION, endpoint_url=stack.url).logs(job_id)


def webhook_client(stack: BatchStack, gitd: GitDaemon) -> TestClient:
    cfg = WebhookConfig(uuids_secret=stack.uuids_secret, github_secret=stack.github_secret,
                        clone_url=gitd.url("{repo}"))
    runner = BatchRuns(stack.queues, stack.job_definitions, region=REGION, endpoint_url=stack.url)
    return TestClient(create_app(cfg, SecretsManager(region=REGION, endpoint_url=stack.url), runner))


def test_github_push_runs_dvc_repro_on_batch(cloud: BatchStack, git_daemon: GitDaemon, tmp_path: Path) -> None:
    project = make_project(git_daemon, tmp_path / "detector", "detector", cloud.url, "dvc-store")
    sha = project.commit("more data\n\n:SLIPWAY_RUN: train\n:SLIPWAY_MEMORY: 1024", change="1 2 3 4\n")
    body = github_push("detector", [(sha, project.git_log_message(sha))])
    r = webhook_client(cloud, git_daemon).post("/webhooks/github", content=body, headers=gh_headers(body))
    assert r.status_code == 202, r.text
    (submitted,) = r.json()["submitted"]
    job = wait_job(cloud, submitted["job_id"])
    logs = job_logs(cloud, submitted["job_id"])
    assert job["status"] == "SUCCEEDED", logs[-3000:]
    result = result_of(logs)
    assert (result["exit_code"], result["ref"]) == (0, f"experiment/{sha[:7]}")
    branch = f"refs/heads/experiment/{sha[:7]}"
    assert branch in project.refs()
    assert json.loads(project.show(branch, "metrics.json")) == {"score": 0.1}
    s3 = cloud.client("s3")
    assert project.pushed_output(s3, branch) == "lr=0.01 sum=10\n"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="dvc-store", Prefix=project.prefix)["Contents"]]
    assert any("/runs/" in k for k in keys), keys  # dvc push --run-cache


def test_cli_lists_batch_runs(cloud: BatchStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`slipway runs submit/list/status/logs` against Batch: the stack's outputs in the environment."""
    monkeypatch.setenv("SLIPWAY_BATCH_QUEUES", json.dumps(cloud.queues))
    monkeypatch.setenv("SLIPWAY_BATCH_JOB_DEFINITIONS", json.dumps(cloud.job_definitions))
    monkeypatch.setenv("AWS_ENDPOINT_URL", cloud.url)
    monkeypatch.setenv("AWS_REGION", REGION)
    runner = BatchRuns(cloud.queues, cloud.job_definitions, region=REGION, endpoint_url=cloud.url)
    from slipway.runs.plan import Commit, plan_commit

    plan = plan_commit(Commit("detector", "abcdef0123456789", ":SLIPWAY_RUN:"), runner.target("detector"))
    assert plan is not None
    job_id = runner.submit(plan)  # the container fails at once (no clone URL): a FAILED run to list
    wait_job(cloud, job_id)
    listed = _slipway("list")
    assert listed.returncode == 0, listed.stderr
    assert "detector-abcdef0" in listed.stdout and "FAILED" in listed.stdout
    status = _slipway("status", job_id)
    assert "detector-abcdef0" in status.stdout and "FAILED" in status.stdout
    logs = _slipway("logs", job_id)
    assert "SLIPWAY_RUN_CLONE_URL" in logs.stdout  # the runner's own error, from CloudWatch Logs
    # `plan` reads the limits from Batch: the job definition's defaults, the compute environments' maximum
    msg = tmp_path / "msg"
    msg.write_text(":SLIPWAY_RUN: -s train\n:SLIPWAY_GPUS: 2\n")
    plan = _slipway("plan", "--message-file", str(msg), "--repo", "detector", "--commit", "abcdef0", "--json")
    assert plan.returncode == 0, plan.stderr
    got = json.loads(plan.stdout)
    assert (got["queue"], got["vcpus"], got["memory"], got["gpus"]) == (cloud.queues["gpu"], 2, 2048, 2)
    msg.write_text(":SLIPWAY_RUN:\n:SLIPWAY_VCPUS: 65\n")
    too_big = _slipway("plan", "--message-file", str(msg), "--repo", "detector", "--commit", "abcdef0")
    assert too_big.returncode == 2 and "1..64" in too_big.stderr


def test_bitbucket_push_runs_dvc_exp_on_batch(cloud: BatchStack, git_daemon: GitDaemon, tmp_path: Path) -> None:
    project = make_project(git_daemon, tmp_path / "detector", "detector", cloud.url, "dvc-store")
    sha = project.commit("scan\n\n:SLIPWAY_RUN: --set-param lr=0.5\n:SLIPWAY_RUN_EXP:")
    body = bitbucket_push("detector", [(sha, project.git_log_message(sha))])
    r = webhook_client(cloud, git_daemon).post("/webhooks/bitbucket", content=body, headers=bb_headers())
    assert r.status_code == 202, r.text
    (submitted,) = r.json()["submitted"]
    job = wait_job(cloud, submitted["job_id"])
    logs = job_logs(cloud, submitted["job_id"])
    assert job["status"] == "SUCCEEDED", logs[-3000:]
    result = result_of(logs)
    name = result["experiment"]
    assert name and result["ref"] == f"experiment/{sha[:7]}-{name}"
    refs = project.refs()
    assert any(r.startswith("refs/exps/") and r.endswith(f"/{name}") for r in refs), refs  # dvc exp push
    branch = f"refs/heads/{result['ref']}"
    assert "lr: 0.5" in project.show(branch, "params.yaml")
    assert project.pushed_output(cloud.client("s3"), branch) == "lr=0.5 sum=6\n"


def _slipway(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from slipway.cli import main; main()", "runs", *args],
                          capture_output=True, text=True, timeout=400, check=False)


def test_local_runner_same_loop_without_moto(dockerd: Dockerd, runs_image: str, git_daemon: GitDaemon,
                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded default: no AWS at all. The DVC remote is a directory and the DVC cache a shared one,
    both mounted into the run's container."""
    for k in ("SLIPWAY_BATCH_QUEUES", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    slack, statuses = SlackReceiver(), SlackReceiver()  # both record JSON POSTs on loopback
    host, port = statuses.server.server_address[:2]
    monkeypatch.setenv("SLIPWAY_SLACK_WEBHOOK", slack.url)
    monkeypatch.setenv("SLIPWAY_STATUS_API", "github")
    monkeypatch.setenv("SLIPWAY_STATUS_API_URL", f"http://{host!s}:{port}")
    monkeypatch.setenv("SLIPWAY_STATUS_REPO", "team/segmenter")
    monkeypatch.setenv("SLIPWAY_STATUS_TOKEN", "ghs_status_token_value")
    remote, cache = tmp_path / "remote", tmp_path / "cache"
    remote.mkdir()
    cache.mkdir()
    project: Project = make_project(git_daemon, tmp_path / "segmenter", "segmenter", None, "/dvc-remote")
    sha = project.commit("local try\n\n:SLIPWAY_RUN:\n:SLIPWAY_VCPUS: 1", change="5 5\n")
    common = ["--image", runs_image, "--docker-host", dockerd.url]
    mounts = ["--volume", f"{remote}:/dvc-remote", "--volume", f"{cache}:/dvc-cache",
              "--env", "SLIPWAY_DVC_CACHE_DIR=/dvc-cache"]
    out = _slipway("submit", "--commit", sha, "--repo-dir", str(project.work), "--wait", *mounts, *common)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"segmenter-{sha[:7]}" in out.stdout and "SUCCEEDED" in out.stdout
    branch = f"refs/heads/experiment/{sha[:7]}"
    md5 = project.output_md5(branch)
    pushed = remote / project.prefix / "files" / "md5" / md5[:2] / md5[2:]
    assert pushed.read_text() == "lr=0.01 sum=10\n"
    assert (cache / "files" / "md5" / md5[:2] / md5[2:]).exists()  # the shared cache holds it too
    assert list((remote / project.prefix / "runs").rglob("*"))  # dvc push --run-cache
    # reported back: the commit status (GitHub API shape) and Slack
    (status,) = statuses.posts
    assert status.path == f"/repos/team/segmenter/statuses/{sha}"
    assert status.body["state"] == "success" and status.body["context"] == "slipway/run"
    assert f"experiment/{sha[:7]}" in status.body["description"]
    assert len(slack.texts()) == 1 and f"segmenter@{sha[:7]}" in slack.texts()[0] and "succeeded" in slack.texts()[0]
    again = _slipway("submit", "--commit", sha, "--repo-dir", str(project.work), *common)
    assert again.returncode == 0 and "duplicate" in again.stdout
    listed = _slipway("list", *common)
    assert f"segmenter-{sha[:7]}" in listed.stdout and "SUCCEEDED" in listed.stdout
    status_out = _slipway("status", f"segmenter-{sha[:7]}", *common)
    assert "SUCCEEDED" in status_out.stdout
    logs = _slipway("logs", f"segmenter-{sha[:7]}", *common)
    assert result_of(logs.stdout)["ref"] == f"experiment/{sha[:7]}"
    nothing = project.commit("prose only")
    assert _slipway("submit", "--commit", nothing, "--repo-dir", str(project.work), *common).returncode == 3
    assert "ghs_status_token_value" not in logs.stdout + out.stdout + out.stderr
    slack.stop()
    statuses.stop()
