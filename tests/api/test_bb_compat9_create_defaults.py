"""A create may carry ``maintenance``/``console_enabled`` at a new node's value.

Ironic's node create schema takes both (a node exported from Ironic, or a
tool filling every field, sends ``"maintenance": false``); hwdrivers
answered 400 "cannot be set when creating a node" even for false. false,
null and Ironic's false strings now create the node as usual; true is
still a 400 naming the endpoint that sets it.
"""

import pytest

from tests.api.conftest import error_of


@pytest.mark.parametrize("field", ["maintenance", "console_enabled"])
@pytest.mark.parametrize("value", [False, None, "false", "0"])
def test_a_new_nodes_value_is_taken(api, field, value):
    resp = api.post("/v1/nodes", {"driver": "fake-hardware", "name": "cd", field: value})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()[field] is False


@pytest.mark.parametrize("field,way", [("maintenance", "/maintenance"),
                                       ("console_enabled", "/states/console")])
def test_true_is_a_400_naming_the_endpoint_and_creates_nothing(api, field, way):
    resp = api.post("/v1/nodes", {"driver": "fake-hardware", "name": "cd-true", field: True})
    assert resp.status_code == 400
    assert field in error_of(resp) and way in error_of(resp)
    assert api.get("/v1/nodes").get_json()["nodes"] == []
