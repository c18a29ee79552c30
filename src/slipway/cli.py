"""``slipway`` command line: the same services the Ansible modules use.

Sub-commands live next to their service and are loaded on first use, so ``slipway --help`` stays fast:
``slipway vessels ...`` (slipway.vessels_cli), ``slipway variants ...`` (slipway.variants.cli),
``slipway undertaker ...`` (slipway.undertaker.cli), ``slipway cloud ...`` (slipway.cloud.cli).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from slipway.errors import SlipwayError

SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "vessels": ("slipway.vessels_cli", "vessels", "Launch, list, inspect and stop vessels."),
    "variants": ("slipway.variants.cli", "variants", "Resolve and hash environment variants."),
    "images": ("slipway.images.cli", "images", "Build and push variant images (the CI step)."),
    "undertaker": ("slipway.undertaker.cli", "undertaker", "Find, warn about and bury idle vessels."),
    "cloud": ("slipway.cloud.cli", "cloud", "Read Pulumi stack outputs, manage Prefect pools."),
    "flows": ("slipway.flow.cli", "flows", "Deploy Workflow declarations to Prefect (the CI step), clean up."),
    "runs": ("slipway.runs.cli", "runs", "Commit-triggered DVC runs: plan, submit, job, list, status, logs."),
    "server": ("slipway.server.cli", "server", "Serve the team control plane: the API and web pages."),
    "login": ("slipway.server.cli", "login", "Log in to a Slipway server (OIDC, PKCE); tokens cached 0600."),
    "tailnet": ("slipway.server.tailnet_cli", "tailnet", "Tailnet policy: each user reaches only their own vessels."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        module, attr, _ = SUBCOMMANDS[cmd_name]
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            return None
        cmd: click.Command = getattr(mod, attr)
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in sorted(SUBCOMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="slipway-infra")
def cli() -> None:
    """Slipway: your own GPU cloud."""


def main(argv: list[str] | None = None) -> Any:
    args = sys.argv[1:] if argv is None else argv
    if args[:2] in (["variants", "hash"], ["variants", "resolve"]):
        # the pre-commit hook's path: a click-free parser, so a cold process costs what the work costs
        from slipway.variants.fastcli import main as fast

        sys.exit(fast(args[1:]))
    try:
        return cli.main(args=args, prog_name="slipway", standalone_mode=False)
    except SlipwayError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
