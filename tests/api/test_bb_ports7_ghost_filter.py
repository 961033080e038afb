"""``GET /v1/ports?node=<no such node>``: Ironic's 404 'Node ... could not be
found', as /v1/nodes/<no such node>/ports answers; it was a 400 worded as a
body field's ("Field node: node ghost does not exist"), which openstacksdk
raised as BadRequestException instead of NotFoundException."""

from tests.api.conftest import error_of

GHOST_UUID = "8d2c5f8e-5f6e-4f7e-9a53-000000000077"


def test_filter_by_a_missing_node_is_404(api, make_node):
    make_node("p7-real")
    for query in ("node=ghost", "node_uuid=%s" % GHOST_UUID):
        for path in ("/v1/ports", "/v1/ports/detail"):
            resp = api.get("%s?%s" % (path, query))
            assert resp.status_code == 404, (path, query)
            assert "could not be found" in error_of(resp)
    assert api.get("/v1/ports?node=p7-real").get_json() == {"ports": []}
