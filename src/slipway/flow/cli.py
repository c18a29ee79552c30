"""``slipway flows deploy`` (the CI step for workflows) and ``slipway flows cleanup``: faces that map
options and call :func:`slipway.flow.deploy.deploy` / :func:`slipway.flow.meta.cleanup_run`."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from slipway.errors import SlipwayError, ValidationError


def _fail(exc: SlipwayError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


def _outputs(outputs_file: Path | None, stack: str | None) -> dict[str, Any]:
    if outputs_file is not None:
        try:
            data = json.loads(outputs_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValidationError("outputs", f"is not a readable JSON file: {exc}", got=str(outputs_file)) from None
        if not isinstance(data, dict):
            raise ValidationError("outputs", "must hold a JSON object of stack outputs", got=str(outputs_file))
        return data
    if stack:
        from slipway.cloud.outputs import stack_outputs

        return stack_outputs(stack)
    return {}


@click.group()
def flows() -> None:
    """Deploy Workflow declarations to Prefect; clean up after deleted branches."""


@flows.command()
@click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True)
@click.option("--path", "paths", multiple=True, help="Flow files/folders (default: [tool.slipway.flows].paths).")
@click.option("--api-url", envvar="PREFECT_API_URL", required=True, help="Prefect API URL (…/api).")
@click.option("--outputs", "outputs_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Stack outputs as JSON (`pulumi stack output --json`).")
@click.option("--stack", envvar="SLIPWAY_STACK", default=None, help="Read the outputs of this Pulumi stack.")
@click.option("--branch", envvar="SLIPWAY_BRANCH", default="", help="Default: the CI's variables, then git.")
@click.option("--commit", envvar="SLIPWAY_COMMIT", default="")
@click.option("--repo", envvar="SLIPWAY_REPO", default="")
@click.option("--main-branch", default=None)
@click.option("--schedule", default=None, help="Cron of main's daily smoke run (default 0 6 * * *).")
@click.option("--timezone", default=None)
@click.option("--flows-project", default=None, help="Key of ecrRepositoryUrls (default: the project name).")
@click.option("--registry", envvar="SLIPWAY_REGISTRY", default="",
              help="Build missing images first: ecr://REGION or an OCI registry URL.")
@click.option("--endpoint-url", envvar="SLIPWAY_ECR_ENDPOINT_URL", default=None)
@click.option("--salt", envvar="SLIPWAY_IMAGE_SALT", default="")
@click.option("--json", "as_json", is_flag=True)
def deploy(project_dir: Path, paths: tuple[str, ...], api_url: str, outputs_file: Path | None, stack: str | None,
           branch: str, commit: str, repo: str, main_branch: str | None, schedule: str | None,
           timezone: str | None, flows_project: str | None, registry: str, endpoint_url: str | None, salt: str,
           as_json: bool) -> None:
    """Create or update the Prefect deployment of every Workflow; print a table."""
    from slipway.flow import deploy as core
    from slipway.flow.gitinfo import detect

    try:
        cfg = core.load_config(project_dir, paths=paths, main_branch=main_branch, schedule=schedule,
                               timezone=timezone, project=flows_project)
        ctx = detect(project_dir, os.environ, branch=branch, commit=commit, repo=repo)
        outputs = _outputs(outputs_file, stack)
        ensure = None
        if registry:
            from slipway.flow.images import image_step
            from slipway.images.registry import registry_from

            repos = outputs.get("ecrRepositoryUrls") or {}
            reg = registry_from(registry, endpoint_url=endpoint_url,
                                username=os.environ.get("SLIPWAY_REGISTRY_USERNAME"),
                                password=os.environ.get("SLIPWAY_REGISTRY_PASSWORD"))
            if cfg.project in repos:
                ensure = image_step(project_dir, reg, repos[cfg.project], ctx, salt=salt,
                                    main_branch=cfg.main_branch, log=lambda m: click.echo(m, err=True))
        rows = core.deploy(core.DeployRequest(
            project_dir=project_dir, api_url=api_url, api_key=os.environ.get("PREFECT_API_KEY") or None,
            outputs=outputs, ctx=ctx, cfg=cfg, salt=salt, ensure_images=ensure),
            log=lambda m: click.echo(m, err=True))
    except SlipwayError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        click.echo(core.table(rows))


@flows.command()
@click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True)
@click.option("--api-url", envvar="PREFECT_API_URL", required=True)
@click.option("--remote", default="origin", show_default=True, help="Git remote (name or URL) of live branches.")
@click.option("--repo", envvar="SLIPWAY_REPO", default="",
              help="Only deployments tagged repo:<this> (default: this repository's name, as deploy tags it).")
@click.option("--ecr-repository", "repositories", multiple=True,
              help="Also ECR images of this repository nothing references (e.g. slipway/prod/detector).")
@click.option("--region", envvar="AWS_REGION", default=None)
@click.option("--endpoint-url", envvar="SLIPWAY_AWS_ENDPOINT_URL", default=None, help="AWS endpoint override.")
@click.option("--grace-days", type=click.IntRange(0, 3650), default=14, show_default=True)
@click.option("--apply", "do_apply", is_flag=True, help="Delete (default: a dry run that prints the table).")
@click.option("--json", "as_json", is_flag=True)
def cleanup(project_dir: Path, api_url: str, remote: str, repo: str, repositories: tuple[str, ...],
            region: str | None, endpoint_url: str | None, grace_days: int, do_apply: bool, as_json: bool) -> None:
    """Dev deployments whose branch is gone from the remote; unreferenced old ECR images."""
    from slipway.flow import meta
    from slipway.flow.deploy import prefect_client
    from slipway.flow.gitinfo import repo_of

    ecr = batch = None
    if repositories:
        import boto3

        ecr = boto3.client("ecr", region_name=region, endpoint_url=endpoint_url)
        batch = boto3.client("batch", region_name=region, endpoint_url=endpoint_url)
    try:
        with prefect_client(api_url, os.environ.get("PREFECT_API_KEY") or None) as client:
            rows = meta.cleanup_run(client, project_dir=project_dir, remote=remote,
                                    repo=repo or repo_of(project_dir, os.environ), dry_run=not do_apply,
                                    ecr=ecr, batch=batch, repositories=repositories, grace_days=grace_days)
    except SlipwayError as exc:
        _fail(exc)
        return
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        click.echo(meta.table(rows))
