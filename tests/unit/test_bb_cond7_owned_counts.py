"""Counting the nodes each conductor owns (``owned_nodes``) without reading whole rows.

``GET /v1/conductors`` read every node row (five JSON documents each) and
composed each node to count owners: 1.8 s at 10,000 nodes. The count now
comes from one aggregate query over the ring-key columns
(``db_api.node_ring_inputs``). It must agree with the owner each node has
on the ring (``hash_ring.node_key`` on the whole node) on both backends:
nodes behind one controller, nodes keyed by their own UUID that share
identical inputs, a node that cannot be composed, a group with no live
conductor, a dead conductor.
"""

import pytest

from hwdrivers.conductor import hash_ring
from hwdrivers.db import api as db_api
from hwdrivers.drivers import factory
from hwdrivers.objects import node as node_obj


def _enrol():
    nodes = []
    for index in range(12):  # 4 PDUs, 3 outlets each: keyed by the PDU
        nodes.append(db_api.create_node({
            "driver": "fake-hardware", "driver_info": {
                "fake_controller": "pdu-%d" % (index % 4), "fake_address": "10.0.0.%d" % index}}))
    for _ in range(9):  # identical inputs, each keyed by its own UUID
        nodes.append(db_api.create_node({"driver": "fake-hardware"}))
    nodes.append(db_api.create_node({"driver": "fake-hardware", "conductor_group": "rack2",
                                     "driver_info": {"fake_controller": "pdu-r2"}}))
    nodes.append(db_api.create_node({"driver": "fake-hardware", "conductor_group": "rack2"}))
    # Not composable (its interface is not enabled): keyed by its UUID.
    nodes.append(db_api.create_node({"driver": "fake-hardware",
                                     "power_interface": "no-such-power"}))
    # A group no live conductor serves: nobody owns it.
    nodes.append(db_api.create_node({"driver": "fake-hardware", "conductor_group": "gone"}))
    return nodes


def _conductors():
    """hwdrivers-conductor rows, each with its JSON-RPC URL (a row without one is a
    one-process server's, which owns every node)."""
    for host in ("c1", "c2", "c3"):
        db_api.register_conductor(host, ["fake-hardware"], rpc_url="http://%s:8089" % host)
    db_api.register_conductor("r2", ["fake-hardware"], conductor_group="rack2",
                              rpc_url="http://r2:8089")
    db_api.register_conductor("dead", ["fake-hardware"], rpc_url="http://dead:8089")
    db_api.unregister_conductor("dead")


def _expected(registry, rings):
    """Owners the way every conductor works them out: node by node, whole rows."""
    counts = {}
    for row in db_api.list_nodes():
        node = node_obj.Node(row)
        ring = rings.ring(node.conductor_group)
        if ring is not None:
            host = ring.owner(hash_ring.node_key(registry, node))
            counts[host] = counts.get(host, 0) + 1
    return counts


def test_owned_nodes_match_each_nodes_owner(database):
    _enrol()
    _conductors()
    registry = factory.get_registry()
    rings = hash_ring.RingManager()
    summaries = hash_ring.conductor_summaries(registry, rings)
    owned = {row["hostname"]: row["owned_nodes"] for row in summaries}
    expected = _expected(registry, rings)
    assert owned == {host: expected.get(host, 0) for host in ("c1", "c2", "c3", "dead", "r2")}
    assert owned["r2"] == 2 and owned["dead"] == 0
    assert sum(owned.values()) == 24  # all but the node of group "gone"


def test_the_count_reads_no_whole_node_row(database, monkeypatch):
    _enrol()
    _conductors()

    def whole_rows(*args, **kwargs):
        raise AssertionError("owned_nodes read whole node rows")

    monkeypatch.setattr(db_api, "list_nodes", whole_rows)
    summaries = hash_ring.conductor_summaries(factory.get_registry())
    assert sum(row["owned_nodes"] for row in summaries) == 24


def test_ring_inputs_group_identical_nodes_and_read_only_key_columns(database):
    nodes = _enrol()
    rows = db_api.node_ring_inputs(["", "rack2"])
    assert set(rows[0]) == set(db_api.RING_KEY_COLUMNS) | {"uuids"}
    assert sorted(u for row in rows for u in row["uuids"]) == sorted(
        n["uuid"] for n in nodes if n["conductor_group"] in ("", "rack2"))
    (plain,) = [row for row in rows if row["conductor_group"] == ""
                and row["driver_info"] == {} and row["power_interface"] is None]
    assert len(plain["uuids"]) == 9
    assert db_api.node_ring_inputs([]) == []


@pytest.mark.parametrize("kwargs", [{"count": False}, {"hostname": "r2"}])
def test_a_summary_counts_only_what_it_shows(database, monkeypatch, kwargs):
    _enrol()
    _conductors()
    asked = []
    real = db_api.node_ring_inputs
    monkeypatch.setattr(db_api, "node_ring_inputs",
                        lambda groups: asked.append(sorted(groups)) or real(groups))
    summaries = hash_ring.conductor_summaries(factory.get_registry(), **kwargs)
    if kwargs.get("count") is False:
        assert asked == [] and {row["owned_nodes"] for row in summaries} == {None}
        assert len(summaries) == 5
    else:
        assert asked == [["rack2"]]
        assert [(row["hostname"], row["owned_nodes"]) for row in summaries] == [("r2", 2)]
