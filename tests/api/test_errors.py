"""Errors in Ironic's shape, with the right status, and nothing changed."""

import json

import pytest

from hwdrivers.api import errors
from hwdrivers.common import exception
from hwdrivers.db import api as db_api
from tests.api.conftest import error_of


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
    (exception.InvalidStateRequested(reason="r"), 409),
    (exception.NodeInMaintenance(node="n", reason="r", action="a"), 409),
    (exception.NoFreeWorker(), 503),
    (exception.DriverSettingsError("x"), 400),
    (exception.DriverConnectionError("x"), 500),
    (errors.NotAcceptable("x"), 406),
    (ValueError("x"), 500),
])
def test_status_mapping(exc, status):
    assert errors.status_for(exc) == status


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
