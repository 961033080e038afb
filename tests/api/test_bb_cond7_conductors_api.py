"""GET /v1/conductors as Ironic serves it: from API 1.49, detail or fields, not both.

* Ironic's conductor routes exist from 1.49 (``MINOR_49_CONDUCTORS``) and
  answer 404 below it; here any version listed them (no version header
  included, which means 1.1).
* ``?detail=true&fields=...`` is a 400 in Ironic (get_request_return_fields);
  here it was accepted.
* ``owned_nodes`` (hwdrivers' own) costs a pass over the fleet: a response
  that does not show it must not count nodes.
"""

import pytest

from hwdrivers.api import microversions
from hwdrivers.db import api as db_api
from tests.api.conftest import error_of


@pytest.fixture
def conductors():
    """Two hwdrivers-conductor rows (each with its JSON-RPC URL)."""
    db_api.register_conductor("c1", ["fake-hardware"], rpc_url="http://127.0.0.1:8091")
    db_api.register_conductor("c2", ["fake-hardware"], conductor_group="dc2",
                              rpc_url="http://127.0.0.1:8092")


def _at(version):
    return {microversions.HEADER: version}


@pytest.mark.parametrize("path", ["/v1/conductors", "/v1/conductors/c1",
                                  "/v1/conductors?detail=true&fields=hostname"])
@pytest.mark.parametrize("version", [None, "1.1", "1.48"])
def test_below_1_49_conductors_are_not_found(app, conductors, path, version):
    headers = {} if version is None else _at(version)
    resp = app.test_client().get(path, headers=headers)
    assert resp.status_code == 404
    message = error_of(resp)
    served = version or "1.1"
    assert "in API version %s" % served in message, message
    assert "/v1/conductors" in message and "it was added in 1.49" in message
    assert "X-OpenStack-Ironic-API-Version: 1.49 or later" in message
    assert resp.headers[microversions.HEADER] == served


@pytest.mark.parametrize("version", ["1.49", "1.56", "latest"])
def test_from_1_49_conductors_are_served(api, conductors, version):
    resp = api.get("/v1/conductors", headers=_at(version))
    assert resp.status_code == 200
    assert [c["hostname"] for c in resp.get_json()["conductors"]] == ["c1", "c2"]
    assert api.get("/v1/conductors/c2", headers=_at(version)).get_json()[
        "conductor_group"] == "dc2"


def test_other_routes_keep_every_version(app, conductors):
    client = app.test_client()
    for path in ("/v1/nodes", "/v1/drivers", "/v1/"):
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize("query", ["detail=true&fields=hostname",
                                   "detail=True&fields=hostname,owned_nodes",
                                   "fields=alive&detail=1"])
def test_detail_and_fields_together_are_refused(api, conductors, query):
    resp = api.get("/v1/conductors?" + query)
    assert resp.status_code == 400
    message = error_of(resp)
    assert "detail=true and fields cannot be combined" in message
    assert "drop one of them" in message


def test_fields_with_detail_false_is_fine(api, conductors):
    """``baremetal conductor list --fields ...`` sends detail=False with fields."""
    resp = api.get("/v1/conductors?detail=False&fields=hostname,alive")
    assert resp.status_code == 200
    assert resp.get_json()["conductors"][0] == {
        "hostname": "c1", "alive": True,
        "links": resp.get_json()["conductors"][0]["links"]}


@pytest.mark.parametrize("path, counted", [
    ("/v1/conductors", [["", "dc2"]]),
    ("/v1/conductors?detail=true", [["", "dc2"]]),
    ("/v1/conductors?fields=hostname,owned_nodes", [["", "dc2"]]),
    ("/v1/conductors?fields=hostname&sort_key=owned_nodes", [["", "dc2"]]),
    ("/v1/conductors?fields=hostname,alive", []),
    ("/v1/conductors/c2", [["dc2"]]),
    ("/v1/conductors/c2?fields=hostname,drivers", []),
])
def test_nodes_are_counted_only_for_a_response_that_shows_them(
        api, conductors, monkeypatch, path, counted):
    api.post("/v1/nodes", {"driver": "fake-hardware", "conductor_group": "dc2"})
    asked = []
    real = db_api.node_ring_inputs
    monkeypatch.setattr(db_api, "node_ring_inputs",
                        lambda groups: asked.append(sorted(groups)) or real(groups))
    resp = api.get(path)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert asked == counted
    body = resp.get_json()
    docs = {d["hostname"]: d for d in body.get("conductors", [body])}
    if "sort_key" in path:  # counted to sort by, not shown
        assert list(docs) == ["c1", "c2"] and "owned_nodes" not in docs["c2"]
    elif counted:
        assert docs["c2"]["owned_nodes"] == 1
    else:
        assert all("owned_nodes" not in d for d in docs.values())
