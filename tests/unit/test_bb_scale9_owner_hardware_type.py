"""A node is owned only by a conductor of its group that enables its hardware type.

Conductors of one group shared one hash ring whatever hardware types each
enabled, so a node could be owned by a conductor that cannot drive it (one
updated before the others, or a group whose conductors split the types):
the call was refused and the node could not be driven at all although
another conductor of the group could. As in Ironic, the ring a node is
placed on is that of its group's conductors that enable its type; when
none does, the API process refuses with a 503 naming the group, the type
and each conductor's types, and sends nothing.
"""

import uuid

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import hash_ring
from hwdrivers.conductor import rpc_api
from hwdrivers.db import api as db_api


class _Client:
    def __init__(self):
        self.calls = []

    def call(self, url, method, context, host=None, **kwargs):
        self.calls.append((host, method))
        return "accepted"


def _conductors(types_by_host, group=""):
    for host, types in types_by_host.items():
        db_api.register_conductor(host, types, conductor_group=group,
                                  rpc_url="http://127.0.0.1:9/" + host)


def _manager(client):
    rings = hash_ring.RingManager()
    rings.refresh()
    return rpc_api.RoutingManager(rings=rings, client=client)


def test_every_node_goes_to_a_conductor_that_enables_its_type(sqlite_database, config):
    _conductors({"c1": ["ipmi", "redfish"], "c2": ["fake-hardware", "ipmi"],
                 "c3": ["fake-hardware"]})
    client = _Client()
    manager = _manager(client)
    context = hw_context.get_admin_context()
    owners = set()
    for index in range(40):
        node = db_api.create_node({"driver": "fake-hardware", "name": "f%d" % index})
        assert manager.change_power_state(context, node["uuid"], PowerState.ON,
                                          wait=False) == "accepted"
        owners.add(client.calls[-1][0])
        assert manager.node_view(manager.get_node(context, node["uuid"]))[
            "conductor"] == client.calls[-1][0]
    assert owners == {"c2", "c3"}  # spread over both that enable it, never c1


def test_the_rings_of_a_group_by_type(sqlite_database, config):
    _conductors({"c1": ["ipmi", "redfish"], "c2": ["fake-hardware", "ipmi"]})
    rings = hash_ring.RingManager()
    rings.refresh()
    assert rings.ring("", "redfish").hosts == ("c1",)
    assert rings.ring("", "ipmi").hosts == ("c1", "c2")
    assert rings.ring("", "snmp") is None
    assert rings.ring("").hosts == ("c1", "c2")  # the whole group
    key = "node:%s" % uuid.uuid4()
    assert rings.owner("", key, "n1", hardware_type="redfish") == "c1"


def test_a_type_no_conductor_of_the_group_enables_is_refused_naming_them(
        sqlite_database, config):
    _conductors({"c1": ["ipmi", "redfish"], "c2": ["ipmi"]})
    node = db_api.create_node({"driver": "fake-hardware", "name": "r1"})
    client = _Client()
    manager = _manager(client)
    with pytest.raises(hash_ring.NoConductorForHardwareType) as caught:
        manager.change_power_state(hw_context.get_admin_context(), node["uuid"],
                                   PowerState.ON, wait=False)
    assert caught.value.code == 503 and caught.value.retry_after
    message = str(caught.value)
    assert "conductor group ''" in message
    assert "hardware type fake-hardware, which node r1 uses" in message
    assert "c1 (ipmi, redfish); c2 (ipmi)" in message
    assert "enabled_hardware_types" in message
    assert client.calls == []  # nothing was sent
    view = manager.node_view(manager.get_node(hw_context.get_admin_context(), node["uuid"]))
    assert view["conductor"] is None


def test_owned_counts_follow_the_rings_by_type(sqlite_database, config):
    from hwdrivers.drivers import factory
    _conductors({"c1": ["ipmi"], "c2": ["fake-hardware"]})
    for index in range(5):
        db_api.create_node({"driver": "fake-hardware", "name": "f%d" % index})
    summaries = {row["hostname"]: row["owned_nodes"] for row in
                 hash_ring.conductor_summaries(factory.get_registry())}
    assert summaries == {"c1": 0, "c2": 5}
