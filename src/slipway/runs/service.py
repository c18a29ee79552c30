"""Use cases of ``slipway.runs`` that the faces (CLI, webhook, hooks) call."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from slipway.errors import ValidationError
from slipway.runs.keywords import Limits
from slipway.runs.plan import Commit, Plan, Target, plan_commit, repo_slug


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
                 targets_file: Path | None = None) -> Plan | None:
    """``slipway runs plan``: what a commit with this message would submit (``None``: nothing)."""
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
    return plan_commit(Commit(repo=repo, sha=sha.lower(), message=message),
                       target or default_target(repo, environment), prefix=prefix)
