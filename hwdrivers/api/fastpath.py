"""The two requests a busy fleet sends most, answered without Flask's per-request work.

A client changing power sends ``PUT /v1/nodes/<node>/states/power`` and
then polls ``GET /v1/nodes/<node>/states``; at hundreds of requests a
second those two are nearly all the API's traffic. Flask's request
context, routing, ``g`` proxies and hooks cost as much as the handler
itself (measured in-process: 0.33 ms per ``GET .../states`` through Flask,
0.16 ms here), and the server's CPU is what caps its throughput
(doc/performance.md §4).

:class:`FastPath` sits in front of the Flask app (``app.wsgi_app``) and
answers those two requests itself when they are plain -- no query string,
an ASCII path without a trailing slash, no body on the GET, a
``Content-Length`` (not chunked) within ``[api] max_request_body_size`` on
the PUT, a Host already seen by the Flask app -- with the same code the Flask routes run:
``states.states_doc`` and ``states.power_request``, ``utils.context_for``,
microversion negotiation and its ``header_items``, Ironic-shaped errors
from ``errors.response_for_exception`` (finished by ``app.finish``), and
``app.log_request`` for the access-log line. Its 200s and 202s are header
lists written out directly rather than werkzeug Responses. Anything else
goes to Flask unchanged. tests/api/test_fastpath.py checks that both
answer every case byte for byte alike.
"""

import functools
import re
import time

from hwdrivers.api import errors
from hwdrivers.api import microversions
from hwdrivers.api import states
from hwdrivers.api import utils

_STATES = re.compile(r"/v1/nodes/([^/]+)/states\Z")
_POWER = re.compile(r"/v1/nodes/([^/]+)/states/power\Z")


class _Headers:
    """Request headers read straight from the environ (what microversions needs)."""

    __slots__ = ("environ",)

    def __init__(self, environ):
        self.environ = environ

    def get(self, name, default=None):
        return self.environ.get(_environ_key(name), default)

    def __getitem__(self, name):
        return self.environ[_environ_key(name)]


#: The environ keys of the version headers, read on every request (both when
#: the standard one names no baremetal version), spelt once.
_ENVIRON_KEYS = {name: "HTTP_" + name.upper().replace("-", "_")
                 for name in (microversions.HEADER, microversions.GENERIC_HEADER)}


def _environ_key(name):
    key = _ENVIRON_KEYS.get(name)
    return key if key is not None else "HTTP_" + name.upper().replace("-", "_")


class FastPath:
    """WSGI middleware: the hot state requests here, everything else to ``app``."""

    def __init__(self, app, service, conf):
        self.app = app
        self.service = service
        self.conf = conf

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "")
        if method == "GET":
            match = _STATES.match(path)
        elif method == "PUT":
            match = _POWER.match(path)
        else:
            match = None
        if match is None or environ.get("QUERY_STRING") or not path.isascii():
            return self.app(environ, start_response)
        length = environ.get("CONTENT_LENGTH") or ("0" if method == "GET" else "")
        try:  # a PUT without one may be chunked: Flask reads those
            length = int(length)
        except ValueError:
            return self.app(environ, start_response)
        if method == "GET":
            if length:  # a GET with a body: Flask decides
                return self.app(environ, start_response)
        elif not 0 <= length <= self.conf.api.max_request_body_size:
            return self.app(environ, start_response)  # Flask answers the 413
        base = utils.known_base_url(environ, self.conf)
        if base is None or not _uri_safe(base):
            return self.app(environ, start_response)
        from hwdrivers.api import app as app_mod  # app imports this module
        started = time.monotonic()
        ctx = utils.context_for(environ, self.conf)
        version = None
        try:
            version = microversions.requested(_Headers(environ))
            if method == "GET":
                found = self.service.manager.get_node_states(ctx, match.group(1))
                body = utils.dump_json(states.states_doc(found, base, version))
                code, status = 200, "200 OK"
                headers = [("Content-Type", "application/json"),
                           ("Content-Length", str(len(body)))]
            else:
                request = utils.parse_json_body(environ["wsgi.input"].read(length))
                target, timeout = states.power_request(request, version)
                node = self.service.manager.change_power_state(
                    ctx, match.group(1), target, timeout=timeout, wait=False)
                body, code, status = b"", 202, "202 ACCEPTED"
                headers = [("Content-Length", "0"),
                           ("Location", states.states_location(node.uuid, base))]
        except Exception as exc:  # as the Flask app's error handlers do
            response = errors.response_for_exception(exc)
            app_mod.finish(response, version, ctx, method, path, started)
            return _send(response, base, environ, start_response)
        # What utils.json_response / empty_response and app.finish make of
        # it, without werkzeug's Response and its checked, scanned headers
        # (in-process, a GET's CPU -- tests/api/test_fastpath.py compares
        # the two byte for byte). Nothing here needs their checks: the
        # values are this module's, a base iri_to_uri leaves unchanged, a
        # node UUID, and a request id context_for found printable.
        headers.extend(microversions.header_items(version))
        headers.append((app_mod.REQUEST_ID_HEADER, ctx.request_id))
        app_mod.log_request(method, path, code, ctx, started)
        start_response(status, headers)
        return [body]


@functools.lru_cache(maxsize=64)
def _uri_safe(base):
    """Whether werkzeug's iri_to_uri leaves ``base`` as it is (asked once per base)."""
    from werkzeug import urls
    return urls.iri_to_uri(base) == base


def _send(response, base, environ, start_response):
    """``response(environ, start_response)``, without werkzeug's generic fix-ups.

    For the fast path's error responses (its 200s and 202s are written out
    in :meth:`FastPath.__call__`). werkzeug's ``Response.__call__`` copies
    every header (checking each again) and re-quotes a ``Location``
    (``iri_to_uri``): when this also sent the 200s and 202s, skipping that
    took a GET from 50-72 to 41-66 us of CPU in-process. What is answered
    here is already final: headers set through werkzeug's own checks and a
    body with its Content-Length. So the headers go out as they are when
    ``base`` is one iri_to_uri leaves unchanged (asked once per base; the
    fast path sends any other base to Flask before this, the check keeps
    this function right on its own); any other response still goes through
    werkzeug. tests/api/test_fastpath.py compares both paths byte for byte.
    """
    status = response.status_code
    if (not _uri_safe(base) or status < 200 or status in (204, 304) or not response.is_sequence
            or "Content-Length" not in response.headers):
        return response(environ, start_response)
    start_response(response.status, response.headers.to_wsgi_list())
    return response.response
