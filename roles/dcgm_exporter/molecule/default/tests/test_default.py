"""dcgm_exporter converged up to NVIDIA's repository: metrics list and unit are in place."""


def test_counters_include_gpu_util_for_the_undertaker(host):
    lines = [ln for ln in host.file("/etc/dcgm-exporter/slipway-counters.csv").content_string.splitlines()
             if ln and not ln.startswith("#")]
    fields = {ln.split(",")[0].strip(): ln.split(",")[1].strip() for ln in lines}
    assert fields["DCGM_FI_DEV_GPU_UTIL"] == "gauge"
    assert "DCGM_FI_DEV_FB_USED" in fields


def test_unit_serves_on_the_configured_port(host):
    unit = host.file("/etc/systemd/system/dcgm-exporter.service").content_string
    assert "--address 127.0.0.1:29400" in unit
    assert "--collectors /etc/dcgm-exporter/slipway-counters.csv" in unit
    assert "nvcr.io/nvidia/k8s/dcgm-exporter:" in unit
    # systemd parsed it (no syntax errors in the unit)
    out = host.check_output("systemctl show -p FragmentPath -p Restart dcgm-exporter")
    assert "FragmentPath=/etc/systemd/system/dcgm-exporter.service" in out
    assert "Restart=always" in out


def test_check_mode_installed_nothing(host):
    assert not host.file("/etc/apt/sources.list.d/nvidia-cuda.sources").exists
    assert not host.file("/etc/apt/keyrings/nvidia-cuda.asc").exists
    assert not host.package("datacenter-gpu-manager").is_installed
    assert not host.service("dcgm-exporter").is_running
