"""An empty JSON patch list changes nothing and answers the resource, as Ironic.

Ironic's patch schema is an array with no minimum length, so ``[]`` is a
200 with the document unchanged; hwdrivers answered 400 "must be a
non-empty JSON patch list", failing tools that send the difference between
a desired and an actual state when there is none. A body that is not a list
stays a 400.
"""

from tests.api.conftest import error_of, row


def test_empty_patch_of_a_node_is_a_200_and_changes_nothing(api, make_node):
    make_node("ep1", extra={"k": "v"})
    before = row("ep1")
    resp = api.patch("/v1/nodes/ep1", [])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["name"] == "ep1" and resp.get_json()["extra"] == {"k": "v"}
    after = row("ep1")
    assert after["extra"] == before["extra"] and after["reservation"] is None


def test_empty_patch_of_a_port_is_a_200_and_changes_nothing(api, make_node):
    uuid = make_node("ep2")["uuid"]
    port = api.post("/v1/ports", {"address": "52:54:00:aa:bb:01", "node_uuid": uuid,
                                  "extra": {"a": 1}}).get_json()
    resp = api.patch("/v1/ports/" + port["uuid"], [])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["address"] == "52:54:00:aa:bb:01"
    assert resp.get_json()["extra"] == {"a": 1}


def test_a_body_that_is_not_a_list_is_still_a_400(api, make_node):
    make_node("ep3")
    resp = api.patch("/v1/nodes/ep3", {"op": "replace", "path": "/name", "value": "x"})
    assert resp.status_code == 400
    assert "must be a JSON list" in error_of(resp)
