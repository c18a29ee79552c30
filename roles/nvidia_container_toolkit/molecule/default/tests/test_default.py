"""nvidia_container_toolkit converged up to NVIDIA's repository; check mode changed nothing."""

import json


def test_repository_tools_and_keyring_dir_are_there(host):
    for pkg in ("gnupg", "python3-debian", "ca-certificates"):
        assert host.package(pkg).is_installed
    assert host.file("/etc/apt/keyrings").is_directory


def test_check_mode_left_no_repository_key_or_package(host):
    assert not host.file("/etc/apt/sources.list.d/nvidia-container-toolkit.sources").exists
    assert not host.file("/etc/apt/keyrings/nvidia-container-toolkit.asc").exists
    assert not host.package("nvidia-container-toolkit").is_installed


def test_docker_untouched_until_the_toolkit_exists(host):
    cfg = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert "runtimes" not in cfg
    assert "default-runtime" not in cfg
    assert host.service("docker").is_running
