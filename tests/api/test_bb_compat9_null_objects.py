"""A null object field (driver_info, instance_info, properties, extra) is an empty one.

Ironic's node schema types these ``object`` or ``null`` on create and PATCH,
and its objects keep null as ``{}``: ``{"driver": ..., "extra": null}`` and
``replace /properties null`` are accepted and read back as ``{}``.
hwdrivers answered 400 "field extra must be an object", failing scripts and
tools that send null for "nothing". A value of another type stays a 400.
"""

import pytest

from tests.api.conftest import error_of, row

OBJECT_FIELDS = ("driver_info", "instance_info", "properties", "extra")


def test_create_with_null_object_fields_stores_empty_objects(api):
    body = {"driver": "fake-hardware", "name": "null-create"}
    body.update({field: None for field in OBJECT_FIELDS})
    resp = api.post("/v1/nodes", body)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    for field in OBJECT_FIELDS:
        assert resp.get_json()[field] == {}, field
    assert row("null-create")["extra"] == {}


@pytest.mark.parametrize("field", OBJECT_FIELDS)
def test_replace_with_null_empties_the_field(api, make_node, field):
    make_node("null-patch", instance_info={"image_source": "http://x/i"},
              properties={"cpus": 2}, extra={"k": "v"})
    resp = api.patch("/v1/nodes/null-patch", [{"op": "replace", "path": "/" + field,
                                               "value": None}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()[field] == {}
    assert api.get("/v1/nodes/null-patch").get_json()[field] == {}


def test_another_type_is_still_a_400_naming_the_field(api, make_node):
    make_node("null-list")
    resp = api.patch("/v1/nodes/null-list", [{"op": "replace", "path": "/extra",
                                              "value": []}])
    assert resp.status_code == 400
    assert "extra" in error_of(resp)
