"""``--url``: a request the server refused for now is asked again, as Ironic's clients do.

The server answers 503 with Retry-After when its worker pool is full (and
changes nothing), 409 with Retry-After for a node locked by a short
operation. The CLI failed at once: ``node power on --all --parallel 12``
against a server with 4 free workers failed 8 nodes with "No free worker
to run the request; retry later". Other refusals are not retried.
"""

import http.server
import json
import threading

import pytest

from hwdrivers.cmd import cli


class _Scripted:
    """Answers each request with the next ``(status, headers, doc)``; records them."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests = []
        scripted = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                scripted.requests.append((self.command, self.path))
                status, headers, doc = (scripted.answers.pop(0) if scripted.answers
                                        else (500, {}, {}))
                body = json.dumps(doc).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _fault(text):
    return {"error_message": json.dumps({"faultstring": text, "faultcode": "Client"})}


BUSY = (503, {"Retry-After": "0"}, _fault("No free worker to run the request; retry later."))


@pytest.fixture
def run(capsys, monkeypatch, tmp_path):
    for name in ("HWDRIVERS_URL", "HWDRIVERS_USERNAME", "HWDRIVERS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    conf = tmp_path / "empty.conf"
    conf.write_text("")
    servers = []

    def run(answers, *argv, expect=0):
        server = _Scripted(answers)
        servers.append(server)
        code = cli.main(["--config-file", str(conf), "--url", server.url] + list(argv))
        out, err = capsys.readouterr()
        assert code == expect, (out, err)
        return out, err, server.requests
    yield run
    for server in servers:
        server.close()


def test_a_busy_server_is_asked_again(run):
    out, _, requests = run([BUSY, BUSY, (200, {}, {"nodes": []})],
                           "node", "list", "-f", "json")
    assert json.loads(out) == [] and len(requests) == 3


def test_a_power_request_refused_for_a_full_pool_is_sent_again(run):
    node = {"uuid": "u-1", "name": "w1"}
    states = {"power_state": "power on", "target_power_state": None, "last_error": None}
    out, _, requests = run([(200, {}, node), BUSY, (202, {}, {}), (200, {}, states)],
                           "node", "power", "on", "w1", "-f", "json")
    assert json.loads(out) == {"power_state": "power on"}
    assert [method for method, _ in requests] == ["GET", "PUT", "PUT", "GET"]


@pytest.mark.parametrize("answer", [
    (409, {}, _fault("A node with name w1 already exists.")),  # no Retry-After
    (503, {}, _fault("ipmitool is not installed")),
    (502, {"Retry-After": "0"}, _fault("power on failed on BMC 10.0.0.1")),
    (400, {"Retry-After": "0"}, _fault("bad request")),
])
def test_other_refusals_are_not_retried(run, answer):
    _, err, requests = run([answer, (201, {}, {"uuid": "u-2"})],
                           "node", "create", "--driver", "fake-hardware", expect=1)
    assert len(requests) == 1 and err.startswith("ERROR: "), err


def test_a_server_busy_for_too_long_is_given_up(run, monkeypatch):
    from hwdrivers.cli import http as http_backend
    monkeypatch.setitem(http_backend.RETRY_WINDOW, 503, 0.5)
    _, err, requests = run([(503, {"Retry-After": "0.2"}, BUSY[2])] * 20,
                           "node", "list", expect=1)
    assert "No free worker" in err and 2 <= len(requests) <= 5
