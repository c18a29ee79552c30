"""kvm_host converged: libvirt runs, the bridge and passthrough settings are written, guests defined."""

import json

VIRSH = "virsh -c qemu:///system"


def test_libvirtd_running(host):
    assert host.service("libvirtd").is_running
    assert host.service("libvirtd").is_enabled
    assert "kvm" in host.check_output(f"{VIRSH} capabilities")


def test_guest_network_on_the_bridge(host):
    xml = host.check_output(f"{VIRSH} net-dumpxml slipway")
    assert "<forward mode='bridge'/>" in xml
    assert "<bridge name='br-slipway'/>" in xml
    assert "Autostart:      yes" in host.check_output(f"{VIRSH} net-info slipway")


def test_bridge_written_for_networkd(host):
    netdev = host.file("/etc/systemd/network/60-slipway-br-slipway.netdev").content_string
    assert "Name=br-slipway" in netdev and "Kind=bridge" in netdev
    uplink = host.file("/etc/systemd/network/61-slipway-br-slipway-uplink.network").content_string
    assert "Name=enp-slipway0" in uplink and "Bridge=br-slipway" in uplink


def test_iommu_and_vfio_settings(host):
    grub = host.file("/etc/default/grub.d/60-slipway-iommu.cfg").content_string
    assert "iommu=pt" in grub and ("intel_iommu=on" in grub or "amd_iommu=on" in grub)
    vfio = host.file("/etc/modprobe.d/slipway-vfio.conf").content_string
    assert "options vfio-pci ids=10de:2204,10de:1aef" in vfio
    assert "softdep nvidia pre: vfio-pci" in vfio
    assert "vfio_pci" in host.file("/etc/modules-load.d/slipway-vfio.conf").content_string


def test_guests_defined_from_inventory(host):
    info = host.check_output(f"{VIRSH} dominfo research-cpu-0")
    assert "CPU(s):         2" in info
    assert "Max memory:     1048576 KiB" in info
    assert "shut off" in info
    assert "Autostart:      disable" in info
    gpu = host.check_output(f"{VIRSH} dumpxml research-3090-0")
    assert "<hostdev mode='subsystem' type='pci' managed='yes'>" in gpu
    assert "bus='0x17'" in gpu and "slot='0x00'" in gpu
    assert "Autostart:      enable" in host.check_output(f"{VIRSH} dominfo research-3090-0")


def test_guest_disks_created(host):
    disk = json.loads(host.check_output("qemu-img info --output json /var/lib/libvirt/images/research-3090-0.qcow2"))
    assert disk["format"] == "qcow2"
    assert disk["virtual-size"] == 3 * 1024**3


def test_user_may_manage_guests(host):
    assert "libvirt" in host.user("researcher").groups
