"""A password typed into a field the driver refuses (``user:password@`` in a
value) is masked in the error, as for address fields: the snmp and command
drivers echoed these values whole."""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import command_settings
from hwdrivers.drivers.modules import snmp

PASSWORD = "Pw-In-Value-9"
TYPED = "admin:%s@10.0.0.1" % PASSWORD
BASE = {"snmp_address": "192.0.2.10", "snmp_outlet": 3, "snmp_version": "2c",
        "snmp_community": "c0mmunity"}


@pytest.mark.parametrize("info,field", [
    (dict(BASE, snmp_driver="apc", snmp_version="3", snmp_user="u",
          snmp_context_engine_id=TYPED), "snmp_context_engine_id"),
    (dict(BASE, snmp_driver="generic", snmp_oid_control=TYPED, snmp_value_on=1,
          snmp_value_off=2), "snmp_oid_control"),
])
def test_snmp_refused_values_hide_the_password(info, field):
    with pytest.raises(exception.InvalidParameterValue) as raised:
        snmp.parse(info)
    message = str(raised.value)
    assert field in message and "admin:******@10.0.0.1" in message, message
    assert PASSWORD not in message


def test_command_refused_settings_hide_the_password():
    info = {"command_status_on_pattern": "on", "command_status_off_pattern": "off",
            "command_power_status": None, "command_status_on_exit_code": None,
            "command_status_off_exit_code": None, "command_host": "h",
            "command_user": TYPED, "command_ssh_key": "/keys/" + TYPED,
            "command_known_hosts": None}
    problems = command_settings._settings_problems(
        info, set(), lambda field: "field %s" % field, "set command_host")
    assert [field for field, _ in problems] == ["command_user", "command_ssh_key"]
    for _, text in problems:
        assert "admin:******@10.0.0.1" in text and PASSWORD not in text, text
