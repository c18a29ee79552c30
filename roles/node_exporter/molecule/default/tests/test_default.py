"""node_exporter converged: the service runs, listens where the inventory says, serves metrics."""


def test_service_enabled_and_running(host):
    svc = host.service("prometheus-node-exporter")
    assert svc.is_enabled
    assert svc.is_running


def test_listens_on_loopback_port_from_inventory(host):
    assert host.socket("tcp://127.0.0.1:29100").is_listening


def test_flags_carry_the_inventory_collectors(host):
    args = host.file("/etc/default/prometheus-node-exporter").content_string
    assert "--web.listen-address=127.0.0.1:29100" in args
    assert "--collector.systemd" in args
    assert "--collector.processes" in args


def test_serves_metrics(host):
    out = host.check_output("curl -fsS http://127.0.0.1:29100/metrics")
    assert "node_exporter_build_info" in out
    assert "node_systemd_unit_state" in out
