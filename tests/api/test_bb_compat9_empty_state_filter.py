"""An empty ``provision_state`` filter is a 400, as Ironic ("Provision state "" is not valid").

hwdrivers ignored it and listed every node, so a script whose variable
was empty (``?provision_state=$STATE``) acted on all of them instead of
learning of its mistake.
"""

from tests.api.conftest import error_of


def test_an_empty_provision_state_is_a_400(api, make_node):
    make_node("es")
    resp = api.get("/v1/nodes?provision_state=")
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "provision_state" in error_of(resp)


def test_a_state_still_filters(api, make_node):
    make_node("es-ok")
    resp = api.get("/v1/nodes?provision_state=enroll")
    assert [n["name"] for n in resp.get_json()["nodes"]] == ["es-ok"]
