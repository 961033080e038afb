"""A real HTTP peer on 127.0.0.1 that answers every request with one JSON
document: plays an agent (or whatever else answers on its port) for the
agent client's tests."""

import http.server
import json
import threading

import pytest

from hwdrivers.drivers.modules import agent_client

TOKEN = "tok-" + "z" * 40


def _server(status, answer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def agent_peer():
    """``start(answer, status=200)``: an AgentClient of a peer answering ``answer``."""
    servers = []

    def start(answer, status=200):
        server = _server(status, answer)
        servers.append(server)
        return agent_client.AgentClient("http://127.0.0.1:%d" % server.server_address[1],
                                        TOKEN, "node-1", timeout=5)
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
