"""/v1/nodes: create, list (filters, fields, pagination), show, patch, delete.

Every refused request is checked twice: the status and a message naming the
field, and the database re-read to prove nothing changed.
"""

import json

import pytest

from hwdrivers.db import api as db_api
from tests.api.conftest import error_of, row


def test_create_returns_ironic_document_with_masked_secret(api):
    resp = api.post("/v1/nodes", {
        "driver": "fake-hardware", "name": "n1",
        "driver_info": {"fake_username": "admin", "fake_password": "s3cret"},
        "properties": {"cpus": 4}, "extra": {"rack": "r1"}})
    assert resp.status_code == 201
    node = resp.get_json()
    assert resp.headers["Location"] == "http://localhost/v1/nodes/%s" % node["uuid"]
    assert node["name"] == "n1" and node["driver"] == "fake-hardware"
    assert node["provision_state"] == "enroll"
    assert node["maintenance"] is False
    assert node["driver_info"] == {"fake_username": "admin", "fake_password": "******"}
    assert node["properties"] == {"cpus": 4} and node["extra"] == {"rack": "r1"}
    assert node["power_interface"] == "fake"
    assert node["network_interface"] is None and node["instance_uuid"] is None
    assert node["links"][0] == {"href": "http://localhost/v1/nodes/%s" % node["uuid"],
                                "rel": "self"}
    assert node["created_at"].endswith("+00:00")
    assert "s3cret" not in resp.get_data(as_text=True)
    # ... but it is stored.
    assert row("n1")["driver_info"]["fake_password"] == "s3cret"


def test_secret_never_read_back_anywhere(api, make_node):
    make_node("sec")
    for path in ("/v1/nodes/sec", "/v1/nodes/detail", "/v1/nodes?detail=true",
                 "/v1/nodes/sec?fields=driver_info", "/v1/nodes?fields=driver_info"):
        text = api.get(path).get_data(as_text=True)
        assert "s3cret" not in text, path
        assert "******" in text, path
    resp = api.patch("/v1/nodes/sec", [{"op": "replace", "path": "/driver_info/fake_password",
                                        "value": "n3w-secret"}])
    assert resp.status_code == 200
    assert "n3w-secret" not in resp.get_data(as_text=True)
    assert row("sec")["driver_info"]["fake_password"] == "n3w-secret"


def test_create_with_uuid(api):
    uuid = "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"
    resp = api.post("/v1/nodes", {"driver": "fake-hardware", "uuid": uuid})
    assert resp.status_code == 201
    assert api.get("/v1/nodes/" + uuid).get_json()["uuid"] == uuid


@pytest.mark.parametrize("body, status, words", [
    ({"name": "x"}, 400, ["driver", "required"]),
    ({"driver": "nope", "name": "x"}, 400, ["driver", "nope"]),
    ({"driver": "fake-hardware", "colour": "red"}, 400, ["colour"]),
    ({"driver": "fake-hardware", "power_state": "power on"}, 400, ["power_state"]),
    ({"driver": "fake-hardware", "provision_state": "active"}, 400, ["provision_state"]),
    ({"driver": "fake-hardware", "owner": "me"}, 400, ["owner", "not supported"]),
    ({"driver": "fake-hardware", "name": 5}, 400, ["name"]),
    ({"driver": "fake-hardware", "driver_info": "x"}, 400, ["driver_info"]),
    ({"driver": "fake-hardware", "driver_info": {"fake_pasword": "x"}}, 400,
     ["fake_pasword"]),
    ({"driver": "fake-hardware", "power_interface": "ipmitool"}, 400,
     ["power_interface", "ipmitool"]),
    ({"driver": "fake-hardware", "uuid": "not-a-uuid"}, 400, ["uuid"]),
    ({"driver": "fake-hardware", "name": "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"}, 400,
     ["name"]),
])
def test_bad_create_is_refused_naming_the_field(api, body, status, words):
    resp = api.post("/v1/nodes", body)
    assert resp.status_code == status, resp.get_data(as_text=True)
    message = error_of(resp)
    for word in words:
        assert word in message, message
    assert db_api.list_nodes() == []


@pytest.mark.parametrize("raw, words", [
    (b"{not json", ["not valid JSON"]),
    (b"", ["empty"]),
    (b"[1, 2]", ["JSON object"]),
    (b"\xff\xfe", ["not valid JSON"]),
])
def test_malformed_body_is_400(api, raw, words):
    resp = api.request("POST", "/v1/nodes", raw=raw)
    assert resp.status_code == 400
    for word in words:
        assert word in error_of(resp)
    assert db_api.list_nodes() == []


def test_duplicate_name_is_409(api, make_node):
    make_node("dup")
    resp = api.post("/v1/nodes", {"driver": "fake-hardware", "name": "dup"})
    assert resp.status_code == 409
    assert "name" in error_of(resp)
    assert len(db_api.list_nodes()) == 1


def test_show_by_uuid_and_name_and_404(api, make_node):
    node = make_node("shown")
    assert api.get("/v1/nodes/shown").get_json()["uuid"] == node["uuid"]
    assert api.get("/v1/nodes/" + node["uuid"]).get_json()["name"] == "shown"
    resp = api.get("/v1/nodes/missing")
    assert resp.status_code == 404
    assert "missing" in error_of(resp)


def test_show_fields(api, make_node):
    make_node("f1")
    body = api.get("/v1/nodes/f1?fields=uuid,power_state").get_json()
    assert set(body) == {"uuid", "power_state", "links"}
    resp = api.get("/v1/nodes/f1?fields=uuid,bogus")
    assert resp.status_code == 400
    assert "bogus" in error_of(resp)


def test_list_summary_detail_and_fields(api, make_node):
    make_node("a")
    make_node("b")
    nodes = api.get("/v1/nodes").get_json()["nodes"]
    assert [n["name"] for n in nodes] == ["a", "b"]
    assert set(nodes[0]) == {"uuid", "name", "instance_uuid", "power_state",
                             "provision_state", "maintenance", "links"}
    detail = api.get("/v1/nodes/detail").get_json()["nodes"]
    assert detail[0]["driver_info"]["fake_password"] == "******"
    assert "driver" in api.get("/v1/nodes?detail=true").get_json()["nodes"][0]
    fields = api.get("/v1/nodes?fields=name,driver").get_json()["nodes"]
    assert fields[0] == {"name": "a", "driver": "fake-hardware",
                         "links": fields[0]["links"]}
    resp = api.get("/v1/nodes/detail?fields=name")
    assert resp.status_code == 400 and "fields" in error_of(resp)


def test_documents_carry_any_json_a_client_stored(api):
    """Values orjson cannot encode (a 70-bit integer) still list: the json module does them."""
    extra = {"big": 2 ** 70, "text": "caf\u00e9 \u2603", "nested": {"n": [1, 2.5, None]}}
    resp = api.post("/v1/nodes", {"name": "odd", "driver": "fake-hardware", "extra": extra})
    assert resp.status_code == 201, resp.get_data()
    plain = api.post("/v1/nodes", {"name": "plain", "driver": "fake-hardware"})
    assert plain.status_code == 201
    for path in ("/v1/nodes/odd", "/v1/nodes/detail", "/v1/nodes?fields=name,extra"):
        resp = api.get(path)
        assert resp.status_code == 200, (path, resp.get_data())
        body = resp.get_json()
        docs = body.get("nodes", [body])
        assert {d["name"]: d["extra"] for d in docs}["odd"] == extra
    assert resp.headers["Content-Type"] == "application/json"
    assert "+00:00" in api.get("/v1/nodes/plain").get_json()["created_at"]


def test_list_filters(api, make_node):
    make_node("m1")
    make_node("m2")
    db_api.update_node(row("m2")["id"], {"maintenance": True, "provision_state": "manageable"})
    names = lambda q: [n["name"] for n in api.get("/v1/nodes" + q).get_json()["nodes"]]  # noqa: E731
    assert names("?maintenance=true") == ["m2"]
    assert names("?maintenance=false") == ["m1"]
    assert names("?provision_state=manageable") == ["m2"]
    assert names("?driver=fake-hardware") == ["m1", "m2"]
    assert names("?driver=ipmi") == []
    assert names("?associated=true") == []
    assert names("?associated=false") == ["m1", "m2"]
    assert names("?sort_key=name&sort_dir=desc") == ["m2", "m1"]


@pytest.mark.parametrize("query, word", [
    ("?maintenance=perhaps", "maintenance"),
    ("?limit=abc", "limit"),
    ("?limit=-1", "limit"),
    ("?sort_key=driver_info", "sort"),
    ("?sort_dir=sideways", "sideways"),
    ("?colour=red", "colour"),
    ("?marker=not-a-uuid", "marker"),
])
def test_bad_list_query_is_400(api, query, word):
    resp = api.get("/v1/nodes" + query)
    assert resp.status_code == 400
    assert word in error_of(resp)


def test_pagination_with_next_link(api, make_node):
    for i in range(5):
        make_node("p%d" % i)
    seen = []
    url = "/v1/nodes?limit=2&driver=fake-hardware"
    while url:
        body = api.get(url).get_json()
        seen.extend(n["name"] for n in body["nodes"])
        url = body.get("next", "").replace("http://localhost", "") or None
        if url:
            assert "driver=fake-hardware" in url and "limit=2" in url
    assert seen == ["p0", "p1", "p2", "p3", "p4"]


def test_max_limit_caps_page(api, make_node, config):
    config(api__max_limit=2)
    for i in range(3):
        make_node("c%d" % i)
    body = api.get("/v1/nodes?limit=50").get_json()
    assert len(body["nodes"]) == 2 and "next" in body


# -- PATCH ------------------------------------------------------------------------

def _patch(api, ident, *ops):
    return api.patch("/v1/nodes/" + ident, list(ops))


def test_patch_add_replace_remove(api, make_node):
    make_node("pt", extra={"a": 1, "b": 2})
    resp = _patch(api, "pt",
                  {"op": "replace", "path": "/name", "value": "pt2"},
                  {"op": "add", "path": "/extra/c", "value": 3},
                  {"op": "remove", "path": "/extra/a"},
                  {"op": "add", "path": "/properties/cpus", "value": 8},
                  {"op": "add", "path": "/instance_info/image", "value": "x"},
                  {"op": "add", "path": "/driver_info/fake_address", "value": "10.0.0.1"},
                  {"op": "add", "path": "/power_interface", "value": "fake"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    node = resp.get_json()
    assert node["name"] == "pt2"
    assert node["extra"] == {"b": 2, "c": 3}
    assert node["properties"] == {"cpus": 8}
    assert node["instance_info"] == {"image": "x"}
    assert node["driver_info"]["fake_address"] == "10.0.0.1"
    stored = row("pt2")
    assert stored["extra"] == {"b": 2, "c": 3}
    assert stored["power_interface"] == "fake"
    resp = _patch(api, "pt2", {"op": "remove", "path": "/power_interface"},
                  {"op": "remove", "path": "/name"})
    assert resp.status_code == 200
    assert resp.get_json()["name"] is None
    assert row(node["uuid"])["power_interface"] is None


@pytest.mark.parametrize("ops, words", [
    ([{"op": "replace", "path": "/uuid", "value": "1be26c0b-03f2-4d2e-ae87-c02d7f33c123"}],
     ["/uuid", "read-only"]),
    ([{"op": "replace", "path": "/power_state", "value": "power on"}],
     ["/power_state", "read-only", "states/power"]),
    ([{"op": "replace", "path": "/provision_state", "value": "active"}],
     ["/provision_state", "read-only"]),
    ([{"op": "replace", "path": "/maintenance_reason", "value": "x"}],
     ["/maintenance_reason", "read-only"]),
    ([{"op": "add", "path": "/colour", "value": "red"}], ["/colour", "not a field"]),
    ([{"op": "replace", "path": "/driver", "value": "nope"}], ["driver", "nope"]),
    ([{"op": "replace", "path": "/name", "value": 42}], ["name"]),
    ([{"op": "replace", "path": "/extra", "value": "flat"}], ["extra", "object"]),
    ([{"op": "add", "path": "/driver_info/fake_pasword", "value": "x"}],
     ["fake_pasword"]),
    ([{"op": "add", "path": "/driver_info/fake_address", "value": "not an address!"}],
     ["fake_address"]),
    ([{"op": "add", "path": "/power_interface", "value": "ipmitool"}],
     ["power_interface"]),
    ([{"op": "remove", "path": "/extra/absent"}], ["absent"]),
    ([{"op": "remove", "path": "/driver"}], ["driver"]),
    ([{"op": "move", "path": "/name", "from": "/extra"}], ["move"]),
    ([{"op": "add", "path": "/name"}], ["value"]),
    ([{"op": "add", "path": "name", "value": "x"}], ["path"]),
    ([{"op": "add", "path": "/extra/a/b", "value": 1}], ["/extra/a", "does not exist"]),
    ([{"op": "add", "path": "/name/x", "value": 1}], ["/name", "not an object"]),
    ([{"op": "replace", "path": "/name", "value": "ok-name"},
      {"op": "replace", "path": "/power_state", "value": "x"}], ["operation 1"]),
])
def test_bad_patch_is_400_and_changes_nothing(api, make_node, ops, words):
    make_node("bp", extra={"k": "v"})
    before = row("bp")
    resp = _patch(api, "bp", *ops)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    message = error_of(resp)
    for word in words:
        assert word in message, message
    assert row("bp") == before


def test_patch_body_must_be_a_list(api, make_node):
    make_node("pl")
    before = row("pl")
    resp = api.patch("/v1/nodes/pl", {"op": "replace", "path": "/name", "value": "x"})
    assert resp.status_code == 400 and "list" in error_of(resp)
    assert row("pl") == before


def test_patch_unknown_node_is_404(api):
    resp = _patch(api, "ghost", {"op": "replace", "path": "/name", "value": "x"})
    assert resp.status_code == 404


def test_patch_changing_driver_to_enabled_one(api, make_node, config):
    config(enabled_hardware_types=["fake-hardware", "snmp"],
           enabled_power_interfaces=["fake", "snmp"],
           enabled_management_interfaces=["fake", "noop"])
    make_node("drv", driver_info={})
    resp = _patch(api, "drv", {"op": "replace", "path": "/driver", "value": "snmp"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert row("drv")["driver"] == "snmp"


# -- DELETE -------------------------------------------------------------------------

def test_delete(api, make_node):
    make_node("gone")
    resp = api.delete("/v1/nodes/gone")
    assert resp.status_code == 204 and resp.get_data() == b""
    assert api.get("/v1/nodes/gone").status_code == 404
    assert api.delete("/v1/nodes/gone").status_code == 404


def test_delete_active_node_is_409(api, make_node):
    make_node("busy")
    db_api.update_node(row("busy")["id"], {"provision_state": "active"})
    resp = api.delete("/v1/nodes/busy")
    assert resp.status_code == 409
    assert "active" in error_of(resp)
    assert row("busy")["provision_state"] == "active"


def test_delete_locked_node_is_409(api, make_node, config):
    config(api__node_locked_wait=0.1)
    make_node("locked")
    node_id = row("locked")["id"]
    import datetime
    future = db_api.utcnow() + datetime.timedelta(minutes=5)
    assert db_api.reserve_node(node_id, "other-host:tok", future, db_api.utcnow())
    resp = api.delete("/v1/nodes/locked")
    assert resp.status_code == 409
    assert "locked" in error_of(resp)
    assert row("locked")["name"] == "locked"


def test_node_json_is_plain_json(api, make_node):
    make_node("js")
    json.loads(api.get("/v1/nodes/js").get_data(as_text=True))


@pytest.fixture
def both_backends_api(database):
    """The API over each database backend (SQLite and PostgreSQL)."""
    from hwdrivers.api import app as app_mod
    from tests.api import conftest
    service = conftest.Service()
    yield conftest.Client(app_mod.create_app(service).test_client())
    service.manager.workers.shutdown(wait=True, timeout=10)


def test_node_lifecycle_on_each_backend(both_backends_api):
    api = both_backends_api
    for i in range(3):
        assert api.post("/v1/nodes", {"driver": "fake-hardware",
                                      "name": "be%d" % i}).status_code == 201
    body = api.get("/v1/nodes?limit=2&sort_key=name&sort_dir=desc").get_json()
    assert [n["name"] for n in body["nodes"]] == ["be2", "be1"]
    rest = api.get(body["next"].replace("http://localhost", "")).get_json()
    assert [n["name"] for n in rest["nodes"]] == ["be0"]
    resp = api.patch("/v1/nodes/be0", [{"op": "add", "path": "/extra/k", "value": "v"}])
    assert resp.status_code == 200 and resp.get_json()["extra"] == {"k": "v"}
    assert api.put("/v1/nodes/be0/states/power", {"target": "power on"}).status_code == 202
    from tests.waits import wait_for
    wait_for(lambda: row("be0")["power_state"] == "power on"
             and row("be0")["reservation"] is None)
    assert api.delete("/v1/nodes/be0").status_code == 204
    assert len(api.get("/v1/nodes").get_json()["nodes"]) == 2


def test_concurrent_patches_of_different_keys_all_apply(app, make_node):
    """Key paths are applied under the node's lock, so no update is lost."""
    import threading

    from tests.api.conftest import Client
    make_node("conc")
    statuses = []

    def patch(i):
        client = Client(app.test_client())
        resp = client.patch("/v1/nodes/conc", [
            {"op": "add", "path": "/extra/k%d" % i, "value": i}])
        statuses.append((i, resp.status_code))

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    applied = {"k%d" % i: i for i, status in statuses if status == 200}
    assert len(statuses) == 8
    assert all(status in (200, 409) for _, status in statuses), statuses
    assert len(applied) >= 1
    assert row("conc")["extra"] == applied


def test_patch_locked_node_is_409_and_changes_nothing(api, make_node, config):
    import datetime
    config(api__node_locked_wait=0.05)
    make_node("plk")
    future = db_api.utcnow() + datetime.timedelta(minutes=5)
    assert db_api.reserve_node(row("plk")["id"], "elsewhere:t", future, db_api.utcnow())
    before = row("plk")
    resp = _patch(api, "plk", {"op": "add", "path": "/extra/x", "value": 1})
    assert resp.status_code == 409
    assert "locked" in error_of(resp)
    assert row("plk") == before


# -- names the API could not address ------------------------------------------------

@pytest.mark.parametrize("name, why", [
    ("detail", "keyword of the API"),
    ("DETAIL", "keyword of the API"),
    ("0b8a3d4e-6f5a-4c2e-9d1b-3a7e5f6c8d90", "parses as a UUID"),
    ("0B8A3D4E6F5A4C2E9D1B3A7E5F6C8D90", "parses as a UUID"),
    ("..", "path segment"),
    ("trailing-newline\n", "letters, digits"),
])
def test_node_name_the_api_could_not_address_is_refused(api, make_node, name, why):
    resp = api.post("/v1/nodes", {"driver": "fake-hardware", "name": name})
    assert resp.status_code == 400
    assert why in error_of(resp) and "name" in error_of(resp)
    assert db_api.list_nodes() == []
    node = make_node("renamed")
    resp = api.patch("/v1/nodes/renamed", [{"op": "replace", "path": "/name", "value": name}])
    assert resp.status_code == 400 and why in error_of(resp)
    assert db_api.get_node(node["uuid"])["name"] == "renamed"


def test_reserved_names_cover_every_keyword_route(app):
    """Every literal path segment where a node identifier may stand is reserved."""
    from hwdrivers.conductor import manager
    keywords = set()
    for rule in app.url_map.iter_rules():
        parts = rule.rule.strip("/").split("/")
        if parts[:2] == ["v1", "nodes"] and len(parts) >= 3 and not parts[2].startswith("<"):
            keywords.add(parts[2])
    assert keywords, "no keyword routes found: the check is looking at the wrong map"
    assert keywords <= manager.RESERVED_NAMES


# -- links: computed once per request, per Host header ---------------------------------

def test_links_follow_each_requests_host_and_public_endpoint(api, make_node, config):
    """The base URL is looked up once per request (and the host URL cached by
    what it is computed from), so each client still gets its own Host back,
    and [api] public_endpoint still wins when set."""
    uuid = make_node("h1")["uuid"]
    for host in ("bmc-api.example:6385", "127.0.0.1:8080", "localhost"):
        for path in ("/v1/nodes/h1", "/v1/nodes/detail"):
            body = api.get(path, headers={"Host": host}).get_json()
            node = body if "uuid" in body else body["nodes"][0]
            assert node["links"][0]["href"] == "http://%s/v1/nodes/%s" % (host, uuid)
            assert node["states"][1] == {"href": "http://%s/nodes/%s/states" % (host, uuid),
                                         "rel": "bookmark"}
        resp = api.put("/v1/nodes/h1/states/power", {"target": "power on"},
                       headers={"Host": host})
        assert resp.headers["Location"] == "http://%s/v1/nodes/%s/states" % (host, uuid)
    config(api__public_endpoint="https://bm.example/")
    node = api.get("/v1/nodes/detail", headers={"Host": "other:1"}).get_json()["nodes"][0]
    assert node["links"] == [{"href": "https://bm.example/v1/nodes/%s" % uuid, "rel": "self"},
                             {"href": "https://bm.example/nodes/%s" % uuid, "rel": "bookmark"}]


def test_detail_listing_and_show_give_the_same_document(api, make_node):
    """The listing builds documents with its per-page lookups; show without."""
    make_node("same-1", extra={"rack": "r1"})
    make_node("same-2")
    listed = api.get("/v1/nodes/detail").get_json()["nodes"]
    for doc in listed:
        shown = api.get("/v1/nodes/%s" % doc["uuid"]).get_json()
        assert json.dumps(shown) == json.dumps(doc)


def test_an_empty_interface_is_refused_naming_the_way_to_the_default(api, make_node):
    make_node("ei")
    before = row("ei")
    resp = api.patch("/v1/nodes/ei", [{"op": "replace", "path": "/power_interface",
                                       "value": ""}])
    assert resp.status_code == 400
    assert "power_interface is empty" in error_of(resp) and "remove" in error_of(resp)
    assert row("ei") == before
