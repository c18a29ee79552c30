"""Meta-flows: ordinary Prefect flows, deployed like any other workflow.

* ``cleanup``: removes development deployments whose branch no longer exists in the remote, and
  ECR images that no deployment, Batch job definition or ``<variant>-latest`` tag references and
  that are older than a grace period. A dry run by default: a table of what it would delete.
* ``health``: runs a tiny flow (``ping``) through each work pool's health deployment and records the
  time from scheduled to running and to completed; a slow image pull or a stuck worker shows up in
  the Prefect UI as a failed run.

To deploy them, declare them in one of the project's flow files, e.g. ``flows/meta.py``::

    from slipway.flow import AwsEcsImage, AwsEcsMachine, LocalMachine, Workflow
    from slipway.flow.meta import cleanup, health, ping

    Workflow(flow=cleanup, machine=LocalMachine(), schedule="0 4 * * *",
             parameters={"remote": "https://github.com/team/app.git", "dry_run": False})
    Workflow(flow=ping, name="health-gpu", machine=AwsEcsMachine(is_gpu=True, image=AwsEcsImage.base))
    Workflow(flow=health, machine=LocalMachine(), schedule="0 5 * * *",
             parameters={"deployments": ["slipway-ping/health-gpu"]})
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from slipway.errors import SlipwayError
from slipway.flow.gitinfo import remote_branches


@dataclass(frozen=True)
class Doomed:
    kind: str  # deployment or image
    name: str
    reason: str
    action: str  # would delete / deleted

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "reason": self.reason, "action": self.action}


def table(rows: Sequence[Doomed]) -> str:
    if not rows:
        return "nothing to clean up"
    head = ("kind", "name", "reason", "action")
    data = [(r.kind, r.name, r.reason, r.action) for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *data, strict=False)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([line.format(*head), line.format(*("-" * w for w in widths)), *(line.format(*d) for d in data)])


def _tag(tags: Iterable[str], key: str) -> str | None:
    for t in tags:
        if t.startswith(f"{key}:"):
            return t.split(":", 1)[1]
    return None


def stale_deployments(deployments: Iterable[Any], live: set[str], repo: str | None = None) -> list[tuple[Any, str]]:
    """(deployment, branch) of each development deployment whose branch is not in ``live``."""
    out = []
    for d in deployments:
        tags = list(d.tags or [])
        branch = _tag(tags, "branch")
        if "dev" not in tags or branch is None or branch in live:
            continue
        if repo is not None and _tag(tags, "repo") != repo:
            continue
        out.append((d, branch))
    return out


def referenced_images(deployments: Iterable[Any], job_definitions: Iterable[Mapping[str, Any]] = ()) -> set[str]:
    refs = {str((d.job_variables or {}).get("image")) for d in deployments if (d.job_variables or {}).get("image")}
    refs |= {str(j.get("containerProperties", {}).get("image")) for j in job_definitions
             if j.get("containerProperties", {}).get("image")}
    return refs


def unreferenced_images(ecr: Any, repositories: Sequence[str], referenced: set[str], *, grace: timedelta,
                        now: datetime) -> list[tuple[str, str, str, str]]:
    """(repository name, digest, shown name, reason) of each image nobody references, older than grace."""
    out = []
    for repo in repositories:
        uri = ecr.describe_repositories(repositoryNames=[repo])["repositories"][0]["repositoryUri"]
        for page in ecr.get_paginator("describe_images").paginate(repositoryName=repo):
            for img in page["imageDetails"]:
                tags = img.get("imageTags") or []
                digest = img["imageDigest"]
                if any(t.endswith("-latest") for t in tags):
                    continue
                if {f"{uri}:{t}" for t in tags} & referenced or f"{uri}@{digest}" in referenced:
                    continue
                pushed = img.get("imagePushedAt")
                if pushed is not None and now - pushed < grace:
                    continue
                age = f"{(now - pushed).days} days old" if pushed is not None else "age unknown"
                shown = f"{repo}:{','.join(tags)}" if tags else f"{repo}@{digest[:19]}"
                out.append((repo, digest, shown, f"unreferenced, {age}"))
    return out


def cleanup_run(client: Any, *, project_dir: Path, remote: str = "origin", repo: str | None = None,
                dry_run: bool = True, ecr: Any = None, batch: Any = None, repositories: Sequence[str] = (),
                grace_days: int = 14, now: datetime | None = None) -> list[Doomed]:
    """What the ``cleanup`` flow and ``slipway flows cleanup`` do, with the clients passed in."""
    live = remote_branches(project_dir, remote)
    deployments = all_deployments(client)
    action = "would delete" if dry_run else "deleted"
    rows: list[Doomed] = []
    for dep, branch in stale_deployments(deployments, live, repo):
        name = f"{_flow_name(client, dep)}/{dep.name}"
        if not dry_run:
            client.delete_deployment(dep.id)
        rows.append(Doomed("deployment", name, f"branch {branch!r} is gone from {remote}", action))
    if ecr is not None and repositories:
        from botocore.exceptions import BotoCoreError, ClientError

        stale = {s.id for s, _ in stale_deployments(deployments, live, repo)}
        keep = [d for d in deployments if d.id not in stale]
        try:
            jobs: list[Mapping[str, Any]] = []
            if batch is not None:
                for page in batch.get_paginator("describe_job_definitions").paginate(status="ACTIVE"):
                    jobs.extend(page["jobDefinitions"])
            found = unreferenced_images(ecr, repositories, referenced_images(keep, jobs),
                                        grace=timedelta(days=grace_days), now=now or datetime.now(UTC))
            for repo_name, digest, shown, reason in found:
                if not dry_run:
                    ecr.batch_delete_image(repositoryName=repo_name, imageIds=[{"imageDigest": digest}])
                rows.append(Doomed("image", shown, reason, action))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise SlipwayError(f"AWS refused {exc.operation_name} during the image cleanup: {code}") from None
        except BotoCoreError as exc:
            raise SlipwayError(f"AWS cannot be reached for the image cleanup: {type(exc).__name__}") from None
    return rows


def all_deployments(client: Any, page: int = 200) -> list[Any]:
    """Every deployment (the API answers at most a page at a time; a missed one would lose its image)."""
    out: list[Any] = []
    while True:
        batch = list(client.read_deployments(limit=page, offset=len(out)))
        out.extend(batch)
        if len(batch) < page:
            return out


def _flow_name(client: Any, dep: Any) -> str:
    try:
        return str(client.read_flow(dep.flow_id).name)
    except Exception:
        return str(dep.flow_id)


@flow(name="slipway-cleanup")
def cleanup(project_dir: str = ".", remote: str = "origin", repo: str | None = None, dry_run: bool = True,
            repositories: list[str] | None = None, region: str | None = None, grace_days: int = 14) -> list[dict[str, str]]:
    """Remove dev deployments of deleted branches and unreferenced old ECR images (dry run by default).

    Only deployments tagged ``repo:<repo>`` (default: this checkout's repository) are considered, so
    one repository's cleanup never touches another's development deployments."""
    from prefect.artifacts import create_table_artifact
    from prefect.client.orchestration import get_client

    ecr = batch = None
    if repositories:
        import boto3

        ecr, batch = boto3.client("ecr", region_name=region), boto3.client("batch", region_name=region)
    import os

    from slipway.flow.gitinfo import repo_of

    with get_client(sync_client=True) as client:
        rows = cleanup_run(client, project_dir=Path(project_dir), remote=remote,
                           repo=repo or repo_of(Path(project_dir), os.environ), dry_run=dry_run,
                           ecr=ecr, batch=batch, repositories=repositories or (), grace_days=grace_days)
    get_run_logger().info("cleanup (%s):\n%s", "dry run" if dry_run else "applied", table(rows))
    create_table_artifact(key="slipway-cleanup", table=[r.as_dict() for r in rows],
                          description="What the cleanup flow deleted (or would delete)")
    return [r.as_dict() for r in rows]


@flow(name="slipway-ping")
def ping() -> str:
    """The tiny flow the health check runs on each work pool."""
    return "pong"


@dataclass(frozen=True)
class Timing:
    deployment: str
    state: str
    to_running_s: float | None
    to_completed_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return {"deployment": self.deployment, "state": self.state, "to_running_s": self.to_running_s,
                "to_completed_s": self.to_completed_s}


def timing(deployment: str, run: Any) -> Timing:
    """Seconds from the run's scheduled time to running and to completed."""
    scheduled = run.expected_start_time or run.created
    start, end = run.start_time, run.end_time
    return Timing(deployment, str(run.state.type.value if run.state else "UNKNOWN"),
                  round((start - scheduled).total_seconds(), 3) if start and scheduled else None,
                  round((end - scheduled).total_seconds(), 3) if end and scheduled else None)


def health_run(client: Any, deployments: Sequence[str], *, timeout_s: float = 900, poll_s: float = 2) -> list[Timing]:
    """Start a run of each health deployment, wait for all, return their timings."""
    runs = []
    for name in deployments:
        dep = client.read_deployment_by_name(name)
        runs.append((name, client.create_flow_run_from_deployment(dep.id, tags=["slipway-health"])))
    deadline = time.monotonic() + timeout_s
    out: dict[str, Timing] = {}
    while len(out) < len(runs):
        for name, run in runs:
            if name in out:
                continue
            live = client.read_flow_run(run.id)
            if (live.state and live.state.is_final()) or time.monotonic() > deadline:
                out[name] = timing(name, live)
        if len(out) < len(runs):
            time.sleep(poll_s)
    return [out[name] for name, _ in runs]


@flow(name="slipway-health")
def health(deployments: list[str], timeout_s: float = 900, late_after_s: float = 300) -> list[dict[str, Any]]:
    """Run ``ping`` on each pool; fail when a run did not complete or started later than ``late_after_s``."""
    from prefect.artifacts import create_table_artifact
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        timings = health_run(client, deployments, timeout_s=timeout_s)
    rows = [t.as_dict() for t in timings]
    create_table_artifact(key="slipway-health", table=rows, description="Scheduled -> running -> completed")
    bad = [t for t in timings if t.state != "COMPLETED" or (t.to_running_s or 0) > late_after_s]
    if bad:
        raise RuntimeError("unhealthy work pools: " + ", ".join(f"{t.deployment} ({t.state}, "
                                                                 f"{t.to_running_s}s to running)" for t in bad))
    return rows
