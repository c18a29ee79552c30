"""``slipway variants check-main``: the ``exp`` group must be empty before a branch merges into main.

Run it as a pre-commit hook and as a CI step on pull requests, so experiments are refused before
the merge, not after the push (the image step refuses them on main too, as a last line)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from slipway.errors import SlipwayError, ValidationError
from slipway.variants.project import Project


def check_main(project_dir: Path, target_branch: str = "main") -> None:
    """Raise ``ValidationError`` (field ``exp``) when the project's ``exp`` group has requirements."""
    exp = Project(project_dir, check_lock=False).exp_requirements()
    if exp:
        raise ValidationError("exp", f"must be empty to merge into {target_branch!r}: move "
                              f"{', '.join(exp)} into a real group or extra (and re-lock), or drop them",
                              got=exp, allowed="an empty exp group")


@click.command("check-main")
@click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True)
@click.option("--target-branch", default="main", show_default=True, help="The branch the change merges into.")
def check_main_command(project_dir: Path, target_branch: str) -> None:
    """Refuse exp dependencies before a merge (pre-commit hook, pull-request CI step)."""
    try:
        check_main(project_dir, target_branch)
    except SlipwayError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    click.echo(f"ok: no exp dependencies; ready for {target_branch}")
