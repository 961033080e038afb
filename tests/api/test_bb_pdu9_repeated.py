"""PDUDaemon listener: a parameter given twice names two things; refused.

``port=11&port=12`` (or two aliases) used to switch the first and answer
200, so a client meaning both outlets, or a URL templated twice, powered one
machine and was told it was done. Same setting as test_pdudaemon.py.
"""

import pytest

from hwdrivers.db import api as db_api
from tests.api.test_pdudaemon import client, nodes, service  # noqa: F401 (fixtures)


@pytest.mark.parametrize("query, named", [
    ("hostname={pdu}&port=11&port=12", "port"),
    ("alias=pdu-node-11&alias=pdu-node-12", "alias"),
    ("hostname={pdu}&hostname=192.0.2.1&port=11", "hostname"),
    ("alias=pdu-node-11&delay=1&delay=2", "delay"),
])
def test_parameter_given_twice_is_a_400_and_switches_nothing(client, nodes,  # noqa: F811
                                                            snmp_agent, query, named):
    before = {name: db_api.get_node(name)["power_state"] for name in nodes}
    response = client.get("/power/control/off?" + query.format(pdu=snmp_agent.address))
    assert response.status_code == 400, response.text
    assert response.text.startswith("Parameter(s) %s given more than once" % named)
    for name in nodes:
        row = db_api.get_node(name)
        assert row["target_power_state"] is None and row["reservation"] is None
        assert row["power_state"] == before[name]


def test_each_parameter_once_is_still_accepted(client, nodes, snmp_agent):  # noqa: F811
    response = client.get("/power/control/on?hostname=%s&port=11" % snmp_agent.address)
    assert response.status_code == 200, response.text
