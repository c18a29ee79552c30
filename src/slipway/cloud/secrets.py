"""``Secrets``: the Secrets Manager secrets Slipway reads at run time. Values stay secret Outputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws.secretsmanager as secretsmanager

#: config key -> (secret suffix, description)
SECRETS: dict[str, tuple[str, str]] = {
    "webhookUuids": ("webhook-uuids", "UUIDs of the repository webhooks allowed to trigger runs (JSON list)"),
    "slackWebhookUrl": ("slack-webhook", "Slack incoming webhook for Slipway notifications"),
    "tailscaleApiKey": ("tailscale-api-key", "Tailscale API key for vessel networking"),
}


def _as_text(key: str, value: Any) -> str:
    if key == "webhookUuids":
        if isinstance(value, str):
            value = json.loads(value)
        return json.dumps(sorted(str(v) for v in value))
    return str(value)


@dataclass
class SecretsArgs:
    prefix: str
    #: config key -> value (a secret Output from the stack config, or a plain str); None: created empty.
    values: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


class Secrets(pulumi.ComponentResource):
    """One secret ``slipway/<env>/<name>`` per entry of ``SECRETS``; a version only where a value is set.

    The value is wrapped in ``Output.secret`` again, so even a plain str never lands in state or
    outputs in clear text; outputs are ARNs and names only.
    """

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("slipway:aws:Secrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.secrets: dict[str, secretsmanager.Secret] = {}
        self.versions: dict[str, secretsmanager.SecretVersion] = {}
        for key, (suffix, description) in SECRETS.items():
            secret = secretsmanager.Secret(f"{name}-{suffix}", name=f"{args.prefix}/{suffix}",
                                           description=description, recovery_window_in_days=7,
                                           tags=dict(args.tags), opts=child)
            self.secrets[key] = secret
            value = args.values.get(key)
            if value is None:
                continue
            def as_text(v: Any, k: str = key) -> str:
                return _as_text(k, v)

            plain: pulumi.Output[str] = pulumi.Output.from_input(value).apply(as_text)
            text: pulumi.Output[str] = pulumi.Output.secret(plain)  # type: ignore[arg-type]
            self.versions[key] = secretsmanager.SecretVersion(
                f"{name}-{suffix}-value", secret_id=secret.id, secret_string=text,
                opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["secret_string"]))
        self.arns = {key: s.arn for key, s in self.secrets.items()}
        self.names = {key: s.name for key, s in self.secrets.items()}
        self.register_outputs({"arns": self.arns, "names": self.names})
