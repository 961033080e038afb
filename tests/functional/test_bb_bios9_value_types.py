"""redfish bios: a setting's value must be one a BIOS attribute can hold, in its type.

Against sushy-tools' emulator and its BIOS attribute registry
(tests/fixtures/redfish_hardware.py): ``SerialNumber`` is a String of up to
16 characters, ``SysPassword`` a Password, ``BootMode`` an Enumeration.
A JSON null, object or array was checked as its Python text (``None`` is a
4-character string) and PATCHed as sent, so the BMC's String attribute became
null or an object; a number for a String attribute was sent as a JSON number.
Now such values are refused before anything is sent, naming the attribute
(never echoing a password), and scalars go out in the registry's type.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import redfish_session
from hwdrivers.drivers.task import StandaloneTask
from tests.fixtures.processes import stop_group
from tests.fixtures.redfish_hardware import HARDWARE_SYSTEMS, start_hardware_emulator

SECRET_SHAPE = {"pw": "Odd-Secret-71"}


@pytest.fixture(scope="module")
def hardware(tmp_path_factory):
    """An emulator of its own: the tests leave settings pending on its system."""
    emulator = start_hardware_emulator(tmp_path_factory.mktemp("redfish-bios9"),
                                       systems={"hw-v": dict(HARDWARE_SYSTEMS["hw-b"])})
    yield emulator
    stop_group(emulator.process)


@pytest.fixture
def task(hardware, config):
    config(enabled_hardware_types=["redfish"], enabled_power_interfaces=["redfish"],
           enabled_management_interfaces=["redfish", "noop"],
           enabled_bios_interfaces=["redfish", "no-bios"], redfish__command_retry_timeout=0.0)
    redfish_session.CACHE.clear()
    yield StandaloneTask.for_driver("redfish", hardware.driver_info("hw-v"),
                                    bios_interface="redfish", name="bios9")
    redfish_session.CACHE.clear()


def _patches(hardware):
    return hardware.count_requests(
        "PATCH", "/redfish/v1/Systems/%s/BIOS/Settings" % hardware.uuid("hw-v"))


@pytest.mark.parametrize("name, value, words", [
    ("SerialNumber", None, ["SerialNumber", "null", '""']),
    ("SerialNumber", {"a": 1}, ["SerialNumber", "a JSON object"]),
    ("BootMode", ["Uefi"], ["BootMode", "a JSON array"]),
    ("SysPassword", SECRET_SHAPE, ["SysPassword", "a JSON object"]),
    ("SysPassword", None, ["SysPassword", "null"]),
])
def test_null_object_or_array_values_are_refused_before_any_patch(hardware, task, name,
                                                                  value, words):
    before = _patches(hardware)
    with pytest.raises(exception.InvalidParameterValue) as info:
        task.driver.bios._patch(task, [{"name": name, "value": value}])
    message = str(info.value)
    assert "nothing was sent" in message
    for word in words:
        assert word in message, message
    assert "Odd-Secret-71" not in message
    assert _patches(hardware) == before


def test_scalars_are_sent_in_the_registrys_types(hardware, task):
    """A number for a String attribute goes out as the string a BMC accepts.

    ``_patch`` answers the attributes exactly as it PATCHed them (the
    emulator keeps them pending until a boot, unreadable until then).
    """
    before = _patches(hardware)
    sent = task.driver.bios._patch(task, [{"name": "SerialNumber", "value": 12345},
                                          {"name": "L2Cache", "value": True},
                                          {"name": "QuietBoot", "value": "TRUE"}])
    assert sent == {"SerialNumber": "12345", "L2Cache": "true", "QuietBoot": True}
    assert _patches(hardware) == before + 1
