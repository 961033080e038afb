"""A pagination marker naming no node (or port) is Ironic's 404, not a 400.

Ironic looks the marker up (objects.Node.get_by_uuid / Port.get_by_uuid)
before listing: NodeNotFound / PortNotFound. A marker that is not a UUID
is a 400 (Ironic: "Expected UUID for marker").
"""

from tests.api.conftest import error_of

GONE = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"


def test_marker_of_a_deleted_node_is_404(api, make_node):
    for name in ("mk1", "mk2", "mk3"):
        make_node(name)
    page = api.get("/v1/nodes?limit=2").get_json()
    marker = page["nodes"][-1]["uuid"]
    assert api.delete("/v1/nodes/" + marker).status_code == 204
    for path in ("/v1/nodes", "/v1/nodes/detail"):
        resp = api.get("%s?limit=2&marker=%s" % (path, marker))
        assert resp.status_code == 404, resp.get_data(as_text=True)
        message = error_of(resp)
        assert "Node %s could not be found" % marker in message and "marker" in message
    host = api.get("/v1/nodes/mk1").get_json()["conductor"]
    resp = api.get("/v1/nodes?marker=%s&conductor=%s" % (GONE, host))
    assert resp.status_code == 404
    assert api.get("/v1/nodes?limit=2&marker=" + page["nodes"][0]["uuid"]).status_code == 200


def test_marker_that_is_not_a_uuid_is_400(api, make_node):
    make_node("mk4")
    resp = api.get("/v1/nodes?marker=mk4")
    assert resp.status_code == 400
    assert "marker must be the UUID of a node" in error_of(resp)


def test_marker_of_a_deleted_port_is_404(api, make_node):
    node = make_node("mkp")
    resp = api.get("/v1/ports?marker=" + GONE)
    assert resp.status_code == 404 and "Port %s could not be found" % GONE in error_of(resp)
    resp = api.get("/v1/nodes/%s/ports?marker=%s" % (node["uuid"], GONE))
    assert resp.status_code == 404
