"""A small Redfish service on 127.0.0.1, for what sushy-tools' emulator cannot show.

A test's BMC subclasses :class:`RedfishStub`: it lists the documents GET
serves (``documents``, or ``document(path)`` for ones that change), and
defines a method named after each other HTTP method it answers (``PATCH``,
``POST``...), or overrides ``GET``; every request is kept in ``requests``.
Each connection carries one request, so a client never reuses one the
stub already closed.

:func:`configured` is the body of a fixture: the redfish hardware type
enabled, the session cache emptied, and every stub it started shut down::

    @pytest.fixture
    def bmc(config):
        with redfish_stub.configured(config, redfish__command_retry_timeout=0.0) as serve:
            yield serve(MyBMC())
"""

import contextlib
import http.server
import json
import threading

from hwdrivers.drivers.modules import redfish_session
from hwdrivers.drivers.task import StandaloneTask

ROOT, SYSTEMS = "/redfish/v1", "/redfish/v1/Systems"
#: What GET answers for a path with no document.
NOT_FOUND = 404, {"error": {"code": "NotFound"}}


def service_root(**links):
    """The service root document, linking Systems and any ``links`` given."""
    return dict({"@odata.id": ROOT + "/", "Id": "RootService", "RedfishVersion": "1.6.0",
                 "Systems": {"@odata.id": SYSTEMS}}, **links)


def systems(*members):
    """The Systems collection of the ComputerSystems at paths ``members``."""
    return {"@odata.id": SYSTEMS, "Members": [{"@odata.id": path} for path in members]}


class RedfishStub(http.server.ThreadingHTTPServer):
    """A Redfish service answering each request with its method of the same name.

    Such a method takes the :class:`Request` and returns ``(status, body)`` or
    ``(status, body, headers)`` (``body`` None for none), or None to close the
    connection unanswered. A method with none answers 501.
    """

    daemon_threads = True
    #: The documents GET serves, by path without a trailing slash.
    documents = {}

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        #: Every request, in the order it came: (method, path, JSON body or None).
        self.requests = []

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def bodies(self, method):
        """The bodies of the ``method`` requests so far, in order."""
        return [body for method_, _path, body in self.requests if method_ == method]

    def document(self, path):
        """The document at ``path`` (no trailing slash), or None."""
        return self.documents.get(path)

    def GET(self, request):
        document = self.document(request.resource)
        return (200, document) if document else NOT_FOUND

    def start(self):
        """Serve in a thread of its own; returns the stub."""
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def close(self):
        self.shutdown()
        self.server_close()


class Request:
    """One request: ``method``, ``path`` as sent, ``resource`` (the path without
    a trailing slash), ``headers``, and ``body`` (its JSON, or None if empty)."""

    def __init__(self, handler, body):
        self.method, self.path, self.headers = handler.command, handler.path, handler.headers
        self.resource = self.path.rstrip("/")
        self.body = body


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        method = getattr(self.server, self.command, None)
        if method is None:
            return self.send_error(501, "Unsupported method (%r)" % self.command)
        data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = Request(self, json.loads(data) if data else None)
        self.server.requests.append((request.method, request.path, request.body))
        answer = method(request)
        self.close_connection = True  # one request per connection: no reuse races
        if answer is not None:
            self._send(*answer)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    def _send(self, code, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        for name, value in (("Content-Type", "application/json"), ("Connection", "close"),
                            ("Content-Length", str(len(data))), *headers):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def configured(config, **options):
    """The redfish hardware type with redfish power and management, and ``options``
    (other ``enabled_*_interfaces``, ``redfish__*`` settings), an empty session
    cache; gives ``serve(stub)``, which serves a stub (and returns it) until the
    block ends. :func:`task` makes a node of the redfish driver for a stub."""
    config(enabled_hardware_types=["redfish"], enabled_power_interfaces=["redfish"],
           enabled_management_interfaces=["redfish", "noop"], **options)
    redfish_session.CACHE.clear()
    started = []

    def serve(stub):
        started.append(stub.start())
        return stub

    try:
        yield serve
    finally:
        redfish_session.CACHE.clear()
        for stub in started:
            stub.close()


def task(stub, password, username="root", auth_type="basic", **fields):
    """A :class:`StandaloneTask` of the redfish driver for the BMC ``stub``;
    ``fields`` are the node's (``name``, ``boot_interface``...)."""
    return StandaloneTask.for_driver("redfish", {
        "redfish_address": stub.url, "redfish_username": username,
        "redfish_password": password, "redfish_auth_type": auth_type}, **fields)
