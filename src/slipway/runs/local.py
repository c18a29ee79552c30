"""The embedded default: runs on the local Docker Engine, with the same image and runner as on Batch.

A run is one container of the runs image (host network, so a git server or S3 endpoint on loopback is
reachable), labelled with its repo and commit: the labels are the idempotency record and what
``list``/``status``/``logs`` read, as the Batch job is for cloud runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from slipway.errors import EngineError, NotFound
from slipway.runs.aws import RunInfo
from slipway.runs.keywords import Limits
from slipway.runs.plan import Plan, Target

DEFAULT_IMAGE = "slipway/runs:latest"
LABEL = "slipway.run"
_STATES = {"created": "SUBMITTED", "restarting": "RUNNING", "running": "RUNNING", "paused": "RUNNING",
           "removing": "RUNNING", "dead": "FAILED"}


class LocalRuns:
    """Submits plans as containers on a Docker Engine (``base_url``: unix socket or ssh://)."""

    def __init__(self, image: str = DEFAULT_IMAGE, *, base_url: str | None = None,
                 environment: Mapping[str, str] | None = None, max_gpus: int = 8, client: Any = None,
                 volumes: Mapping[str, str] | None = None) -> None:
        self.image = image
        self.environment = dict(environment or {})
        #: host path -> container path (a shared DVC cache, a directory DVC remote)
        self.volumes = dict(volumes or {})
        self.max_gpus = max_gpus
        self._base_url = base_url
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import docker

            try:
                self._client = (docker.DockerClient(base_url=self._base_url, timeout=60) if self._base_url
                                else docker.from_env(timeout=60))
            except docker.errors.DockerException as exc:
                raise EngineError(f"the local Docker Engine cannot be reached: {exc}") from None
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def target(self, repo: str) -> Target:
        info = self.client.info()
        cpus = int(info.get("NCPU") or os.cpu_count() or 1)
        memory = int(info.get("MemTotal") or 0) // (1024 * 1024) or 4096
        limits = Limits(vcpus=min(2, cpus), memory=min(4096, memory), gpus=0, max_vcpus=cpus, max_memory=memory,
                        max_gpus=self.max_gpus)
        return Target(job_definition=self.image, cpu_queue="local", gpu_queue="local-gpu" if self.max_gpus else None,
                      limits=limits)

    def submit(self, plan: Plan) -> str:
        import docker

        env = {**self.environment, **{e["name"]: e["value"] for e in plan.environment()}}
        labels = {LABEL: "true", "slipway.managed": "true", f"{LABEL}.repo": plan.repo,
                  f"{LABEL}.commit": plan.commit, f"{LABEL}.name": plan.job_name, f"{LABEL}.queue": plan.queue}
        kwargs: dict[str, Any] = {}
        if self.volumes:
            kwargs["volumes"] = {host: {"bind": inside, "mode": "rw"} for host, inside in self.volumes.items()}
        if plan.gpus:
            kwargs["device_requests"] = [docker.types.DeviceRequest(count=plan.gpus, capabilities=[["gpu"]])]
        try:
            container = self.client.containers.run(
                plan.job_definition, command=list(plan.command), environment=env, labels=labels, detach=True,
                name=f"slipway-run-{plan.job_name}", network_mode="host", nano_cpus=plan.vcpus * 10**9,
                mem_limit=f"{plan.memory}m", **kwargs)
        except docker.errors.ImageNotFound:
            raise NotFound(f"image {plan.job_definition!r} is not on the local Docker Engine: build it with "
                           "images/runs/build.sh") from None
        except docker.errors.APIError as exc:
            raise EngineError(f"the local Docker Engine refused the run: {exc.explanation or exc}") from None
        return str(container.id[:12])

    def _containers(self, **labels: str) -> list[Any]:
        filters = [f"{LABEL}=true", *(f"{LABEL}.{k}={v}" for k, v in labels.items())]
        found: list[Any] = self.client.containers.list(all=True, filters={"label": filters})
        return found

    def find(self, repo: str, sha: str) -> str | None:
        found = self._containers(repo=repo, commit=sha)
        return str(found[0].id[:12]) if found else None

    def _info(self, c: Any) -> RunInfo:
        labels = c.labels
        state = c.attrs.get("State") or {}
        status = _STATES.get(c.status, "")
        if c.status == "exited":
            status = "SUCCEEDED" if int(state.get("ExitCode", 1)) == 0 else "FAILED"
        reason = f"exit code {state.get('ExitCode')}" if c.status == "exited" else ""
        return RunInfo(job_id=str(c.id[:12]), job_name=labels.get(f"{LABEL}.name", c.name), status=status,
                       repo=labels.get(f"{LABEL}.repo", ""), commit=labels.get(f"{LABEL}.commit", ""),
                       queue=labels.get(f"{LABEL}.queue", "local"), reason=reason,
                       created=_created(c.attrs.get("Created", "")))

    def list(self) -> list[RunInfo]:
        return sorted((self._info(c) for c in self._containers()), key=lambda r: r.created, reverse=True)

    def _one(self, job: str) -> Any:
        for c in self._containers():
            if job in (c.id[:12], c.id, c.labels.get(f"{LABEL}.name"), c.name):
                return c
        raise NotFound(f"no local run {job!r}")

    def status(self, job: str) -> RunInfo:
        return self._info(self._one(job))

    def logs(self, job: str) -> str:
        return bytes(self._one(job).logs(stdout=True, stderr=True)).decode(errors="replace")

    def wait(self, job: str, timeout: float = 1800) -> RunInfo:
        c = self._one(job)
        c.wait(timeout=timeout)
        c.reload()
        return self._info(c)


def _created(text: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(text[:26].rstrip("Z")).timestamp()
    except ValueError:
        return 0.0
