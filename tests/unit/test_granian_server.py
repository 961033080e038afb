"""The API's granian listener (hwdrivers.cmd.granian_server), real granian on 127.0.0.1.

What the app sees must not depend on ``[api] http_server``: the environ
is compared with waitress's for the same raw requests. Then what
granian adds: draining on close, streamed bodies, app errors, the
saturation log, binding, and refusing a granian it was not built for.
"""

import http.client
import json
import logging
import socket
import threading
import time

import pytest

from hwdrivers.cmd import granian_server
from hwdrivers.cmd import server as server_mod
from hwdrivers.common import exception

#: The environ keys an app reads (SERVER_SOFTWARE and wsgi.errors differ by design).
KEYS = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE",
        "CONTENT_LENGTH", "SERVER_PROTOCOL", "REMOTE_ADDR", "wsgi.url_scheme",
        "wsgi.version", "wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once")


def _echo(environ, start_response):
    """The parts of the environ an app reads, and the body it was sent, as JSON."""
    seen = {key: environ.get(key) for key in KEYS}
    seen["headers"] = {k: v for k, v in environ.items() if k.startswith("HTTP_")}
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = environ["wsgi.input"].read(int(length))
    elif environ.get("HTTP_TRANSFER_ENCODING") == "chunked":
        body = environ["wsgi.input"].read()
    else:
        body = b""
    seen["body"] = body.decode("latin-1")
    seen["secret_in_environ"] = "HWTEST_SECRET" in environ
    payload = json.dumps(seen, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(payload)))])
    return [payload]


class Served:
    """A listener serving in a thread; ``close()`` stops it."""

    def __init__(self, listener):
        self.listener = listener
        self.port = int(listener.effective_port)  # waitress gives a string
        self.thread = threading.Thread(target=listener.run, daemon=True)
        self.thread.start()

    def close(self):
        self.listener.close()
        self.thread.join(10)
        assert not self.thread.is_alive()


def _granian(app, threads=4, **kwargs):
    return Served(granian_server.GranianServer(app, "127.0.0.1", 0, threads, **kwargs))


def _waitress(app):
    return Served(server_mod.waitress_server(app, host="127.0.0.1", port=0, threads=4,
                                             clear_untrusted_proxy_headers=True))


def _raw(port, request):
    """Send raw bytes; the response body (one response, Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return json.loads(body)


REQUESTS = [
    b"GET /v1/nodes?limit=5&fields=name,uuid HTTP/1.1\r\nHost: example.org:6385\r\n"
    b"Connection: close\r\n\r\n",
    b"GET /v1/nodes/caf%C3%A9/states%2Fx?q=%C3%A9 HTTP/1.1\r\nHost: h\r\n"
    b"Connection: close\r\n\r\n",
    b"PUT /v1/nodes/n1/states/power HTTP/1.1\r\nHost: h\r\nContent-Type: application/json"
    b"\r\nContent-Length: 22\r\nX-OpenStack-Ironic-API-Version: 1.82\r\n"
    b"X-Auth-Token: a\r\nX-Auth-Token: b\r\nConnection: close\r\n\r\n"
    b'{"target": "power on"}',
    b"POST /v1/nodes HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
    b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Host: evil\r\n"
    b"X-Forwarded-Proto: https\r\nForwarded: for=10.0.0.1\r\nConnection: close\r\n\r\n",
]


def test_the_app_sees_the_same_environ_as_under_waitress(monkeypatch):
    monkeypatch.setenv("HWTEST_SECRET", "hunter2")
    servers = {"waitress": _waitress(_echo), "granian": _granian(_echo)}
    try:
        for request in REQUESTS:
            seen = {name: _raw(s.port, request) for name, s in servers.items()}
            for name in seen:  # the Host header names the port each one was reached on
                headers = seen[name]["headers"]
                headers.pop("HTTP_HOST")
                headers.pop("HTTP_CONNECTION", None)
                for key, value in headers.items():  # repeated headers: "a,b" or "a, b"
                    headers[key] = [part.strip() for part in value.split(",")]
                if request.startswith(b"POST"):
                    # waitress buffers a chunked body and gives its length;
                    # granian streams it (wsgi.input_terminated): same body.
                    headers.pop("HTTP_TRANSFER_ENCODING", None)
                    seen[name].pop("CONTENT_LENGTH")
            assert seen["granian"] == seen["waitress"], request
            assert not seen["granian"]["secret_in_environ"]
            assert not any("FORWARDED" in k for k in seen["granian"]["headers"])
    finally:
        for served in servers.values():
            served.close()


def test_close_waits_for_running_requests_and_they_are_answered():
    started, results = threading.Event(), []

    def slow(environ, start_response):
        started.set()
        time.sleep(1.0)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"finished"]

    served = _granian(slow)
    client = threading.Thread(target=lambda: results.append(_get(served.port, "/")))
    client.start()
    assert started.wait(10)
    began = time.monotonic()
    served.close()
    assert time.monotonic() - began >= 0.5        # it waited for the request
    assert served.listener.running == 0
    client.join(10)
    assert results == [(200, b"finished")]
    with pytest.raises(OSError):                  # and no longer accepts
        socket.create_connection(("127.0.0.1", served.port), timeout=2).close()


def test_close_gives_up_on_a_hung_request_after_the_drain_timeout(caplog):
    release = threading.Event()

    def hung(environ, start_response):
        release.wait(30)
        start_response("200 OK", [])
        return [b""]

    served = _granian(hung, drain_timeout=0.3)
    threading.Thread(target=_get, args=(served.port, "/"), daemon=True).start()
    deadline = time.monotonic() + 10
    while served.listener.running == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    began = time.monotonic()
    try:
        served.close()
        assert time.monotonic() - began < 5
        assert "1 API request(s) still running after 0 s" in caplog.text
    finally:
        release.set()


def test_streamed_bodies_arrive_whole_and_the_request_ends_with_them():
    def stream(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"part %d\n" % i for i in range(1000))

    served = _granian(stream)
    try:
        status, body = _get(served.port, "/")
        assert status == 200 and body == b"".join(b"part %d\n" % i for i in range(1000))
        deadline = time.monotonic() + 5
        while served.listener.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert served.listener.running == 0
    finally:
        served.close()


def test_the_legacy_write_callable_and_head_requests_work():
    def legacy(environ, start_response):
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written, ")
        return [b"then returned"]

    served = _granian(legacy)
    try:
        assert _get(served.port, "/") == (200, b"written, then returned")
        assert _get(served.port, "/", method="HEAD") == (200, b"")
    finally:
        served.close()


def test_a_body_after_write_is_sent_and_closed():
    """PEP 3333: the server closes what the app returned, write() or not."""
    closed = threading.Event()

    class Parts:
        def __iter__(self):
            return iter([b"then ", b"returned"])

        def close(self):
            closed.set()

    def legacy(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])(b"written, ")
        return Parts()

    served = _granian(legacy)
    try:
        assert _get(served.port, "/") == (200, b"written, then returned")
        assert closed.wait(5)
        assert served.listener.running == 0
    finally:
        served.close()


def test_an_app_error_is_a_logged_500_and_the_server_goes_on(caplog):
    def broken(environ, start_response):
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("boom")
        start_response("200 OK", [])
        return [b"fine"]

    served = _granian(broken)
    try:
        caplog.set_level(logging.ERROR)
        assert _get(served.port, "/boom")[0] == 500
        assert "unhandled error serving GET /boom" in caplog.text
        assert _get(served.port, "/ok") == (200, b"fine")
        assert served.listener.running == 0
    finally:
        served.close()


def test_a_saturated_api_logs_one_line_naming_the_option(caplog):
    def slow(environ, start_response):
        time.sleep(0.05)
        start_response("200 OK", [])
        return [b"ok"]

    caplog.set_level(logging.WARNING)
    log = server_mod.SaturationLog("API", 1, "[api] threads")
    served = _granian(slow, threads=1, saturation=log)
    try:
        clients = [threading.Thread(target=_get, args=(served.port, "/")) for _ in range(6)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(30)
    finally:
        served.close()
    lines = [r.getMessage() for r in caplog.records if r.name == server_mod.LOG.name]
    assert lines == ["API: all 1 threads busy 1 time(s) since it started, so requests "
                     "waited for one; if this persists, raise [api] threads"]
    assert log._waited == 5  # the other five are summarised in the next report


def test_a_busy_port_names_the_option(config):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config(api__port=busy.getsockname()[1])
        with pytest.raises(exception.ConfigInvalid) as info:
            server_mod.api_listener(_echo)
    assert "[api] host/port" in str(info.value) and "Address already in use" in str(info.value)


@pytest.mark.parametrize("http_server", ["granian", "waitress"])
def test_api_listener_is_the_configured_server(config, http_server):
    config(api__port=0, api__http_server=http_server)
    listener = server_mod.api_listener(_echo)
    try:
        assert (http_server == "granian") == isinstance(listener, granian_server.GranianServer)
        served = Served(listener)
        assert _get(served.port, "/")[0] == 200
    finally:
        listener.close()


def test_every_address_of_a_name_is_served_on_one_port():
    families = {info[0] for info in socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)}
    served = Served(granian_server.GranianServer(_echo, "localhost", 0, 2))
    try:
        for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            if family in families:
                with socket.create_connection((address, served.port), timeout=5):
                    pass
        assert _get(served.port, "/")[0] == 200
    finally:
        served.close()


def test_a_granian_of_another_series_is_refused_naming_the_option(monkeypatch):
    import granian
    monkeypatch.setattr(granian, "__version__", "3.0.0")
    with pytest.raises(exception.ConfigInvalid) as info:
        granian_server.GranianServer(_echo, "127.0.0.1", 0, 2)
    message = str(info.value)
    assert "granian 3.0.0" in message and "[api] http_server = waitress" in message


def _get(port, path, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _server_side_timer(port, client_port):
    """The timer (``tr`` in /proc/net/tcp) of the server's end of one connection."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(path) as table:
            for line in list(table)[1:]:
                fields = line.split()
                local, remote = fields[1], fields[2]
                if (int(local.rsplit(":", 1)[1], 16) == port
                        and int(remote.rsplit(":", 1)[1], 16) == client_port):
                    return int(fields[5].split(":")[0])
    return None


def test_connections_carry_tcp_keepalive_so_a_vanished_client_frees_its_thread():
    """A client gone mid-body is noticed by keepalive probes (timer 2), not never."""
    started = threading.Event()

    def reader(environ, start_response):
        started.set()
        environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        start_response("200 OK", [])
        return [b""]

    served = _granian(reader)
    client = socket.create_connection(("127.0.0.1", served.port), timeout=10)
    try:
        client.sendall(b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc")
        assert started.wait(10)
        assert _server_side_timer(served.port, client.getsockname()[1]) == 2  # keepalive
        assert served.listener.running == 1  # waiting for the rest of the body
    finally:
        client.close()                       # the client goes: the read ends
        deadline = time.monotonic() + 10
        while served.listener.running and time.monotonic() < deadline:
            time.sleep(0.01)
        assert served.listener.running == 0
        served.close()


def test_expect_100_continue_clients_get_their_continue():
    """curl sends larger bodies only after "100 Continue"."""
    served = _granian(_echo)
    try:
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
            sock.sendall(b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                         b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
            assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
            sock.sendall(b"hello")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200") and b'"body": "hello"' in data
    finally:
        served.close()
