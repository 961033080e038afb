"""An agent's port answering bytes that are not HTTP: a connection error, not a crash.

A proxy mid-restart or another service on the agent's port answers a status
line that is not HTTP, or cuts a body short. http.client raises
HTTPException (BadStatusLine, IncompleteRead, LineTooLong), which is not an
OSError: it escaped the agent client as an unexpected exception instead of
the connection error the deploy retries. Real sockets on 127.0.0.1 here.
"""

import socket
import threading

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import agent_client

TOKEN = "tok-" + "x" * 40


class GarbageServer:
    """Reads one request per connection and answers ``answer(request_line)``, then closes."""

    def __init__(self, answer):
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                try:
                    conn.sendall(self.answer(data.split(b"\r\n", 1)[0]))
                except OSError:  # the client gave up reading a too long line
                    pass

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
        self.sock.close()
        self.thread.join()


@pytest.fixture
def serve():
    servers = []

    def start(answer):
        servers.append(GarbageServer(answer))
        return servers[-1]
    yield start
    for server in servers:
        server.close()


def _client(server):
    return agent_client.AgentClient(server.url + "/", TOKEN, "node-7", timeout=10)


@pytest.mark.parametrize("answer, kind", [
    (lambda line: b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "BadStatusLine"),
    (lambda line: b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"command", "IncompleteRead"),
    (lambda line: b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", "LineTooLong"),
])
def test_an_answer_that_is_not_http_is_a_connection_error(serve, answer, kind):
    server = serve(answer)
    with pytest.raises(exception.DriverConnectionError) as caught:
        _client(server).status("cmd-1", "standby.prepare_image")
    message = str(caught.value)
    assert kind in message
    assert "the agent at %s did not answer the status of command " \
           "standby.prepare_image in HTTP" % server.url in message
    assert TOKEN not in message and len(message) < 600


def test_a_peer_echoing_the_request_line_does_not_leak_the_token(serve):
    server = serve(lambda line: line + b"\r\n\r\n")  # "POST /v1/commands/?agent_token=..."
    with pytest.raises(exception.DriverConnectionError) as caught:
        _client(server).start("standby.prepare_image", {"image_info": {}})
    message = str(caught.value)
    assert "/v1/commands/?agent_token=******" in message
    assert TOKEN not in message and TOKEN not in repr(caught.value.args)
