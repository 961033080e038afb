"""The agent token never reaches an error, whatever the peer at the agent's URL answers.

Every command and status poll carries the node's agent token in the
``agent_token`` query parameter, as Ironic sends it. A peer that is not
the agent (a wrong callback port, another web service, a proxy's error
page) may echo the request target back in its error body: "Cannot POST
/v1/commands/?agent_token=...". That body was quoted whole in the
DriverActionError, so the token went into the node's last_error (shown by
the API to any reader of the node), its history and the conductor's log,
while it still let anyone holding it command the ramdisk (write an image).
The peer's text is quoted with the token masked, as a broken status line
already was. A real HTTP server plays the peer.
"""

import http.server
import json
import threading

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import agent_client

TOKEN = "tok-" + "S3cr3tAgentToken" * 3


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers every request with ``status`` and a body quoting its request target."""

    status = 404
    as_json = False

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        text = "Cannot %s %s" % (self.command, self.path)
        body = (json.dumps({"faultstring": text}) if self.as_json else text).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json" if self.as_json else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture(params=[(404, False), (404, True), (401, False), (500, True)],
                ids=["404-text", "404-json", "401-text", "500-json"])
def peer(request):
    status, as_json = request.param
    handler = type("Handler", (_Echo,), {"status": status, "as_json": as_json})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.parametrize("call", ["start", "status"])
def test_a_peer_echoing_the_url_does_not_get_the_token_into_the_error(peer, call):
    client = agent_client.AgentClient(peer, TOKEN, "node-1", timeout=5)
    with pytest.raises(exception.DriverError) as caught:
        if call == "start":
            client.start("standby.sync", {})
        else:
            client.status("cmd-1", "standby.sync")
    text = str(caught.value)
    assert TOKEN not in text, text
    # still says what the peer answered, the token masked
    assert "Cannot" in text and "agent_token=******" in text, text
