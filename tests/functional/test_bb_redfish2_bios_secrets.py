"""redfish bios: a BIOS password never reaches the log, even from a BMC that shows it.

The Redfish specification has a BMC answer null for a Password attribute;
sushy-tools' emulator (tests/fixtures/redfish_hardware.py) shows the one last
set, as some BMCs do. sushy logs every resource it reads at debug level, so
after ``apply_configuration`` set SysPassword, each BIOS read logged it.
"""

import logging

import pytest
import requests

from hwdrivers.drivers.modules import redfish_session
from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures.processes import stop_group
from tests.fixtures.redfish_hardware import HARDWARE_SYSTEMS, start_hardware_emulator

SECRET = "Bios-Secret-Pass-88"


@pytest.fixture(scope="module")
def hardware(tmp_path_factory):
    """An emulator of its own: this test changes its system's BIOS password."""
    emulator = start_hardware_emulator(tmp_path_factory.mktemp("redfish-bios-secret"),
                                       systems={"hw-s": dict(HARDWARE_SYSTEMS["hw-b"])})
    yield emulator
    stop_group(emulator.process)


def test_a_bios_password_set_is_not_logged_by_later_reads(hardware, config, caplog):
    config(enabled_hardware_types=["redfish"], enabled_power_interfaces=["redfish"],
           enabled_management_interfaces=["redfish", "noop"],
           enabled_bios_interfaces=["redfish", "no-bios"],
           redfish__command_retry_timeout=5.0, conductor__power_state_change_timeout=30.0)
    redfish_session.CACHE.clear()
    caplog.set_level(logging.DEBUG)
    task = StandaloneTask.for_driver("redfish", hardware.driver_info("hw-s"),
                                     bios_interface="redfish", name="secret")
    try:
        task.driver.bios.apply_configuration(task, [
            {"name": "SysPassword", "value": SECRET},
            {"name": "ProcTurboMode", "value": "Disabled"}])
        cached = {s["name"]: s["value"] for s in task.driver.bios.cache_bios_settings(task)}
    finally:
        redfish_session.CACHE.clear()
    assert cached["ProcTurboMode"] == "Disabled" and cached["SysPassword"] is None
    # the emulator does show it; the reads were logged, with the password masked
    bios = requests.get("%s/redfish/v1/Systems/%s/BIOS" % (hardware.url, hardware.uuid("hw-s")),
                        auth=(hardware.username, hardware.password), timeout=10).json()
    assert bios["Attributes"]["SysPassword"] == SECRET
    assert "Received representation of Bios" in caplog.text and "ProcTurboMode" in caplog.text
    assert SECRET not in caplog.text
