"""/v1/ports: create, list, detail, show, patch, delete; bad input changes nothing."""

import pytest

from hwdrivers.db import api as db_api
from tests.api.conftest import error_of

MAC = "52:54:00:12:34:56"


@pytest.fixture
def node(make_node):
    return make_node("pn")


def _create(api, node, address=MAC, **extra):
    body = {"node_uuid": node["uuid"], "address": address}
    body.update(extra)
    return api.post("/v1/ports", body)


def test_create_show_list_delete(api, node):
    resp = _create(api, node, address="52:54:00:12:34:AB", extra={"switch": "sw1"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    port = resp.get_json()
    assert port["address"] == "52:54:00:12:34:ab"
    assert port["node_uuid"] == node["uuid"]
    assert port["extra"] == {"switch": "sw1"} and port["pxe_enabled"] is True
    assert resp.headers["Location"].endswith("/v1/ports/" + port["uuid"])
    assert api.get("/v1/ports/" + port["uuid"]).get_json()["address"] == "52:54:00:12:34:ab"
    assert api.get("/v1/ports/52:54:00:12:34:ab").get_json()["uuid"] == port["uuid"]
    listed = api.get("/v1/ports").get_json()["ports"]
    assert listed == [{"uuid": port["uuid"], "address": "52:54:00:12:34:ab",
                       "links": port["links"]}]
    assert api.get("/v1/ports/detail").get_json()["ports"][0]["node_uuid"] == node["uuid"]
    assert len(api.get("/v1/nodes/pn/ports").get_json()["ports"]) == 1
    assert len(api.get("/v1/ports?node=pn").get_json()["ports"]) == 1
    assert len(api.get("/v1/ports?address=52:54:00:12:34:ab").get_json()["ports"]) == 1
    assert api.get("/v1/ports?address=52:54:00:00:00:00").get_json()["ports"] == []
    assert api.delete("/v1/ports/" + port["uuid"]).status_code == 204
    assert api.get("/v1/ports/" + port["uuid"]).status_code == 404
    assert db_api.list_ports() == []


def test_port_pagination(api, node):
    for i in range(3):
        assert _create(api, node, address="52:54:00:00:00:0%d" % i).status_code == 201
    body = api.get("/v1/ports?limit=2").get_json()
    assert len(body["ports"]) == 2
    nxt = body["next"].replace("http://localhost", "")
    assert [p["address"] for p in api.get(nxt).get_json()["ports"]] == ["52:54:00:00:00:02"]


@pytest.mark.parametrize("body, status, words", [
    ({"address": MAC}, 400, ["node_uuid", "required"]),
    ({"node_uuid": "NODE"}, 400, ["address", "required"]),
    ({"node_uuid": "NODE", "address": "zz:zz"}, 400, ["zz:zz", "MAC"]),
    ({"node_uuid": "ghost", "address": MAC}, 400, ["node_uuid", "ghost"]),
    ({"node_uuid": "NODE", "address": MAC, "extra": "x"}, 400, ["extra"]),
    ({"node_uuid": "NODE", "address": MAC, "pxe_enabled": "maybe"}, 400, ["pxe_enabled"]),
    ({"node_uuid": "NODE", "address": MAC, "colour": 1}, 400, ["colour"]),
    ({"node_uuid": "NODE", "address": MAC, "physical_network": "p"}, 400,
     ["physical_network", "not supported"]),
])
def test_bad_create_is_refused(api, node, body, status, words):
    body = {k: (node["uuid"] if v == "NODE" else v) for k, v in body.items()}
    resp = api.post("/v1/ports", body)
    assert resp.status_code == status, resp.get_data(as_text=True)
    for word in words:
        assert word in error_of(resp)
    assert db_api.list_ports() == []


def test_duplicate_address_is_409(api, node):
    assert _create(api, node).status_code == 201
    resp = _create(api, node)
    assert resp.status_code == 409
    assert MAC in error_of(resp)
    assert len(db_api.list_ports()) == 1


def test_patch_port(api, node, make_node):
    other = make_node("other")
    port = _create(api, node, extra={"a": 1}).get_json()
    resp = api.patch("/v1/ports/" + port["uuid"], [
        {"op": "add", "path": "/extra/b", "value": 2},
        {"op": "remove", "path": "/extra/a"},
        {"op": "replace", "path": "/pxe_enabled", "value": False},
        {"op": "replace", "path": "/node_uuid", "value": "other"},
        {"op": "replace", "path": "/address", "value": "52:54:00:99:99:99"}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["extra"] == {"b": 2} and body["pxe_enabled"] is False
    assert body["node_uuid"] == other["uuid"] and body["address"] == "52:54:00:99:99:99"


@pytest.mark.parametrize("ops, words", [
    ([{"op": "replace", "path": "/uuid", "value": "x"}], ["/uuid", "read-only"]),
    ([{"op": "replace", "path": "/address", "value": "bad"}], ["bad"]),
    ([{"op": "replace", "path": "/node_uuid", "value": "ghost"}], ["ghost"]),
    ([{"op": "replace", "path": "/pxe_enabled", "value": "maybe"}], ["pxe_enabled"]),
    ([{"op": "remove", "path": "/extra/nothing"}], ["nothing"]),
    ([{"op": "add", "path": "/colour", "value": 1}], ["/colour"]),
])
def test_bad_port_patch_changes_nothing(api, node, ops, words):
    port = _create(api, node).get_json()
    before = db_api.get_port(port["uuid"])
    resp = api.patch("/v1/ports/" + port["uuid"], ops)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    for word in words:
        assert word in error_of(resp)
    assert db_api.get_port(port["uuid"]) == before


def test_port_404s(api):
    assert api.get("/v1/ports/52:54:00:00:00:99").status_code == 404
    assert api.delete("/v1/ports/1be26c0b-03f2-4d2e-ae87-c02d7f33c123").status_code == 404
    assert api.get("/v1/nodes/ghost/ports").status_code == 404


def test_deleting_node_deletes_its_ports(api, node):
    _create(api, node)
    assert api.delete("/v1/nodes/pn").status_code == 204
    assert db_api.list_ports() == []
