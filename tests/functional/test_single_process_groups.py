"""``hwdrivers-server`` is the only conductor: it drives nodes of every group.

Conductor groups take effect with ``hwdrivers-conductor`` processes
(doc/scale-out.md); in the one-process deployment a node's
``conductor_group`` is kept for then, and the node is driven and read by
the server, which it names as its conductor.
"""

import pytest

from tests.functional import server_proc
from tests.waits import wait_for


@pytest.fixture
def server(tmp_path):
    with server_proc.running(tmp_path, name="groups", host="solo",
                             options={"conductor": {"sync_power_state_interval": 1}}) as proc:
        yield proc


def test_a_node_of_another_group_is_driven_and_synced_by_the_server(server):
    status, node = server.call("POST", "/v1/nodes", {
        "driver": "fake-hardware", "name": "g1", "conductor_group": "dc2"})
    assert status == 201, node
    assert node["conductor_group"] == "dc2" and node["power_state"] is None
    # The power sync reads it (a node is enrolled with an unknown power state).
    wait_for(lambda: server.call("GET", "/v1/nodes/g1")[1]["power_state"] == "power off",
             30, message="the power sync reading g1")
    status, body = server.call("PUT", "/v1/nodes/g1/states/power", {"target": "power on"})
    assert status == 202, body
    wait_for(lambda: server.call("GET", "/v1/nodes/g1")[1]["power_state"] == "power on",
             30, message="g1 powered on")
    node = server.call("GET", "/v1/nodes/g1")[1]
    assert node["conductor"] == "solo" and node["conductor_group"] == "dc2"
