"""nvidia_driver on a host without an NVIDIA GPU: nothing installed, nothing blacklisted."""


def test_no_driver_installed(host):
    for pkg in ("nvidia-driver", "nvidia-smi", "nvidia-utils-550-server"):
        assert not host.package(pkg).is_installed


def test_nouveau_not_blacklisted_without_a_gpu(host):
    assert not host.file("/etc/modprobe.d/blacklist-nouveau.conf").exists


def test_check_mode_added_no_repository(host):
    assert not host.file("/etc/apt/sources.list.d/debian-non-free.sources").exists
