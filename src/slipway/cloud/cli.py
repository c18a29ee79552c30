"""``slipway cloud ...``: check stack config, read stack outputs, list Prefect work pools.

Loaded on first use by ``slipway.cli`` (this imports neither Pulumi nor pulumi_aws).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from slipway.cloud import outputs as stack_outputs
from slipway.cloud.settings import KEYS, Settings, config_reference
from slipway.errors import ValidationError


def _table(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    if not rows:
        return "(none)"
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        return [kv for k, v in value.items() for kv in _flatten(v, f"{prefix}.{k}" if prefix else str(k))]
    return [(prefix, value)]


@click.group("cloud")
def cloud() -> None:
    """Slipway on AWS: stack config, stack outputs, Prefect work pools."""


@cloud.command("check")
@click.option("--stack", "stack", required=True, help="Stack name: reads Pulumi.<stack>.yaml.")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Pulumi project folder (default: $SLIPWAY_PULUMI_DIR, ., or a checkout's pulumi/).")
def check(stack: str, directory: Path | None) -> None:
    """Validate a stack's config file without the Pulumi CLI; print what `pulumi up` will name."""
    d = stack_outputs.project_dir(directory)
    path = d / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise ValidationError("--stack", "has no stack file", got=str(path),
                              allowed=sorted(p.name[7:-5] for p in d.glob("Pulumi.*.yaml")))
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    secret_keys = {k.name for k in KEYS if k.secret}
    values = {k: v for k, v in config.items() if k.split(":", 1)[-1] not in secret_keys}
    secrets = {k.split(":", 1)[1]: "(set)" for k in config if k.split(":", 1)[-1] in secret_keys}
    for k, v in values.items():
        if isinstance(v, Mapping) and "secure" in v:
            raise ValidationError(k, "is stored as a secret but is not a secret key",
                                  allowed=sorted(f"slipway:{s}" for s in secret_keys))
    s = Settings.from_values(values, stack=stack, secrets=secrets)
    rows: list[dict[str, object]] = [
        {"what": "ECR repositories", "names": ", ".join(f"{s.registry_prefix}/{p.name}" for p in s.projects)},
        {"what": "ECS cluster", "names": f"{s.prefix} (FARGATE, FARGATE_SPOT, {s.prefix}-gpu)"},
        {"what": "Batch job queues", "names": ", ".join(
            [f"{s.prefix}-gpu (priority {s.gpu_queue_priority})"] * bool(s.gpu_instance_types)
            + [f"{s.prefix}-cpu (priority {s.cpu_queue_priority})"])},
        {"what": "Batch job definitions", "names": ", ".join(f"{s.prefix}-ml-{p.name}" for p in s.projects)},
        {"what": "Secrets", "names": f"slipway/{s.environment}/{{webhook-uuids,slack-webhook,tailscale-api-key}}"},
        {"what": "Prefect work pools", "names": f"{s.prefix}-cpu, {s.prefix}-gpu, {s.prefix}-local"
                                                if s.prefect_api_url else "(none: slipway:prefectApiUrl unset)"},
    ]
    click.echo(f"stack {stack}: config is valid (region {s.region}, {len(s.projects)} project(s))")
    click.echo(_table(rows, ["what", "names"]))


@cloud.command("outputs")
@click.argument("names", nargs=-1)
@click.option("--stack", default=None, help="Stack name (default: the selected stack).")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Pulumi project folder (default: $SLIPWAY_PULUMI_DIR, ., or a checkout's pulumi/).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--pulumi", "pulumi_bin", default="pulumi", show_default=True, help="The Pulumi CLI.")
def outputs(names: tuple[str, ...], stack: str | None, directory: Path | None, as_json: bool,
            pulumi_bin: str) -> None:
    """Print stack outputs (all, or NAMES as dotted paths, e.g. ecrRepositoryUrls.detector)."""
    data = stack_outputs.stack_outputs(stack, directory=directory, pulumi_bin=pulumi_bin)
    if names:
        data = {n: stack_outputs.pick(data, n) for n in names}
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    rows: list[dict[str, object]] = [{"output": k, "value": v} for k, v in _flatten(data)]
    click.echo(_table(rows, ["output", "value"]))


@cloud.command("pools")
@click.option("--api-url", envvar="PREFECT_API_URL", required=True, help="Prefect API URL (or $PREFECT_API_URL).")
def pools(api_url: str) -> None:
    """List the Prefect work pools and their GPU/storage variables."""
    from slipway.cloud.prefect_api import PrefectApi

    rows: list[dict[str, object]] = []
    for pool in sorted(PrefectApi(api_url).list_work_pools(), key=lambda p: str(p["name"])):
        props = (pool.get("base_job_template") or {}).get("variables", {}).get("properties", {})
        extras = [v for v in ("gpu_count", "ephemeral_storage") if v in props]
        rows.append({"name": pool["name"], "type": pool["type"], "status": pool.get("status") or "",
                     "slipway variables": ", ".join(extras) or "-"})
    click.echo(_table(rows, ["name", "type", "status", "slipway variables"]))


@cloud.command("config-reference")
def reference() -> None:
    """Print the config key reference block that Slipway's Pulumi.yaml carries."""
    click.echo(config_reference(), nl=False)
