"""A node whose owner does not run its hardware type is refused naming that conductor.

Conductors of one group share one hash ring whatever hardware types each
enables. When one of them lacks a node's type (updated before or after the
others), the API process sent it the call anyway and relayed its 404
"Hardware type ... is not enabled", listing that conductor's types, for a
node that exists, that this API process and the other conductors drive; the
operator was not told which conductor to fix. Now the API process refuses
the call with a 503 naming the conductor, its types and the option, and
sends nothing.
"""

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common.states import PowerState
from hwdrivers.conductor import rpc_api
from hwdrivers.db import api as db_api


class _Rings:
    """One conductor, c2, registered with ``types``."""

    def __init__(self, types):
        self.types = types

    def owner(self, group, key, ident):
        return "c2"

    def conductor(self, host):
        return {"hostname": host, "rpc_url": "http://127.0.0.1:9",
                "hardware_types": self.types}


class _Client:
    def __init__(self):
        self.calls = []

    def call(self, url, method, context, **kwargs):
        self.calls.append(method)
        return "accepted"


def test_an_owner_without_the_nodes_hardware_type_is_named(sqlite_database, config):
    node = db_api.create_node({"driver": "fake-hardware", "name": "r1"})
    client = _Client()
    manager = rpc_api.RoutingManager(rings=_Rings(["ipmi", "redfish"]), client=client)
    with pytest.raises(exception.HWDriversError) as caught:
        manager.change_power_state(hw_context.get_admin_context(), node["uuid"],
                                   PowerState.ON, wait=False)
    assert caught.value.code == 503 and caught.value.retry_after
    message = str(caught.value)
    assert "Conductor c2, which owns node r1" in message
    assert "hardware type fake-hardware" in message
    assert "enabled_hardware_types: ipmi, redfish" in message
    assert client.calls == []  # nothing was sent


def test_an_owner_running_the_type_gets_the_call(sqlite_database, config):
    node = db_api.create_node({"driver": "fake-hardware", "name": "r2"})
    client = _Client()
    manager = rpc_api.RoutingManager(rings=_Rings(["fake-hardware", "ipmi"]), client=client)
    assert manager.change_power_state(hw_context.get_admin_context(), node["uuid"],
                                      PowerState.ON, wait=False) == "accepted"
    assert client.calls == ["change_power_state"]
