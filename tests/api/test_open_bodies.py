"""Unauthenticated request bodies cannot take every API thread (auth.BasicAuthMiddleware).

Real granian on 127.0.0.1, four request threads behind HTTP Basic, so two
for unauthenticated requests with a body (a ramdisk's heartbeat). Clients
that send a heartbeat's headers and hold its body back take those two;
a third is refused with 503 at once, and authenticated requests are
answered all the while.
"""

import base64
import http.client
import json
import socket
import threading
import time

import bcrypt
import pytest

from hwdrivers import conf as hw_conf
from hwdrivers.api import auth
from hwdrivers.cmd import granian_server
from hwdrivers.cmd import server as server_mod

PASSWORD = "open-bodies-pw"
HEARTBEAT = "/v1/heartbeat/node-1"


def _app(environ, start_response):
    """Reads the body as the API does; says what it got."""
    length = environ.get("CONTENT_LENGTH")
    body = environ["wsgi.input"].read(int(length)) if length else environ["wsgi.input"].read()
    payload = json.dumps({"body": body.decode("latin-1")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(payload)))])
    return [payload]


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "htpasswd"
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    path.write_text("admin:%s\n" % hashed)
    return path


def _serve(listener):
    threading.Thread(target=listener.run, daemon=True).start()
    return int(listener.effective_port)


@pytest.fixture
def guarded(config, user_file):
    config(api__auth_strategy="http_basic", api__http_basic_auth_user_file=str(user_file),
           api__threads=4, api__hardware_wait_slots=1)
    app = auth.wrap(_app)
    assert app.open_body_slots == 2
    listener = granian_server.GranianServer(app, "127.0.0.1", 0, 4, drain_timeout=1)
    yield _serve(listener)
    listener.close()


def _request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Retry-After")
    finally:
        conn.close()


def _admin():
    token = base64.b64encode(("admin:%s" % PASSWORD).encode()).decode()
    return {"Authorization": "Basic " + token}


def _stalled(port):
    """A heartbeat whose body never comes; the socket, kept open."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST %s HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\n{" %
                 HEARTBEAT.encode())
    return sock


def test_heartbeats_reach_the_app_whole(guarded):
    status, body, _ = _request(guarded, "POST", HEARTBEAT, b'{"agent_url": "http://a"}')
    assert status == 200 and json.loads(body)["body"] == '{"agent_url": "http://a"}'
    status, body, _ = _request(guarded, "POST", HEARTBEAT, iter([b'{"a": ', b'1}']))  # chunked
    assert status == 200 and json.loads(body)["body"] == '{"a": 1}'


def test_held_back_bodies_take_at_most_half_the_threads(guarded):
    stalled = [_stalled(guarded) for _ in range(2)]
    try:
        time.sleep(0.3)  # both are being read now
        for _ in range(3):  # the other two threads still serve authenticated clients
            assert _request(guarded, "GET", "/v1/nodes", headers=_admin())[0] == 200
        status, body, retry = _request(guarded, "POST", HEARTBEAT, b"{}")
        assert status == 503 and retry == "5"          # refused at once, not queued
        assert "unauthenticated" in json.loads(body)["error_message"]
    finally:
        for sock in stalled:
            sock.close()
    deadline = time.monotonic() + 10                  # the clients gone, the slots free
    while (status := _request(guarded, "POST", HEARTBEAT, b"{}")[0]) != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize("threads,wait_slots,expected", [(8, 4, 3), (16, 4, 8), (4, 1, 2),
                                                         (2, 1, 1), (4, 4, 1)])
def test_open_body_slots_leave_threads_for_everyone_else(config, threads, wait_slots,
                                                         expected):
    config(api__threads=threads, api__hardware_wait_slots=wait_slots)
    assert auth.open_body_slots(hw_conf.CONF) == expected


def test_a_server_that_buffers_bodies_is_not_limited(config, user_file):
    """waitress reads each body before the app runs: held-back bodies never reach it."""
    config(api__auth_strategy="http_basic", api__http_basic_auth_user_file=str(user_file),
           api__threads=2)
    app = auth.wrap(_app)
    listener = server_mod.waitress_server(app, host="127.0.0.1", port=0, threads=2)
    port = _serve(listener)
    stalled = [_stalled(port) for _ in range(3)]
    try:
        time.sleep(0.3)
        assert _request(port, "POST", HEARTBEAT, b"{}")[0] == 200
    finally:
        for sock in stalled:
            sock.close()
        listener.close()
