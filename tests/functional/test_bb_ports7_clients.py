"""Ports as Ironic's own clients drive them against the real ``hwdrivers-server``:
the ``baremetal port`` commands end to end, python-ironicclient's
``node.list_ports(detail=True)`` (/v1/nodes/<node>/ports/detail, a 404
before) and the 409 Ironic answers a port change its node's state forbids
(a new MAC on a deployed node; hwdrivers let it through).
"""

import json

import openstack
import pytest
from ironicclient import client as ironic_client
from ironicclient.common.apiclient import exceptions as ironic_exc

from tests import waits
from tests.functional import server_proc
from tests.functional.ironic_clients import baremetal, sdk


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bb-ports7")
    with server_proc.running(tmp_path, name="ports7") as proc:
        proc.home = tmp_path / "home"
        yield proc


@pytest.fixture(scope="module")
def ironic(server):
    """python-ironicclient, not retrying a 409 (it retries any 409 as a lock)."""
    return ironic_client.get_client(1, endpoint=server.url, auth_type="none",
                                    os_ironic_api_version="latest", max_retries=0)


def _json(proc):
    return json.loads(proc.stdout)


def test_port_commands_end_to_end(server):
    for name in ("p7-cli", "p7-cli2"):
        assert server.call("POST", "/v1/nodes", {"driver": "fake-hardware",
                                                 "name": name})[0] == 201
    port = _json(baremetal(server, "port", "create", "52:54:00:7C:00:01", "--node", "p7-cli",
                           "--extra", "rack=r1", "--pxe-enabled", "false", "-f", "json"))
    assert port["address"] == "52:54:00:7c:00:01" and port["pxe_enabled"] is False
    listed = _json(baremetal(server, "port", "list", "--node", "p7-cli", "--long",
                             "-f", "json"))
    assert [(p["uuid"], p["extra"]) for p in listed] == [(port["uuid"], {"rack": "r1"})]
    baremetal(server, "port", "set", port["uuid"], "--extra", "slot=2", "--pxe-enabled",
              "--node", "p7-cli2")
    baremetal(server, "port", "unset", port["uuid"], "--extra", "rack")
    shown = _json(baremetal(server, "port", "show", "--address", "52:54:00:7c:00:01",
                            "-f", "json"))
    node2 = server.call("GET", "/v1/nodes/p7-cli2")[1]
    assert (shown["extra"], shown["pxe_enabled"], shown["node_uuid"]) == (
        {"slot": 2}, True, node2["uuid"])
    baremetal(server, "port", "delete", port["uuid"])
    assert server.call("GET", "/v1/nodes/p7-cli2/ports")[1] == {"ports": []}


def test_ironicclient_lists_a_nodes_ports_in_detail(ironic):
    node = ironic.node.create(driver="fake-hardware", name="p7-detail")
    port = ironic.port.create(address="52:54:00:7c:00:02", node_uuid=node.uuid)
    [detailed] = ironic.node.list_ports(node.uuid, detail=True)
    assert (detailed.uuid, detailed.pxe_enabled, detailed.extra) == (port.uuid, True, {})


def _provision(server, name, target, state):
    status, _ = server.call("PUT", "/v1/nodes/%s/states/provision" % name, {"target": target})
    assert status == 202
    waits.wait_for(lambda: server.call("GET", "/v1/nodes/%s" % name)[1][
        "provision_state"] == state, message="%s %s" % (name, state))


def test_a_deployed_nodes_port_keeps_its_mac(server, ironic):
    node = ironic.node.create(driver="fake-hardware", name="p7-active")
    port = ironic.port.create(address="52:54:00:7c:00:03", node_uuid=node.uuid)
    for target, state in (("manage", "manageable"), ("provide", "available"),
                          ("active", "active")):
        _provision(server, "p7-active", target, state)
    new_mac = [{"op": "replace", "path": "/address", "value": "52:54:00:7c:00:04"}]
    with pytest.raises(ironic_exc.Conflict) as refused:
        ironic.port.update(port.uuid, new_mac)
    assert "Field address" in str(refused.value) and "maintenance" in str(refused.value)
    with pytest.raises(ironic_exc.Conflict):
        ironic.port.update(port.uuid, [{"op": "replace", "path": "/pxe_enabled",
                                        "value": False}])
    assert ironic.port.get(port.uuid).address == "52:54:00:7c:00:03"
    ironic.node.set_maintenance(node.uuid, True, maint_reason="swap NIC")
    assert ironic.port.update(port.uuid, new_mac).address == "52:54:00:7c:00:04"



def test_ironicclient_sorts_ports_by_name(ironic):
    """``port.list(sort_key="name")`` was a 400: hwdrivers stores no port name.
    (The ``baremetal`` CLI sorts again on its side, where all-null names fail.)"""
    node = ironic.node.create(driver="fake-hardware", name="p7-sort")
    uuids = [ironic.port.create(address="52:54:00:7c:01:0%d" % i, node_uuid=node.uuid).uuid
             for i in (2, 1)]
    listed = ironic.node.list_ports(node.uuid, sort_key="name", sort_dir="desc")
    assert [p.uuid for p in listed] == uuids[::-1]


def test_ironicclient_shows_which_port_has_a_mac(ironic):
    node = ironic.node.create(driver="fake-hardware", name="p7-dup")
    port = ironic.port.create(address="52:54:00:7c:02:01", node_uuid=node.uuid)
    with pytest.raises(ironic_exc.Conflict) as taken:
        ironic.port.create(address="52:54:00:7C:02:01", node_uuid=node.uuid)
    assert port.uuid in str(taken.value) and node.uuid in str(taken.value)


def test_sdk_lists_ports_of_a_missing_node_as_not_found(server):
    with pytest.raises(openstack.exceptions.NotFoundException):
        list(sdk(server).baremetal.ports(node="p7-ghost"))
