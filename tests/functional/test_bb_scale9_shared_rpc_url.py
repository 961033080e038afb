"""Two conductors recording one JSON-RPC URL: the wrong one does not act.

A conductor row recording the URL another conductor listens at (an
``[json_rpc] advertise_host`` copied between machines' files, a load
balancer in front of the conductors) had that other conductor take the
calls and act on nodes that were not its own -- here a node of a group it
does not even serve. It now refuses them with 503 naming advertise_host.

Real processes (tests/functional/scale_cluster.py): c1 serves the default
group; a row for "cdup" in group "gdup" records c1's URL, as the rows of a
second machine with the copied option would.
"""

import json
import time

import pytest

from tests.functional import scale_cluster


@pytest.fixture
def cluster(tmp_path, _postgresql):
    cluster = scale_cluster.Cluster(tmp_path, _postgresql)
    try:
        cluster.add_conductor("c1")
        cluster.add_api("api1")
        cluster.wait_live(["c1"])
        yield cluster
    finally:
        cluster.close()


def test_a_conductor_does_not_act_on_calls_meant_for_another(cluster):
    api, c1 = cluster.apis[0], cluster.conductors["c1"]
    status, node = api.call("POST", "/v1/nodes", {"driver": "fake-hardware",
                                                  "name": "dup-0",
                                                  "conductor_group": "gdup"})
    assert status == 201, node
    with cluster.engine.begin() as conn:
        conn.execute(scale_cluster.sa.text(
            "INSERT INTO conductors (hostname, hardware_types, online, created_at, "
            "updated_at, conductor_group, rpc_url) VALUES ('cdup', :types, true, "
            "now() at time zone 'utc', now() at time zone 'utc', 'gdup', :url)"),
            {"types": json.dumps(["fake-hardware"]), "url": c1.url})
    time.sleep(2 * cluster.timing["hash_ring_reset_interval"] + 0.5)  # rings refreshed
    status, body = api.call("PUT", "/v1/nodes/dup-0/states/power", {"target": "power on"})
    assert status == 503, body
    message = json.loads(body["error_message"])["faultstring"]
    assert "routed to conductor cdup but reached conductor c1" in message, message
    assert "[json_rpc] advertise_host" in message
    assert "meant for conductor cdup" in c1.log()
    row = cluster.node(node["uuid"])
    assert row["target_power_state"] is None and row["reservation"] is None, row
