"""From a commit to what would be submitted (pure): job name, queue, job definition, argv, resources."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from slipway.errors import ValidationError
from slipway.runs.keywords import DEFAULT_PREFIX, Limits, RunRequest, parse

_SHA = re.compile(r"^[0-9a-f]{7,64}$")
_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


@dataclass(frozen=True)
class Target:
    """Where a project's runs go: read from the stack outputs (or given as plain data)."""

    job_definition: str
    cpu_queue: str
    gpu_queue: str | None = None
    limits: Limits = field(default_factory=Limits)

    def queue_for(self, gpus: int) -> str:
        if gpus > 0:
            if not self.gpu_queue:
                raise ValidationError("gpus", "the project has no GPU queue", got=gpus, allowed="0")
            return self.gpu_queue
        return self.cpu_queue


@dataclass(frozen=True)
class Commit:
    """One commit of a push: what the keywords and the tags need."""

    repo: str
    sha: str
    message: str
    branch: str = ""
    author: str = ""
    clone_url: str = ""


@dataclass(frozen=True)
class Plan:
    """A job that would be submitted. ``command`` is the container's argv (no shell anywhere)."""

    repo: str
    commit: str
    job_name: str
    queue: str
    job_definition: str
    command: tuple[str, ...]
    vcpus: int
    memory: int
    gpus: int
    mode: str
    dvc_argv: tuple[str, ...]
    branch: str = ""
    author: str = ""
    clone_url: str = ""

    @property
    def sha7(self) -> str:
        return self.commit[:7]

    def resource_requirements(self) -> list[dict[str, str]]:
        req = [{"type": "VCPU", "value": str(self.vcpus)}, {"type": "MEMORY", "value": str(self.memory)}]
        if self.gpus:
            req.append({"type": "GPU", "value": str(self.gpus)})
        return req

    def environment(self) -> list[dict[str, str]]:
        env = {"SLIPWAY_RUN_REPO": self.repo, "SLIPWAY_RUN_COMMIT": self.commit,
               "SLIPWAY_RUN_BRANCH": self.branch, "SLIPWAY_RUN_CLONE_URL": self.clone_url}
        return [{"name": k, "value": v} for k, v in env.items() if v]

    def tags(self) -> dict[str, str]:
        tags = {"slipway:repo": self.repo, "slipway:commit": self.commit, "slipway:branch": self.branch,
                "slipway:author": self.author, "slipway:mode": self.mode}
        # Batch tag values: up to 256 characters
        return {k: v[:256] for k, v in tags.items() if v}

    def as_dict(self) -> dict[str, Any]:
        return {"job_name": self.job_name, "queue": self.queue, "job_definition": self.job_definition,
                "command": list(self.command), "vcpus": self.vcpus, "memory": self.memory, "gpus": self.gpus,
                "repo": self.repo, "commit": self.commit, "mode": self.mode}


def repo_slug(repo: str) -> str:
    """``team/My.Repo`` -> ``My-Repo``: the last path part, made fit for a Batch job name."""
    name = repo.rstrip("/").rsplit("/", 1)[-1]
    name = name.removesuffix(".git")
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")
    return slug[:100] or "repo"


def job_name(repo: str, sha: str) -> str:
    """``<repo>-<sha7>``: Batch job names are 1-128 letters, digits, hyphens, underscores."""
    return f"{repo_slug(repo)}-{sha[:7]}"


def check_commit(repo: str, sha: str) -> None:
    if not _REPO.match(repo or "") or ".." in repo:
        raise ValidationError("repo", "is not a repository name", got=repo,
                              allowed="letters, digits, '.', '_', '-', '/' (e.g. team/detector)")
    if not _SHA.match(sha or ""):
        raise ValidationError("commit", "is not a commit id", got=sha, allowed="7-64 lower-case hex digits")


def runner_command(request: RunRequest) -> tuple[str, ...]:
    """The container argv: the runner, its mode, then DVC's own args after ``--``."""
    return ("slipway", "runs", "job", "--mode", request.mode, "--", *request.args)


def plan_commit(commit: Commit, target: Target, *, prefix: str = DEFAULT_PREFIX) -> Plan | None:
    """The job this commit would submit, ``None`` when its message has no run keyword."""
    request = parse(commit.message, target.limits, prefix=prefix)
    if request is None:
        return None
    check_commit(commit.repo, commit.sha)
    lim = target.limits
    gpus = min(lim.gpus, lim.max_gpus) if request.gpus is None else request.gpus
    if gpus > 0 and not target.gpu_queue:
        if request.gpus is None:
            gpus = 0  # the job definition's default GPU does not apply where there is no GPU queue
        else:
            raise ValidationError(f":{prefix}_GPUS:", "asks for GPUs but the project has no GPU queue",
                                  got=gpus, allowed="0 (or no GPU keyword)")
    return Plan(repo=commit.repo, commit=commit.sha, job_name=job_name(commit.repo, commit.sha),
                queue=target.queue_for(gpus), job_definition=target.job_definition,
                command=runner_command(request), vcpus=request.vcpus or lim.vcpus,
                memory=request.memory or lim.memory, gpus=gpus, mode=request.mode,
                dvc_argv=request.dvc_argv(), branch=commit.branch, author=commit.author,
                clone_url=commit.clone_url)
