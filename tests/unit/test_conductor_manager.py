"""Operations through the conductor manager: bookkeeping, bad input changes nothing."""

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.db import api as db_api
from hwdrivers.drivers import params
from hwdrivers.drivers.modules import fake

CTX = hw_context.get_admin_context()


@pytest.fixture
def manager(database):
    return manager_mod.ConductorManager()


@pytest.fixture
def node(manager):
    return manager.create_node(CTX, {
        "driver": "fake-hardware", "name": "op-node",
        "driver_info": {"fake_username": "admin", "fake_password": "s3cret"}})


def row(node):
    return db_api.get_node(node.id)


def test_power_on_records_verified_state_and_clears_target(manager, node):
    assert manager.change_power_state(CTX, "op-node", "power on") == PowerState.ON
    record = row(node)
    assert record["power_state"] == "power on"
    assert record["target_power_state"] is None
    assert record["last_error"] is None
    assert record["reservation"] is None
    assert manager.get_power_state(CTX, "op-node") == PowerState.ON


def test_invalid_target_changes_nothing(manager, node):
    before = row(node)
    with pytest.raises(exception.InvalidPowerState, match="use one of: power on, power off"):
        manager.change_power_state(CTX, "op-node", "sideways")
    assert row(node) == before


def test_invalid_driver_info_is_refused_before_acting(manager, node, monkeypatch):
    db_api.update_node(node.id, {"driver_info": {"fake_address": "not an address!"}})
    calls = []
    monkeypatch.setattr(fake.FakePower, "set_power_state",
                        lambda *a, **k: calls.append(a))
    with pytest.raises(exception.InvalidParameterValue, match="fake_address"):
        manager.change_power_state(CTX, "op-node", "power on")
    assert calls == []
    assert row(node)["target_power_state"] is None


def test_driver_failure_records_last_error_and_truthful_state(manager, node, monkeypatch,
                                                               config):
    config(fake__power_delay="0")

    # The BMC answers but refuses (a BMC that does not answer past the
    # deadline is not asked again: see test_*deadline* in tests/functional).
    def fail(self, task, state, timeout=None):
        raise exception.DriverActionError("BMC refused the command")

    monkeypatch.setattr(fake.FakePower, "set_power_state", fail)
    with pytest.raises(exception.DriverActionError):
        manager.change_power_state(CTX, "op-node", "power on")
    record = row(node)
    assert "BMC refused the command" in record["last_error"]
    assert "node op-node" in record["last_error"]
    assert record["target_power_state"] is None
    assert record["power_state"] == "power off"  # read back from the hardware
    assert record["reservation"] is None


def test_state_that_never_arrives_fails_with_timeout(manager, node, monkeypatch, config):
    config(conductor__power_state_change_timeout=0.2)
    monkeypatch.setattr(fake.FakePower, "set_power_state", lambda *a, **k: None)
    with pytest.raises(exception.PowerStateFailure):
        manager.change_power_state(CTX, "op-node", "power on")
    assert "still power off" in row(node)["last_error"]


def test_boot_device(manager, node):
    manager.set_boot_device(CTX, "op-node", "pxe", persistent=True)
    assert manager.get_boot_device(CTX, "op-node") == {"boot_device": "pxe",
                                                        "persistent": True}
    with pytest.raises(exception.InvalidBootDevice):
        manager.set_boot_device(CTX, "op-node", "usb-stick")
    assert row(node)["boot_device"] == "pxe"


def test_secrets_masked_in_views(manager, node):
    view = manager.node_view(manager.get_node(CTX, "op-node"))
    assert view["driver_info"]["fake_password"] == params.MASK
    assert view["driver_info"]["fake_username"] == "admin"
    assert "s3cret" not in repr(view)


@pytest.mark.parametrize("values,fragment", [
    ({"driver": "nope"}, "enabled_hardware_types"),
    ({"driver": "fake-hardware", "power_interface": "ipmitool"}, "power_interface ipmitool"),
    ({"driver": "fake-hardware", "driver_info": {"fake_address": "a b"}}, "fake_address"),
    ({"driver": "fake-hardware", "driver_info": {"fake_pasword": "x"}}, "did you mean"),
    ({"driver": "fake-hardware", "name": "bad name"}, "field name"),
    ({"driver": "fake-hardware", "bogus": 1}, "cannot be set"),
    ({"driver": "fake-hardware", "driver_info": "x"}, "must be an object"),
])
def test_bad_create_changes_nothing(manager, values, fragment):
    with pytest.raises(exception.HWDriversError) as info:
        manager.create_node(CTX, values)
    assert fragment in str(info.value)
    assert db_api.list_nodes() == []


def test_update_and_unset(manager, node):
    updated = manager.update_node(CTX, "op-node", {"driver_info/fake_address": "10.0.0.9",
                                                   "management_interface": "noop"})
    assert updated.driver_info["fake_address"] == "10.0.0.9"
    assert updated.management_interface == "noop"
    updated = manager.update_node(CTX, "op-node", {}, ["driver_info/fake_password",
                                                       "management_interface"])
    assert "fake_password" not in updated.driver_info
    assert updated.management_interface is None


def test_bad_update_changes_nothing(manager, node):
    before = row(node)
    with pytest.raises(exception.InterfaceNotAllowed):
        manager.update_node(CTX, "op-node", {"power_interface": "nope",
                                             "driver_info/fake_address": "10.0.0.1"})
    with pytest.raises(exception.InvalidParameterValue, match="no key"):
        manager.update_node(CTX, "op-node", {}, ["driver_info/missing"])
    after = row(node)
    assert after["driver_info"] == before["driver_info"]
    assert after["power_interface"] is None


def test_validate_and_driver_properties(manager, node):
    result = manager.validate_node(CTX, "op-node")
    assert result["power"] == {"result": True, "reason": None}
    props = manager.driver_properties(CTX, "fake-hardware")
    password = [f for f in props["power"] if f["name"] == "fake_password"][0]
    assert password["secret"] is True and password["required"] is False


def test_vendor_passthru(manager, node):
    is_async, result = manager.vendor_passthru(CTX, "op-node", "first_method", "GET",
                                               {"x": 1})
    assert is_async is False and result["args"] == {"x": 1}
    with pytest.raises(exception.InvalidParameterValue):
        manager.vendor_passthru(CTX, "op-node", "nope")


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", [
    "lease-keeper",     # the lease's statement committed, the task not yet built
    "task-built",       # the task is the caller's, the action not begun
    "action",           # the power action itself
])
def test_ctrl_c_wherever_the_lease_is_held_clears_the_published_target(
        manager, node, monkeypatch, where):
    """A waiting caller's Ctrl-C, wherever it lands while the lease is held,
    leaves no target published and no lease held; it is recorded."""
    from hwdrivers.conductor import operations
    from hwdrivers.conductor import task_manager

    target = {"lease-keeper": (task_manager.LEASES, "add"),
              "task-built": (operations, "finish_power_change"),
              "action": (fake.FakePower, "set_power_state")}[where]
    monkeypatch.setattr(*target, _interrupt)
    with pytest.raises(KeyboardInterrupt):
        manager.change_power_state(CTX, "op-node", "power on")
    record = row(node)
    assert record["target_power_state"] is None
    assert record["reservation"] is None
    assert record["last_error"] == manager_mod.INTERRUPTED_POWER_ERROR
    assert record["power_state"] is None  # unknown whether it switched: left as it was
    assert task_manager.LEASES.held() == []


def test_ctrl_c_before_the_lease_is_taken_leaves_the_node_untouched(
        manager, node, monkeypatch, caplog):
    before = row(node)
    monkeypatch.setattr(db_api, "reserve_and_get_node", _interrupt)
    with pytest.raises(KeyboardInterrupt):
        manager.change_power_state(CTX, "op-node", "power on")
    assert row(node) == before
    assert "interrupted" not in caplog.text


def test_ctrl_c_after_the_action_finished_records_no_interruption(manager, node,
                                                                   monkeypatch):
    from hwdrivers.conductor import operations

    real = operations.finish_power_change

    def finish_then_interrupt(task, *args, **kwargs):
        real(task, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(operations, "finish_power_change", finish_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        manager.change_power_state(CTX, "op-node", "power on")
    record = row(node)
    assert (record["power_state"], record["target_power_state"]) == ("power on", None)
    assert record["last_error"] is None and record["reservation"] is None


def test_unset_conductor_group_puts_the_node_in_the_default_group(manager, node):
    """As the API and the CLI: no group is the default group, not an error."""
    manager.update_node(CTX, "op-node", {"conductor_group": "DC2"}, [])
    assert row(node)["conductor_group"] == "dc2"
    manager.update_node(CTX, "op-node", {}, ["conductor_group"])
    assert row(node)["conductor_group"] == ""
