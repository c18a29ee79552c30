"""tailscale: `up` ran once with hostname and tags; the key reached the CLI; check mode installed nothing."""

import json


def test_up_ran_once_with_hostname_and_tags(host):
    runs = [json.loads(x) for x in host.file("/var/lib/tailscale-standin/up.log").content_string.splitlines()]
    assert len(runs) == 1, "tailscale up must not run again when status --json shows the node up"
    assert runs[0]["hostname"] == "gpu-a100-01"
    assert runs[0]["advertise-tags"] == "tag:slipway,tag:gpu"
    assert runs[0]["reset"] is True


def test_auth_key_reached_the_cli(host):
    assert host.file("/var/lib/tailscale-standin/key").content_string.startswith("tskey-auth-")


def test_check_mode_installed_nothing(host):
    assert not host.file("/etc/apt/sources.list.d/tailscale.sources").exists
    assert not host.file("/usr/share/keyrings/tailscale-archive-keyring.gpg").exists
    assert not host.package("tailscale").is_installed
