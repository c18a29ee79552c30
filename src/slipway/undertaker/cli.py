"""``slipway undertaker ...``: the same run the playbook does, and the keep flag.

Settings come from :mod:`slipway.config` (options, ``SLIPWAY_*`` environment, ``--config FILE``: the
``undertaker_*`` keys of the inventory's group_vars file work as they are, Jinja expressions are
ignored). The Slack webhook is a secret: it is read from ``SLIPWAY_SLACK_WEBHOOK_URL`` (or the config
file), never from the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from slipway.vessels_cli import site_options


@click.group()
def undertaker() -> None:
    """Find, warn about and bury idle vessels."""


@undertaker.command("run")
@site_options
@click.option("--prometheus-url", help="Prometheus base URL (or SLIPWAY_PROMETHEUS_URL).")
@click.option("--admin", "admins", multiple=True, help="Admin told about missing metrics (repeatable).")
@click.option("--now", help="Decide as if it were this time (ISO 8601 with a zone).")
@click.option("--check", is_flag=True, help="Print the decisions; change and send nothing.")
def run_cmd(config_file: Path | None, ledger_url: str | None, prometheus_url: str | None, admins: tuple[str, ...],
            now: str | None, check: bool) -> None:
    """Judge every running vessel: keep, warn, bury, reconcile or alert."""
    from slipway import usecases
    from slipway.config import load_settings

    settings = load_settings({"ledger_url": ledger_url}, config_file=config_file)
    options: dict[str, Any] = {"prometheus_url": prometheus_url, "admins": admins}
    res = usecases.undertaker_run(settings, options, config_file=config_file, now=now, check=check)
    click.echo(res.table)
    for line in res.done:
        click.echo(f"done: {line}")
    for line in res.failed:
        click.echo(f"failed: {line}", err=True)
    click.echo(f"{'check: nothing changed; ' if check else ''}{len(res.decisions)} vessels, "
               f"{res.queries} Prometheus query, {sum(res.seconds.values()):.2f} s")


@undertaker.command("release")
@site_options
@click.argument("name")
@click.option("--force", is_flag=True, help="Confirm: free the GPUs without removing the container.")
@click.option("--reason", default="", help="Why (recorded with who did it).")
@click.option("--check", is_flag=True, help="Say what would change; change nothing.")
def release_cmd(config_file: Path | None, ledger_url: str | None, name: str, force: bool, reason: str,
                check: bool) -> None:
    """Release vessel NAME whose stop could not finish (its host cannot be reached). Admins only."""
    from slipway.config import load_settings
    from slipway.undertaker.release import release

    res = release(load_settings({"ledger_url": ledger_url}, config_file=config_file), name, reason=reason,
                  force=force, check=check)
    click.echo(res.summary)


@undertaker.command("keep")
@site_options
@click.argument("name")
@click.option("--hours", type=float, help="Keep for this many hours from now.")
@click.option("--until", "until", help="Keep until this time (ISO 8601 with a zone).")
@click.option("--clear", is_flag=True, help="Remove the keep flag.")
@click.option("--max-hours", type=float, default=168.0, show_default=True,
              help="The longest an owner may keep a vessel (admins may keep longer).")
@click.option("--check", is_flag=True, help="Say what would change; change nothing.")
def keep_cmd(config_file: Path | None, ledger_url: str | None, name: str, hours: float | None, until: str | None,
             clear: bool, max_hours: float, check: bool) -> None:
    """Keep vessel NAME from the undertaker (or --clear the flag)."""
    from slipway import usecases
    from slipway.config import load_settings

    res = usecases.keep(load_settings({"ledger_url": ledger_url}, config_file=config_file), name, hours=hours,
                        until=until, clear=clear, max_hours=max_hours, check=check)
    click.echo(res.summary)
