"""JSON patch paths below /field/key (RFC 6902 on the object fields, as Ironic applies them).

Ironic applies the patch to the whole node document (jsonpatch), so a path
may go any depth into driver_info, instance_info, properties and extra,
through objects and arrays; a missing parent is a 400.
"""

import pytest

from tests.api.conftest import error_of, row


def _patch(api, ident, *ops):
    return api.patch("/v1/nodes/" + ident, list(ops))


def test_deep_paths_apply_in_order(api, make_node):
    make_node("dp1", instance_info={"image_properties": {"os": "x", "keep": 1}},
              properties={"capabilities": "boot_mode:uefi", "root_device": {"size": 10}},
              extra={"tags": ["a", "c"], "a/b": {"~t": 1}, "n": {"m": {"deep": 1}}})
    resp = _patch(api, "dp1",
                  {"op": "add", "path": "/instance_info/image_properties/os", "value": "y"},
                  {"op": "remove", "path": "/instance_info/image_properties/keep"},
                  {"op": "replace", "path": "/properties/root_device/size", "value": 20},
                  {"op": "add", "path": "/properties/capabilities", "value": "x:y"},
                  {"op": "add", "path": "/extra/tags/1", "value": "b"},
                  {"op": "add", "path": "/extra/tags/-", "value": "d"},
                  {"op": "remove", "path": "/extra/tags/0"},
                  {"op": "replace", "path": "/extra/a~1b/~0t", "value": 2},
                  {"op": "add", "path": "/extra/new", "value": {}},
                  {"op": "add", "path": "/extra/new/x", "value": [1]},
                  {"op": "remove", "path": "/extra/n/m/deep"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    stored = row("dp1")
    assert stored["instance_info"] == {"image_properties": {"os": "y"}}
    assert stored["properties"] == {"capabilities": "x:y", "root_device": {"size": 20}}
    assert stored["extra"] == {"tags": ["b", "c", "d"], "a/b": {"~t": 2},
                               "n": {"m": {}}, "new": {"x": [1]}}
    assert resp.get_json()["extra"] == stored["extra"]


def test_deep_driver_info_keeps_secrets_masked_and_stored(api, make_node):
    make_node("dp2", driver_info={"fake_username": "admin", "fake_password": "s3cret",
                                  "fake_address": "10.0.0.1"})
    # A key the hardware type does not read is refused by its checks, deep or not.
    resp = _patch(api, "dp2", {"op": "add", "path": "/driver_info/fake_password/x",
                               "value": 1})
    assert resp.status_code == 400
    message = error_of(resp)
    assert "/driver_info/fake_password is a string" in message and "s3cret" not in message
    resp = _patch(api, "dp2", {"op": "add", "path": "/driver_info/zz/x", "value": "******"})
    assert resp.status_code == 400 and "mask" in error_of(resp)
    assert row("dp2")["driver_info"]["fake_password"] == "s3cret"


@pytest.mark.parametrize("op, words", [
    ({"op": "add", "path": "/extra/missing/b", "value": 1},
     ["operation 0", "/extra/missing does not exist", '"path": "/extra/missing"']),
    ({"op": "add", "path": "/extra/obj/no/c", "value": 1},
     ["/extra/obj/no does not exist", "add it first"]),
    ({"op": "replace", "path": "/extra/obj/nokey", "value": 1},
     ["/extra/obj has no key", "use add"]),
    ({"op": "remove", "path": "/extra/obj/nokey"}, ["/extra/obj has no key"]),
    ({"op": "add", "path": "/extra/flat/x", "value": 1},
     ["/extra/flat is a string", "replace /extra/flat as a whole"]),
    ({"op": "add", "path": "/extra/list/5", "value": 1},
     ["array of 2", "index 5", "- to append"]),
    ({"op": "replace", "path": "/extra/list/-", "value": 1}, ["not an index"]),
    ({"op": "add", "path": "/extra/list/01", "value": 1}, ["not an index"]),
    ({"op": "add", "path": "/extra/obj/a~2b", "value": 1}, ["~0", "~1"]),
    ({"op": "add", "path": "/extra/obj//x", "value": 1}, ["empty key"]),
    ({"op": "add", "path": "/name/x/y", "value": 1}, ["/name", "not an object"]),
])
def test_bad_deep_path_is_400_naming_it_and_changes_nothing(api, make_node, op, words):
    make_node("dp3", extra={"obj": {"a": 1}, "flat": "s", "list": [1, 2]})
    before = row("dp3")
    resp = _patch(api, "dp3", op)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    message = error_of(resp)
    for word in words:
        assert word in message, message
    assert row("dp3") == before


def test_a_later_failing_operation_undoes_nothing_applied(api, make_node):
    make_node("dp4", extra={"obj": {"a": 1}})
    before = row("dp4")
    resp = _patch(api, "dp4", {"op": "add", "path": "/extra/obj/b", "value": 2},
                  {"op": "remove", "path": "/extra/obj"},
                  {"op": "add", "path": "/extra/obj/c", "value": 3})
    assert resp.status_code == 400
    assert "operation 2" in error_of(resp) and "/extra/obj does not exist" in error_of(resp)
    assert row("dp4") == before


def test_port_extra_deep_paths(api, make_node):
    node = make_node("dpp")
    port = api.post("/v1/ports", {"node_uuid": node["uuid"], "address": "52:54:00:bb:00:01",
                                  "extra": {"switch": {"port": "1"}}}).get_json()
    resp = api.patch("/v1/ports/" + port["uuid"], [
        {"op": "add", "path": "/extra/switch/vlan", "value": 10},
        {"op": "replace", "path": "/extra/switch/port", "value": "2"}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["extra"] == {"switch": {"port": "2", "vlan": 10}}
    resp = api.patch("/v1/ports/" + port["uuid"], [
        {"op": "add", "path": "/extra/nope/x", "value": 1}])
    assert resp.status_code == 400 and "/extra/nope does not exist" in error_of(resp)


def test_a_deep_path_cannot_nest_a_value_deeper_than_a_body_may(api, make_node):
    """Each request's body is at most 32 levels deep; paths below a key must not
    let stored values grow deeper request by request (a listing would fail)."""
    inner = {}
    nested = inner
    for _ in range(28):  # {"b": {"b": ... {}}}: 29 levels under /extra/a
        nested["b"] = {}
        nested = nested["b"]
    make_node("dp5", extra={"a": inner})
    path = "/extra/a" + "/b" * 28
    resp = _patch(api, "dp5", {"op": "add", "path": path + "/c", "value": {"d": {}}})
    assert resp.status_code == 400
    assert "/extra/a would nest more than 30 levels" in error_of(resp)
    assert row("dp5")["extra"] == {"a": inner}
    assert _patch(api, "dp5", {"op": "add", "path": path + "/c", "value": 1}).status_code == 200
