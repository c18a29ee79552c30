"""``slipway server``: the control plane (JSON API and web pages) under uvicorn."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from slipway.server.config import load_config


@click.command()
@click.option("--listen", default=None, help="HOST:PORT (default 127.0.0.1:8470; non-loopback needs oidc).")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, envvar="SLIPWAY_SERVER_CONFIG", help="YAML settings (see docs/server.md).")
@click.option("--log-level", default=None, type=click.Choice(["debug", "info", "warning", "error"]))
def server(listen: str | None, config_file: Path | None, log_level: str | None) -> None:
    """Serve the API (/api/v1) and the web pages; team mode when oidc is configured."""
    import uvicorn

    from slipway.server.app import create_app

    cfg = load_config(config_file, listen=listen)
    cfg.check_listen()
    level = log_level or cfg.log_level
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(cfg)
    mode = "team mode (OIDC: " + cfg.oidc.issuer + ")" if cfg.oidc else "single-user mode (loopback only)"
    click.echo(f"slipway server on http://{cfg.host}:{cfg.port}/ in {mode}", err=True)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level=level, access_log=True)


@click.command()
@click.option("--server", "server_url", required=True, envvar="SLIPWAY_SERVER_URL", help="https://slipway.example.com")
@click.option("--client-secret", envvar="SLIPWAY_OIDC_CLIENT_SECRET", default=None,
              help="Only for providers that give the CLI a confidential client (read from the environment).")
@click.option("--port", default=0, help="Loopback port for the redirect (0: any free one).")
def login(server_url: str, client_secret: str | None, port: int) -> None:
    """Log in to a Slipway server (OIDC authorization code + PKCE); tokens cached with mode 0600."""
    from slipway.server.client import login as do_login

    res = do_login(server_url, client_secret=client_secret, port=port)
    click.echo(f"logged in to {res.server} as {res.name} ({', '.join(res.roles) or 'no role'})")
