"""snmp driver_info validation: outlets and engine IDs as operators write them."""

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import snmp

BASE = {"snmp_driver": "apc", "snmp_address": "192.0.2.10", "snmp_outlet": 3,
        "snmp_version": "2c", "snmp_community": "c0mmunity"}
V3 = dict(BASE, snmp_version="3", snmp_user="pdu-admin", snmp_auth_protocol="sha",
          snmp_auth_key="Auth-Key-1", snmp_priv_protocol="aes", snmp_priv_key="Priv-Key-1")


@pytest.mark.parametrize("outlet", [2 ** 32, 10 ** 20], ids=["2^32", "1e20"])
def test_outlet_beyond_an_oid_sub_identifier_is_refused_naming_the_field(outlet):
    """No OID can carry it (RFC 2578): agents drop such a request unparsed, so
    the operator saw a timeout that blamed the address and community."""
    with pytest.raises(exception.InvalidParameterValue,
                       match="snmp_outlet .*at most 4294967295"):
        snmp.parse(dict(BASE, snmp_outlet=outlet))


def test_outlet_at_the_sub_identifier_limit_is_taken():
    assert snmp.parse(dict(BASE, snmp_outlet=str(2 ** 32 - 1)))["snmp_outlet"] == 2 ** 32 - 1


@pytest.mark.parametrize("written", [
    "80001f8880e9630000d61ff449", "0x80001F8880E9630000D61FF449",
    "80 00 1f 88 80 e9 63 00 00 d6 1f f4 49", " 80001f8880e9630000d61ff449\n",
], ids=["plain", "0x-upper", "spaced", "padded"])
def test_context_engine_id_is_kept_as_plain_hex(written):
    info = snmp.parse(dict(V3, snmp_context_engine_id=written))
    assert info["snmp_context_engine_id"] == "80001f8880e9630000d61ff449"


@pytest.mark.parametrize("field", ["snmp_community", "snmp_auth_key", "snmp_priv_key",
                                   "snmp_user", "snmp_context_name"])
def test_strings_longer_than_an_octet_string_are_refused_without_the_value(field):
    """pysnmp refused them mid-operation, its error printing the value: a key."""
    value = "S3cr3t-" + "k" * 65529  # 65536 bytes
    info = dict(V3 if field != "snmp_community" else BASE, **{field: value})
    with pytest.raises(exception.InvalidParameterValue,
                       match="%s must be at most 65535 bytes" % field) as raised:
        snmp.parse(info)
    assert "S3cr3t" not in str(raised.value)
    # Counted in bytes, as they travel: 65535 of them are taken.
    snmp.parse(dict(info, **{field: "\u00e9" * 32767 + "k"}))
