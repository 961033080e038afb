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


# ipmitool 1.8.19 -v against a fake BMC behind a relay delaying each packet
# 0.6 s (the first) or dropping 30% of them (the second): right password.
_LATE = ("Loading IANA PEN Registry...\nUnable to Get Channel Cipher Suites\n"
         "IPMI Request Match NOT FOUND\n> Error: no response from RAKP 1 message\n"
         "> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session\n")
_LOST = ("Loading IANA PEN Registry...\nUnable to Get Channel Cipher Suites\n"
         "> Error: no response from RAKP 3 message\n"
         "> Error: no response from RAKP 1 message\n"
         "Set Session Privilege Level to ADMINISTRATOR failed\n"
         "Error: Unable to establish IPMI v2 / RMCP+ session\n")


@pytest.mark.parametrize("stderr", [_LATE, _LOST])
def test_lost_login_messages_are_a_connection_error_not_a_wrong_password(stderr):
    from hwdrivers.drivers.modules import ipmitool

    cls, hint = ipmitool.classify(stderr, {"ipmi_username": "admin"})
    assert cls is exception.DriverConnectionError
    assert "lost or answered late" in hint and "ipmi_password" not in hint


def test_password_prompt_is_not_quoted_as_the_reason():
    """ipmitool 1.8.19 -U admin without -E, against the fake BMC (empty password)."""
    from hwdrivers.drivers.modules import ipmitool

    stderr = ("Password: Loading IANA PEN Registry...\n> RAKP 2 HMAC is invalid\n"
              "Error: Unable to establish IPMI v2 / RMCP+ session\n")
    assert ipmitool.reason_text(stderr) == (
        "RAKP 2 HMAC is invalid; Error: Unable to establish IPMI v2 / RMCP+ session")
