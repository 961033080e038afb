"""Errors in Ironic's shape, with the right status, and nothing changed."""

import json

import pytest

from hwdrivers.api import errors
from hwdrivers.common import exception
from hwdrivers.db import api as db_api
from tests.api.conftest import error_of, row


def test_unknown_route_is_404_in_ironic_shape(api):
    resp = api.get("/v1/chassis")
    assert resp.status_code == 404
    assert "/v1/chassis" in error_of(resp)
    assert resp.headers["X-OpenStack-Ironic-API-Maximum-Version"]


def test_wrong_method_is_405_with_allow(api, make_node):
    make_node("m405")
    resp = api.post("/v1/nodes/m405")
    assert resp.status_code == 405
    assert "POST" in error_of(resp)
    assert "GET" in resp.headers["Allow"]


def test_body_too_large_is_413_and_changes_nothing(api, config):
    config(api__max_request_body_size=1024)
    from hwdrivers.api import app as app_mod
    from tests.api import conftest
    small = conftest.Client(app_mod.create_app(conftest.Service(1)).test_client())
    body = {"driver": "fake-hardware", "name": "big", "extra": {"blob": "x" * 4096}}
    resp = small.post("/v1/nodes", body)
    assert resp.status_code == 413
    assert "max_request_body_size" in error_of(resp)
    assert db_api.list_nodes() == []


def test_unexpected_error_is_500_without_internals(api, monkeypatch):
    from hwdrivers.conductor import manager

    def boom(*a, **k):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(manager.ConductorManager, "list_nodes", boom)
    resp = api.get("/v1/nodes")
    assert resp.status_code == 500
    message = error_of(resp)
    assert "secret internal detail" not in message and "log" in message


@pytest.mark.parametrize("exc, status", [
    (exception.InvalidParameterValue("x"), 400),
    (exception.MissingParameterValue("x"), 400),
    (exception.NodeNotFound(node="n"), 404),
    (exception.NodeLocked(node="n", holder="h"), 409),
    (exception.InvalidStateRequested(reason="r"), 400),
    (exception.InvalidState(reason="r"), 409),
    (exception.NodeInMaintenance(node="n", reason="r", action="a"), 400),
    (exception.NoFreeWorker(), 503),
    (exception.DriverSettingsError("x"), 400),
    (exception.DriverAuthError("x"), 400),
    (exception.DriverUnsupportedAction("x"), 400),
    (exception.DriverToolMissing("x"), 503),
    (exception.DriverConnectionError("x"), 504),
    (exception.DriverActionError("x"), 502),
    (exception.DriverError("x"), 502),
    (exception.PowerStateFailure(node="n", state="s", reason="r"), 504),
    (exception.DatabaseUnavailable(reason="r"), 503),
    (exception.HardwareBusy(count=8), 503),
    (exception.HardwareCallTimeout(node="n", action="a", timeout=1), 504),
    (errors.NotAcceptable("x"), 406),
    (ValueError("x"), 500),
])
def test_status_mapping(exc, status):
    assert errors.status_for(exc) == status


def test_every_driver_error_class_has_a_non_500_status():
    """The whole taxonomy is mapped: no typed driver error is ever a bare 500."""
    for cls in set(exception.TAXONOMY.values()):
        assert errors.status_for(cls("x")) != 500, cls


@pytest.mark.parametrize("exc, status, retry_after", [
    (exception.DriverAuthError("wrong password", node="db1", controller="ipmi:10.0.0.2"),
     400, None),
    (exception.DriverConnectionError("no answer", node="db1", controller="ipmi:10.0.0.2"),
     504, "10"),
    (exception.DatabaseUnavailable(reason="database is locked"), 503, "5"),
    (exception.NodeLocked(node="db1", holder="c1"), 409, "1"),
])
def test_typed_errors_reach_the_client_with_status_and_retry_after(
        api, monkeypatch, exc, status, retry_after):
    from hwdrivers.conductor import manager

    def fail(*a, **k):
        raise exc

    monkeypatch.setattr(manager.ConductorManager, "get_boot_device", fail)
    resp = api.get("/v1/nodes/x/management/boot_device")
    assert resp.status_code == status
    assert resp.headers.get("Retry-After") == retry_after
    assert error_of(resp) == str(exc)
    if isinstance(exc, exception.DriverError):
        assert "db1" in error_of(resp) and "ipmi:10.0.0.2" in error_of(resp)


@pytest.mark.parametrize("method, path", [
    ("POST", "/v1/nodes"), ("PATCH", "/v1/nodes/n1"), ("PUT", "/v1/nodes/n1/states/power"),
    ("PUT", "/v1/nodes/n1/states/provision"), ("PUT", "/v1/nodes/n1/maintenance"),
    ("PUT", "/v1/nodes/n1/management/boot_device"), ("POST", "/v1/ports"),
    ("POST", "/v1/nodes/n1/vendor_passthru?method=x"),
])
def test_deeply_nested_body_is_400_on_every_endpoint(api, make_node, method, path):
    make_node("n1")
    before = row("n1")
    for raw in ("[" * 100000 + "]" * 100000, '{"a":' * 100000 + "1" + "}" * 100000,
                json.dumps({"extra": _nested(40)})):
        resp = api.request(method, path, raw=raw)
        assert resp.status_code == 400, (path, resp.status_code)
        assert "nested" in error_of(resp)
    assert row("n1") == before


def _nested(depth):
    value = "x"
    for _ in range(depth):
        value = {"k": value}
    return value


def test_reasonably_nested_body_is_accepted(api, make_node):
    make_node("n1")
    resp = api.patch("/v1/nodes/n1", [{"op": "add", "path": "/extra/deep",
                                       "value": _nested(20)}])
    assert resp.status_code == 200, error_of(resp)


def test_error_body_shape():
    body = errors.error_body(409, "locked")
    assert json.loads(body["error_message"]) == {
        "faultstring": "locked", "faultcode": "Client", "debuginfo": None}
    assert json.loads(errors.error_body(503, "x")["error_message"])["faultcode"] == "Server"


def test_request_id_is_echoed(api):
    resp = api.get("/v1/nodes", headers={"X-OpenStack-Request-Id": "req-abc"})
    assert resp.headers["X-OpenStack-Request-Id"] == "req-abc"
    resp = api.get("/v1/nodes")
    assert resp.headers["X-OpenStack-Request-Id"].startswith("req-")


def test_metrics_endpoint_is_wired(api):
    resp = api.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")


def test_an_unusable_database_file_is_a_503_without_retry_after(api, monkeypatch):
    """Waiting will not fix a file that is not a database: no retry hint."""
    from hwdrivers.conductor import manager as manager_mod

    def unusable(*args, **kwargs):
        raise exception.DatabaseUnusable(reason="the database file /x is not an SQLite "
                                                "database: move it away")
    monkeypatch.setattr(manager_mod.ConductorManager, "list_nodes", unusable)
    resp = api.get("/v1/nodes")
    assert resp.status_code == 503 and "Retry-After" not in resp.headers
    assert "/x is not an SQLite database" in error_of(resp)
