"""Version documents and microversion negotiation (Ironic's headers and rules)."""

import pytest

from hwdrivers.api import microversions
from tests.api.conftest import error_of

MAX = microversions.fmt(microversions.MAX_VERSION)
MIN = microversions.fmt(microversions.MIN_VERSION)


def test_root_lists_v1_with_range(api):
    resp = api.get("/")
    assert resp.status_code == 200
    body = resp.get_json()
    (version,) = body["versions"]
    assert version["id"] == "v1"
    assert version["status"] == "CURRENT"
    assert version["min_version"] == MIN and version["version"] == MAX
    assert version["links"] == [{"href": "http://localhost/v1/", "rel": "self"}]
    assert body["default_version"] == version


def test_v1_document_links_resources(api):
    body = api.get("/v1/").get_json()
    assert body["id"] == "v1"
    assert body["media_types"][0]["base"] == "application/json"
    for resource in ("nodes", "ports", "drivers", "conductors"):
        assert body[resource][0]["href"] == "http://localhost/v1/%s/" % resource
    assert body["version"]["version"] == MAX


def test_no_header_gets_minimum_and_range_headers(app):
    resp = app.test_client().get("/v1/nodes")
    assert resp.status_code == 200
    assert resp.headers[microversions.HEADER] == MIN
    assert resp.headers[microversions.MIN_HEADER] == MIN
    assert resp.headers[microversions.MAX_HEADER] == MAX


@pytest.mark.parametrize("headers, served", [
    ({"X-OpenStack-Ironic-API-Version": "1.31"}, "1.31"),
    ({"X-OpenStack-Ironic-API-Version": "latest"}, MAX),
    ({"OpenStack-API-Version": "baremetal 1.50"}, "1.50"),
    ({"OpenStack-API-Version": "compute 2.1, baremetal latest"}, MAX),
])
def test_version_headers_are_honoured(app, headers, served):
    resp = app.test_client().get("/v1/nodes", headers=headers)
    assert resp.status_code == 200
    assert resp.headers[microversions.HEADER] == served
    assert resp.headers["OpenStack-API-Version"] == "baremetal " + served


@pytest.mark.parametrize("value", ["1.0", "1.999", "2.1", "one", "1"])
def test_unsupported_or_malformed_version_is_406_with_range(app, value):
    resp = app.test_client().get(
        "/v1/nodes", headers={"X-OpenStack-Ironic-API-Version": value})
    assert resp.status_code == 406
    assert resp.headers[microversions.MIN_HEADER] == MIN
    assert resp.headers[microversions.MAX_HEADER] == MAX
    message = error_of(resp)
    assert MIN in message and MAX in message


def test_406_changes_nothing(app, api):
    resp = app.test_client().post(
        "/v1/nodes", json={"driver": "fake-hardware", "name": "n406"},
        headers={"X-OpenStack-Ironic-API-Version": "9.9"})
    assert resp.status_code == 406
    assert api.get("/v1/nodes").get_json()["nodes"] == []


def test_parse_unit():
    assert microversions.parse("latest") == microversions.MAX_VERSION
    assert microversions.parse(" 1.2 ") == (1, 2)
