"""An agent answering a command as running without its id: an error saying so.

The id is the only way to poll an asynchronous command; without it the
deploy step failed with a bare ``'id'`` (a KeyError in direct.write_image).
A real HTTP server on 127.0.0.1 answers here.
"""

import http.server
import json
import threading

import pytest

from hwdrivers.common import exception
from hwdrivers.drivers.modules import agent_client

TOKEN = "tok-" + "y" * 40


@pytest.fixture
def agent():
    answers = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.dumps(answers[0]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield answers, "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("command_id", [None, "", 17], ids=["missing", "empty", "number"])
def test_running_without_an_id_is_an_error_naming_the_command(agent, command_id):
    answers, url = agent
    answer = {"command_status": "RUNNING", "command_name": "prepare_image"}
    if command_id is not None:
        answer["id"] = command_id
    answers.append(answer)
    client = agent_client.AgentClient(url, TOKEN, "n1", timeout=5)
    with pytest.raises(exception.DriverActionError) as caught:
        client.start("standby.prepare_image", {})
    text = str(caught.value)
    assert "standby.prepare_image" in text and "no command id" in text
    assert TOKEN not in text


def test_a_finished_command_needs_no_id(agent):
    answers, url = agent
    answers.append({"command_status": "SUCCEEDED", "command_result": {"result": "ok"}})
    client = agent_client.AgentClient(url, TOKEN, "n1", timeout=5)
    assert client.start("standby.sync", {})["command_status"] == "SUCCEEDED"
