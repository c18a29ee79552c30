"""``slipway tailnet policy``: the tailnet policy from the ledger (each user reaches only their own vessels)."""

from __future__ import annotations

import click

from slipway.config import load_settings
from slipway.errors import ValidationError
from slipway.ledger import Ledger
from slipway.network.policy import PolicyApi, PolicyInput, apply, reach_from


@click.group()
def tailnet() -> None:
    """The tailnet's access policy for vessels."""


@tailnet.command()
@click.option("--check", is_flag=True, help="Print the diff against the tailnet's current policy; change nothing.")
@click.option("--email-domain", default="", help="A vessel owner's tailnet login is <owner>@DOMAIN.")
@click.option("--user", "users", multiple=True, metavar="OWNER=LOGIN", help="An owner's tailnet login.")
@click.option("--admin", "admins", multiple=True, metavar="LOGIN", help="Tailnet logins that reach every vessel.")
@click.option("--tag-owner", default="autogroup:admin", help="Who may apply the owner tags.")
def policy(check: bool, email_domain: str, users: tuple[str, ...], admins: tuple[str, ...], tag_owner: str) -> None:
    """Generate Slipway's sections of the policy (tagOwners, grants, groups) and apply them."""
    s = load_settings()
    if s.tailscale is None:
        raise ValidationError("slipway_tailscale_api_key", "is required to read and write the tailnet policy",
                              allowed="a Tailscale API access token (SLIPWAY_TAILSCALE_API_KEY)")
    pairs = dict(u.split("=", 1) for u in users if "=" in u)
    led = Ledger(s.ledger_url)
    try:
        inp = PolicyInput(reach_from(led.vessels()), admins, email_domain=email_domain, users=pairs,
                          tag_owner=tag_owner)
        res = apply(PolicyApi(s.tailscale.api_url, s.tailscale.tailnet, s.tailscale.api_key), inp, check=check)
    finally:
        led.close()
    if res.diff:
        click.echo(res.diff, nl=False)
    click.echo("no change" if not res.changed else "would change the policy (check mode)" if check
               else "policy validated and applied")
