"""PDUDaemon listener: a delayed or queued request is checked when it is sent.

A request run at once is checked by the conductor before its 200; one with
``delay``, or queued behind a busy node, was accepted unchecked, so a node
that can never be switched (its driver_info lacks the community) answered
200 / ``ack`` and the failure only reached the server log. Same setting as
test_pdudaemon.py.
"""

import pytest

from hwdrivers.conductor import task_manager
from hwdrivers.db import api as db_api
from tests.api.test_pdudaemon import CTX, pdudaemon_queues
from tests.api.test_pdudaemon import client, nodes, service  # noqa: F401 (fixtures)


@pytest.fixture
def broken(service, snmp_agent):  # noqa: F811
    info = snmp_agent.driver_info("apc", 20)
    del info["snmp_community_read"], info["snmp_community_write"]
    return service.manager.create_node(CTX, {"driver": "snmp", "name": "broken",
                                             "driver_info": info})


@pytest.mark.parametrize("query", ["/power/control/reboot?alias=broken&delay=1",
                                   "/power/control/on?alias=broken&delay=0.5"])
def test_delayed_request_for_a_node_that_cannot_be_switched_is_a_400(
        client, broken, query):  # noqa: F811
    response = client.get(query)
    assert response.status_code == 400, response.text
    assert "missing required driver_info field(s): snmp_community" in response.text
    assert not pdudaemon_queues(client)


def test_queued_request_for_a_node_that_cannot_be_switched_is_a_400(
        client, broken):  # noqa: F811
    with task_manager.acquire(CTX, "broken", purpose="hold"):
        response = client.get("/power/control/off?alias=broken")
    assert response.status_code == 400, response.text
    assert "snmp_community" in response.text
    assert not pdudaemon_queues(client)
    assert db_api.get_node("broken")["target_power_state"] is None


def test_delayed_and_queued_requests_for_a_good_node_are_still_accepted(
        client, nodes):  # noqa: F811
    assert client.get("/power/control/on?alias=pdu-node-11&delay=0.1").status_code == 200
    with task_manager.acquire(CTX, "pdu-node-12", purpose="hold"):
        response = client.get("/power/control/on?alias=pdu-node-12")
    assert response.status_code == 200 and "queued" in response.text, response.text
