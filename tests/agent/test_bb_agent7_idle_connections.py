"""A connection to the agent's API that goes silent is closed, and its thread freed.

The API serves a thread per connection. One that connected and sent
nothing, or half a request, or a body shorter than announced (a half-open
TCP connection, a scanner, a client that died) held its thread for ever.
IPA's WSGI server closes a connection idle past its socket timeout; the
agent now does too (``IDLE_TIMEOUT``, short here). Real sockets on 127.0.0.1;
"closed" is the server ending the connection, never a measured time.
"""

import json
import socket
import threading

import pytest

from hwdrivers.agent import server

TOKEN = "t" * 40
#: how long the test waits for the server to close; only a safety net against a hang
SAFETY = 60.0


class _Agent:
    def validate_token(self, token):
        return token == TOKEN

    def status(self):
        return {"started_at": 0, "version": "test"}


@pytest.fixture
def api():
    started = server.APIServer(_Agent(), "127.0.0.1", 0, idle_timeout=0.3)
    started.start()
    yield started
    started.stop()


def _closed_by_server(api, sent: bytes) -> bytes:
    """Send ``sent`` and keep the connection open; what the server sent until it closed."""
    with socket.create_connection(("127.0.0.1", api.port), timeout=SAFETY) as sock:
        sock.sendall(sent)
        answer = b""
        while chunk := sock.recv(65536):  # b"": the server closed the connection
            answer += chunk
    return answer


def _handler_threads(api):
    """The live threads serving a connection of ``api`` (ThreadingMixIn's)."""
    targets = [(t, getattr(t, "_target", None)) for t in threading.enumerate()]
    return [t for t, target in targets if getattr(target, "__self__", None) is api._httpd
            and target.__name__ == "process_request_thread"]


@pytest.mark.parametrize("sent", [
    b"",                                                          # connects, says nothing
    b"GET /v1/sta",                                               # half a request line
    b"GET /v1/status HTTP/1.1\r\nHost: agent\r\n",                # headers never ended
    b"POST /v1/commands/?agent_token=" + TOKEN.encode()
    + b" HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n{\"na",  # body cut short
])
def test_a_silent_connection_is_closed_by_the_agent(api, sent):
    assert _closed_by_server(api, sent) == b""
    # the handler threads end with their connections; the API still serves
    for thread in _handler_threads(api):
        thread.join(SAFETY)
    assert _handler_threads(api) == []
    answer = _closed_by_server(api, b"GET /v1/status HTTP/1.1\r\nHost: a\r\n"
                                    b"Connection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_a_kept_alive_connection_is_closed_once_idle_after_its_answer(api):
    answer = _closed_by_server(api, b"GET /v1/status HTTP/1.1\r\nHost: a\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and json.loads(body) is not None


def test_the_default_idle_timeout_is_ipas():
    assert server.IDLE_TIMEOUT == 900
    assert server.APIServer(_Agent(), "127.0.0.1", 0).idle_timeout == 900
