"""slipway_server converged: its user, a 0600 config without secrets, the unit running, nginx's TLS proxy."""

import json


def test_user_and_config_file(host):
    assert host.user("slipway").exists
    cfg = host.file("/etc/slipway/server.yml")
    assert (cfg.user, cfg.mode) == ("slipway", 0o600)
    text = cfg.content_string
    assert "listen: 127.0.0.1:28470" in text and "slipway_tailscale_tailnet: example.com" in text
    assert "not-a-real-password" not in text


def test_secrets_only_in_the_environment_file(host):
    env = host.file("/etc/slipway/server.env")
    assert (env.user, env.mode) == ("root", 0o600)
    assert "SLIPWAY_LEDGER_URL=postgresql://slipway:not-a-real-password@db.test/slipway" in env.content_string


def test_service_runs_as_its_user(host):
    svc = host.service("slipway-server")
    assert svc.is_enabled and svc.is_running
    unit = host.file("/etc/systemd/system/slipway-server.service").content_string
    assert "ExecStart=/usr/local/bin/slipway-stand-in server --config /etc/slipway/server.yml" in unit
    assert "User=slipway" in unit


def test_nginx_proxies_with_tls(host):
    assert host.service("nginx").is_running
    host.run_expect([0], "nginx -t")
    out = json.loads(host.check_output("curl -fsSk --resolve slipway.test:28443:127.0.0.1 "
                                       "https://slipway.test:28443/healthz"))
    assert out["ok"] and out["ledger_from_env"]
    assert out["argv"] == ["server", "--config", "/etc/slipway/server.yml"]
    assert out["user"] != 0
