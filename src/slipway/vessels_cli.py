"""``slipway vessels ...``: the vessel service from a shell (same validation and words as the modules).

The fleet comes from the ledger (``site.yml`` or a launch playbook records it); ``--fleet FILE`` (YAML
``{host: {slipway_queue: ..., slipway_docker_url: ...}}``) syncs hosts first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml

from slipway.request import build_request
from slipway.table import render
from slipway.vessels import Settings, current_user, default_key_pair, service, vessel_rows

ledger_opt = click.option("--ledger", "ledger_url", envvar="SLIPWAY_LEDGER_URL", default=None,
                          help="Ledger URL (default: $SLIPWAY_LEDGER_URL or the local SQLite file).")


def _settings(ledger_url: str | None, admins: tuple[str, ...] = ()) -> Settings:
    return Settings(ledger_url=ledger_url, admins=admins)


@click.group()
def vessels() -> None:
    """Launch, list, inspect and stop vessels."""


@vessels.command()
@ledger_opt
@click.option("--gpus", default="0")
@click.option("--queue", default="any")
@click.option("--cpus", default=None)
@click.option("--memory", default=None, help="GiB, or with a unit (512M, 16G).")
@click.option("--image", default="slipway/vessel:latest")
@click.option("--name", default=None)
@click.option("--fleet", "fleet_file", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--check", is_flag=True, help="Show the placement; reserve nothing.")
@click.option("--json", "as_json", is_flag=True)
def launch(ledger_url: str | None, gpus: str, queue: str, cpus: str | None, memory: str | None, image: str,
           name: str | None, fleet_file: Path | None, check: bool, as_json: bool) -> None:
    """Launch a vessel on the best-fitting host."""
    key, identity = default_key_pair()
    req = build_request(user=current_user(), name=name, gpus=gpus, queue=queue, cpus=cpus or 1,
                        memory=memory or "4G", image=image, ssh_public_key=key)
    with service(_settings(ledger_url)) as svc:
        if fleet_file:
            svc.sync_fleet(yaml.safe_load(fleet_file.read_text()) or {})
        res = svc.launch(req, check=check, identity_file=identity)
    click.echo(json.dumps(res.vessel, indent=2, default=str) if as_json else res.summary)


@vessels.command("list")
@ledger_opt
@click.option("--all", "show_all", is_flag=True, help="Include ended vessels.")
@click.option("--owner", default=None)
@click.option("--json", "as_json", is_flag=True)
def list_(ledger_url: str | None, show_all: bool, owner: str | None, as_json: bool) -> None:
    """List vessels as a table."""
    with service(_settings(ledger_url)) as svc:
        vs = svc.ledger.vessels(active=not show_all, owner=owner)
    if as_json:
        click.echo(json.dumps([v.as_dict() for v in vs], indent=2, default=str))
    else:
        click.echo(render(vessel_rows(vs), ["name", "owner", "host", "gpus", "state", "age", "address"],
                          empty="no vessels"))


@vessels.command()
@ledger_opt
@click.argument("name")
def status(ledger_url: str | None, name: str) -> None:
    """Inspect one vessel (JSON)."""
    with service(_settings(ledger_url)) as svc:
        info: dict[str, Any] = svc.info(name)
    click.echo(json.dumps(info, indent=2, default=str))


@vessels.command()
@ledger_opt
@click.argument("name")
@click.option("--admin", "admins", multiple=True, help="Users allowed to stop anyone's vessel.")
@click.option("--reason", default=None)
def stop(ledger_url: str | None, name: str, admins: tuple[str, ...], reason: str | None) -> None:
    """Stop a vessel (owner or admin only)."""
    with service(_settings(ledger_url, admins)) as svc:
        res = svc.stop(name, actor=current_user(), reason=reason)
    click.echo(res.summary)
