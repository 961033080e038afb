"""A node moved from Ironic gets its boot mode from properties/capabilities.

Ironic has no redfish_boot_mode: its redfish driver syncs the system's
boot mode to the node's ``properties/capabilities`` ``boot_mode`` whenever
it sets the boot device (some BMCs fall back to Legacy on a boot device
change), and redfish inspection records that capability here too. A node
moved over with ``capabilities: boot_mode:uefi`` and a system left in
Legacy mode kept Legacy here, so the UEFI-deployed disk would not boot.
Run against sushy-tools' emulator; the mode it stores is read back.
"""

import pytest

from hwdrivers.drivers import actions
from hwdrivers.drivers.modules import redfish_session
from hwdrivers.drivers.task import StandaloneTask
from tests.functional import redfish_stub

SYSTEM = "sys-e"


@pytest.fixture(autouse=True)
def redfish_config(config):
    config(enabled_hardware_types=["redfish"], enabled_power_interfaces=["redfish"],
           enabled_management_interfaces=["redfish"],
           redfish__command_retry_timeout=0.0, redfish__connect_timeout=1.0)
    redfish_session.CACHE.clear()
    yield
    redfish_session.CACHE.clear()


def set_pxe(emulator, properties, **driver_info):
    task = StandaloneTask.for_driver(
        "redfish", name="moved", properties=properties,
        driver_info=emulator.driver_info(SYSTEM, **driver_info))
    actions.set_boot_device(task, "pxe", persistent=True)
    return emulator.system_json(SYSTEM)["Boot"]["BootSourceOverrideMode"]


@pytest.mark.parametrize("capabilities, first, then", [
    ("boot_mode:uefi,secure_boot:false", "Legacy", "UEFI"),  # Ironic's string form
    ({"boot_mode": "bios"}, "UEFI", "Legacy"),                # a dict works too
])
def test_capability_boot_mode_is_set_without_redfish_boot_mode(redfish_emulator,
                                                                capabilities, first, then):
    assert set_pxe(redfish_emulator, {}, redfish_boot_mode=first.lower()) == first
    assert set_pxe(redfish_emulator, {"capabilities": capabilities}) == then


def test_redfish_boot_mode_wins_and_neither_leaves_the_mode(redfish_emulator):
    assert set_pxe(redfish_emulator, {"capabilities": "boot_mode:uefi"},
                   redfish_boot_mode="legacy") == "Legacy"
    assert set_pxe(redfish_emulator, {}) == "Legacy"
    assert set_pxe(redfish_emulator, {"capabilities": "boot_mode:nonsense"}) == "Legacy"


class NoModeBMC(redfish_stub.RedfishStub):
    """A system whose Boot shows no BootSourceOverrideMode, and refuses it."""

    documents = {
        "/redfish/v1": redfish_stub.service_root(),
        "/redfish/v1/Systems": redfish_stub.systems("/redfish/v1/Systems/1"),
        "/redfish/v1/Systems/1": {
            "@odata.id": "/redfish/v1/Systems/1", "Id": "1", "PowerState": "On",
            "Boot": {"BootSourceOverrideEnabled": "Disabled",
                     "BootSourceOverrideTarget": "None",
                     "BootSourceOverrideTarget@Redfish.AllowableValues": ["Pxe", "Hdd"]}},
    }

    def PATCH(self, request):
        if "BootSourceOverrideMode" in request.body["Boot"]:
            return 400, {"error": {"code": "Base.1.8.PropertyUnknown",
                                   "message": "BootSourceOverrideMode is unknown"}}
        return 204, None


def test_a_capability_mode_is_not_sent_to_a_system_showing_none(config):
    with redfish_stub.configured(config, redfish__command_retry_timeout=0.0) as serve:
        bmc = serve(NoModeBMC())
        task = redfish_stub.task(bmc, "NoMode-Pass-9", name="nomode",
                                 properties={"capabilities": "boot_mode:uefi"})
        actions.set_boot_device(task, "pxe", persistent=False)
        assert bmc.bodies("PATCH") == [{"Boot": {"BootSourceOverrideTarget": "Pxe",
                                                 "BootSourceOverrideEnabled": "Once"}}]
