"""Manual cleaning and inspection data through hwdrivers-api, on the owning conductor.

One ``hwdrivers-conductor`` and one ``hwdrivers-api`` on PostgreSQL
(tests/functional/scale_cluster.py): ``clean_steps`` travel with the routed
provision request, a bad step comes back as the API's 400, and a ramdisk's
``POST /v1/continue_inspection`` to the API process is processed by the
conductor's worker (JSON-RPC ``continue_inspection``), not in the API.
"""

import pytest
import sqlalchemy as sa

from tests.functional import scale_cluster
from tests.functional.scale_cluster import wait_for


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, _postgresql):
    cluster = scale_cluster.Cluster(tmp_path_factory.mktemp("inspect-split"), _postgresql)
    try:
        cluster.add_conductor("ic1")
        cluster.add_api("iapi")
        cluster.wait_live(["ic1"])
        yield cluster
    finally:
        cluster.close()


def _settled(cluster, uuid, state):
    wait_for(lambda: cluster.node(uuid)["provision_state"] == state
             and cluster.node(uuid)["target_provision_state"] is None,
             60, "node reaching %s" % state, cluster.logs)
    return cluster.node(uuid)


def test_clean_steps_and_inspection_data_reach_the_conductor(cluster):
    api, conductor = cluster.apis[0], cluster.conductors["ic1"]
    status, node = api.call("POST", "/v1/nodes", {"driver": "fake-hardware", "name": "split"})
    assert status == 201, node
    uuid = node["uuid"]
    status, port = api.call("POST", "/v1/ports", {"address": "52:54:00:5c:00:01",
                                                  "node_uuid": uuid})
    assert status == 201, port
    path = "/v1/nodes/%s/states/provision" % uuid
    assert api.call("PUT", path, {"target": "manage"})[0] == 202
    _settled(cluster, uuid, "manageable")

    status, body = api.call("PUT", path, {"target": "clean", "clean_steps": [
        {"interface": "deploy", "step": "erase_devices"}]})
    assert status == 202, body
    assert _settled(cluster, uuid, "manageable")["last_error"] is None
    status, body = api.call("PUT", path, {"target": "clean", "clean_steps": [
        {"interface": "deploy", "step": "shred"}]})
    assert status == 400 and "clean step deploy.shred does not exist" in str(body), body

    # A node waiting for its ramdisk (as the agent inspect interface leaves it).
    with cluster.engine.begin() as conn:
        conn.execute(sa.text("UPDATE nodes SET provision_state = 'inspect wait', "
                             "target_provision_state = 'manageable' WHERE uuid = :u"),
                     {"u": uuid})
    status, body = api.call("POST", "/v1/continue_inspection", {
        "inventory": {"interfaces": [{"name": "eth0", "mac_address": "52:54:00:5c:00:01"},
                                     {"name": "eth1", "mac_address": "52:54:00:5c:00:02"}],
                      "cpu": {"count": 6, "architecture": "x86_64"},
                      "memory": {"physical_mb": 12288}},
        "error": None})
    assert status == 202 and body == {"uuid": uuid}, body
    record = _settled(cluster, uuid, "manageable")
    assert record["last_error"] is None
    assert (record["properties"]["cpus"], record["properties"]["memory_mb"]) == (6, 12288)
    assert sorted(r["address"] for r in cluster.rows(
        "SELECT address FROM ports WHERE node_id = :n", n=record["id"])) == [
        "52:54:00:5c:00:01", "52:54:00:5c:00:02"]
    assert conductor.rpc_calls("continue_inspection") == [uuid]
    assert conductor.rpc_calls("do_provisioning_action").count(uuid) == 3


def test_an_agent_heartbeat_to_the_api_runs_on_the_conductor(cluster):
    """hwdrivers-api resumes no deploy itself: the heartbeat is routed over JSON-RPC."""
    api, conductor = cluster.apis[0], cluster.conductors["ic1"]
    status, node = api.call("POST", "/v1/nodes", {"driver": "fake-hardware", "name": "beat"})
    assert status == 201, node
    uuid = node["uuid"]
    with cluster.engine.begin() as conn:  # a node waiting for its agent, token handed out
        conn.execute(sa.text(
            "UPDATE nodes SET provision_state = 'wait call-back', "
            "target_provision_state = 'active', driver_internal_info = :info "
            "WHERE uuid = :u"), {"u": uuid, "info": '{"agent_secret_token": "tok-1"}'})
    beat = {"callback_url": "http://127.0.0.1:9/", "agent_version": "1"}
    status, body = api.call("POST", "/v1/heartbeat/%s" % uuid, dict(beat, agent_token="bad"))
    assert status == 401, body
    status, body = api.call("POST", "/v1/heartbeat/%s" % uuid, dict(beat, agent_token="tok-1"))
    assert status == 202, body
    assert conductor.rpc_calls("agent_heartbeat") == [uuid, uuid]


def test_consoles_through_the_api_are_served_by_the_owning_conductor(cluster):
    api, conductor = cluster.apis[0], cluster.conductors["ic1"]
    status, node = api.call("POST", "/v1/nodes", {
        "driver": "fake-hardware", "name": "con-split", "console_interface": "fake"})
    assert status == 201, node
    uuid = node["uuid"]
    path = "/v1/nodes/%s/states/console" % uuid
    status, body = api.call("PUT", path, {"enabled": True})
    assert status == 202, body
    doc = wait_for(lambda: (lambda d: d if d[1]["console_state"] == "on" else None)(
        api.call("GET", path)), 60, "the console on", cluster.logs)[1]
    assert doc["console_enabled"] is True
    assert doc["console_info"] == {"type": "fake", "url": "fake://%s" % uuid}
    status, body = api.call("GET", path + "/log?kib=4")
    assert status == 200 and body["log"] == "", body
    assert api.call("PUT", path, {"enabled": False})[0] == 202
    assert conductor.rpc_calls("set_console_mode") == [uuid, uuid]
    assert uuid in conductor.rpc_calls("get_console")
    assert conductor.rpc_calls("read_console_log") == [uuid]
