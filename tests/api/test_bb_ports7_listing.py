"""A node's ports at /v1/nodes/<node>/ports[/detail], as Ironic serves them."""

from tests.api.conftest import row
from tests.api.test_bb_ports7_states import port  # noqa: F401 (fixture)


def test_node_ports_detail(api, port):  # noqa: F811
    """python-ironicclient's node.list_ports(node, detail=True) asks
    /v1/nodes/<node>/ports/detail: it was a 404."""
    resp = api.get("/v1/nodes/p7-a/ports/detail")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    [doc] = resp.get_json()["ports"]
    assert doc["uuid"] == port["uuid"] and doc["pxe_enabled"] is True and "extra" in doc
    assert api.get("/v1/nodes/p7-b/ports/detail").get_json() == {"ports": []}
    assert api.get("/v1/nodes/ghost/ports/detail").status_code == 404
    assert api.get("/v1/nodes/p7-a/ports/detail?fields=uuid").status_code == 400


def test_node_of_the_url_wins_over_a_node_filter(api, port):  # noqa: F811
    """/v1/nodes/<b>/ports?node=<a> listed a's ports; Ironic lists b's."""
    assert api.get("/v1/nodes/p7-b/ports?node=p7-a").get_json() == {"ports": []}
    listed = api.get("/v1/nodes/p7-a/ports?node_uuid=%s" % row("p7-b")["uuid"]).get_json()
    assert [p["uuid"] for p in listed["ports"]] == [port["uuid"]]
