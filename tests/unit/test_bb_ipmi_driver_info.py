"""driver_info values ipmitool refuses before sending anything: refused at validation.

ipmitool stops at a user name over 16 bytes ("Username is too long (> 16
bytes)", IPMI 1.5 and 2.0 alike) in words no classify rule knows, so
without a check here the call was an action error retried for [ipmi]
command_retry_timeout (30 s) and ended "after 11 attempts".
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.task import StandaloneTask


@pytest.fixture(autouse=True)
def ipmi_config(config):
    config(enabled_hardware_types=["ipmi"], enabled_power_interfaces=["ipmitool"],
           enabled_management_interfaces=["ipmitool"])


def make_task(**info):
    return StandaloneTask.for_driver(
        "ipmi", driver_info=dict({"ipmi_address": "192.0.2.10"}, **info), name="u1")


@pytest.mark.parametrize("version", ["2.0", "1.5"])
@pytest.mark.parametrize("username, ok", [
    ("u" * 16, True), ("u" * 17, False),
    ("ä" * 8, True), ("ä" * 9, False)])  # bytes, not characters: ä is 2 in UTF-8
def test_username_length_limit(version, username, ok):
    task = make_task(ipmi_username=username, ipmi_protocol_version=version)
    if ok:
        task.driver.power.validate(task)
        return
    with pytest.raises(exception.InvalidParameterValue,
                       match="ipmi_username is longer than the 16 bytes IPMI allows"):
        task.driver.power.validate(task)


def test_missing_ipmitool_is_warned_about_once(config, tmp_path, caplog):
    """Power, management and console each check it: one warning, not three."""
    from hwdrivers.drivers.modules import console_ipmitool
    from hwdrivers.drivers.modules import ipmitool

    config(ipmi__ipmitool_path=str(tmp_path / "no-ipmitool"))
    caplog.set_level("WARNING", logger=ipmitool.LOG.name)
    for impl in (ipmitool.IPMIPower(), ipmitool.IPMIManagement(),
                 console_ipmitool.IPMIToolSocatConsole()):
        impl.check_config()
    warnings = [r for r in caplog.records if "is not installed" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert str(tmp_path / "no-ipmitool") in warnings[0].getMessage()
