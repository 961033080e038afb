"""A conductor stopped with SIGTERM hands its nodes over while it drains.

``stop()`` gives running operations ``[conductor] graceful_shutdown_timeout``
(60 s) to finish. Its listener closes at once, but it stayed online on the
ring until the end: every other node it owned was answered 503 ("does not
answer") for the whole drain, on each rolling restart. As Ironic's
conductor, it now leaves the ring first: its other nodes are served by the
remaining conductors at their next ring refresh, while the operation it is
finishing keeps its lock and completes; the offline row it keeps touching
is not presumed dead.

Real processes (tests/functional/scale_cluster.py): c2's fake power calls
take twice heartbeat_timeout, so it drains that long.
"""

import signal
import socket
import urllib.parse
import uuid as uuid_mod

import pytest

from tests.functional import scale_cluster
from tests.functional.scale_cluster import owners
from tests.functional.scale_cluster import wait_for

pytestmark = pytest.mark.slow

#: Seconds c2's fake power calls sleep: its drain, well past heartbeat_timeout (5 s).
POWER_DELAY = 2 * scale_cluster.TIMING["heartbeat_timeout"]
UUIDS = uuid_mod.UUID("5d0c8a4e-2b7f-4c1e-8f3a-9e6d2c1b0a97")


@pytest.fixture
def cluster(tmp_path, _postgresql):
    cluster = scale_cluster.Cluster(tmp_path, _postgresql, timing={
        "graceful_shutdown_timeout": 6 * POWER_DELAY})
    try:
        cluster.add_conductor("c1")
        # No power sync on c2: its slow reads would hold the nodes' locks.
        cluster.add_conductor("c2", {"fake": {"power_delay": POWER_DELAY},
                                     "conductor": {"sync_power_state_interval": 0}})
        cluster.add_api("api1")
        cluster.wait_live(["c1", "c2"])
        yield cluster
    finally:
        cluster.close()


def _c2_nodes(cluster, count):
    """``count`` nodes c2 owns (UUIDs derived from names: stable)."""
    found = []
    for index in range(256):
        name = "h%03d" % index
        doc = {"uuid": str(uuid_mod.uuid5(UUIDS, name)), "name": name}
        if owners([doc], ["c1", "c2"])[doc["uuid"]] == "c2":
            status, body = cluster.apis[0].call("POST", "/v1/nodes", dict(
                doc, driver="fake-hardware"))
            assert status == 201, body
            found.append(body)
            if len(found) == count:
                return found
    raise AssertionError("not enough node names hash to c2")


def _refuses_connections(url):
    parts = urllib.parse.urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def _power(cluster, node, target):
    return cluster.apis[0].call("PUT", "/v1/nodes/%s/states/power" % node["uuid"],
                                {"target": target})


def test_a_draining_conductors_other_nodes_are_served_by_the_others(cluster):
    busy, other = _c2_nodes(cluster, 2)
    c1, c2 = cluster.conductors["c1"], cluster.conductors["c2"]
    status, body = _power(cluster, busy, "power on")
    assert status == 202, body
    wait_for(lambda: busy["uuid"] in c2.rpc_calls("change_power_state"), 30,
             "c2 taking the power request", cluster.logs)

    c2.signal(signal.SIGTERM)  # it drains the "BMC" call for POWER_DELAY
    wait_for(lambda: _refuses_connections(c2.url), 30, "c2 closing its listener",
             cluster.logs)
    answers = []

    def served():
        assert c2.proc.poll() is None, (
            "c2 finished draining and the others never served its nodes meanwhile: %s\n%s"
            % (answers[-3:], cluster.logs()))
        status, body = _power(cluster, other, "power on")
        answers.append((status, body))
        return status == 202

    wait_for(served, 6 * POWER_DELAY, "c2's other node served during its drain",
             cluster.logs)
    assert other["uuid"] in c1.rpc_calls("change_power_state")

    # The operation c2 was finishing completed there, and nobody aborted it.
    assert c2.proc.wait(6 * POWER_DELAY + 30) == 0, cluster.logs()
    row = cluster.node(busy["uuid"])
    assert row["power_state"] == "power on", (row, cluster.logs())
    assert row["last_error"] is None and row["reservation"] is None, row
    assert "Conductor c2: no heartbeat" not in c1.log()
