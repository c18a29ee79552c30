"""docker_engine converged: dockerd runs with our daemon.json, the listed users may use it."""

import json


def test_package_from_the_distribution(host):
    assert host.package("docker.io").is_installed


def test_dockerd_running_and_enabled(host):
    svc = host.service("docker")
    assert svc.is_running
    assert svc.is_enabled
    assert host.socket("unix:///run/docker.sock").is_listening


def test_daemon_json_has_log_rotation_and_settings(host):
    cfg = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert cfg["log-driver"] == "json-file"
    assert cfg["log-opts"] == {"max-size": "50m", "max-file": "3"}
    assert cfg["storage-driver"] == "vfs"
    assert "default-runtime" not in cfg  # not a GPU host


def test_dockerd_applied_daemon_json(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["Driver"] == "vfs"


def test_listed_user_can_use_docker(host):
    assert "docker" in host.user("researcher").groups
    host.check_output("runuser -u researcher -- docker version --format '{{.Server.Version}}'")
