"""ipmi_force_boot_device sends the device the node was last given, not a stale one.

The device sent again before every boot was the one the conductor recorded
for an operator's ``boot-device set``; the deploy's disk (prepare_instance)
and cleaning's one-time PXE go through the management interface alone and
were not recorded. A node once set to ``disk --persistent`` by hand then had
its one-time PXE boot overridden by the disk at power on, and a node set to
``pxe --persistent`` booted PXE again after its deploy. As in Ironic, the
interface now keeps the persistent device in driver_internal_info
(``persistent_boot_device``, Ironic's key) and a one-time device skips the
next re-send (``is_next_boot_persistent``). Real ipmitool against the fake
BMC; each boot's flags are what the BMC used.
"""

import pytest

from hwdrivers.common.states import PowerState
from hwdrivers.drivers import actions
from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures import ipmi_bmc as ipmi_bmc_fixtures
from tests.fixtures.ipmi_bmc import start_fake_bmcs

pytestmark = ipmi_bmc_fixtures.needs_ipmitool

#: Boot flags bytes 1-2 a boot used; a one-time override's valid bit is then clear.
PXE_ONCE, PXE_KEPT, DISK_KEPT = [0x00, 0x04], [0xC0, 0x04], [0xC0, 0x08]


@pytest.fixture(autouse=True)
def ipmi_config(config):
    ipmi_bmc_fixtures.ipmitool_config(config, ipmi__ipmitool_path=ipmi_bmc_fixtures.IPMITOOL)


@pytest.fixture(scope="module")
def bmcs():
    pytest.importorskip("pyghmi")
    with start_fake_bmcs(1) as fake:
        yield fake


def boot_flags(bmcs, task, target):
    """Power ``task``'s machine to ``target``; the flags of the boot that followed."""
    before = len(bmcs.records())
    actions.set_power_state(task, target)
    return [r["flags"][:2] for r in bmcs.records()[before:] if r["event"] == "boot"][-1]


def forced_node(bmcs, device, persistent):
    """A node the operator set to ``device`` by hand, powered off."""
    task = StandaloneTask.for_driver(
        "ipmi", name="forced", driver_info=bmcs.driver_info(0, ipmi_force_boot_device=True),
        boot_device=device, boot_device_persistent=persistent)
    actions.set_power_state(task, PowerState.OFF)
    return task


def test_the_deploys_disk_is_sent_again_not_the_operators_old_pxe(bmcs):
    task = forced_node(bmcs, "pxe", True)
    actions.set_boot_device(task, "disk", persistent=True)  # prepare_instance
    assert boot_flags(bmcs, task, PowerState.ON) == DISK_KEPT
    assert boot_flags(bmcs, task, PowerState.REBOOT) == DISK_KEPT


def test_a_one_time_pxe_boot_is_not_overridden_then_the_disk_comes_back(bmcs):
    task = forced_node(bmcs, "disk", True)
    actions.set_boot_device(task, "pxe", persistent=False)  # cleaning, inspection
    assert boot_flags(bmcs, task, PowerState.ON) == PXE_ONCE
    assert boot_flags(bmcs, task, PowerState.REBOOT) == DISK_KEPT
    assert "is_next_boot_persistent" not in task.node.driver_internal_info  # used once


def test_persistent_pxe_set_through_the_interface_is_kept(bmcs):
    task = forced_node(bmcs, None, None)
    actions.set_boot_device(task, "pxe", persistent=True)
    assert task.node.driver_internal_info["persistent_boot_device"] == "pxe"
    assert boot_flags(bmcs, task, PowerState.ON) == PXE_KEPT


def test_the_kept_device_is_what_get_boot_device_reports(bmcs):
    """A BMC that forgot its flags reads none; the node boots the kept device."""
    task = forced_node(bmcs, None, None)
    actions.set_boot_device(task, "disk", persistent=True)
    forgetful = StandaloneTask.for_driver("ipmi", name="plain", driver_info=bmcs.driver_info(0))
    actions.set_boot_device(forgetful, "pxe", persistent=False)
    actions.set_power_state(forgetful, PowerState.ON)  # used up: no override left
    assert actions.get_boot_device(forgetful)["boot_device"] is None
    assert actions.get_boot_device(task) == {"boot_device": "disk", "persistent": True}
    actions.set_boot_device(task, "pxe", persistent=False)  # the next boot's is the BMC's
    assert actions.get_boot_device(task) == {"boot_device": "pxe", "persistent": False}
