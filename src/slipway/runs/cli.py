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
                     "(default: the stack defaults for --environment).")(f)
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
                                  targets_file=targets_file)
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
