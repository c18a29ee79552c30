"""``slipway variants resolve|hash``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from slipway.errors import SlipwayError
from slipway.variants.hashing import HASHES_FILE
from slipway.variants.output import hash_text, resolve_text, split_names, stale_text, written_text
from slipway.variants.service import hash_project
from slipway.variants.service import resolve as resolve_selection


def _fail(exc: SlipwayError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(exc.exit_code)


class _VariantsGroup(click.Group):
    """Sub-commands of other areas load on first use: ``hash --check`` runs as a pre-commit hook,
    so a cold ``slipway variants`` imports only what variants need."""

    LAZY = {"check-main": ("slipway.flow.exp", "check_main_command")}  # slipway.flow

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.LAZY])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY:
            module, attr = self.LAZY[cmd_name]
            cmd: click.Command = getattr(importlib.import_module(module), attr)
            return cmd
        return super().get_command(ctx, cmd_name)


@click.group(cls=_VariantsGroup)
def variants() -> None:
    """Resolve and hash environment variants (poetry.lock or uv.lock)."""


@variants.command()
@click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="Directory with pyproject.toml and its lock.")
@click.option("--variant", default=None, help="A declared variant (instead of --groups/--extras).")
@click.option("--groups", default="", help="Comma-separated dependency groups on top of main.")
@click.option("--extras", default="", help="Comma-separated extras.")
@click.option("--python", default=None, help="Target Python (default: [tool.slipway].python or 3.12).")
@click.option("--machine", type=click.Choice(["x86_64", "aarch64"]), default=None, help="Target architecture.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def resolve(project_dir: Path, variant: str | None, groups: str, extras: str, python: str | None,
            machine: str | None, as_json: bool) -> None:
    """Print the packages a selection installs: name, version, source."""
    try:
        target, sel = resolve_selection(project_dir, variant=variant, groups=split_names(groups),
                                        extras=split_names(extras), python=python, machine=machine)
    except SlipwayError as exc:
        _fail(exc)
        return
    click.echo(resolve_text(target, sel, as_json))


@variants.command("hash")
@click.option("--project", "project_dir", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="Directory with pyproject.toml and its lock.")
@click.option("--python", default=None, help="Target Python (default: [tool.slipway].python or 3.12).")
@click.option("--machine", type=click.Choice(["x86_64", "aarch64"]), default=None, help="Target architecture.")
@click.option("--check", "mode", flag_value="check", help=f"Exit 1 when {HASHES_FILE} is stale.")
@click.option("--write", "mode", flag_value="write", help=f"Update {HASHES_FILE}.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (hash and packages of every variant).")
def hash_(project_dir: Path, python: str | None, machine: str | None, mode: str | None, as_json: bool) -> None:
    """Print `variant hash` lines; --check / --write the committed hashes file."""
    try:
        results, chk = hash_project(project_dir, mode, python=python, machine=machine)
    except SlipwayError as exc:
        _fail(exc)
        return
    text = hash_text(results, as_json)
    if text:
        click.echo(text)
    if chk is not None and mode == "check" and not chk.fresh:
        click.echo(stale_text(chk), err=True)
        sys.exit(1)
    if chk is not None and mode == "write":
        click.echo(written_text(chk), err=True)


__all__ = ["variants"]
