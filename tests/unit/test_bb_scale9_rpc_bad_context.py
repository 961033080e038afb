"""A JSON-RPC request whose context is not an object is an invalid request.

The listener decoded ``params.context`` outside its error handling: a
context that was a list, a string or a number (a peer speaking another
protocol, a scanner, a broken client) ended in an AttributeError traceback
in the conductor's log and an HTTP 500 from waitress; a ``lock_wait`` that
is not a number failed inside the call as "failed unexpectedly". Both are
now a JSON-RPC "invalid request" answer saying what is wrong.

A real waitress listener on 127.0.0.1 serving rpc.make_app.
"""

import http.client
import json
import threading

import pytest
import waitress

from hwdrivers.cmd import server as server_mod
from hwdrivers.conductor import rpc


class _Target:
    def node(self, context, ident):
        return ident


@pytest.fixture(scope="module")
def port():
    server = waitress.create_server(rpc.make_app(_Target(), ("node",)),
                                    host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield int(server.effective_port)
    server_mod.close_listener(server, thread)


@pytest.mark.parametrize("context", [[1, 2], "admin", 7, {"lock_wait": "soon"},
                                     {"roles": "admin"}])
def test_a_context_of_the_wrong_shape_is_an_invalid_request(port, context):
    body = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "node",
                       "params": {"ident": "n1", "context": context}}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = response.read()
    finally:
        conn.close()
    assert response.status == 200, answer[:300]
    doc = json.loads(answer)
    assert doc["id"] == 3 and doc["error"]["code"] == rpc.INVALID_REQUEST, doc
    assert "context" in doc["error"]["message"]
