"""prometheus converged: valid config, targets generated from the inventory, alerts loaded."""

import json
import time

import yaml

API = "http://127.0.0.1:29090/api/v1"


def _get(host, path):
    return json.loads(host.check_output(f"curl -fsS {API}/{path}"))["data"]


def test_service_runs_and_listens_on_loopback(host):
    assert host.service("prometheus").is_running
    assert host.service("prometheus").is_enabled
    assert host.socket("tcp://127.0.0.1:29090").is_listening


def test_promtool_accepts_config_and_rules(host):
    host.check_output("promtool check config /etc/prometheus/prometheus.yml")
    host.check_output("promtool check rules /etc/prometheus/rules/slipway.yml")


def test_node_targets_match_inventory(host):
    node = yaml.safe_load(host.file("/etc/prometheus/file_sd/node.yml").content_string)
    got = {e["targets"][0]: e["labels"] for e in node}
    assert got == {
        "127.0.0.11:9100": {"host": "gpu-a100-01", "queue": "a100"},
        "127.0.0.12:9100": {"host": "gpu-3090-01", "queue": "rtx3090"},
        "127.0.0.1:29101": {"host": "slipway-prometheus"},
    }


def test_dcgm_targets_are_the_gpu_hosts(host):
    dcgm = yaml.safe_load(host.file("/etc/prometheus/file_sd/dcgm.yml").content_string)
    assert sorted(e["targets"][0] for e in dcgm) == ["127.0.0.11:9400", "127.0.0.12:29400"]


def test_server_scrapes_the_generated_targets(host):
    deadline = time.monotonic() + 60
    while True:
        active = _get(host, "targets")["activeTargets"]
        seen = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in active}
        if seen.get(("node", "127.0.0.1:29101")) == "up" or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert seen.get(("node", "127.0.0.1:29101")) == "up", seen
    assert {("dcgm", "127.0.0.11:9400"), ("dcgm", "127.0.0.12:29400"), ("node", "127.0.0.11:9100")} <= set(seen)


def test_alert_rules_for_disappearing_hosts_and_exporters(host):
    groups = _get(host, "rules")["groups"]
    names = {r["name"] for g in groups for r in g["rules"]}
    assert {"SlipwayHostDown", "SlipwayDcgmExporterDown", "SlipwayGpuMetricsAbsent"} <= names


def test_retention_from_inventory(host):
    flags = _get(host, "status/flags")
    assert flags["storage.tsdb.retention.time"] == "15d"
    assert flags["web.listen-address"] == "127.0.0.1:29090"
