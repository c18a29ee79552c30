"""``slipway images ci``: the CI step from any CI (the playbook calls the same service)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from slipway.errors import SlipwayError
from slipway.images.build import BuildOptions
from slipway.images.ci import CiSettings, run, table
from slipway.images.registry import registry_from


@click.group()
def images() -> None:
    """Build and push variant images (the CI step)."""


@images.command()
@click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True)
@click.option("--registry", envvar="SLIPWAY_REGISTRY", required=True,
              help="http(s)://host:port of an OCI registry, or ecr://REGION[/REGISTRY_ID].")
@click.option("--repository", envvar="SLIPWAY_REPOSITORY", required=True, help="Image repository name.")
@click.option("--endpoint-url", envvar="SLIPWAY_ECR_ENDPOINT_URL", default=None, help="ECR endpoint override.")
@click.option("--variant", "variants", multiple=True, help="Only these variants (default: all).")
@click.option("--python", default=None)
@click.option("--machine", type=click.Choice(["x86_64", "aarch64"]), default=None)
@click.option("--dockerfile", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--base-image", default=None)
@click.option("--pip-args", default="")
@click.option("--wheels", "wheels_dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--ca-bundle", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--force", is_flag=True, help="Rebuild even when the tag exists.")
@click.option("--salt", envvar="SLIPWAY_IMAGE_SALT", default="", help="Manual cache invalidation.")
@click.option("--branch", envvar="SLIPWAY_BRANCH", default="")
@click.option("--main-branch", default="main", show_default=True)
@click.option("--commit", envvar="SLIPWAY_COMMIT", default="")
@click.option("--no-push", is_flag=True)
@click.option("--vessels", is_flag=True, help="Also build each built variant's vessel layer (sshd, Jupyter): "
                                              "<repository>-vessel:<same tag>, what `-e image=<variant>` launches.")
@click.option("--json", "as_json", is_flag=True)
def ci(project_dir: Path, registry: str, repository: str, endpoint_url: str | None, variants: tuple[str, ...],
       python: str | None, machine: str | None, dockerfile: Path | None, base_image: str | None, pip_args: str,
       wheels_dir: Path | None, ca_bundle: Path | None, force: bool, salt: str, branch: str, main_branch: str,
       commit: str, no_push: bool, vessels: bool, as_json: bool) -> None:
    """Build and push each variant whose hash tag the registry lacks; print a table."""
    import docker

    try:
        reg = registry_from(registry, endpoint_url=endpoint_url,
                            username=os.environ.get("SLIPWAY_REGISTRY_USERNAME"),
                            password=os.environ.get("SLIPWAY_REGISTRY_PASSWORD"))
        settings = CiSettings(repository, variants, python, machine, force, salt, branch, main_branch, commit,
                              not no_push, BuildOptions(dockerfile, base_image, pip_args, wheels_dir, ca_bundle),
                              vessels=vessels)
        client = docker.from_env(timeout=600)
        rows = run(project_dir, reg, client, settings, log=lambda m: click.echo(m, err=True))
    except SlipwayError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
    else:
        click.echo(table(rows))
