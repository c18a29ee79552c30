"""``slipway runs ...``: plan a commit's run, submit it (Batch or the local Docker Engine), run the job
inside its container, and list runs. Each command maps its options and calls one use case.

Loaded on first use by ``slipway.cli``; inside the runs image only ``job`` is used (it needs nothing but
the standard library, git and DVC).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from slipway.errors import ValidationError

EXIT_NOTHING = 3


@click.group("runs")
def runs() -> None:
    """Commit-triggered DVC runs (`:SLIPWAY_RUN:` keywords in commit messages)."""


def _prefix_option(f: Any) -> Any:
    return click.option("--prefix", default=lambda: os.environ.get("SLIPWAY_RUNS_PREFIX", "SLIPWAY"),
                        show_default="SLIPWAY or $SLIPWAY_RUNS_PREFIX",
                        help="Keyword prefix (a team coming from the seed uses ACME).")(f)


def _target_options(f: Any) -> Any:
    f = click.option("--targets", "targets_file", type=click.Path(dir_okay=False, path_type=Path),
                     default=None, help="JSON file: {job_definition, cpu_queue, gpu_queue, limits{...}} "
                     "(default: Batch when $SLIPWAY_BATCH_QUEUES is set, else the stack defaults for "
                     "--environment).")(f)
    f = click.option("--environment", default=lambda: os.environ.get("SLIPWAY_ENVIRONMENT", "dev"),
                     show_default="dev or $SLIPWAY_ENVIRONMENT", help="Stack environment name.")(f)
    return f


def _read_message(message_file: str) -> str:
    if message_file == "-":
        return sys.stdin.read()
    try:
        return Path(message_file).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ValidationError("--message-file", f"cannot be read: {exc.strerror}", got=message_file) from None


@runs.command("plan")
@click.option("--message-file", required=True, help="The commit message ('-': stdin); a commit-msg hook "
              "passes .git/COMMIT_EDITMSG.")
@click.option("--repo", default=None, help="Repository name (default: the current folder's name).")
@click.option("--commit", "sha", default=None, help="Commit id (default: HEAD of the current repository, "
              "else 0000000).")
@_prefix_option
@_target_options
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--check", is_flag=True, help="Hook mode: exit 0 when nothing would run too (errors still fail).")
def plan_cmd(message_file: str, repo: str | None, sha: str | None, prefix: str, environment: str,
             targets_file: Path | None, as_json: bool, check: bool) -> None:
    """Print what a commit message would submit; exit 0 (would run), 3 (nothing), 2 (error)."""
    from slipway.runs import service

    message = _read_message(message_file)
    result = service.plan_message(message, repo=repo, sha=sha, prefix=prefix, environment=environment,
                                  targets_file=targets_file, env=os.environ)
    if result is None:
        click.echo(f"nothing would run: the message has no :{prefix}_RUN: keyword")
        sys.exit(0 if check else EXIT_NOTHING)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    rows = [("job name", result.job_name), ("queue", result.queue), ("job definition", result.job_definition),
            ("command", json.dumps(list(result.command))), ("dvc", json.dumps(list(result.dvc_argv))),
            ("vCPUs", result.vcpus), ("memory (MiB)", result.memory), ("GPUs", result.gpus)]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        click.echo(f"{k.ljust(width)}  {v}")


@runs.command("job", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--mode", type=click.Choice(["repro", "exp"]), default="repro", show_default=True,
              help="repro: `dvc repro ARGS`; exp: `dvc exp run ARGS`.")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def job_cmd(mode: str, args: tuple[str, ...]) -> None:
    """Run a job inside its container (the runs image's command): clone at $SLIPWAY_RUN_COMMIT, DVC, push
    the results, report. DVC's own arguments follow `--`."""
    from slipway.runs import job

    sys.exit(job.main(mode, list(args)))


def _runner_options(f: Any) -> Any:
    f = click.option("--docker-host", default=None, help="Docker Engine for local runs (default: $DOCKER_HOST).")(f)
    f = click.option("--image", default=None, help="Runs image for local runs (default: $SLIPWAY_RUNS_IMAGE "
                     "or slipway/runs:latest).")(f)
    return f


def _runner(image: str | None, docker_host: str | None, env_pairs: tuple[str, ...] = (),
            volume_pairs: tuple[str, ...] = ()) -> Any:
    from slipway.runs import service

    volumes: dict[str, str] = {}
    for pair in volume_pairs:
        host, sep, inside = pair.partition(":")
        if not sep or not host.startswith("/") or not inside.startswith("/"):
            raise ValidationError("--volume", "is not HOST_DIR:CONTAINER_DIR (absolute paths)", got=pair)
        volumes[host] = inside
    extra: dict[str, str] = {}
    for pair in env_pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationError("--env", "is not KEY=VALUE", got=key or pair)
        extra[key] = value
    return service.runner_from(os.environ, image=image, docker_host=docker_host, extra_env=extra, volumes=volumes)


@runs.command("submit")
@click.option("--commit", "sha", required=True, help="Commit (id or ref) of the checkout at --repo-dir.")
@click.option("--repo-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The local checkout.")
@click.option("--repo", default=None, help="Repository name (default: the checkout's folder name).")
@click.option("--clone-url", default=None, help="URL the job clones from (default: the origin remote's URL).")
@click.option("--env", "env_pairs", multiple=True, help="KEY=VALUE for the job's environment (local runs).")
@click.option("--volume", "volume_pairs", multiple=True, help="HOST_DIR:CONTAINER_DIR mounted into local runs "
              "(a shared DVC cache: with --env SLIPWAY_DVC_CACHE_DIR=CONTAINER_DIR).")
@click.option("--wait/--no-wait", default=False, help="Wait for the run and exit with its status (local runs).")
@_prefix_option
@_runner_options
def submit_cmd(sha: str, repo_dir: Path, repo: str | None, clone_url: str | None, env_pairs: tuple[str, ...],
               volume_pairs: tuple[str, ...], wait: bool, prefix: str, image: str | None,
               docker_host: str | None) -> None:
    """Submit a commit's run: to Batch when $SLIPWAY_BATCH_QUEUES is set, else on the local Docker Engine."""
    from slipway.runs import service
    from slipway.table import render

    runner = _runner(image, docker_host, env_pairs, volume_pairs)
    outcome = service.submit_checkout(repo_dir, sha, runner, repo=repo, clone_url=clone_url, prefix=prefix)
    click.echo(render([outcome.as_dict()], ["status", "job_name", "job_id", "queue", "error"]))
    if outcome.status == "invalid":
        sys.exit(2)
    if outcome.status == "nothing":
        sys.exit(EXIT_NOTHING)
    if wait and hasattr(runner, "wait"):
        info = runner.wait(outcome.job_id)
        click.echo(render([info.row()], ["job", "id", "status", "repo", "commit", "reason"]))
        sys.exit(0 if info.status == "SUCCEEDED" else 1)


@runs.command("list")
@_runner_options
def list_cmd(image: str | None, docker_host: str | None) -> None:
    """Submitted runs (Batch or local) with their state, newest first."""
    from slipway.table import render

    rows = [r.row() for r in _runner(image, docker_host).list()]
    click.echo(render(rows, ["job", "id", "status", "repo", "commit", "queue", "reason"]))


@runs.command("status")
@click.argument("job")
@_runner_options
def status_cmd(job: str, image: str | None, docker_host: str | None) -> None:
    """One run's state (JOB: job id or name)."""
    from slipway.table import render

    info = _runner(image, docker_host).status(job)
    click.echo(render([info.row()], ["job", "id", "status", "repo", "commit", "queue", "reason"]))


@runs.command("logs")
@click.argument("job")
@_runner_options
def logs_cmd(job: str, image: str | None, docker_host: str | None) -> None:
    """One run's output (CloudWatch Logs for Batch, the container's log for local runs)."""
    click.echo(_runner(image, docker_host).logs(job))


@runs.group("secret")
def secret() -> None:
    """The webhook's secrets in Secrets Manager (values are read from standard input, never printed)."""


@secret.command("set")
@click.argument("kind", type=click.Choice(["github", "bitbucket-uuids"]))
@click.option("--environment", default=lambda: os.environ.get("SLIPWAY_ENVIRONMENT", "dev"),
              show_default="dev or $SLIPWAY_ENVIRONMENT", help="Stack environment name.")
@click.option("--value-file", default="-", show_default=True, help="File holding the value ('-': stdin).")
def secret_set_cmd(kind: str, environment: str, value_file: str) -> None:
    """Store the GitHub webhooks' HMAC secret (one, or a JSON list while rotating) or the authorised
    Bitbucket hook UUIDs (a JSON list or one per line) in slipway/<environment>/..."""
    from slipway.runs.aws import SecretsManager
    from slipway.runs.service import set_webhook_secret
    from slipway.table import render

    try:
        text = sys.stdin.read() if value_file == "-" else Path(value_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError("--value-file", f"cannot be read: {getattr(exc, 'strerror', None) or exc}",
                              got=value_file) from None
    sm = SecretsManager(region=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
                        endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
    click.echo(render([set_webhook_secret(kind, environment, text, sm)], ["secret", "version", "entries"]))
