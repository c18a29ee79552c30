"""``slipway undertaker ...``: the same run the playbook does, and the keep flag.

Settings come from ``--config FILE`` (YAML; the ``undertaker_*`` keys of the inventory's group_vars file
work as they are, Jinja expressions in it are ignored) and options. The Slack webhook is a secret: it is
read from ``SLIPWAY_SLACK_WEBHOOK_URL`` (or the config file), never from the command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import yaml

from slipway.errors import ValidationError


def load_config(path: str | None, **over: Any) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if path:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValidationError("--config", f"cannot read {path}: {exc}", allowed="a YAML mapping") from None
        if not isinstance(raw, dict):
            raise ValidationError("--config", "must be a YAML mapping", allowed="undertaker_* keys")
        for k, v in raw.items():
            if isinstance(v, str) and "{{" in v:
                continue  # an inventory expression; only Ansible can evaluate it
            opts[str(k).removeprefix("undertaker_")] = v
    if os.environ.get("SLIPWAY_SLACK_WEBHOOK_URL"):
        opts["slack_webhook_url"] = os.environ["SLIPWAY_SLACK_WEBHOOK_URL"]
    if os.environ.get("SLIPWAY_PROMETHEUS_URL") and not over.get("prometheus_url"):
        opts["prometheus_url"] = os.environ["SLIPWAY_PROMETHEUS_URL"]
    opts.update({k: v for k, v in over.items() if v not in (None, "", ())})
    return opts


@click.group()
def undertaker() -> None:
    """Find, warn about and bury idle vessels."""


@undertaker.command("run")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="YAML with undertaker_* settings.")
@click.option("--prometheus-url", help="Prometheus base URL (or SLIPWAY_PROMETHEUS_URL).")
@click.option("--ledger-url", envvar="SLIPWAY_LEDGER_URL", help="Ledger database URL.")
@click.option("--admin", "admins", multiple=True, help="Admin told about missing metrics (repeatable).")
@click.option("--now", help="Decide as if it were this time (ISO 8601 with a zone).")
@click.option("--check", is_flag=True, help="Print the decisions; change and send nothing.")
def run_cmd(config_file: str | None, prometheus_url: str | None, ledger_url: str | None, admins: tuple[str, ...],
            now: str | None, check: bool) -> None:
    """Judge every running vessel: keep, warn, bury, reconcile or alert."""
    from slipway.metrics import Prometheus
    from slipway.notify import notifier
    from slipway.undertaker.config import UndertakerConfig
    from slipway.undertaker.service import Undertaker, parse_now
    from slipway.vessels import Settings, service

    cfg = UndertakerConfig.parse(load_config(config_file, prometheus_url=prometheus_url, admins=admins))
    when = parse_now(now)
    prom = Prometheus(cfg.prometheus_url, timeout=cfg.prometheus_timeout, field_name="undertaker_prometheus_url")
    try:
        with service(Settings(ledger_url=ledger_url, admins=(*cfg.admins, "undertaker"))) as svc:
            res = Undertaker(cfg, svc, prom, notifier(cfg.slack_webhook_url)).run(when, check=check)
    finally:
        prom.close()
    click.echo(res.table)
    for line in res.done:
        click.echo(f"done: {line}")
    for line in res.failed:
        click.echo(f"failed: {line}", err=True)
    click.echo(f"{'check: nothing changed; ' if check else ''}{len(res.decisions)} vessels, "
               f"{res.queries} Prometheus query, {sum(res.seconds.values()):.2f} s")


@undertaker.command("keep")
@click.argument("name")
@click.option("--hours", type=float, help="Keep for this many hours from now.")
@click.option("--until", "until", help="Keep until this time (ISO 8601 with a zone).")
@click.option("--clear", is_flag=True, help="Remove the keep flag.")
@click.option("--ledger-url", envvar="SLIPWAY_LEDGER_URL", help="Ledger database URL.")
@click.option("--admin", "admins", multiple=True, help="Admins (who may keep any vessel, for any time).")
@click.option("--max-hours", type=float, default=168.0, show_default=True)
def keep_cmd(name: str, hours: float | None, until: str | None, clear: bool, ledger_url: str | None,
             admins: tuple[str, ...], max_hours: float) -> None:
    """Keep vessel NAME from the undertaker (or --clear the flag)."""
    from slipway.ledger import Ledger
    from slipway.undertaker.service import parse_now, set_keep
    from slipway.vessels import current_user

    led = Ledger(ledger_url)
    try:
        changed, _, after = set_keep(led, name, actor=current_user(), hours=hours,
                                     until=parse_now(until, "until") if until else None, clear=clear,
                                     admins=admins, max_hours=max_hours)
    finally:
        led.close()
    ku = after["keep_until"]
    click.echo((f"{name} is kept until {ku}" if ku else f"{name} has no keep flag")
               + ("" if changed else " (unchanged)"))
