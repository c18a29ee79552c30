"""The job runner: what ``slipway runs job`` does inside the job's container (Batch or local).

Clone the repository at the commit, point DVC at the shared cache, ``dvc pull --run-cache``, run
``dvc repro ARGS`` or ``dvc exp run ARGS``, bring the results back (repro: commit the changed
``dvc.lock``/``.dvc`` files to ``experiment/<sha7>`` and push it; exp: ``dvc exp push`` the
experiment and push ``experiment/<sha7>-<name>``), ``dvc push --run-cache``, then report: the commit
status on GitHub/Bitbucket when a token is configured, Slack when a webhook is set.

Every command is an argv list (no shell anywhere). Only the standard library, git and DVC are needed
(boto3 only for a credential kept in Secrets Manager; requests only for reporting). The git token
reaches git through ``GIT_CONFIG_*`` environment variables, never through argv or the log.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from slipway.errors import SlipwayError, ValidationError

_SHA = re.compile(r"^[0-9a-f]{7,64}$")
RESULT_MARK = "slipway-run-result: "


@dataclass(frozen=True)
class JobSpec:
    """The job's inputs: from the command line (mode, DVC args) and the environment the submitter set."""

    repo: str
    commit: str
    clone_url: str
    mode: Literal["repro", "exp"] = "repro"
    args: tuple[str, ...] = ()
    branch: str = ""
    git_remote: str = "origin"
    dvc_remote: str = ""
    cache_dir: str = ""
    cache_group: str = "group"
    git_user: str = "x-access-token"
    git_token: str = field(default="", repr=False)
    status_api: str = ""  # github | bitbucket
    status_api_url: str = ""
    status_repo: str = ""  # owner/name for the status API
    status_token: str = field(default="", repr=False)
    slack_webhook: str = field(default="", repr=False)
    workdir: str = ""

    @property
    def sha7(self) -> str:
        return self.commit[:7]

    @classmethod
    def from_env(cls, env: Mapping[str, str], mode: str, args: Sequence[str]) -> JobSpec:
        def need(name: str, what: str) -> str:
            value = env.get(name, "")
            if not value:
                raise ValidationError(name, "is not set", allowed=what)
            return value

        if mode not in ("repro", "exp"):
            raise ValidationError("--mode", "is not a run mode", got=mode, allowed=["repro", "exp"])
        commit = need("SLIPWAY_RUN_COMMIT", "the commit id (hex)").lower()
        if not _SHA.match(commit):
            raise ValidationError("SLIPWAY_RUN_COMMIT", "is not a commit id", got=commit, allowed="7-64 hex digits")
        api = env.get("SLIPWAY_STATUS_API", "")
        if api not in ("", "github", "bitbucket"):
            raise ValidationError("SLIPWAY_STATUS_API", "is not a status API", got=api, allowed=["github", "bitbucket"])
        return cls(repo=need("SLIPWAY_RUN_REPO", "the repository name"), commit=commit,
                   clone_url=need("SLIPWAY_RUN_CLONE_URL", "the URL git clones from"),
                   mode=mode,  # type: ignore[arg-type]
                   args=tuple(args), branch=env.get("SLIPWAY_RUN_BRANCH", ""),
                   git_remote=env.get("SLIPWAY_GIT_REMOTE", "origin"), dvc_remote=env.get("SLIPWAY_DVC_REMOTE", ""),
                   cache_dir=env.get("SLIPWAY_DVC_CACHE_DIR", ""), cache_group=env.get("SLIPWAY_DVC_CACHE_GROUP", "group"),
                   git_user=env.get("SLIPWAY_GIT_USER", "x-access-token"), git_token=env.get("SLIPWAY_GIT_TOKEN", ""),
                   status_api=api,
                   status_api_url=env.get("SLIPWAY_STATUS_API_URL", ""),
                   status_repo=env.get("SLIPWAY_STATUS_REPO", ""), status_token=env.get("SLIPWAY_STATUS_TOKEN", ""),
                   slack_webhook=env.get("SLIPWAY_SLACK_WEBHOOK", ""), workdir=env.get("SLIPWAY_RUN_WORKDIR", ""))


@dataclass
class JobResult:
    repo: str
    commit: str
    mode: str
    exit_code: int
    ref: str = ""  # the branch pushed (repro) / experiment branch (exp)
    experiment: str = ""
    summary: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class StepFailed(SlipwayError):
    def __init__(self, step: str, code: int, tail: str) -> None:
        self.step, self.code, self.tail = step, code, tail
        super().__init__(f"{step} failed with exit code {code}: {tail}")


def _say(text: str) -> None:
    print(f"slipway: {text}", file=sys.stderr, flush=True)


class Shell:
    """Runs argv lists in the checkout (never a shell), logs each step with its time."""

    def __init__(self, cwd: Path, env: Mapping[str, str], result: JobResult) -> None:
        self.cwd, self.env, self.result = cwd, dict(env), result

    def __call__(self, *argv: str, step: str | None = None, check: bool = True, capture: bool = False,
                 cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        name = step or " ".join(argv[:3])
        _say(f"{name}: {' '.join(argv)}")
        start = time.monotonic()
        proc = subprocess.run(list(argv), cwd=cwd or self.cwd, env=self.env, text=True, check=False,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None)
        took = round(time.monotonic() - start, 2)
        self.result.steps.append({"step": name, "exit": proc.returncode, "seconds": took})
        if check and proc.returncode != 0:
            tail = ((proc.stderr or "") + (proc.stdout or "")).strip().splitlines()[-3:] if capture else []
            raise StepFailed(name, proc.returncode, " ".join(tail))
        return proc


def _git_env(spec: JobSpec, token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_") or k == "SLIPWAY_RUNS_IMAGE"}
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_AUTHOR_NAME": "Slipway runner",
                "GIT_AUTHOR_EMAIL": "slipway-runner@localhost", "GIT_COMMITTER_NAME": "Slipway runner",
                "GIT_COMMITTER_EMAIL": "slipway-runner@localhost", "DVC_NO_ANALYTICS": "1"})
    if token and spec.clone_url.startswith("https://"):
        basic = base64.b64encode(f"{spec.git_user}:{token}".encode()).decode()
        n = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
        env[f"GIT_CONFIG_KEY_{n}"] = "http.extraHeader"
        env[f"GIT_CONFIG_VALUE_{n}"] = f"Authorization: Basic {basic}"
        env["GIT_CONFIG_COUNT"] = str(n + 1)
    return env


#: credential field -> the variable naming a Secrets Manager secret that holds it
SECRET_VARIABLES = {"git_token": "SLIPWAY_GIT_TOKEN_SECRET", "status_token": "SLIPWAY_STATUS_TOKEN_SECRET",
                    "slack_webhook": "SLIPWAY_SLACK_WEBHOOK_SECRET"}


def resolve_secrets(spec: JobSpec, env: Mapping[str, str]) -> JobSpec:
    """Credentials given as Secrets Manager names (``*_SECRET``) read now; a plain value wins."""
    wanted = {f: env[v] for f, v in SECRET_VARIABLES.items() if env.get(v) and not getattr(spec, f)}
    if not wanted:
        return spec
    from slipway.runs.aws import SecretsManager

    sm = SecretsManager(region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
                        endpoint_url=env.get("AWS_ENDPOINT_URL") or None)
    values: dict[str, Any] = {f: sm.read(name) for f, name in wanted.items()}
    return dataclasses.replace(spec, **values)


def _exp_name(args: Sequence[str]) -> str | None:
    for i, a in enumerate(args):
        if a in ("-n", "--name") and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--name="):
            return a.split("=", 1)[1]
    return None


def run_job(spec: JobSpec, *, reporters: Sequence[Callable[[JobSpec, JobResult], None]] | None = None) -> JobResult:
    """The whole job; the result carries the exit code (DVC's, or the failed step's)."""
    result = JobResult(repo=spec.repo, commit=spec.commit, mode=spec.mode, exit_code=0)
    base = Path(spec.workdir or tempfile.mkdtemp(prefix="slipway-run-"))
    checkout = base / "checkout"
    try:
        env = _git_env(spec, spec.git_token)
        sh = Shell(base, env, result)
        sh("git", "clone", "--quiet", "--no-checkout", spec.clone_url, str(checkout), step="clone")
        sh.cwd = checkout
        sh("git", "checkout", "--quiet", "--detach", spec.commit, step="checkout")
        sh("dvc", "config", "--local", "cache.shared", spec.cache_group, step="cache config")
        sh("dvc", "config", "--local", "cache.type", "reflink,hardlink,symlink", step="cache config")
        if spec.cache_dir:
            sh("dvc", "cache", "dir", "--local", spec.cache_dir, step="cache config")
        remote = ["--remote", spec.dvc_remote] if spec.dvc_remote else []
        pulled = sh("dvc", "pull", "--run-cache", *remote, step="dvc pull", check=False)
        if pulled.returncode != 0:
            _say("dvc pull found nothing (or not everything) to pull: the run reproduces what is missing")
        dvc = ["dvc", "repro", *spec.args] if spec.mode == "repro" else ["dvc", "exp", "run", *spec.args]
        ran = sh(*dvc, step=" ".join(dvc[:3] if spec.mode == "exp" else dvc[:2]), check=False)
        result.exit_code = ran.returncode
        if ran.returncode != 0:
            result.summary = f"`{' '.join(dvc)}` failed with exit code {ran.returncode}"
            return result
        if spec.mode == "repro":
            branch = f"experiment/{spec.sha7}"
            sh("git", "checkout", "--quiet", "-B", branch, step="branch")
            sh("git", "add", "--all", step="commit")
            staged = sh("git", "diff", "--cached", "--quiet", step="commit", check=False)
            if staged.returncode != 0:
                sh("git", "commit", "--quiet", "-m", f"slipway: dvc repro results for {spec.sha7}\n\n"
                   f"Ran: {' '.join(dvc)}", step="commit")
            sh("git", "push", "--quiet", "--force", spec.git_remote, f"HEAD:refs/heads/{branch}", step="git push")
            result.ref = branch
        else:
            name = _exp_name(spec.args)
            if name is None:
                listed = sh("dvc", "exp", "list", "--name-only", step="exp name", capture=True)
                names = [n.strip() for n in listed.stdout.splitlines() if n.strip()]
                if not names:
                    raise StepFailed("exp name", 1, "dvc exp list shows no experiment after the run")
                name = names[-1]
            result.experiment = name
            sh("dvc", "exp", "push", *remote, spec.git_remote, name, step="dvc exp push")
            branch = f"experiment/{spec.sha7}-{name}"
            sh("dvc", "exp", "branch", name, branch, step="exp branch")
            sh("git", "push", "--quiet", "--force", spec.git_remote, f"refs/heads/{branch}:refs/heads/{branch}",
               step="git push")
            result.ref = branch
        sh("dvc", "push", "--run-cache", *remote, step="dvc push")
        result.summary = f"`{' '.join(dvc)}` succeeded; results on {result.ref}"
        return result
    except StepFailed as exc:
        result.exit_code = exc.code or 1
        result.summary = str(exc)
        return result
    except SlipwayError as exc:
        result.exit_code = 1
        result.summary = str(exc)
        return result
    finally:
        for report in reporters if reporters is not None else default_reporters(spec):
            try:
                report(spec, result)
            except Exception as exc:  # a report must never change the run's outcome
                _say(f"report failed: {type(exc).__name__}: {str(exc)[:200]}")


# -- reports -----------------------------------------------------------------------------------------

def print_report(spec: JobSpec, result: JobResult) -> None:
    rows = [("repo", result.repo), ("commit", result.commit[:7]), ("mode", result.mode),
            ("exit code", result.exit_code), ("results", result.ref or "-"), ("summary", result.summary)]
    for k, v in rows:
        print(f"{k.ljust(10)} {v}", flush=True)
    print(RESULT_MARK + json.dumps(asdict(result), sort_keys=True), flush=True)


def commit_status(spec: JobSpec, result: JobResult) -> None:
    """GitHub ``POST /repos/{repo}/statuses/{sha}`` or Bitbucket ``POST /2.0/repositories/{repo}/commit/
    {sha}/statuses/build``; only when a token is configured."""
    if not spec.status_token or not spec.status_api:
        return
    import requests

    repo = spec.status_repo or spec.repo
    text = (result.summary or "")[:140]
    if spec.status_api == "github":
        url = f"{(spec.status_api_url or 'https://api.github.com').rstrip('/')}/repos/{repo}/statuses/{spec.commit}"
        body: dict[str, Any] = {"state": "success" if result.ok else "failure", "context": "slipway/run",
                                "description": text}
        headers = {"Authorization": f"Bearer {spec.status_token}", "Accept": "application/vnd.github+json"}
    else:
        url = (f"{(spec.status_api_url or 'https://api.bitbucket.org').rstrip('/')}/2.0/repositories/{repo}"
               f"/commit/{spec.commit}/statuses/build")
        body = {"key": "slipway-run", "state": "SUCCESSFUL" if result.ok else "FAILED", "name": "slipway run",
                "description": text, "url": url}
        headers = {"Authorization": f"Bearer {spec.status_token}"}
    r = requests.post(url, json=body, headers=headers, timeout=15)
    if r.status_code >= 300:
        raise SlipwayError(f"commit status: {spec.status_api} answered HTTP {r.status_code}")


def slack(spec: JobSpec, result: JobResult) -> None:
    if not spec.slack_webhook:
        return
    from slipway.notify import SlackWebhook

    mark = "succeeded" if result.ok else f"failed (exit {result.exit_code})"
    SlackWebhook(spec.slack_webhook, field="SLIPWAY_SLACK_WEBHOOK").send(
        f"Slipway run {spec.repo}@{spec.sha7} ({spec.mode}) {mark}: {result.summary}")


def default_reporters(spec: JobSpec) -> list[Callable[[JobSpec, JobResult], None]]:
    return [print_report, commit_status, slack]


def main(mode: str, args: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    source = os.environ if env is None else env
    spec = resolve_secrets(JobSpec.from_env(source, mode, args), source)
    return run_job(spec).exit_code
