"""The PDUDaemon listener's lookup probed with odd driver_info values.

Real snmp nodes on SQLite, the real conductor service, the snmpsim PDU
(test_pdudaemon.py's fixtures).
"""

import pytest

from hwdrivers.api import pdudaemon

from hwdrivers.db import api as db_api
from tests.api.test_pdudaemon import CTX
from tests.api.test_pdudaemon import client, nodes, service  # noqa: F401 (fixtures)


def _node(svc, snmp_agent, name, outlet, **info):
    return svc.manager.create_node(CTX, {
        "driver": "snmp", "name": name,
        "driver_info": snmp_agent.driver_info("apc", outlet, **info)})


@pytest.mark.parametrize("outlet", [True, 13.0, 13.5, "1_3", "+13", "١٣", None])
def test_outlets_the_driver_would_not_read_as_13_are_not_found(
        client, service, snmp_agent, outlet):  # noqa: F811
    _node(service, snmp_agent, "odd-13", 14)
    db_api.update_node(db_api.get_node("odd-13")["id"], {"driver_info": dict(
        db_api.get_node("odd-13")["driver_info"], snmp_outlet=outlet)})
    response = client.get("/power/control/off?hostname=%s&port=13" % snmp_agent.address)
    assert response.status_code == 404, response.text
    assert "snmp_outlet=13" in response.text


def test_snmp_address_as_a_value_only_is_no_match(client, service, snmp_agent):  # noqa: F811
    _node(service, snmp_agent, "value-only", 15)
    info = dict(db_api.get_node("value-only")["driver_info"])
    info["snmp_community_note"] = info.pop("snmp_address")  # the text, not the key
    info["x"] = "snmp_address"
    db_api.update_node(db_api.get_node("value-only")["id"], {"driver_info": info})
    response = client.get("/power/control/off?hostname=%s&port=15" % snmp_agent.address)
    assert response.status_code == 404, response.text


def test_a_node_deleted_between_lookup_and_get_is_a_404(
        client, service, nodes, snmp_agent, monkeypatch):  # noqa: F811
    real = service.manager.nodes_with_driver_info_key

    def then_deleted(context, key):
        rows = real(context, key)
        service.manager.delete_node(CTX, "pdu-node-11")
        return rows

    monkeypatch.setattr(service.manager, "nodes_with_driver_info_key", then_deleted)
    response = client.get("/power/control/off?hostname=%s&port=11" % snmp_agent.address)
    assert response.status_code == 404, response.text
    assert "snmp_outlet=11" in response.text


@pytest.mark.parametrize("written,asked", [
    ("[::1]", "::1"), ("0:0::1", "[::1]"), ("[2001:DB8::1]", "2001:db8:0::1"),
    ("PDU1.Lab.", "pdu1.lab"), (" pdu1.lab ", "PDU1.LAB."), ("127.0.0.1", "127.000.0.1")])
def test_pdu_names_written_differently_are_one_pdu(written, asked):
    if asked == "127.000.0.1":  # not an address ipaddress reads: kept apart, not guessed
        assert pdudaemon._pdu_key(written) != pdudaemon._pdu_key(asked)
    else:
        assert pdudaemon._pdu_key(written) == pdudaemon._pdu_key(asked)
