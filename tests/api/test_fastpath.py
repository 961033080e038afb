"""hwdrivers.api.fastpath answers exactly as the Flask routes do.

Each case is sent to two apps over the same service: the real one (fast
path in front) and one whose fast path is taken out, so Flask answers.
Status, headers and body must match byte for byte (the request id is sent
by the client so both echo it; a node's UUID in a Location is the only
thing allowed to differ, when each app acts on its own node).
"""

import json

import pytest

from hwdrivers.api import app as app_mod
from hwdrivers.api import fastpath
from tests.api.conftest import LATEST

REQUEST_ID = {"X-OpenStack-Request-Id": "req-fastpath-test"}


@pytest.fixture
def apps(service, make_node):
    """(fast app, flask-only app, calls that reached Flask behind the fast path)."""
    fast = app_mod.create_app(service)
    assert isinstance(fast.wsgi_app, fastpath.FastPath)
    behind = []
    inner = fast.wsgi_app.app

    def flask_app(environ, start_response):
        behind.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return inner(environ, start_response)

    fast.wsgi_app.app = flask_app
    plain = app_mod.create_app(service)
    plain.wsgi_app = plain.wsgi_app.app
    for name in ("fp-1", "fp-2", "fp-3", "fp-4"):
        make_node(name)
    # The first request from a Host goes through Flask (it learns the host URL).
    fast.test_client().get("/v1/nodes/fp-1/states")
    behind.clear()
    return fast, plain, behind


def _send(app, method, path, headers=None, data=None):
    all_headers = dict(REQUEST_ID)
    all_headers.update(headers if headers is not None else LATEST)
    if data is not None:
        all_headers.setdefault("Content-Type", "application/json")
    resp = app.test_client().open(path, method=method, headers=all_headers, data=data)
    return resp.status, list(resp.headers.items()), resp.get_data()


def _same(apps, method, path, headers=None, data=None, fast_served=True):
    fast, plain, behind = apps
    got = _send(fast, method, path, headers, data)
    want = _send(plain, method, path, headers, data)
    assert got == want
    assert (behind == []) is fast_served, behind
    behind.clear()
    return got


@pytest.mark.parametrize("path", ["/v1/nodes/fp-1/states", "/v1/nodes/nope/states"])
@pytest.mark.parametrize("headers", [
    LATEST, {}, {"X-OpenStack-Ironic-API-Version": "1.31"},
    {"OpenStack-API-Version": "baremetal 1.50"},
    {"OpenStack-API-Version": "compute 2.1, baremetal latest"},
    {"X-OpenStack-Ironic-API-Version": "1.999"},
    {"X-OpenStack-Ironic-API-Version": "one"},
])
def test_get_states_same_answer(apps, path, headers):
    _same(apps, "GET", path, headers)


def test_get_states_by_uuid_and_the_document(apps):
    fast, _, behind = apps
    uuid = fast.test_client().get("/v1/nodes/fp-2", headers=LATEST).get_json()["uuid"]
    behind.clear()
    status, headers, body = _same(apps, "GET", "/v1/nodes/%s/states" % uuid)
    assert status == "200 OK"
    doc = json.loads(body)
    assert doc["power_state"] is None and doc["links"][0]["href"].endswith(
        "/v1/nodes/%s/states" % uuid)
    assert ("X-OpenStack-Request-Id", "req-fastpath-test") in headers
    assert ("X-OpenStack-Ironic-API-Version", "1.109") in headers


@pytest.mark.parametrize("path", ["/v1/nodes/fp-1/states/", "/v1/nodes/fp-1/states?x=1",
                                  "/v1/nodes/fp-1/states?"])
def test_anything_unusual_goes_to_flask(apps, path):
    _same(apps, "GET", path, fast_served=path.endswith("?"))


@pytest.mark.parametrize("body", [
    {"target": "power of"}, {"target": 1}, {"target": "power on", "extra": 1},
    {"target": "power on", "timeout": 0}, {"target": "power on", "timeout": "5"},
    {"target": "power on", "timeout": True}, {}, [], "text",
])
def test_bad_power_requests_same_answer(apps, body):
    _same(apps, "PUT", "/v1/nodes/fp-1/states/power", data=json.dumps(body))


@pytest.mark.parametrize("raw", [b"", b"   ", b"{not json", b"[" * 40 + b"]" * 40,
                                 b"\xff\xfe"])
def test_malformed_power_bodies_same_answer(apps, raw):
    # The test client sends no Content-Length for an empty body: Flask's then.
    _same(apps, "PUT", "/v1/nodes/fp-1/states/power", data=raw, fast_served=bool(raw))


def test_power_request_on_unknown_node_and_bad_version(apps):
    _same(apps, "PUT", "/v1/nodes/nope/states/power", data=json.dumps({"target": "power on"}))
    _same(apps, "PUT", "/v1/nodes/fp-1/states/power",
          headers={"X-OpenStack-Ironic-API-Version": "2.0"},
          data=json.dumps({"target": "power on"}))


def test_too_large_body_goes_to_flask(apps, config):
    config(api__max_request_body_size=64)
    _same(apps, "PUT", "/v1/nodes/fp-1/states/power",
          data=json.dumps({"target": "power on", "pad": "x" * 100}), fast_served=False)


def test_power_request_accepted_alike(apps):
    fast, plain, behind = apps
    uuids = {name: fast.test_client().get("/v1/nodes/%s" % name, headers=LATEST)
             .get_json()["uuid"] for name in ("fp-3", "fp-4")}
    behind.clear()
    body = json.dumps({"target": "power on", "timeout": 30})
    got = _send(fast, "PUT", "/v1/nodes/fp-3/states/power", data=body)
    want = _send(plain, "PUT", "/v1/nodes/fp-4/states/power", data=body)
    assert behind == []
    assert got[0] == "202 ACCEPTED" and got[2] == b""
    normal = [(k, v.replace(uuids["fp-3"], "UUID")) for k, v in got[1]]
    assert normal == [(k, v.replace(uuids["fp-4"], "UUID")) for k, v in want[1]]
    assert ("Location", "http://localhost/v1/nodes/%s/states" % uuids["fp-3"]) in got[1]


@pytest.mark.parametrize("endpoint", ["http://b\u00fccher.example:6385", "http://h/caf\u00e9 x"])
def test_a_base_url_werkzeug_would_requote_goes_to_flask(apps, config, endpoint):
    """The fast path writes its Location as it is: one needing iri_to_uri is Flask's."""
    fast, plain, behind = apps
    config(api__public_endpoint=endpoint)
    body = json.dumps({"target": "power on"})
    got = _send(fast, "PUT", "/v1/nodes/fp-3/states/power", data=body)
    assert behind == [("PUT", "/v1/nodes/fp-3/states/power")]
    want = _send(plain, "PUT", "/v1/nodes/fp-4/states/power", data=body)
    assert got[0] == want[0] == "202 ACCEPTED"
    location = dict(got[1])["Location"]
    assert location.isascii() and location.endswith("/states")
    assert [k for k, _ in got[1]] == [k for k, _ in want[1]]
    behind.clear()
    _same(apps, "GET", "/v1/nodes/fp-1/states", fast_served=False)


@pytest.mark.parametrize("method,path,extra", [
    ("PUT", "/v1/nodes/fp-1/states/power", {}),  # no Content-Length: maybe chunked
    ("PUT", "/v1/nodes/fp-1/states/power", {"CONTENT_LENGTH": "x"}),
    ("GET", "/v1/nodes/fp-1/states", {"CONTENT_LENGTH": "3"}),  # a GET with a body
    ("HEAD", "/v1/nodes/fp-1/states", {}),
    ("GET", "/v1/nodes/f\u00e9/states", {}),
    ("POST", "/v1/nodes/fp-1/states/power", {"CONTENT_LENGTH": "2"}),
])
def test_requests_it_leaves_to_flask(service, method, path, extra):
    seen = []
    front = fastpath.FastPath(lambda environ, start: seen.append(environ) or [b""],
                              service, app_mod.utils.CONF)
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
               "wsgi.url_scheme": "http", "HTTP_HOST": "localhost"}
    environ.update(extra)
    front(environ, None)
    assert seen == [environ]


def test_responses_go_out_as_werkzeug_sends_them():
    """fastpath._send skips werkzeug's fix-ups only where they change nothing."""
    import flask

    def sent(response, base):
        got = {}

        def start_response(status, headers):
            got["status"], got["headers"] = status, headers

        body = b"".join(fastpath._send(response, base, {"REQUEST_METHOD": "PUT"},
                                       start_response))
        return got["status"], got["headers"], body

    def werkzeug(response):
        got = {}

        def start_response(status, headers):
            got["status"], got["headers"] = status, headers

        body = b"".join(response({"REQUEST_METHOD": "PUT"}, start_response))
        return got["status"], got["headers"], body

    uuid = "6f1c1f8e-4b1a-4f3e-9a51-0d5b0c3e7a11"
    for base in ("http://127.0.0.1:6385", "http://[::1]:6385", "https://bm.example/api",
                 "http://b\u00fccher.example:6385", "http://h/caf\u00e9 x"):
        for status, body in ((202, b""), (200, b'{"a": 1}'), (409, b'{"e": 1}')):
            def make(base=base, status=status, body=body):
                response = flask.Response(body, status=status, mimetype="application/json")
                response.headers["Location"] = "%s/v1/nodes/%s/states" % (base, uuid)
                response.headers["X-OpenStack-Request-Id"] = "req-1"
                return response
            assert sent(make(), base) == werkzeug(make()), (base, status)
