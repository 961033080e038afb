"""JSON-RPC between API and conductors when the other end is not what it should be
(another program, or another hwdrivers version).

- Something other than a conductor answers at a conductor's recorded URL (its
  port reused after it died, a proxy's error page): the API process raised
  an undecodable answer as an internal error, a 500; it is a 503 saying
  what answered.
- A request the listener cannot decode into this protocol's values (a
  ``__node__`` or ``__datetime__`` marker around the wrong thing, nesting
  too deep to decode) ended in a traceback and an HTTP 500 from waitress;
  it is a JSON-RPC parse error.
- A call with a parameter the conductor's method does not take (an API
  process upgraded before the conductors) failed inside the call: a
  traceback and "failed unexpectedly"; it says the versions differ.

Real HTTP servers on 127.0.0.1 (waitress), no mocks.
"""

import http.client
import json
import threading

import pytest
import waitress

from hwdrivers.cmd import server as server_mod
from hwdrivers.common import context as hw_context
from hwdrivers.conductor import rpc

CTX = hw_context.get_admin_context()


def _serve(app):
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, thread, "http://127.0.0.1:%d" % int(server.effective_port)


#: What a non-conductor peer answers with HTTP 200.
NOT_RPC = {
    "html": (b"<html><body>It works!</body></html>", "text/html"),
    "json-list": (b"[1, 2, 3]", "application/json"),
    "json-no-result": (b'{"status": "ok"}', "application/json"),
    "error-string": (b'{"jsonrpc": "2.0", "id": 1, "error": "boom"}', "application/json"),
    "error-kwargs-list": (b'{"jsonrpc": "2.0", "id": 1, "error": {"message": "m", '
                          b'"data": {"kwargs": [1]}}}', "application/json"),
    "bad-node-marker": (b'{"jsonrpc": "2.0", "id": 1, "result": {"__node__": 5}}',
                        "application/json"),
    "bad-datetime-marker": (b'{"jsonrpc": "2.0", "id": 1, "result": {"__datetime__": 5}}',
                            "application/json"),
    "binary": (b"\xff\xfe\x00garbage", "application/octet-stream"),
}


@pytest.fixture(params=sorted(NOT_RPC))
def impostor(request):
    """The URL of a peer answering every POST with one of :data:`NOT_RPC`."""
    body, kind = NOT_RPC[request.param]

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", kind),
                                  ("Content-Length", str(len(body)))])
        return [body]

    server, thread, url = _serve(app)
    yield url
    server_mod.close_listener(server, thread)


def test_a_peer_that_is_not_a_conductor_is_a_503(impostor):
    with pytest.raises(rpc.ConductorUnreachable) as caught:
        rpc.Client(timeout=10).call(impostor, "get_power_state", CTX, host="c7",
                                    node="n1", ident="n1")
    assert caught.value.code == 503
    message = str(caught.value)
    assert "Conductor c7, which owns node n1" in message
    assert "not a JSON-RPC 2.0 service" in message and "recorded URL" in message


class _Target:
    def node(self, context, ident):
        return ident


@pytest.fixture(scope="module")
def listener():
    server, thread, url = _serve(rpc.make_app(_Target(), ("node",)))
    yield url
    server_mod.close_listener(server, thread)


#: Request bodies that are JSON but not this protocol's values.
UNDECODABLE = {
    "node-marker": {"jsonrpc": "2.0", "id": 1, "method": "node",
                    "params": {"ident": {"__node__": "x"}}},
    "datetime-marker": {"jsonrpc": "2.0", "id": 1, "method": "node",
                        "params": {"ident": {"__datetime__": 7}}},
    "deep-nesting": "[" * 200000 + "]" * 200000,
}


@pytest.mark.parametrize("body", sorted(UNDECODABLE))
def test_an_undecodable_request_is_a_parse_error(listener, body):
    raw = UNDECODABLE[body]
    raw = raw.encode() if isinstance(raw, str) else json.dumps(raw).encode()
    port = int(listener.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/", body=raw, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = response.read()
    finally:
        conn.close()
    assert response.status == 200, answer[:300]
    error = json.loads(answer)["error"]
    assert error["code"] == rpc.PARSE_ERROR and error["message"].startswith("not JSON")


def test_parameters_of_another_version_say_so(listener):
    # An API process upgraded before the conductors sends a parameter they lack.
    with pytest.raises(rpc.IncompatibleCall) as caught:
        rpc.Client(timeout=10).call(listener, "node", CTX, ident="n1", colour="red")
    message = str(caught.value)
    assert "The conductor cannot take node with these parameters" in message
    assert "'colour'" in message and "Run the same version" in message
    assert caught.value.code == 500
    with pytest.raises(rpc.IncompatibleCall):  # and one the conductor requires
        rpc.Client(timeout=10).call(listener, "node", CTX)
