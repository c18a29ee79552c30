"""Use cases of ``slipway.runs`` that the faces (CLI, webhook, hooks) call."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from slipway.errors import NotFound, ValidationError
from slipway.runs.keywords import DEFAULT_PREFIX, Limits, parse
from slipway.runs.plan import Commit, Plan, Target, plan_commit, repo_slug

log = logging.getLogger("slipway.runs")


def default_target(repo: str, environment: str) -> Target:
    """The stack's defaults for a project (``slipway.cloud.settings``: one place for them)."""
    from slipway.cloud.settings import Project, Settings

    p = Project(name=repo_slug(repo))
    prefix = f"slipway-{environment}"
    limits = Limits(vcpus=p.vcpus, memory=p.memory, gpus=p.gpus,
                    max_vcpus=max(Settings.batch_cpu_max_vcpus, Settings.batch_gpu_max_vcpus),
                    max_gpus=8 if Settings.gpu_instance_types else 0)
    return Target(job_definition=f"{prefix}-ml-{p.name}", cpu_queue=f"{prefix}-cpu",
                  gpu_queue=f"{prefix}-gpu" if Settings.gpu_instance_types else None, limits=limits)


def target_from_data(data: Any) -> Target:
    """A ``Target`` from plain JSON data (``--targets`` file, tests)."""
    if not isinstance(data, dict):
        raise ValidationError("targets", "must be a JSON object", got=type(data).__name__,
                              allowed="{job_definition, cpu_queue, gpu_queue, limits}")
    unknown = sorted(set(data) - {"job_definition", "cpu_queue", "gpu_queue", "limits"})
    if unknown:
        raise ValidationError(f"targets.{unknown[0]}", "unknown key",
                              allowed=["job_definition", "cpu_queue", "gpu_queue", "limits"])
    for key in ("job_definition", "cpu_queue"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValidationError(f"targets.{key}", "is required (a name or ARN)", got=data.get(key))
    limits = data.get("limits") or {}
    if not isinstance(limits, dict):
        raise ValidationError("targets.limits", "must be an object", got=limits)
    allowed = {"vcpus", "memory", "gpus", "max_vcpus", "max_memory", "max_gpus"}
    bad = sorted(set(limits) - allowed)
    if bad:
        raise ValidationError(f"targets.limits.{bad[0]}", "unknown key", allowed=sorted(allowed))
    gpu_queue = data.get("gpu_queue") or None
    lim = Limits(**limits)
    if gpu_queue is None and "max_gpus" not in limits:
        lim = Limits(**{**limits, "max_gpus": 0, "gpus": 0})
    return Target(job_definition=data["job_definition"], cpu_queue=data["cpu_queue"], gpu_queue=gpu_queue,
                  limits=lim)


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def plan_message(message: str, *, repo: str | None, sha: str | None, prefix: str, environment: str,
                 targets_file: Path | None = None, env: Mapping[str, str] | None = None) -> Plan | None:
    """``slipway runs plan``: what a commit with this message would submit (``None``: nothing).

    Where the target comes from: ``targets_file``; else Batch itself when ``SLIPWAY_BATCH_QUEUES`` is set
    in ``env`` (the job definition's defaults and the compute environments' limits); else the stack's
    defaults for ``environment``.
    """
    if targets_file is not None:
        try:
            data = json.loads(targets_file.read_text())
        except (OSError, ValueError) as exc:
            raise ValidationError("--targets", f"is not a readable JSON file: {exc}", got=str(targets_file)) from None
        target = target_from_data(data)
    else:
        target = None
    if repo is None:
        top = _git("rev-parse", "--show-toplevel")
        repo = Path(top).name if top else Path.cwd().name
    if sha is None:
        sha = _git("rev-parse", "HEAD") or "0000000"
    commit = Commit(repo=repo, sha=sha.lower(), message=message)
    if target is None and env is not None and env.get("SLIPWAY_BATCH_QUEUES"):
        if parse(message, prefix=prefix, limits=Limits(max_gpus=1 << 20, max_vcpus=1 << 20,
                                                       max_memory=1 << 40)) is None:
            return None  # nothing would run: no need to ask Batch
        target = runner_from(env).target(repo)
    return plan_commit(commit, target or default_target(repo, environment), prefix=prefix)


# -- submission (webhook, CLI, hooks) ----------------------------------------------------------------

class Runner(Protocol):
    """Where runs go: AWS Batch (``slipway.runs.aws.BatchRuns``) or the local Docker Engine
    (``slipway.runs.local.LocalRuns``).

    Idempotency (repo + sha submits once) is recorded by the runner itself, in the job it made: the
    Batch job's name ``<repo>-<sha7>`` plus its ``slipway:commit`` tag, or the local container's
    labels. That record lives exactly as long as the run does, needs no table (the ledger is not
    touched), no DynamoDB and no disk (a Lambda has none that lasts), and cannot disagree with what
    was actually submitted. ``submit_commits`` serialises look-up + submit per commit within the
    process, so two deliveries arriving at the same Lambda container or ASGI server submit once.
    """

    def target(self, repo: str) -> Target: ...

    def submit(self, plan: Plan) -> str: ...

    def find(self, repo: str, sha: str) -> str | None: ...


@dataclass(frozen=True)
class Outcome:
    """What happened to one commit of a push."""

    repo: str
    sha: str
    status: str  # submitted | duplicate | nothing | invalid
    job_name: str = ""
    job_id: str = ""
    queue: str = ""
    error: str = ""

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if v}


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(key, threading.Lock())


def submit_commits(commits: Sequence[Commit], runner: Runner, *, prefix: str = DEFAULT_PREFIX) -> list[Outcome]:
    """Every commit of a push: plan it, and submit it unless it was submitted before.

    A commit whose keywords are wrong submits nothing and carries the error; the others go on.
    """
    out: list[Outcome] = []
    for commit in commits:
        try:
            if parse(commit.message, prefix=prefix, limits=Limits(max_gpus=1 << 20, max_vcpus=1 << 20,
                                                                  max_memory=1 << 40)) is None:
                out.append(Outcome(commit.repo, commit.sha, "nothing"))
                continue
            plan = plan_commit(commit, runner.target(commit.repo), prefix=prefix)
        except (ValidationError, NotFound) as exc:
            out.append(Outcome(commit.repo, commit.sha, "invalid", error=str(exc)))
            continue
        assert plan is not None
        with _lock(f"{commit.repo}@{commit.sha}"):
            existing = runner.find(commit.repo, commit.sha)
            if existing:
                log.info("run %s for %s@%s already submitted as %s", plan.job_name, commit.repo, plan.sha7,
                         existing)
                out.append(Outcome(commit.repo, commit.sha, "duplicate", plan.job_name, existing, plan.queue))
                continue
            job_id = runner.submit(plan)
        log.info("submitted run %s (%s) to %s for %s@%s: %s", plan.job_name, job_id, plan.queue, commit.repo,
                 plan.sha7, " ".join(plan.dvc_argv))
        out.append(Outcome(commit.repo, commit.sha, "submitted", plan.job_name, job_id, plan.queue))
    return out


# -- the CLI's runner: Batch when the stack's queues are configured, else the local Docker Engine ------

#: environment passed from the caller into local run containers (DVC remotes' credentials); never
#: AWS_CA_BUNDLE and the like, whose paths exist on the host only.
PASS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION",
            "SLIPWAY_GIT_TOKEN", "SLIPWAY_STATUS_API", "SLIPWAY_STATUS_API_URL", "SLIPWAY_STATUS_REPO",
            "SLIPWAY_STATUS_TOKEN", "SLIPWAY_SLACK_WEBHOOK", "SLIPWAY_DVC_CACHE_DIR", "SLIPWAY_DVC_REMOTE")


def runner_from(env: Mapping[str, str], *, image: str | None = None, docker_host: str | None = None,
                extra_env: Mapping[str, str] | None = None, volumes: Mapping[str, str] | None = None) -> Any:
    """``BatchRuns`` when ``SLIPWAY_BATCH_QUEUES`` (the stack output ``batchJobQueueArns`` as JSON) is set,
    else ``LocalRuns`` on ``docker_host`` (or ``DOCKER_HOST``) with ``image``."""
    if env.get("SLIPWAY_BATCH_QUEUES"):
        from slipway.runs.aws import BatchRuns

        try:
            queues = json.loads(env["SLIPWAY_BATCH_QUEUES"])
            definitions = json.loads(env.get("SLIPWAY_BATCH_JOB_DEFINITIONS", "{}"))
        except ValueError:
            raise ValidationError("SLIPWAY_BATCH_QUEUES", "is not JSON",
                                  allowed='{"cpu": "<queue arn>", "gpu": "<queue arn>"}') from None
        return BatchRuns(queues, definitions, region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
                         endpoint_url=env.get("AWS_ENDPOINT_URL") or None)
    from slipway.runs.local import DEFAULT_IMAGE, LocalRuns

    passed = {k: env[k] for k in PASS_ENV if env.get(k)}
    return LocalRuns(image or env.get("SLIPWAY_RUNS_IMAGE") or DEFAULT_IMAGE, base_url=docker_host,
                     environment={**passed, **(extra_env or {})}, volumes=volumes)


def _git_in(repo_dir: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo_dir), *args], capture_output=True, text=True, timeout=30,
                          check=False)
    if proc.returncode != 0:
        raise ValidationError("--repo-dir", f"git {' '.join(args[:2])} failed: {proc.stderr.strip()[:200]}",
                              got=str(repo_dir))
    return proc.stdout


def commit_from_checkout(repo_dir: Path, sha: str, *, repo: str | None = None, clone_url: str | None = None,
                         remote: str = "origin") -> Commit:
    """The commit as a push would carry it, read from a local checkout."""
    full = _git_in(repo_dir, "rev-parse", "--verify", f"{sha}^{{commit}}").strip()
    message = _git_in(repo_dir, "log", "-1", "--format=%B", full)
    branch = subprocess.run(["git", "-C", str(repo_dir), "symbolic-ref", "--short", "-q", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    author = _git_in(repo_dir, "log", "-1", "--format=%ae", full).strip()
    url = clone_url or _git_in(repo_dir, "remote", "get-url", remote).strip()
    top = Path(_git_in(repo_dir, "rev-parse", "--show-toplevel").strip())
    return Commit(repo=repo or top.name, sha=full, message=message, branch=branch, author=author, clone_url=url)


def submit_checkout(repo_dir: Path, sha: str, runner: Runner, *, repo: str | None = None,
                    clone_url: str | None = None, prefix: str = DEFAULT_PREFIX) -> Outcome:
    """``slipway runs submit --commit SHA``: the commit's keywords, submitted like a pushed commit."""
    commit = commit_from_checkout(repo_dir, sha, repo=repo, clone_url=clone_url)
    return submit_commits([commit], runner, prefix=prefix)[0]


# -- the webhook's secrets: `slipway runs secret set` ---------------------------------------------------

#: kind -> the secret's suffix under ``slipway/<environment>/`` (made by the Pulumi program)
WEBHOOK_SECRETS = {"github": "github-webhook-secret", "bitbucket-uuids": "webhook-uuids"}
_UUID = re.compile(r"^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$")
MIN_HMAC_SECRET = 16


class SecretWriter(Protocol):
    def write(self, name: str, value: str) -> str: ...


def webhook_secret_text(kind: str, text: str) -> tuple[str, int]:
    """The value stored for ``kind`` and how many entries it has; errors never quote the value.

    github: one HMAC secret, or a JSON list while rotating (each at least 16 characters).
    bitbucket-uuids: the authorised ``X-Hook-UUID`` values, as a JSON list or one per line.
    """
    if kind not in WEBHOOK_SECRETS:
        raise ValidationError("KIND", "is not a webhook secret", got=kind, allowed=sorted(WEBHOOK_SECRETS))
    text = text.strip()
    entries: list[str]
    if text.startswith("["):
        try:
            data = json.loads(text)
        except ValueError:
            raise ValidationError("value", "starts with '[' but is not a JSON list") from None
        if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
            raise ValidationError("value", "must be a JSON list of strings")
        entries = [v.strip() for v in data]
    else:
        entries = [line.strip() for line in text.splitlines() if line.strip()]
    if not entries:
        raise ValidationError("value", "is empty", allowed="the value on standard input")
    if kind == "github":
        if len(entries) > 1 and not text.startswith("["):
            raise ValidationError("value", "has several lines", allowed="one secret, or a JSON list while rotating")
        if any(len(v) < MIN_HMAC_SECRET for v in entries):
            raise ValidationError("value", f"is shorter than {MIN_HMAC_SECRET} characters",
                                  allowed="e.g. openssl rand -hex 32")
        return (entries[0] if len(entries) == 1 and not text.startswith("[") else json.dumps(entries)), len(entries)
    bad = [v for v in entries if not _UUID.match(v)]
    if bad:
        raise ValidationError("value", f"entry {entries.index(bad[0]) + 1} is not a UUID",
                              allowed="{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}")
    return json.dumps(sorted(set(entries))), len(set(entries))


def set_webhook_secret(kind: str, environment: str, text: str, writer: SecretWriter) -> dict[str, Any]:
    """Validate, then write ``slipway/<environment>/<secret>``; the webhook accepts it within its TTL."""
    value, count = webhook_secret_text(kind, text)
    name = f"slipway/{environment}/{WEBHOOK_SECRETS[kind]}"
    version = writer.write(name, value)
    return {"secret": name, "version": version, "entries": count}
