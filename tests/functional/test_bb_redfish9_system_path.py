"""A redfish_system_id path without its leading slash names the system, as in Ironic.

Ironic hands redfish_system_id to sushy, which joins it to the address,
so ``redfish/v1/Systems/<id>`` works there; here it was taken for an id,
quoted whole into ``/redfish/v1/Systems/redfish%2Fv1%2F...`` and refused as a
system that does not exist. An id never holds a slash, so a value with one
is a path. Against sushy-tools' emulator.
"""

import pytest

from hwdrivers.drivers import actions
from hwdrivers.drivers.modules import redfish_session
from hwdrivers.drivers.task import StandaloneTask


@pytest.fixture(autouse=True)
def redfish_config(config):
    config(enabled_hardware_types=["redfish"], enabled_power_interfaces=["redfish"],
           enabled_management_interfaces=["redfish"],
           redfish__command_retry_timeout=0.0, redfish__connect_timeout=1.0)
    redfish_session.CACHE.clear()
    yield
    redfish_session.CACHE.clear()


@pytest.mark.parametrize("form", ["redfish/v1/Systems/%s", "/redfish/v1/Systems/%s",
                                  "//redfish/v1/Systems/%s/"])
def test_a_path_with_or_without_its_leading_slash_names_the_system(redfish_emulator, form):
    system_id = form % redfish_emulator.uuid("sys-f")
    task = StandaloneTask.for_driver("redfish", name="path", driver_info=(
        redfish_emulator.driver_info(None, redfish_system_id=system_id)))
    actions.set_boot_device(task, "cdrom", persistent=True)
    assert redfish_emulator.system_json("sys-f")["Boot"]["BootSourceOverrideTarget"] == "Cd"
    assert actions.get_boot_device(task)["boot_device"] == "cdrom"
