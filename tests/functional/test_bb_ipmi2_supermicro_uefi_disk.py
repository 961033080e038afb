"""Supermicro BMCs boot the UEFI hard disk from selector 0x24, as in Ironic.

Supermicro documents (FAQ 25559) that in UEFI mode the disk is boot flags
selector 0x24 ("primary remote media" in the IPMI spec), not 0x08; Ironic
sends that when the node's ``properties/vendor`` is supermicro. A node
moved from Ironic with that property got 0x08 here and, on Supermicro
hardware, did not boot its deployed disk. Run against the fake BMC with the
real ipmitool; the flags the BMC stored are read back from it.
"""


import pytest

from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures import ipmi_bmc as ipmi_bmc_fixtures
from tests.fixtures.ipmi_bmc import start_fake_bmcs

IPMITOOL = ipmi_bmc_fixtures.IPMITOOL

pytestmark = ipmi_bmc_fixtures.needs_ipmitool


@pytest.fixture(autouse=True)
def ipmi_config(config):
    ipmi_bmc_fixtures.ipmitool_config(config, ipmi__ipmitool_path=IPMITOOL)


@pytest.fixture(scope="module")
def bmcs():
    pytest.importorskip("pyghmi")
    with start_fake_bmcs(1) as fake:
        yield fake


def set_and_read(bmcs, device, persistent, mode, vendor):
    task = StandaloneTask.for_driver(
        "ipmi", name="smc", driver_info=bmcs.driver_info(0, ipmi_boot_mode=mode),
        properties={"vendor": vendor})
    task.driver.management.set_boot_device(task, device, persistent=persistent)
    flags = [r["flags"] for r in bmcs.records(bmcs.ports[0]) if r["event"] == "set_boot"][-1]
    return flags[:2], task.driver.management.get_boot_device(task)


@pytest.mark.parametrize("persistent, first", [(True, 0xE0), (False, 0xA0)])
def test_supermicro_uefi_disk_is_selector_0x24(bmcs, persistent, first):
    flags, read = set_and_read(bmcs, "disk", persistent, "uefi", "Supermicro")
    assert flags == [first, 0x24]
    assert read == {"boot_device": "disk", "persistent": persistent}


@pytest.mark.parametrize("device, mode, vendor, second", [
    ("disk", "bios", "supermicro", 0x08),   # legacy mode: the standard disk
    ("pxe", "uefi", "supermicro", 0x04),    # only the disk differs
    ("disk", "uefi", "dell", 0x08),         # other vendors: the standard disk
])
def test_everything_else_keeps_the_standard_selectors(bmcs, device, mode, vendor, second):
    flags, read = set_and_read(bmcs, device, True, mode, vendor)
    assert flags[1] == second
    assert read == {"boot_device": device, "persistent": True}
