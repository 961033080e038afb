"""Ports as a script drives them: node_ident on create (Ironic 1.94) and the
``address`` filter, which must filter by MAC and nothing else."""

import pytest

from tests.api.conftest import error_of

MAC = "52:54:00:aa:bb:01"


@pytest.fixture
def node(make_node):
    return make_node("bb4-port-node")


def _version(text):
    return {"X-OpenStack-Ironic-API-Version": text}


def test_create_names_the_node_by_node_ident_from_1_94(api, node):
    """Ironic 1.94 added ``node_ident`` (a UUID or a name) to port create; a
    body using it was refused as an unknown field."""
    resp = api.post("/v1/ports", {"node_ident": "bb4-port-node", "address": MAC})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["node_uuid"] == node["uuid"]
    by_uuid = api.post("/v1/ports", {"node_ident": node["uuid"],
                                     "address": "52:54:00:aa:bb:02"})
    assert by_uuid.status_code == 201, by_uuid.get_data(as_text=True)


def test_node_ident_needs_1_94_and_excludes_node_uuid(api, node):
    old = api.post("/v1/ports", {"node_ident": "bb4-port-node", "address": MAC},
                   headers=_version("1.93"))
    assert old.status_code == 406
    assert "node_ident" in error_of(old) and "1.94" in error_of(old)
    both = api.post("/v1/ports", {"node_ident": "bb4-port-node", "node_uuid": node["uuid"],
                                  "address": MAC})
    assert both.status_code == 400 and "only one" in error_of(both)
    ghost = api.post("/v1/ports", {"node_ident": "ghost", "address": MAC})
    assert ghost.status_code == 400 and "node_ident" in error_of(ghost)
    assert api.get("/v1/ports").get_json()["ports"] == []


def test_address_filter_matches_macs_only(api, node):
    """``?address=`` took anything the port lookup takes: a port's UUID
    returned that port. Ironic validates the filter as a MAC (400)."""
    port = api.post("/v1/ports", {"node_uuid": node["uuid"], "address": MAC}).get_json()
    by_uuid = api.get("/v1/ports?address=%s" % port["uuid"])
    assert by_uuid.status_code == 400
    assert "address" in error_of(by_uuid) and "aa:bb:cc:dd:ee:ff" in error_of(by_uuid)
    assert api.get("/v1/ports?address=52-54-00-aa-bb-01").status_code == 400
    upper = api.get("/v1/ports?address=%s" % MAC.upper()).get_json()["ports"]
    assert [p["uuid"] for p in upper] == [port["uuid"]]
    nested = api.get("/v1/nodes/bb4-port-node/ports?address=%s" % port["uuid"])
    assert nested.status_code == 400


def test_create_takes_null_extra_as_ironic(api, node):
    """Ironic's port schema takes ``"extra": null`` (no extra); it was a 400."""
    resp = api.post("/v1/ports", {"node_uuid": node["uuid"], "address": MAC, "extra": None})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["extra"] == {}


def test_a_bad_address_error_names_the_field_and_quotes_little(api, node):
    """A 100 kB address came back whole in the error; the error now names the
    field and the form and quotes at most 80 characters."""
    resp = api.post("/v1/ports", {"node_uuid": node["uuid"], "address": "a" * 100000})
    assert resp.status_code == 400
    message = error_of(resp)
    assert message.startswith("Field address must be a MAC address") and len(message) < 250
    port = api.post("/v1/ports", {"node_uuid": node["uuid"], "address": MAC}).get_json()
    bad = api.patch("/v1/ports/%s" % port["uuid"],
                    [{"op": "replace", "path": "/address", "value": "b" * 5000}])
    assert bad.status_code == 400 and len(error_of(bad)) < 250
    assert "Field address" in error_of(bad)
