"""The meta-flows: cleanup of unreferenced ECR images (moto), and health timings through a real
process worker on the test Prefect server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from slipway.flow import meta
from slipway.flow.deploy import prefect_client
from tests.harness.prefect import PrefectServer


class _Dep:
    def __init__(self, image: str) -> None:
        self.job_variables = {"image": image}


def _manifest(n: int) -> str:
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": n,
                                  "digest": "sha256:" + f"{n:064x}"},
                       "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": n,
                                   "digest": "sha256:" + f"{n + 100:064x}"}]})


def test_cleanup_deletes_only_unreferenced_old_images() -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        ecr = boto3.client("ecr", region_name="eu-west-1")
        uri = ecr.create_repository(repositoryName="slipway/dev/demo")["repository"]["repositoryUri"]
        for n, tag in enumerate(["ml-aaaa", "ml-bbbb", "ml-latest", "base-cccc", "base-dddd"], start=1):
            ecr.put_image(repositoryName="slipway/dev/demo", imageManifest=_manifest(n), imageTag=tag)
        referenced = meta.referenced_images([_Dep(f"{uri}:ml-bbbb")],
                                            [{"containerProperties": {"image": f"{uri}:base-cccc"}}])
        later = datetime.now(UTC) + timedelta(days=30)
        found = meta.unreferenced_images(ecr, ["slipway/dev/demo"], referenced, grace=timedelta(days=14), now=later)
        assert sorted(shown for _, _, shown, _ in found) == ["slipway/dev/demo:base-dddd", "slipway/dev/demo:ml-aaaa"]
        assert all("unreferenced, 3" in reason for _, _, _, reason in found)  # 29-30 days old
        # inside the grace period nothing is old enough
        assert meta.unreferenced_images(ecr, ["slipway/dev/demo"], referenced, grace=timedelta(days=14),
                                        now=datetime.now(UTC)) == []
        for repo, digest, _, _ in found:
            ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": digest}])
        left = {t for img in ecr.describe_images(repositoryName="slipway/dev/demo")["imageDetails"]
                for t in img.get("imageTags", [])}
        assert left == {"ml-bbbb", "ml-latest", "base-cccc"}


@pytest.mark.slow
def test_health_times_a_run_on_each_pool(prefect_server: PrefectServer, pools: dict[str, str],
                                         tmp_path: Path) -> None:
    """``ping`` deployed on the local pool; the ``health`` flow starts a run of it, a real worker
    picks it up, and the flow reports seconds from scheduled to running and to completed."""
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "meta.py").write_text("from slipway.flow import LocalMachine, Workflow\n"
                                   "from slipway.flow.meta import ping\n\n"
                                   "Workflow(flow=ping, name='health-local', machine=LocalMachine(), schedule=None)\n")
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from slipway.flow.deploy import FlowsConfig, apply, discover, plan
    from slipway.flow.gitinfo import GitContext

    declared = discover(tmp_path, ["flows"])
    specs = plan(declared, ctx=GitContext("team/demo", "main", "ab" * 20, "git"), cfg=FlowsConfig(),
                 outputs={"prefectWorkPools": pools}, images=None, exp=[], project_dir=tmp_path)
    env = {**os.environ, "PREFECT_API_URL": prefect_server.api_url, "PREFECT_HOME": str(tmp_path / "home")}
    with prefect_client(prefect_server.api_url) as client:
        assert [r.action for r in apply(client, specs)] == ["created"]
        worker = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "worker", "start", "--pool",
                                   pools["local"], "--prefetch-seconds", "5"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            start = time.monotonic()
            with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
                rows = meta.health(deployments=["slipway-ping/health-local"], timeout_s=240, late_after_s=200)
                APILogWorker.drain_all(timeout=10)
                EventsWorker.drain_all(timeout=10)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    [t] = rows
    assert t["state"] == "COMPLETED", t
    assert t["to_running_s"] is not None and t["to_completed_s"] is not None
    assert 0 <= t["to_running_s"] <= t["to_completed_s"] <= time.monotonic() - start + 5
    assert meta.table([]) == "nothing to clean up"
