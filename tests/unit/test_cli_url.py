"""``--url`` / ``HWDRIVERS_URL``: what the CLI accepts, refuses and never echoes.

A stub API (:class:`StubAPI`, a thread in this process) records every
request, so a test can say "refused before any request was sent".
"""

import base64
import http.server
import json
import threading

import pytest

from hwdrivers.cli import http as http_backend
from hwdrivers.cmd import cli
from hwdrivers.common import exception


class StubAPI:
    """Answers the few calls the CLI makes, like hwdrivers-server would.

    ``password``: when set, http_basic as user ``ops``; a wrong one is
    Ironic's 401. ``requests`` lists (method, path) of everything received.
    """

    def __init__(self, password=None):
        self.password = password
        self.requests = []
        self.created = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status, doc):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                stub.requests.append((self.command, self.path))
                if stub.password is not None and self.headers.get("Authorization") != (
                        "Basic " + base64.b64encode(("ops:%s" % stub.password)
                                                    .encode()).decode()):
                    return self._answer(401, {"error_message": json.dumps({
                        "faultstring": "Incorrect username or password",
                        "faultcode": "Client", "debuginfo": None})})
                if self.command == "POST" and self.path == "/v1/nodes":
                    stub.created.append(body)
                    return self._answer(201, dict(body, uuid="u-1"))
                if self.command == "GET" and self.path.startswith("/v1/nodes/detail"):
                    return self._answer(200, {"nodes": []})
                return self._answer(404, {"error_message": json.dumps({
                    "faultstring": "The resource could not be found.",
                    "faultcode": "Client", "debuginfo": None})})

            do_GET = do_POST = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub(monkeypatch):
    for name in ("HWDRIVERS_URL", "HWDRIVERS_USERNAME", "HWDRIVERS_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    api = StubAPI()
    yield api
    api.close()


def _main(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize("userinfo", ["admin:s3cr3tPW@", "admin@", ":s3cr3tPW@"])
def test_user_and_password_in_url_are_refused_never_echoed(stub, capsys, userinfo):
    url = stub.url.replace("http://", "http://" + userinfo)
    code, out, err = _main(capsys, "--url", url, "node", "list")
    assert code == 1
    assert "s3cr3tPW" not in out + err and "admin" not in err
    assert "--url must not carry a user or password" in err
    assert "use %s," % stub.url in err
    assert "--username" in err and "HWDRIVERS_PASSWORD" in err and "--password-stdin" in err
    assert stub.requests == []


def test_hwdrivers_url_with_a_password_is_named_as_such(stub, capsys, monkeypatch):
    monkeypatch.setenv("HWDRIVERS_URL", stub.url.replace("http://", "http://a:s3cr3tPW@"))
    monkeypatch.setenv("HWDRIVERS_PASSWORD", "other")
    code, _, err = _main(capsys, "--username", "ops", "node", "list")
    assert code == 1
    assert "HWDRIVERS_URL must not carry" in err and "s3cr3tPW" not in err
    assert stub.requests == []


def test_a_url_that_is_not_http_is_shown_without_its_password(capsys, monkeypatch):
    monkeypatch.delenv("HWDRIVERS_URL", raising=False)
    code, _, err = _main(capsys, "--url", "ftp://u:s3cr3tPW@127.0.0.1:1", "node", "list")
    assert code == 1
    assert "'ftp://127.0.0.1:1' is not an http(s) URL" in err and "s3cr3tPW" not in err


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_url_with_or_without_v1_is_the_same_endpoint(stub, capsys, suffix):
    code, _, err = _main(capsys, "--url", stub.url + suffix, "node", "list", "-f", "json")
    assert code == 0, err
    assert [path.partition("?")[0] for _, path in stub.requests] == ["/v1/nodes/detail"]


@pytest.mark.parametrize("given,base", [
    ("http://h:6385", "http://h:6385"),
    ("http://h:6385/v1/", "http://h:6385"),
    ("https://h/baremetal/v1", "https://h/baremetal"),
    ("https://h/baremetal/", "https://h/baremetal"),
    ("http://h/v10", "http://h/v10"),
])
def test_api_url(given, base):
    assert http_backend.api_url(given) == base
    assert http_backend.HTTPBackend(given).url == base


def test_api_url_refuses_userinfo_directly():
    with pytest.raises(exception.InvalidParameterValue) as info:
        http_backend.HTTPBackend("http://u:pw-123@h:6385")
    assert "pw-123" not in str(info.value) and "http://h:6385" in str(info.value)
