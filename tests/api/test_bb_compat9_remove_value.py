"""A JSON patch ``remove`` that carries a ``value`` removes, as in Ironic.

Ironic's patch schema (``ironic/common/args.py``) allows ``value`` on any
op and a remove ignores it; scripts that build every operation alike send
``{"op": "remove", "path": ..., "value": null}``. hwdrivers refused such a
patch ("remove takes no value"), on nodes and ports, at every depth.
"""

import pytest

from tests.api.conftest import row


@pytest.mark.parametrize("path,value", [
    ("/extra/k", None), ("/extra/nested/a", "ignored"), ("/properties", None),
    ("/owner", None),
])
def test_remove_with_a_value_removes(api, make_node, path, value):
    make_node("rv", extra={"k": "v", "nested": {"a": 1, "b": 2}}, properties={"cpus": 2})
    resp = api.patch("/v1/nodes/rv", [{"op": "remove", "path": path, "value": value}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    stored = row("rv")
    if path == "/extra/k":
        assert "k" not in stored["extra"]
    elif path == "/extra/nested/a":
        assert stored["extra"]["nested"] == {"b": 2}
    elif path == "/properties":
        assert stored["properties"] == {}


def test_a_port_remove_with_a_value_removes(api, make_node):
    uuid = make_node("rv-port")["uuid"]
    port = api.post("/v1/ports", {"address": "52:54:00:aa:bb:09", "node_uuid": uuid,
                                  "extra": {"a": 1}}).get_json()
    resp = api.patch("/v1/ports/" + port["uuid"],
                     [{"op": "remove", "path": "/extra/a", "value": None}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["extra"] == {}


def test_add_without_a_value_is_still_a_400(api, make_node):
    make_node("rv-add")
    resp = api.patch("/v1/nodes/rv-add", [{"op": "add", "path": "/extra/k"}])
    assert resp.status_code == 400
