"""The agent's HTTP API, as ironic-python-agent serves it.

``GET /``, ``GET /v1/`` and ``GET /v1/status`` are open; the command
routes need the agent token in the ``agent_token`` query parameter (where
IPA reads it, and where Ironic's agent client sends it): a missing or
wrong token is 401 and nothing runs. ``?wait=true`` makes ``POST
/v1/commands/`` and ``GET /v1/commands/<id>`` answer only when the command
is done. Errors are IPA's WSME-style ``{"faultcode", "faultstring"}``.
Unversioned aliases (``/status``, ``/commands/``) are served as in IPA.

Standard library only (``http.server`` in a thread per request): the API is
six routes and the ramdisk should not need a web framework.
"""

import http.server
import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib import parse

from hwdrivers.agent import errors

LOG = logging.getLogger(__name__)

MAX_BODY = 192 * 1024 * 1024   # a 64 MiB config drive, gzipped and base64-encoded
MEDIA_TYPE = "application/vnd.openstack.ironic-python-agent.v1+json"
#: seconds a connection may send nothing (idle between requests, or stalled in
#: the middle of one) before the agent closes it and frees its thread: IPA's
#: WSGI server (oslo.service's client_socket_timeout) closes one after 900 s.
#: Without it a half-open or silent connection held a thread for ever.
IDLE_TIMEOUT = 900.0

#: (method, path regex, handler name, needs the agent token)
ROUTES: list[tuple[str, re.Pattern, str, bool]] = [
    (method, re.compile(pattern), name, auth)
    for method, pattern, name, auth in [
        ("GET", r"^/$", "root", False),
        ("GET", r"^/v1/?$", "v1", False),
        ("GET", r"^(?:/v1)?/status/?$", "status", False),
        ("GET", r"^(?:/v1)?/commands/?$", "list_commands", True),
        ("GET", r"^(?:/v1)?/commands/(?P<cmd>[^/]+)/?$", "get_command", True),
        ("POST", r"^(?:/v1)?/commands/?$", "run_command", True),
    ]
]


def _wants_wait(query: dict) -> bool:
    return query.get("wait", [""])[-1].lower() == "true"


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "hwdrivers-agent"
    protocol_version = "HTTP/1.1"
    api: "APIServer"
    #: whether this request's body was read (else the connection closes after the answer)
    _body_read = False

    def log_message(self, fmt: str, *args: Any) -> None:  # the query holds the token
        pass

    def _send(self, status: int, body: Any) -> None:
        if not self._body_read and (self.headers.get("Content-Length", "0").strip() != "0"
                                    or self.headers.get("Transfer-Encoding")):
            self.close_connection = True  # its unread body must not pass for a request
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        LOG.log(logging.INFO if status >= 400 or self.command != "GET" else logging.DEBUG,
                "%s %s -> %d", self.command, parse.urlparse(self.path).path, status)

    def _fault(self, status: int, text: str) -> None:
        self._send(status, {"faultcode": "Server" if status >= 500 else "Client",
                            "faultstring": text})

    def _dispatch(self, method: str) -> None:
        self._body_read = False  # one handler serves every request of a connection
        url = parse.urlparse(self.path)
        query = parse.parse_qs(url.query)
        allowed = False
        for route_method, pattern, name, auth in ROUTES:
            match = pattern.match(url.path)
            if not match:
                continue
            allowed = True
            if route_method != method:
                continue
            # The token before the body: a caller without it must not make the
            # agent hold up to MAX_BODY bytes in a ramdisk's RAM (several at
            # once would take the memory a deploy needs).
            if auth and not self.api.agent.validate_token(query.get("agent_token", [None])[-1]):
                return self._fault(401, "401 Unauthorized: Token invalid.")
            try:
                body = self._read_body() if method == "POST" else None
            except _BadFraming as exc:
                return self._fault(exc.status, str(exc))
            try:
                handler: Callable = getattr(self.api, "api_" + name)
                status, payload = handler(query=query, body=body, **match.groupdict())
            except errors.AgentError as exc:
                return self._fault(exc.status_code, str(exc))
            except Exception as exc:  # a bug: say so, keep serving
                LOG.exception("internal error on %s %s", method, url.path)
                return self._fault(500, "internal error: %s" % exc)
            return self._send(status, payload)
        if allowed:
            return self._fault(405, "method %s not allowed on %s" % (method, url.path))
        return self._fault(404, "The requested URL was not found.")

    def _read_body(self) -> bytes:
        """The request body, framed by a plain Content-Length only.

        A chunked body, or a Content-Length that is not a byte count, is
        refused rather than guessed at: read wrongly, what is left of it
        would be taken for the next request on the connection (and a
        negative length would wait for the client to hang up).
        """
        if self.headers.get("Transfer-Encoding"):
            raise _BadFraming(411, "Transfer-Encoding is not supported: send the body with "
                                   "a Content-Length")
        text = (self.headers.get("Content-Length") or "0").strip()
        if not re.fullmatch(r"[0-9]+", text):
            raise _BadFraming(400, "Content-Length %r is not a number of bytes" % text[:40])
        length = int(text)
        if length > MAX_BODY:
            raise _BadFraming(413, "request body larger than %d bytes" % MAX_BODY)
        self._body_read = True
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


class _BadFraming(Exception):
    """A request body the server refuses to read (status and message for the fault)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class APIServer:
    def __init__(self, agent: Any, host: str, port: int,
                 idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.agent = agent
        self.idle_timeout = idle_timeout
        self.host = host
        self.requested_port = port
        self.port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # StreamRequestHandler sets ``timeout`` on each connection's socket: a read
        # that waits longer ends the connection (http.server closes it quietly)
        handler = type("Handler", (_Handler,), {"api": self, "timeout": self.idle_timeout})
        self._httpd = _Server((self.host, self.requested_port), handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="agent-api",
                                        kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # -- routes ------------------------------------------------------------
    def _base(self) -> str:
        return self.agent.callback_url or "http://%s:%d" % (self.host, self.port)

    def _version(self) -> dict:
        base = self._base()
        return {"id": "v1", "links": [
            {"href": base + "/v1/", "rel": "self"},
            {"href": "https://docs.openstack.org/ironic-python-agent", "rel": "describedby",
             "type": "text/html"}]}

    def api_root(self, **_: Any) -> tuple[int, dict]:
        return 200, {"name": "hwdrivers agent API (ironic-python-agent compatible)",
                     "description": "The ramdisk agent of hwdrivers",
                     "versions": [self._version()], "default_version": self._version()}

    def api_v1(self, **_: Any) -> tuple[int, dict]:
        base = self._base()
        doc = dict(self._version())
        doc.update({"commands": [{"href": base + "/v1/commands", "rel": "self"},
                                 {"href": base + "/commands", "rel": "bookmark"}],
                    "status": [{"href": base + "/v1/status", "rel": "self"},
                               {"href": base + "/status", "rel": "bookmark"}],
                    "media_types": [{"base": "application/json", "type": MEDIA_TYPE}]})
        return 200, doc

    def api_status(self, **_: Any) -> tuple[int, dict]:
        return 200, self.agent.status()

    def api_list_commands(self, **_: Any) -> tuple[int, dict]:
        return 200, {"commands": [r.serialize() for r in self.agent.executor.list()]}

    def api_get_command(self, query: dict, cmd: str, **_: Any) -> tuple[int, dict]:
        result = self.agent.executor.get(cmd)
        if _wants_wait(query):
            result.join()
        return 200, result.serialize()

    def api_run_command(self, query: dict, body: bytes, **_: Any) -> tuple[int, dict]:
        try:
            request = json.loads(body or b"null")
        except ValueError as exc:
            raise errors.InvalidCommandError("request body is not JSON: %s" % exc)
        if (not isinstance(request, dict) or "name" not in request
                or not isinstance(request.get("params"), dict)):
            raise errors.InvalidCommandError(
                'Missing or invalid name or params: send {"name": "<extension>.<command>", '
                '"params": {...}}')
        result = self.agent.executor.execute(request["name"], request["params"])
        if _wants_wait(query):
            result.join()
        return 200, result.serialize()
