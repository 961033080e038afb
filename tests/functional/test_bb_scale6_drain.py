"""A conductor stopped with SIGTERM keeps heartbeating while it drains.

``stop()`` gives running operations ``[conductor] graceful_shutdown_timeout``
(60 s by default, as ``heartbeat_timeout``) to finish. It stopped the
heartbeat first, so a drain longer than ``heartbeat_timeout`` got the
conductor presumed dead by the others half-way: they released its locks,
failed the operations it was still finishing ("stopped heartbeating") and
took its nodes while its workers still drove them.

Real processes (tests/functional/scale_cluster.py): c2's fake power calls
take twice heartbeat_timeout, c1 is the survivor that must not reap it.
"""

import signal
import uuid as uuid_mod

import pytest

from tests.functional import scale_cluster
from tests.functional.scale_cluster import owners
from tests.functional.scale_cluster import wait_for

pytestmark = pytest.mark.slow

#: Seconds c2's fake power calls sleep: well past heartbeat_timeout (5 s).
POWER_DELAY = 2 * scale_cluster.TIMING["heartbeat_timeout"]
UUIDS = uuid_mod.UUID("0b6f1c52-3d1e-4d7a-9a55-6e2f3c4d5a61")


@pytest.fixture
def cluster(tmp_path, _postgresql):
    cluster = scale_cluster.Cluster(tmp_path, _postgresql, timing={
        "graceful_shutdown_timeout": 6 * POWER_DELAY})
    try:
        cluster.add_conductor("c1")
        cluster.add_conductor("c2", {"fake": {"power_delay": POWER_DELAY}})
        cluster.add_api("api1")
        cluster.wait_live(["c1", "c2"])
        yield cluster
    finally:
        cluster.close()


def _c2_node(cluster):
    """A node c2 owns (names tried in order, UUIDs derived from them: stable)."""
    for index in range(64):
        name = "d%02d" % index
        doc = {"uuid": str(uuid_mod.uuid5(UUIDS, name)), "name": name}
        if owners([doc], ["c1", "c2"])[doc["uuid"]] == "c2":
            status, body = cluster.apis[0].call("POST", "/v1/nodes", dict(
                doc, driver="fake-hardware"))
            assert status == 201, body
            return body
    raise AssertionError("no node name hashes to c2")


def test_a_draining_conductor_is_not_presumed_dead(cluster):
    node = _c2_node(cluster)
    c1, c2 = cluster.conductors["c1"], cluster.conductors["c2"]
    target = ("power off" if cluster.node(node["uuid"])["power_state"] == "power on"
              else "power on")
    status, body = cluster.apis[0].call(
        "PUT", "/v1/nodes/%s/states/power" % node["uuid"], {"target": target})
    assert status == 202, body
    wait_for(lambda: node["uuid"] in c2.rpc_calls("change_power_state"), 30,
             "c2 taking the power request", cluster.logs)

    c2.signal(signal.SIGTERM)  # its worker sleeps in the "BMC" for POWER_DELAY
    assert c2.proc.wait(6 * POWER_DELAY + 30) == 0, cluster.logs()

    row = cluster.node(node["uuid"])
    # The action finished on c2 and was recorded; nobody aborted it.
    assert row["power_state"] == target, (row, cluster.logs())
    assert row["target_power_state"] is None and row["reservation"] is None
    assert row["last_error"] is None, row["last_error"]
    assert "Conductor c2: no heartbeat" not in c1.log()
    # c2 went offline by itself, and its nodes went to c1.
    (conductor,) = cluster.rows("SELECT online FROM conductors WHERE hostname = 'c2'")
    assert conductor["online"] is False
    wait_for(lambda: cluster.apis[0].call("GET", "/v1/nodes/%s" % node["uuid"])[1].get(
        "conductor") == "c1", 30, "the node moving to c1", cluster.logs)
