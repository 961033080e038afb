"""A MAC another port has: the 409 names that port and its node and says what
to do, on create and on PATCH. It said only "A port with address ... already
exists", leaving the operator to hunt for the holder."""

import pytest

from tests.api.conftest import error_of

MAC = "52:54:00:77:30:01"


@pytest.fixture
def holder(api, make_node):
    node = make_node("p7-dup")
    port = api.post("/v1/ports", {"node_uuid": node["uuid"], "address": MAC}).get_json()
    return node, port


def test_create_with_a_taken_mac_names_the_holder(api, make_node, holder):
    node, port = holder
    other = make_node("p7-dup2")
    resp = api.post("/v1/ports", {"node_uuid": other["uuid"], "address": MAC.upper()})
    assert resp.status_code == 409
    message = error_of(resp)
    assert message.startswith("A port with MAC address %s already exists" % MAC)
    assert port["uuid"] in message and node["uuid"] in message and "delete" in message


def test_patch_to_a_taken_mac_names_the_holder(api, holder):
    node, port = holder
    mine = api.post("/v1/ports", {"node_uuid": node["uuid"],
                                  "address": "52:54:00:77:30:02"}).get_json()
    resp = api.patch("/v1/ports/%s" % mine["uuid"],
                     [{"op": "replace", "path": "/address", "value": MAC}])
    assert resp.status_code == 409 and port["uuid"] in error_of(resp)


def test_a_taken_uuid_keeps_its_own_message(api, holder):
    node, port = holder
    resp = api.post("/v1/ports", {"node_uuid": node["uuid"], "address": "52:54:00:77:30:03",
                                  "uuid": port["uuid"]})
    assert resp.status_code == 409
    assert error_of(resp) == "A port with UUID %s already exists." % port["uuid"]
