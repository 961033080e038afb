"""PDUDaemon listener: requests that must not switch an outlet.

Same setting as test_pdudaemon.py (whose fixtures are reused): real snmp
nodes on SQLite, the real conductor service, the snmpsim PDU.
"""

from hwdrivers.common.states import PowerState
from hwdrivers.db import api as db_api
from tests.api.test_pdudaemon import CTX, pdu_state, settle
from tests.api.test_pdudaemon import client, nodes, service  # noqa: F401 (fixtures)


def _recorded_power_changes(svc, monkeypatch):
    calls = []
    real = svc.manager.change_power_state

    def recording(context, ident, target, **kwargs):
        calls.append((ident, target))
        return real(context, ident, target, **kwargs)

    monkeypatch.setattr(svc.manager, "change_power_state", recording)
    return calls


def test_head_probe_does_not_switch_the_outlet(client, service, nodes,  # noqa: F811
                                               snmp_agent, monkeypatch):
    """Flask answers HEAD with the GET view: a link checker's or a load
    balancer's HEAD of a PDUDaemon URL powered the board off."""
    service.manager.change_power_state(CTX, "pdu-node-11", "power on")
    calls = _recorded_power_changes(service, monkeypatch)
    for query in ("/power/control/off?alias=pdu-node-11",
                  "/power/control/reboot?hostname=%s&port=11&delay=1" % snmp_agent.address,
                  "/power/control/off?hostname=%s&port=11" % snmp_agent.address):
        response = client.head(query)
        assert response.status_code == 405, query
        assert response.headers["Allow"] == "GET"
    assert calls == []
    row = db_api.get_node("pdu-node-11")
    assert row["target_power_state"] is None and row["reservation"] is None
    assert pdu_state(service, "pdu-node-11") == PowerState.ON

    # GET still acts, and other methods get the same 405 with Allow, OPTIONS
    # included (it advertised HEAD).
    for method in ("POST", "OPTIONS"):
        response = client.open("/power/control/off?alias=pdu-node-11", method=method)
        assert response.status_code == 405 and response.headers["Allow"] == "GET", method
        assert "only GET" in response.text
    assert client.get("/power/control/off?alias=pdu-node-11").status_code == 200
    assert calls == [(nodes["pdu-node-11"].uuid, "power off")]


def test_hostname_finds_the_node_however_the_pdu_name_is_written(client, service,  # noqa: F811
                                                                 snmp_agent):
    """The queue key and the lookup read a PDU name the same way: a request
    for ``localhost.`` finds the node that wrote ``LocalHost``."""
    service.manager.create_node(CTX, {
        "driver": "snmp", "name": "pdu-node-19",
        "driver_info": snmp_agent.driver_info("apc", 19, snmp_address="LocalHost")})
    for hostname in ("localhost.", "LOCALHOST", "localhost"):
        response = client.get("/power/control/off?hostname=%s&port=19" % hostname)
        assert response.status_code == 200, (hostname, response.text)
        assert "node pdu-node-19" in response.text
        settle("pdu-node-19")
    assert pdu_state(service, "pdu-node-19") == PowerState.OFF


def test_hostname_and_port_only_match_nodes_powered_over_snmp(client, service,  # noqa: F811
                                                              snmp_agent):
    """A node moved off the PDU (driver changed, its snmp_* fields kept, as
    Ironic keeps driver_info) still answered for the outlet: a request for
    the outlet switched that machine, or was a 409 once a new node took it."""
    old = service.manager.create_node(CTX, {
        "driver": "snmp", "name": "moved-away",
        "driver_info": snmp_agent.driver_info("apc", 20)})
    service.manager.update_node(CTX, old.uuid, {"driver": "fake-hardware"})
    query = "/power/control/off?hostname=%s&port=20" % snmp_agent.address
    response = client.get(query)
    assert response.status_code == 404, response.text
    assert "snmp_outlet=20" in response.text

    service.manager.create_node(CTX, {
        "driver": "snmp", "name": "pdu-node-20",
        "driver_info": snmp_agent.driver_info("apc", 20)})
    response = client.get(query)
    assert response.status_code == 200, response.text
    assert "node pdu-node-20" in response.text
    settle("pdu-node-20")
    assert db_api.get_node("moved-away")["power_state"] != "power off"
    assert pdu_state(service, "pdu-node-20") == PowerState.OFF
