"""Servers of the runs tests: moto server (Secrets Manager, Batch; with dockerd behind it Batch jobs run
as real containers on the host network), git daemon, and the runs image (built once, cached)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from tests.harness.dockerd import Dockerd
from tests.harness.gitd import GitDaemon, start_git_daemon
from tests.harness.moto import CREDENTIALS, REGION, Moto
from tests.harness.procs import Proc, free_port, wait_for

ENV = "test"
UUID = "{d1b8a3c2-0000-4000-8000-000000000001}"
GITHUB_SECRET = "gh-webhook-s3cret-value"


def _start_moto(workdir: Path, extra_env: dict[str, str]) -> Moto:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "moto.log"
    proc = Proc([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log,
                env={**CREDENTIALS, **extra_env})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{url}/moto-api/", timeout=1).status_code == 200, 60, "moto server",
                 proc.proc, log)
    except BaseException:
        proc.stop()
        raise
    return Moto(url, proc)


@dataclass
class BatchStack:
    """A project's Batch set-up in moto as the Pulumi program makes it (names and resources)."""

    url: str
    queues: dict[str, str]
    job_definitions: dict[str, str]
    uuids_secret: str
    github_secret: str

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.url)

    def jobs(self) -> list[dict[str, Any]]:
        b = self.client("batch")
        ids = [s["jobId"] for q in self.queues.values()
               for s in b.list_jobs(jobQueue=q, filters=[{"name": "JOB_NAME", "values": ["*"]}])["jobSummaryList"]]
        return b.describe_jobs(jobs=ids)["jobs"] if ids else []


def make_stack(url: str, projects: dict[str, dict[str, Any]]) -> BatchStack:
    kw: dict[str, Any] = {"region_name": REGION, "endpoint_url": url}
    ec2, iam, batch, sm = (boto3.client(s, **kw) for s in ("ec2", "iam", "batch", "secretsmanager"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName="batch", Description="batch", VpcId=vpc)["GroupId"]
    role = iam.create_role(RoleName="batch-service", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="batch-instance")["InstanceProfile"]["Arn"]
    prefix = f"slipway-{ENV}"
    queues: dict[str, str] = {}
    for kind, types, vcpus in (("cpu", ["c6i", "m6i"], 64), ("gpu", ["g5"], 32)):
        ce = batch.create_compute_environment(
            computeEnvironmentName=f"{prefix}-{kind}", type="MANAGED", state="ENABLED", serviceRole=role,
            computeResources={"type": "EC2", "minvCpus": 0, "maxvCpus": vcpus, "instanceTypes": types,
                              "subnets": [subnet], "securityGroupIds": [sg], "instanceRole": profile})
        q = batch.create_job_queue(jobQueueName=f"{prefix}-{kind}", state="ENABLED", priority=1,
                                   computeEnvironmentOrder=[{"order": 1,
                                                             "computeEnvironment": ce["computeEnvironmentArn"]}])
        queues[kind] = q["jobQueueArn"]
    definitions: dict[str, str] = {}
    for project, props in projects.items():
        name = f"{prefix}-ml-{project}"
        container = {"image": props.get("image", "slipway/absent:latest"), "command": ["dvc", "repro"],
                     "resourceRequirements": [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "2048"}],
                     "environment": [{"name": k, "value": v} for k, v in props.get("environment", {}).items()]}
        batch.register_job_definition(jobDefinitionName=name, type="container", containerProperties=container)
        definitions[project] = name
    uuids = sm.create_secret(Name=f"slipway/{ENV}/webhook-uuids", SecretString=json.dumps([UUID]))["ARN"]
    github = sm.create_secret(Name=f"slipway/{ENV}/github-webhook-secret", SecretString=GITHUB_SECRET)["ARN"]
    return BatchStack(url, queues, definitions, uuids, github)


@pytest.fixture(scope="session")
def moto_plain(server_root: Path) -> Iterator[Moto]:
    """moto without a Docker Engine: submitted jobs are recorded, then fail to start (webhook tests)."""
    m = _start_moto(server_root / "moto-runs", {"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    yield m
    m.stop()


@pytest.fixture
def stack(moto_plain: Moto, monkeypatch: pytest.MonkeyPatch) -> BatchStack:
    for k, v in CREDENTIALS.items():
        monkeypatch.setenv(k, v)
    moto_plain.reset()
    return make_stack(moto_plain.url, {"detector": {}, "segmenter": {}})


@pytest.fixture(scope="session")
def git_daemon(server_root: Path) -> Iterator[GitDaemon]:
    g = start_git_daemon(server_root / "gitd")
    yield g
    g.stop()


@pytest.fixture(scope="session")
def runs_image(dockerd: Dockerd) -> str:
    from tests.harness.runs_image import ensure_runs_image

    return ensure_runs_image(dockerd)


@pytest.fixture(scope="session")
def moto_docker(server_root: Path, dockerd: Dockerd) -> Iterator[Moto]:
    """moto whose Batch jobs run as containers in the test dockerd, on the host network (loopback only:
    the git daemon and moto's S3 are on 127.0.0.1)."""
    m = _start_moto(server_root / "moto-runs-docker", {"DOCKER_HOST": dockerd.url,
                                                        "MOTO_DOCKER_NETWORK_MODE": "host"})
    yield m
    m.stop()
