"""snmp generic: values that would read as both on and off are refused,
and status values are read in decimal digits only.

A PDU with separate on and off command objects (Eaton-like) takes the same
value, often 0, in each; without snmp_status_on/snmp_status_off the read
back defaulted to those values, so 0 meant on (checked first) and an
outlet that was off reported power on: every power off ran to
power_timeout and failed. Overlapping status lists did the same silently.
"""

import pytest

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers.modules import snmp

SEPARATE = {"snmp_driver": "generic", "snmp_address": "192.0.2.10", "snmp_outlet": 3,
            "snmp_community": "c0mmunity", "snmp_oid_control": "1.3.6.1.4.1.99999.1.4",
            "snmp_oid_control_off": "1.3.6.1.4.1.99999.1.3",
            "snmp_oid_status": "1.3.6.1.4.1.99999.1.2",
            "snmp_value_on": 0, "snmp_value_off": 0}


@pytest.mark.parametrize("extra, both", [
    ({}, "0"),
    ({"snmp_status_on": "1,2", "snmp_status_off": "2,0"}, "2"),
    ({"snmp_status_off": "1", "snmp_status_on": "3,1"}, "1"),
])
def test_a_value_meaning_both_on_and_off_is_refused_naming_the_fields(extra, both):
    with pytest.raises(exception.InvalidParameterValue) as caught:
        snmp.parse(dict(SEPARATE, **extra))
    message = str(caught.value)
    assert "snmp_status_on and snmp_status_off" in message
    assert "both hold %s" % both in message


def test_separate_objects_with_their_read_back_values_are_taken():
    info = snmp.parse(dict(SEPARATE, snmp_status_on="1,2", snmp_status_off="0,3"))
    mib = info["mib"]
    assert (mib.state(1), mib.state(0)) == (PowerState.ON, PowerState.OFF)


@pytest.mark.parametrize("written", ["1_0", "\u0663", "+1", "1,\uff12"])
def test_status_values_not_in_decimal_digits_are_refused(written):
    """int() read 1_0 as 10 and other scripts' digits: another value meant on."""
    with pytest.raises(exception.InvalidParameterValue, match="snmp_status_on"):
        snmp.parse(dict(SEPARATE, snmp_status_on=written, snmp_status_off="0"))


def test_negative_status_values_are_taken():
    info = snmp.parse(dict(SEPARATE, snmp_status_on="-1, 1", snmp_status_off="0"))
    assert info["mib"].status_on == (-1, 1)
