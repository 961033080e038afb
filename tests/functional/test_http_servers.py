"""The real hwdrivers-server under each ``[api] http_server``: what reaches the app is the same.

The rest of the suite runs the default (granian); these run the same
requests through both, over raw sockets where the HTTP framing matters:
chunked bodies (granian streams them, waitress buffers them), bodies over
``[api] max_request_body_size``, keep-alive, and a clean stop.
"""

import http.client
import json
import socket

import pytest

from tests.functional.server_proc import API_VERSION
from tests.functional.server_proc import ServerProcess

LIMIT = 4096


@pytest.fixture(params=["granian", "waitress"])
def server(request, tmp_path):
    proc = ServerProcess(tmp_path, {"api": {"http_server": request.param,
                                            "max_request_body_size": LIMIT}}).start()
    yield proc
    assert proc.stop() == 0
    assert "Traceback" not in proc.log(), proc.log()


def _chunked(port, method, path, body, chunk=1000):
    """One request with a chunked body; ``(status, decoded JSON)``."""
    head = ("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            "X-OpenStack-Ironic-API-Version: %s\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n" % (method, path, port, API_VERSION)).encode()
    parts = [body[i:i + chunk] for i in range(0, len(body), chunk)]
    payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        try:
            sock.sendall(payload)
        except OSError:
            pass  # a server may answer 413 and close before the body is sent
        data = b""
        while True:
            try:
                more = sock.recv(65536)
            except ConnectionResetError:
                break
            if not more:
                break
            data += more
    status_line, _, rest = data.partition(b"\r\n")
    headers, _, raw = rest.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in headers.lower():
        raw = _dechunk(raw)
    return int(status_line.split()[1]), (json.loads(raw) if raw.strip() else None)


def _dechunk(raw):
    out = b""
    while raw:
        size, _, raw = raw.partition(b"\r\n")
        size = int(size, 16)
        if not size:
            break
        out, raw = out + raw[:size], raw[size + 2:]
    return out


def test_a_chunked_body_is_read_whole(server):
    body = json.dumps({"name": "chunked-1", "driver": "fake-hardware",
                       "extra": {"pad": "x" * 2500}}).encode()
    status, node = _chunked(server.port, "POST", "/v1/nodes", body, chunk=700)
    assert status == 201, node
    assert node["extra"]["pad"] == "x" * 2500
    assert server.call("GET", "/v1/nodes/chunked-1")[0] == 200


def test_a_chunked_body_over_the_limit_is_a_413_naming_the_option(server):
    body = json.dumps({"name": "too-big", "driver": "fake-hardware",
                       "extra": {"pad": "x" * (LIMIT * 2)}}).encode()
    status, error = _chunked(server.port, "POST", "/v1/nodes", body)
    assert status == 413, error
    assert "max_request_body_size" in json.dumps(error)
    assert server.call("GET", "/v1/nodes/too-big")[0] == 404


def test_a_declared_body_over_the_limit_is_a_413_naming_the_option(server):
    status, error = server.call("POST", "/v1/nodes", {"name": "big", "driver": "fake-hardware",
                                                      "extra": {"pad": "x" * LIMIT}})
    assert status == 413
    assert "[api] max_request_body_size" in json.dumps(error)


def test_keep_alive_connections_serve_many_requests(server):
    assert server.call("POST", "/v1/nodes", {"name": "ka", "driver": "fake-hardware"})[0] == 201
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        for _ in range(20):
            conn.request("GET", "/v1/nodes/ka/states",
                         headers={"X-OpenStack-Ironic-API-Version": API_VERSION})
            response = conn.getresponse()
            assert response.status == 200
            assert "power_state" in json.loads(response.read())
    finally:
        conn.close()
