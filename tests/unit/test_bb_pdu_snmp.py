"""snmp driver_info validation: values the PDU or the reboot cannot take are
refused when the node is validated, naming the field, instead of failing
half-way through an operation."""

import pytest

from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.drivers.modules import snmp

BASE = {"snmp_driver": "apc", "snmp_address": "192.0.2.10", "snmp_outlet": 3,
        "snmp_version": "2c", "snmp_community": "c0mmunity"}
GENERIC = dict(BASE, snmp_driver="generic", snmp_oid_control="1.3.6.1.4.1.99999.1.1",
               snmp_value_on=1, snmp_value_off=2)


@pytest.mark.parametrize("delay", ["inf", "1e300", 3601])
def test_reboot_delay_beyond_the_bound_is_refused(delay):
    """time.sleep(inf) raised OverflowError after the outlet was switched off,
    leaving the machine off; a huge finite one held the PDU's queue for ever."""
    with pytest.raises(exception.InvalidParameterValue,
                       match="snmp_reboot_delay.*(at most 3600|finite)"):
        snmp.parse(dict(BASE, snmp_reboot_delay=delay))


def test_reboot_delay_within_the_bound_is_taken():
    assert snmp.parse(dict(BASE, snmp_reboot_delay="3600"))["reboot_delay"] == 3600
    assert snmp.parse(dict(BASE, snmp_reboot_delay=0))["reboot_delay"] == 0


@pytest.mark.parametrize("field,value,bound", [
    ("snmp_value_on", 2 ** 31, "at most 2147483647"),
    ("snmp_value_off", -2 ** 31 - 1, "at least -2147483648"),
])
def test_generic_values_outside_integer32_are_refused(field, value, bound):
    """pysnmp refused them only at the SET, with a ValueConstraintError naming no field."""
    with pytest.raises(exception.InvalidParameterValue, match="%s.*%s" % (field, bound)):
        snmp.parse(dict(GENERIC, **{field: value}))


def test_generic_values_at_the_integer32_ends_are_taken():
    info = snmp.parse(dict(GENERIC, snmp_value_on=2 ** 31 - 1, snmp_value_off=-2 ** 31))
    assert info["mib"].control(3, PowerState.ON)[1] == 2 ** 31 - 1


@pytest.mark.parametrize("oid", [
    "3.6.1.4.1.99999.1.1",                 # first arc is 0, 1 or 2
    "1.40.6.1",                            # second arc at most 39 under 0 and 1
    "1.3.6.1.4.1.4294967296",              # sub-identifier above 2^32-1
    "1.3" + ".1" * 130,                    # more than 128 sub-identifiers
    "1.3.6.\u0661",                        # a digit, but not an ASCII one
    "1.3.6.\u00b2",                        # isdigit() but int() refuses it
])
def test_generic_oids_snmp_cannot_encode_are_refused_naming_the_field(oid):
    """Such OIDs reached the PDU as "SNMP message serialization error" (or were
    silently rewritten), naming no field."""
    with pytest.raises(exception.InvalidParameterValue,
                       match="snmp_oid_status .*must") as info:
        snmp.parse(dict(GENERIC, snmp_oid_status=oid))
    assert "invalid literal" not in str(info.value)


def test_generic_oids_at_the_limits_are_taken():
    info = snmp.parse(dict(GENERIC, snmp_oid_control=".2.999.4294967295",
                           snmp_oid_status="0.39" + ".1" * 124))
    assert info["mib"].control(3, PowerState.ON)[0] == "2.999.4294967295.3"
