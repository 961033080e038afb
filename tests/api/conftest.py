"""Fixtures for the REST API tests: a Flask test client over a real database.

The app is built around a real ConductorManager and WorkerPool (no mocks):
requests go through the same code the server runs. ``api`` sends the
newest microversion unless a test passes its own headers.
"""

import json

import pytest

from hwdrivers.api import app as app_mod
from hwdrivers.api import microversions
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import workers as workers_mod
from hwdrivers.db import api as db_api

LATEST = {microversions.HEADER: microversions.fmt(microversions.MAX_VERSION)}


class Service:
    """What create_app needs of a conductor service: ``.manager``."""

    def __init__(self, size=4):
        self.manager = manager_mod.ConductorManager(workers=workers_mod.WorkerPool(size))


class Client:
    """The Flask test client with JSON helpers and the latest microversion."""

    def __init__(self, flask_client):
        self.raw = flask_client

    def request(self, method, path, body=None, headers=None, raw=None, **kwargs):
        all_headers = dict(LATEST)
        all_headers.update(headers or {})
        if raw is not None:
            kwargs["data"] = raw
            all_headers.setdefault("Content-Type", "application/json")
        elif body is not None:
            kwargs["data"] = json.dumps(body)
            all_headers.setdefault("Content-Type", "application/json")
        return self.raw.open(path, method=method, headers=all_headers, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def service(sqlite_database):
    svc = Service()
    yield svc
    svc.manager.workers.shutdown(wait=True, timeout=10)


@pytest.fixture
def app(service):
    return app_mod.create_app(service)


@pytest.fixture
def api(app):
    return Client(app.test_client())


def error_of(resp):
    """The faultstring of an Ironic-shaped error response (asserting the shape)."""
    body = resp.get_json()
    assert set(body) == {"error_message"}, body
    inner = json.loads(body["error_message"])
    assert set(inner) == {"faultstring", "faultcode", "debuginfo"}
    assert inner["debuginfo"] is None
    assert inner["faultcode"] == ("Client" if resp.status_code < 500 else "Server")
    return inner["faultstring"]


def row(ident):
    return db_api.get_node(ident)


@pytest.fixture
def make_node(api):
    def make(name="node-1", **values):
        body = {"driver": "fake-hardware", "name": name,
                "driver_info": {"fake_username": "admin", "fake_password": "s3cret"}}
        body.update(values)
        resp = api.post("/v1/nodes", body)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        return resp.get_json()
    return make
