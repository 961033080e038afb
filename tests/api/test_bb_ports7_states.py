"""Port changes the node's provision state forbids, as Ironic's conductor
refuses them.

Ironic answers 409 to a new MAC on a port of an active node, and to a new
pxe_enabled unless the node is in enroll, manageable or inspecting (or in
maintenance); from API 1.39 any change while the node inspects. hwdrivers
let every change through, so a port of a deployed node could change under it.
"""

import pytest

from hwdrivers.db import api as db_api
from tests.api.conftest import error_of, row

MAC = "52:54:00:77:00:01"


@pytest.fixture
def port(api, make_node):
    """A port (``MAC``) of node p7-a; p7-b has none (test_bb_ports7_listing.py too)."""
    make_node("p7-a")
    make_node("p7-b")
    resp = api.post("/v1/ports", {"node_uuid": row("p7-a")["uuid"], "address": MAC})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()


def _state(name, state, maintenance=False):
    db_api.update_node(row(name)["id"], {"provision_state": state,
                                         "maintenance": maintenance})


def _patch(api, port, path, value, **kw):
    return api.patch("/v1/ports/%s" % port["uuid"],
                     [{"op": "replace", "path": path, "value": value}], **kw)


def test_active_node_keeps_its_port_addresses(api, port):
    _state("p7-a", "active")
    resp = _patch(api, port, "/address", "52:54:00:77:00:02")
    assert resp.status_code == 409
    message = error_of(resp)
    assert "Field address" in message and "active" in message
    assert "baremetal node maintenance set %s" % row("p7-a")["uuid"] in message
    assert db_api.get_port(port["uuid"])["address"] == MAC
    # The same address (any case) is no change; extra may change.
    assert _patch(api, port, "/address", MAC.upper()).status_code == 200
    assert _patch(api, port, "/extra", {"k": "v"}).status_code == 200
    _state("p7-a", "active", maintenance=True)
    assert _patch(api, port, "/address", "52:54:00:77:00:02").status_code == 200


@pytest.mark.parametrize("state,allowed", [
    ("enroll", True), ("manageable", True), ("inspect wait", True),
    ("available", False), ("active", False), ("deploying", False), ("clean wait", False)])
def test_pxe_enabled_changes_only_in_ironics_states(api, port, state, allowed):
    _state("p7-a", state)
    resp = _patch(api, port, "/pxe_enabled", False)
    if allowed:
        assert resp.status_code == 200, resp.get_data(as_text=True)
        assert resp.get_json()["pxe_enabled"] is False
        return
    assert resp.status_code == 409
    message = error_of(resp)
    assert "Field pxe_enabled" in message and state in message and "maintenance" in message
    assert db_api.get_port(port["uuid"])["pxe_enabled"] is True
    assert _patch(api, port, "/pxe_enabled", True).status_code == 200  # unchanged
    _state("p7-a", state, maintenance=True)
    assert _patch(api, port, "/pxe_enabled", False).status_code == 200


def test_the_node_a_port_moves_to_is_the_one_checked(api, port):
    """As Ironic, the rules apply to the node the port ends up on."""
    _state("p7-b", "available")
    resp = api.patch("/v1/ports/%s" % port["uuid"], [
        {"op": "replace", "path": "/node_uuid", "value": "p7-b"},
        {"op": "replace", "path": "/pxe_enabled", "value": False}])
    assert resp.status_code == 409 and row("p7-b")["uuid"] in error_of(resp)
    moved = _patch(api, port, "/node_uuid", "p7-b")
    assert moved.status_code == 200 and moved.get_json()["node_uuid"] == row("p7-b")["uuid"]


def test_no_change_while_the_node_inspects_from_1_39(api, port):
    _state("p7-a", "inspecting")
    resp = _patch(api, port, "/extra", {"k": "v"})
    assert resp.status_code == 409 and "inspecting" in error_of(resp)
    old = _patch(api, port, "/extra", {"k": "v"},
                 headers={"X-OpenStack-Ironic-API-Version": "1.38"})
    assert old.status_code == 200, old.get_data(as_text=True)

