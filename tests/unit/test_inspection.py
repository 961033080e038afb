"""Inspection and manual cleaning through the conductor manager, with fake-hardware."""

import time

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import inspection
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.db import api as db_api
from hwdrivers.db import hardware as db_hardware
from hwdrivers.drivers.modules import fake

CTX = hw_context.get_admin_context()
GiB = 1024 ** 3
INVENTORY = {
    "cpu": {"count": 32, "architecture": "aarch64"},
    "memory": {"total": 128 * GiB},
    "disks": [{"name": "/dev/sda", "size": 2 * GiB}, {"name": "/dev/sdb", "size": 900 * GiB},
              {"name": "/dev/sdc", "size": 240 * GiB}],
    "interfaces": [{"name": "eth0", "mac_address": "52:54:00:0F:00:01"},
                   {"name": "eth1", "mac_address": "52:54:00:0f:00:02"}],
    "boot": {"current_boot_mode": "bios"},
}


@pytest.fixture
def manager(database):
    return manager_mod.ConductorManager()  # no pool: the work runs inline


def _managed(manager, name):
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": name,
                                     "properties": {"capabilities": "profile:gpu",
                                                    "rack": "r1"}})
    manager.do_provisioning_action(CTX, name, "manage")
    return node


def _row(node):
    return db_api.get_node(node.id)


def _inventory_from_fake(monkeypatch, inventory):
    monkeypatch.setattr(fake.FakeInspect, "inspect_hardware",
                        lambda self, task: {"inventory": inventory, "plugin_data": {"x": 1}})


def test_properties_ports_and_inventory(manager, monkeypatch):
    node = _managed(manager, "insp")
    db_api.create_port({"address": "52:54:00:0f:00:01", "node_id": node.id})
    _inventory_from_fake(monkeypatch, INVENTORY)
    manager.do_provisioning_action(CTX, "insp", "inspect")
    record = _row(node)
    assert record["provision_state"] == "manageable" and record["last_error"] is None
    assert record["properties"] == {"cpus": 32, "cpu_arch": "aarch64", "memory_mb": 131072,
                                    "local_gb": 239, "rack": "r1",
                                    "capabilities": "profile:gpu,boot_mode:bios"}
    assert sorted(p["address"] for p in db_api.list_ports(node_id=node.id)) == [
        "52:54:00:0f:00:01", "52:54:00:0f:00:02"]
    assert db_hardware.get_inventory(node.id)["plugin_data"] == {"x": 1}
    # again, now UEFI: the capability is replaced, no port is added twice
    _inventory_from_fake(monkeypatch, dict(INVENTORY, boot={"current_boot_mode": "uefi"}))
    manager.do_provisioning_action(CTX, "insp", "inspect")
    assert _row(node)["properties"]["capabilities"] == "profile:gpu,boot_mode:uefi"
    assert len(db_api.list_ports(node_id=node.id)) == 2


@pytest.mark.parametrize("written, merged", [
    ("fast_disk,profile:gpu", "fast_disk,profile:gpu,boot_mode:uefi"),
    ("profile:,boot_mode:bios", "profile:,boot_mode:uefi"),
    ({"profile": "gpu"}, "profile:gpu,boot_mode:uefi"),
    (None, "boot_mode:uefi"),
])
def test_capabilities_keep_entries_as_the_operator_wrote_them(written, merged):
    assert inspection._capabilities(written, {"boot_mode": "uefi"}) == merged


def test_refused_outside_manageable_and_with_bad_clean_steps(manager):
    node = manager.create_node(CTX, {"driver": "fake-hardware", "name": "fresh"})
    with pytest.raises(exception.InvalidStateRequested, match="allowed actions.*manage"):
        manager.do_provisioning_action(CTX, "fresh", "inspect")
    manager.do_provisioning_action(CTX, "fresh", "manage")
    with pytest.raises(exception.InvalidParameterValue, match="clean target only"):
        manager.do_provisioning_action(CTX, "fresh", "inspect", clean_steps=[])
    for steps, words in (
            ([{"interface": "deploy", "step": "erase_everything"}],
             "clean step deploy.erase_everything does not exist.*erase_devices"),
            ([{"interface": "deploy", "step": "erase_devices", "args": {"fast": True}}],
             "clean step deploy.erase_devices takes no arguments: unknown argument"),
            ([{"interface": "bios", "step": "apply_configuration"}],
             "bios interface \\(fake\\) has no clean steps"),
            (["erase"], "clean_steps\\[0\\] must be an object"),
            ([], "non-empty list")):
        with pytest.raises(exception.InvalidParameterValue, match=words):
            manager.do_provisioning_action(CTX, "fresh", "clean", clean_steps=steps)
    record = _row(node)
    assert record["provision_state"] == "manageable"
    assert "clean_steps" not in (record["driver_internal_info"] or {})


def test_manual_clean_runs_the_steps_asked_for(manager, monkeypatch):
    node = _managed(manager, "cleaner")
    ran = []
    monkeypatch.setattr(fake.FakeDeploy, "erase_devices",
                        fake.base.clean_step(priority=10)(lambda self, task: ran.append(1)))
    manager.do_provisioning_action(CTX, "cleaner", "clean", clean_steps=[
        {"interface": "deploy", "step": "erase_devices"},
        {"interface": "deploy", "step": "erase_devices", "args": {}}])
    record = _row(node)
    assert ran == [1, 1]
    assert record["provision_state"] == "manageable" and record["last_error"] is None
    assert "clean_steps" not in record["driver_internal_info"]

    def boom(self, task):
        raise exception.DriverActionError("disk 3 would not erase")
    monkeypatch.setattr(fake.FakeDeploy, "erase_devices", fake.base.clean_step(priority=10)(boom))
    with pytest.raises(Exception, match="disk 3"):
        manager.do_provisioning_action(CTX, "cleaner", "clean", clean_steps=[
            {"interface": "deploy", "step": "erase_devices"}])
    record = _row(node)
    assert record["provision_state"] == "clean failed"
    assert "clean step deploy.erase_devices: disk 3 would not erase" in record["last_error"]


def test_inspect_wait_abort_and_timeout(manager, monkeypatch, config):
    node = _managed(manager, "waiter")
    monkeypatch.setattr(fake.FakeInspect, "inspect_hardware", lambda self, task: "inspect wait")
    manager.do_provisioning_action(CTX, "waiter", "inspect")
    record = _row(node)
    assert record["provision_state"] == "inspect wait"
    assert record["target_provision_state"] == "manageable"
    assert record["reservation"] is None  # waits with its lock released

    manager.do_provisioning_action(CTX, "waiter", "abort")
    record = _row(node)
    assert record["provision_state"] == "inspect failed"
    assert record["last_error"].startswith("inspection aborted by request in inspect wait")
    assert record["power_state"] == "power off"

    manager.do_provisioning_action(CTX, "waiter", "inspect")
    assert inspection.check_timeouts(CTX) == []  # not late yet
    config(deploy__callback_timeout=5)
    info = dict(_row(node)["driver_internal_info"], **{inspection.WAIT_KEY: time.time() - 60})
    db_api.update_node(node.id, {"driver_internal_info": info})
    assert inspection.check_timeouts(CTX) == [node.uuid]
    record = _row(node)
    assert record["provision_state"] == "inspect failed"
    assert "timeout in inspect wait" in record["last_error"]
    manager.do_provisioning_action(CTX, "waiter", "manage")
    assert _row(node)["provision_state"] == "manageable"


def test_a_mac_of_another_node_changes_nothing(manager, monkeypatch):
    owner = manager.create_node(CTX, {"driver": "fake-hardware", "name": "owner"})
    db_api.create_port({"address": "52:54:00:0f:00:02", "node_id": owner.id})
    node = _managed(manager, "dup")
    _inventory_from_fake(monkeypatch, INVENTORY)
    with pytest.raises(inspection.MACConflict):
        manager.do_provisioning_action(CTX, "dup", "inspect")
    record = _row(node)
    assert record["provision_state"] == "inspect failed"
    assert "Node dup" in record["last_error"] and "node owner" in record["last_error"]
    assert record["properties"] == {"capabilities": "profile:gpu", "rack": "r1"}
    assert db_api.list_ports(node_id=node.id) == []
    assert db_hardware.get_inventory(node.id) is None
