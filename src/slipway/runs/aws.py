"""The AWS side of runs: Secrets Manager (re-read with a TTL), Batch submission, lookups and logs.

boto3 is imported lazily so the pure parts (and the job runner in its image) never need it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from slipway.errors import NotFound, SlipwayError, ValidationError
from slipway.runs.keywords import Limits, limits_from_batch
from slipway.runs.plan import Plan, Target, job_name

#: Batch job states, in order; ``list`` reads each (AWS lists RUNNING only when no state is given).
JOB_STATES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


def _client(service: str, region: str | None, endpoint_url: str | None) -> Any:
    try:
        import boto3
    except ModuleNotFoundError:  # the runs image has botocore (through dvc[s3]) but not boto3
        import botocore.session

        return botocore.session.get_session().create_client(service, region_name=region,
                                                            endpoint_url=endpoint_url)
    return boto3.client(service, region_name=region, endpoint_url=endpoint_url)


class SecretReader(Protocol):
    def read(self, name: str) -> str: ...


class SecretsManager:
    """Reads secret strings from AWS Secrets Manager (values are never logged)."""

    def __init__(self, region: str | None = None, endpoint_url: str | None = None, client: Any = None) -> None:
        self._sm = client or _client("secretsmanager", region, endpoint_url)

    def read(self, name: str) -> str:
        try:
            value = self._sm.get_secret_value(SecretId=name)
        except Exception as exc:  # botocore's errors: not found, denied, unreachable
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise SlipwayError(f"secret {name!r} cannot be read ({code})") from None
        return str(value.get("SecretString") or "")

    def write(self, name: str, value: str) -> str:
        """A new current version of an existing secret; its version id (the value is never logged)."""
        try:
            answer = self._sm.put_secret_value(SecretId=name, SecretString=value)
        except Exception as exc:  # botocore's errors: not found, denied, unreachable
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            hint = ": deploy the stack first (pulumi up)" if code == "ResourceNotFoundException" else ""
            raise SlipwayError(f"secret {name!r} cannot be written ({code}){hint}") from None
        return str(answer.get("VersionId") or "")


class CachedSecrets:
    """A ``SecretReader`` whose values are re-read after ``ttl`` seconds (at most 60: a UUID added to
    the secret is accepted within a minute, without recycling the Lambda container)."""

    MAX_TTL = 60.0

    def __init__(self, reader: SecretReader, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 <= ttl <= self.MAX_TTL:
            raise ValidationError("secrets_ttl", "is out of range (seconds)", got=ttl, allowed="0..60")
        self._reader, self._ttl, self._clock = reader, ttl, clock
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def read(self, name: str) -> str:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(name)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]
        value = self._reader.read(name)
        with self._lock:
            self._cache[name] = (now, value)
        return value


def secret_list(text: str) -> list[str]:
    """A secret holding a JSON list of strings, or one plain string (an HMAC secret)."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            data = json.loads(text)
        except ValueError:
            return []
        return [str(v) for v in data if isinstance(v, str | int)]
    return [text]


@dataclass(frozen=True)
class RunInfo:
    """One submitted run, from Batch or the local engine."""

    job_id: str
    job_name: str
    status: str
    repo: str = ""
    commit: str = ""
    queue: str = ""
    created: float = 0.0
    reason: str = ""

    def row(self) -> dict[str, object]:
        return {"job": self.job_name, "id": self.job_id, "status": self.status, "repo": self.repo,
                "commit": self.commit[:7], "queue": self.queue, "reason": self.reason}


class BatchRuns:
    """Submits plans to AWS Batch and finds/list/reads the jobs it made."""

    def __init__(self, queues: Mapping[str, str], job_definitions: Mapping[str, str], *,
                 region: str | None = None, endpoint_url: str | None = None, client: Any = None,
                 logs_client: Any = None, limits: Mapping[str, Limits] | None = None) -> None:
        self.queues = dict(queues)
        self.job_definitions = dict(job_definitions)
        #: project -> limits known at deploy time (the Lambda gets them from Pulumi: no describe calls)
        self.known_limits = dict(limits or {})
        self._batch = client or _client("batch", region, endpoint_url)
        self._region, self._endpoint = region, endpoint_url
        self._logs = logs_client
        self._targets: dict[str, tuple[float, Target]] = {}

    # -- targets -------------------------------------------------------------------------------
    def target(self, repo: str, *, ttl: float = 60.0) -> Target:
        """The project's job definition and queues, with limits read from Batch (cached ``ttl`` s)."""
        from slipway.runs.plan import repo_slug

        name = repo if repo in self.job_definitions else repo_slug(repo)
        if name not in self.job_definitions:
            raise NotFound(f"repository {repo!r} has no Batch job definition in this stack; projects: "
                           + (", ".join(sorted(self.job_definitions)) or "(none)"))
        hit = self._targets.get(name)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1]
        if "cpu" not in self.queues:
            raise NotFound("the stack has no cpu Batch job queue (output batchJobQueueArns.cpu)")
        limits = self.known_limits.get(name) or self._limits(self.job_definitions[name])
        target = Target(job_definition=self.job_definitions[name], cpu_queue=self.queues["cpu"],
                        gpu_queue=self.queues.get("gpu"), limits=limits)
        self._targets[name] = (time.monotonic(), target)
        return target

    def _environments(self, queue: str | None) -> list[dict[str, Any]]:
        if not queue:
            return []
        queues = self._batch.describe_job_queues(jobQueues=[queue]).get("jobQueues", [])
        arns = [o["computeEnvironment"] for q in queues for o in q.get("computeEnvironmentOrder", [])]
        if not arns:
            return []
        envs: list[dict[str, Any]] = self._batch.describe_compute_environments(
            computeEnvironments=arns).get("computeEnvironments", [])
        return envs

    def _limits(self, definition: str) -> Limits:
        defs = self._batch.describe_job_definitions(jobDefinitionName=definition.split("/")[-1].split(":")[0],
                                                    status="ACTIVE").get("jobDefinitions", [])
        if not defs:
            raise NotFound(f"Batch job definition {definition!r} does not exist (or is not ACTIVE)")
        newest = max(defs, key=lambda d: int(d.get("revision", 0)))
        return limits_from_batch(newest, self._environments(self.queues.get("cpu")),
                                 self._environments(self.queues.get("gpu")))

    # -- submission and lookups --------------------------------------------------------------------
    def submit(self, plan: Plan) -> str:
        response = self._batch.submit_job(
            jobName=plan.job_name, jobQueue=plan.queue, jobDefinition=plan.job_definition,
            containerOverrides={"command": list(plan.command), "resourceRequirements": plan.resource_requirements(),
                                "environment": plan.environment()},
            tags=plan.tags(), propagateTags=True)
        return str(response["jobId"])

    def find(self, repo: str, sha: str) -> str | None:
        """The job already submitted for this commit (the job's name and commit tag are the record)."""
        name = job_name(repo, sha)
        for queue in dict.fromkeys(self.queues.values()):
            summaries = self._batch.list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [name]}])
            ids = [s["jobId"] for s in summaries.get("jobSummaryList", [])]
            if not ids:
                continue
            for job in self._batch.describe_jobs(jobs=ids).get("jobs", []):
                if (job.get("tags") or {}).get("slipway:commit", sha) == sha:
                    return str(job["jobId"])
        return None

    def _info(self, job: Mapping[str, Any]) -> RunInfo:
        tags = job.get("tags") or {}
        return RunInfo(job_id=str(job["jobId"]), job_name=str(job["jobName"]), status=str(job.get("status", "")),
                       repo=str(tags.get("slipway:repo", "")), commit=str(tags.get("slipway:commit", "")),
                       queue=str(job.get("jobQueue", "")).rsplit("/", 1)[-1],
                       created=float(job.get("createdAt", 0)) / 1000, reason=str(job.get("statusReason", "")))

    def list(self) -> list[RunInfo]:
        ids: list[str] = []
        for queue in dict.fromkeys(self.queues.values()):
            for state in JOB_STATES:
                pages = self._batch.list_jobs(jobQueue=queue, jobStatus=state)
                ids += [s["jobId"] for s in pages.get("jobSummaryList", [])]
        out: list[RunInfo] = []
        for i in range(0, len(ids), 100):
            out += [self._info(j) for j in self._batch.describe_jobs(jobs=ids[i:i + 100]).get("jobs", [])]
        return sorted(out, key=lambda r: r.created, reverse=True)

    def status(self, job: str) -> RunInfo:
        jobs = self._batch.describe_jobs(jobs=[job]).get("jobs", [])
        if not jobs:
            named = [r for r in self.list() if r.job_name == job]
            if not named:
                raise NotFound(f"no Batch job {job!r}")
            return named[0]
        return self._info(jobs[0])

    def logs(self, job: str) -> str:
        info = self.status(job)
        detail = self._batch.describe_jobs(jobs=[info.job_id])["jobs"][0]
        stream = (detail.get("container") or {}).get("logStreamName")
        if not stream:
            return ""
        logs = self._logs or _client("logs", self._region, self._endpoint)
        group = ((detail.get("container") or {}).get("logConfiguration") or {}).get(
            "options", {}).get("awslogs-group", "/aws/batch/job")
        events = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
        return "\n".join(str(e["message"]) for e in events.get("events", []))
