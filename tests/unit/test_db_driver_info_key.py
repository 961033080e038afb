"""Finding nodes by a driver_info key without reading whole rows (both backends).

The PDUDaemon listener finds the node behind an outlet this way: the match
is made in SQL on the key's JSON text, the rows carry five columns only, and
driver_info comes back decoded but sealed (no secret opened to find a node).
"""

from hwdrivers.common import secrets
from hwdrivers.db import api as db_api
from hwdrivers.drivers import factory


def _node(name, info, **fields):
    return db_api.create_node(dict({"driver": "fake-hardware", "name": name,
                                    "driver_info": info}, **fields))


def test_only_nodes_holding_the_key_and_in_enrolment_order(database):
    _node("pdu-a", {"snmp_address": "pdu1", "snmp_outlet": 3}, power_interface="fake")
    _node("as-value", {"fake_address": "snmp_address"})  # the text, not the key
    _node("longer-key", {"snmp_address_old": "pdu1"})
    _node("plain", {})
    _node("none", None)
    _node("pdu-b", {"snmp_outlet": "4", "snmp_address": "PDU1."})
    rows = db_api.nodes_with_driver_info_key("snmp_address")
    names = [row["name"] for row in rows]
    assert names[0] == "pdu-a" and names[-1] == "pdu-b"
    assert set(names) <= {"pdu-a", "as-value", "pdu-b"}  # a text match may keep a value
    first = rows[0]
    assert set(first) == {"uuid", "name", "driver", "power_interface", "driver_info"}
    assert first["driver_info"] == {"snmp_address": "pdu1", "snmp_outlet": 3}
    assert first["power_interface"] == "fake"


def test_like_wildcards_in_the_key_are_literal(database):
    _node("underscore", {"aXb": 1})
    assert db_api.nodes_with_driver_info_key("a_b") == []
    _node("percent", {"a%b": 1})
    assert [row["name"] for row in db_api.nodes_with_driver_info_key("a%b")] == ["percent"]


def test_secrets_stay_sealed(database):
    factory.get_registry()  # declares the drivers' secret fields
    _node("sealed", {"fake_address": "10.0.0.1", "fake_password": "s3cret"})
    [row] = db_api.nodes_with_driver_info_key("fake_address")
    assert secrets.is_sealed(row["driver_info"]["fake_password"])
    assert db_api.get_node("sealed")["driver_info"]["fake_password"] == "s3cret"
