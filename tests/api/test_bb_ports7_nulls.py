"""null where Ironic's port schema takes it: ``"uuid": null`` on create (a
generated UUID) and replace ``/extra`` with null on PATCH (Ironic stores no
extra, ``{}``). Both were 400s ("must be a UUID/an object, got null")."""

from tests.api.conftest import error_of


def test_create_with_null_uuid_gets_a_uuid(api, make_node):
    node = make_node("p7-null")
    resp = api.post("/v1/ports", {"node_uuid": node["uuid"], "address": "52:54:00:77:20:01",
                                  "uuid": None})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert len(resp.get_json()["uuid"]) == 36
    bad = api.post("/v1/ports", {"node_uuid": node["uuid"], "address": "52:54:00:77:20:02",
                                 "uuid": 5})
    assert bad.status_code == 400 and "uuid" in error_of(bad)


def test_patch_extra_to_null_empties_it(api, make_node):
    node = make_node("p7-null")
    port = api.post("/v1/ports", {"node_uuid": node["uuid"], "address": "52:54:00:77:20:03",
                                  "extra": {"a": 1}}).get_json()
    resp = api.patch("/v1/ports/%s" % port["uuid"],
                     [{"op": "replace", "path": "/extra", "value": None}])
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["extra"] == {}
    bad = api.patch("/v1/ports/%s" % port["uuid"],
                    [{"op": "replace", "path": "/extra", "value": [1]}])
    assert bad.status_code == 400 and "Field extra" in error_of(bad)
