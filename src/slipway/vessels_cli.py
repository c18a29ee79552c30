"""``slipway vessels ...``: each command maps its options and calls one use case of :mod:`slipway.usecases`.

Settings come from :func:`slipway.config.load_settings` (options, then ``SLIPWAY_*`` environment, then
``--config FILE`` or ``~/.config/slipway/config.yml``). The fleet comes from the ledger (``site.yml`` or a
launch playbook records it); ``--fleet FILE`` (YAML ``{host: {slipway_queue: ..., ...}}``) syncs hosts first.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from slipway import usecases
from slipway.config import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def site_options(fn: F) -> F:
    """The options every vessel command shares, with the same names everywhere."""
    fn = click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                      help="Settings file (YAML, inventory variable names); default "
                           "$SLIPWAY_CONFIG or ~/.config/slipway/config.yml.")(fn)
    fn = click.option("--ledger-url", "--ledger", "ledger_url", default=None,
                      help="Ledger database URL (default: $SLIPWAY_LEDGER_URL, the config file, or the local "
                           "SQLite file).")(fn)
    return fn


def _settings(ledger_url: str | None, config_file: Path | None) -> Settings:
    return load_settings({"ledger_url": ledger_url}, config_file=config_file)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group()
def vessels() -> None:
    """Launch, list, inspect and stop vessels."""


@vessels.command()
@site_options
@click.option("--gpus", default="0", show_default=True, help="Number of GPUs.")
@click.option("--queue", default=None, help="Hardware class (a host's slipway_queue), or 'any' (default).")
@click.option("--cpus", default=None, help="CPUs (a dedicated cpuset); default from the settings.")
@click.option("--memory", default=None, help="Memory limit in GiB, or with a unit (512M, 16G).")
@click.option("--shm-size", default=None, help="Size of /dev/shm; default a quarter of the memory.")
@click.option("--image", default=None, help="Container image honouring the vessel contract; default from the "
                                             "settings.")
@click.option("--name", default=None, help="Vessel name; default <user>-<n>.")
@click.option("--user", default=None, help="Owner (only admins launch for someone else); default you.")
@click.option("--ssh-public-key", default=None, help="OpenSSH public key line; default ~/.ssh/id_ed25519.pub.")
@click.option("--fleet", "fleet_file", type=click.Path(exists=True, path_type=Path), default=None,
              help="YAML {host: {slipway_queue: ..., slipway_docker_url: ...}} synced into the ledger first.")
@click.option("--check", is_flag=True, help="Show the placement and why other hosts were not chosen; reserve "
                                            "nothing.")
@click.option("--replace", "replace_existing", is_flag=True,
              help="If a vessel of that name runs with another spec, stop it and launch the new one.")
@click.option("--json", "as_json", is_flag=True, help="Print the vessel as JSON.")
def launch(ledger_url: str | None, config_file: Path | None, fleet_file: Path | None, check: bool,
           replace_existing: bool, as_json: bool, **fields: Any) -> None:
    """Launch a vessel on the best-fitting host."""
    fleet = yaml.safe_load(fleet_file.read_text()) or {} if fleet_file else None
    res = usecases.launch(_settings(ledger_url, config_file), fields, fleet=fleet, check=check,
                          replace_existing=replace_existing)
    if as_json:
        _echo_json(res.vessel)
    else:
        click.echo(res.summary)


@vessels.command("list")
@site_options
@click.option("--all", "show_all", is_flag=True, help="Include ended vessels (when and why they ended).")
@click.option("--owner", default=None, help="Only this user's vessels.")
@click.option("--host", default=None, help="Only vessels on this host.")
@click.option("--json", "as_json", is_flag=True, help="Print the vessels as JSON.")
def list_(ledger_url: str | None, config_file: Path | None, show_all: bool, owner: str | None, host: str | None,
          as_json: bool) -> None:
    """List vessels as a table."""
    res = usecases.list_vessels(_settings(ledger_url, config_file), include_ended=show_all, owner=owner, host=host)
    if as_json:
        _echo_json(res.vessels)
    else:
        click.echo(res.table)


@vessels.command()
@site_options
@click.argument("name")
def status(ledger_url: str | None, config_file: Path | None, name: str) -> None:
    """Inspect one vessel (JSON)."""
    _echo_json(usecases.status(_settings(ledger_url, config_file), name))


@vessels.command()
@site_options
@click.argument("name")
@click.option("--reason", default=None, help="Why (recorded in the ledger).")
@click.option("--check", is_flag=True, help="Say what would be stopped; change nothing.")
@click.option("--force", is_flag=True, help="Admins: when the host cannot be reached, release the reservation "
                                            "anyway (with --reason; recorded).")
def stop(ledger_url: str | None, config_file: Path | None, name: str, reason: str | None, check: bool,
         force: bool) -> None:
    """Stop a vessel (its owner or an admin)."""
    click.echo(usecases.stop(_settings(ledger_url, config_file), name, reason=reason, check=check,
                             force=force).summary)


@vessels.command()
@site_options
@click.option("--host", "hosts", multiple=True, help="Only this host (repeatable); default every host.")
@click.option("--check", is_flag=True, help="Print the table of what would be repaired; change nothing.")
def reconcile(ledger_url: str | None, config_file: Path | None, hosts: tuple[str, ...], check: bool) -> None:
    """Make the ledger and the hosts' engines agree (orphans, lost vessels, dead launches)."""
    res = usecases.reconcile(_settings(ledger_url, config_file), hosts=list(hosts) or None, check=check)
    click.echo(res.table)
    if check and res.changed:
        click.echo("check: nothing changed")
