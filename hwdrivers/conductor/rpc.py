"""The transport between hwdrivers-api and the conductors: JSON-RPC 2.0 over HTTP.

This is Ironic's ``json-rpc`` design (doc/architecture.md says why it was
chosen over a broker): each ``hwdrivers-conductor`` serves :func:`make_app`
on ``[json_rpc] host_ip``/``port`` with waitress and records its URL in its
conductors row; an API process picks the owning conductor from the hash
ring and POSTs ``{"jsonrpc": "2.0", "method", "params", "id"}`` to it with
:class:`Client`. Authentication is the API's HTTP Basic over a bcrypt
htpasswd file (``[json_rpc] auth_strategy``), applied by the command that
serves the app.

Everything transport-specific lives here: the wire encoding of arguments,
results (datetimes, enums, nodes) and errors. An hwdrivers error crosses
as its class name, message and HTTP code, so the API answers a locked node
with the same 409 and Retry-After whether the lock was met in the API
process or in the conductor. Nodes cross without driver_info,
driver_internal_info or instance_info: the API process reads those from
the database itself, so secrets never travel over this channel.
"""

import base64
import datetime
import enum
import http.client
import importlib
import inspect
import itertools
import json
import logging
import threading
import time
import urllib.parse

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.objects import node as node_obj

LOG = logging.getLogger(__name__)

#: Node fields never sent over RPC (secrets, agent tokens, config drives).
_PRIVATE_NODE_FIELDS = ("driver_info", "driver_internal_info", "instance_info")

#: JSON-RPC 2.0 error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
SERVER_ERROR = -32000


class ConductorUnreachable(exception.HWDriversError):
    """The owning conductor did not answer; its nodes move once it is presumed dead."""

    code = 503
    retry_after = 5
    fmt = ("Conductor %(host)s, which owns node %(node)s, does not answer at %(url)s "
           "(%(reason)s). If it died, its nodes move to another conductor of the "
           "group within [conductor] heartbeat_timeout; retry then.")


class ConductorRefusesLogins(exception.HWDriversError):
    """The conductor throttles this address's JSON-RPC logins after failed ones."""

    code = 503
    retry_after = 5
    fmt = ("Conductor %(host)s, which owns node %(node)s, refuses JSON-RPC logins from "
           "this API process's address for now (HTTP 429) after failed ones: a process "
           "on this machine sends a wrong [json_rpc] http_basic_username or "
           "http_basic_password. Fix it there; the conductor lets logins in again "
           "within a minute.")


class WrongConductor(exception.HWDriversError):
    """The call reached another conductor than the one it was routed to."""

    code = 503
    retry_after = 5
    fmt = ("The call for node %(node)s was routed to conductor %(meant)s but reached "
           "conductor %(host)s at %(url)s, which did nothing: both record that URL. Give "
           "each conductor its own [json_rpc] advertise_host (or port), the address it "
           "alone is reached at, and restart it.")


class RemoteError(exception.HWDriversError):
    """An error from the conductor that is not an hwdrivers error class here."""


class IncompatibleCall(exception.HWDriversError):
    """The call's parameters do not fit the conductor's method: mixed versions."""

    code = 500
    fmt = ("The conductor cannot take %(method)s with these parameters (%(reason)s): the "
           "API process that sent it runs another hwdrivers version. Run the same "
           "version on every hwdrivers-api and hwdrivers-conductor.")


# -- the wire encoding -------------------------------------------------------------------

def _default(value):
    if isinstance(value, datetime.datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, node_obj.Node):
        values = value.as_dict()
        for field in _PRIVATE_NODE_FIELDS:
            values.pop(field, None)
        return {"__node__": values}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError("%r cannot be sent over JSON-RPC" % (value,))


def _hook(obj):
    if "__datetime__" in obj and len(obj) == 1:
        return datetime.datetime.fromisoformat(obj["__datetime__"])
    if "__node__" in obj and len(obj) == 1:
        values = obj["__node__"]
        for field in _PRIVATE_NODE_FIELDS:
            values.setdefault(field, {})
        return node_obj.Node(values)
    return obj


def dumps(value) -> bytes:
    return json.dumps(value, default=_default).encode("utf-8")


def loads(data: bytes):
    """The value encoded in ``data``; ValueError for anything that is not one.

    Whatever reaches the listener, or answers at a conductor's recorded URL,
    may be something else (a port reused by another service, a proxy's error
    page, a scanner): any failure to decode it is a ValueError, which both
    ends turn into a clear error rather than a traceback and an HTTP 500.
    """
    try:
        return json.loads(data, object_hook=_hook)
    except ValueError:
        raise
    except (TypeError, AttributeError, KeyError, RecursionError) as exc:
        raise ValueError("not this protocol's encoding (%s)" % type(exc).__name__) from None


def _context_to_wire(context, conductor=None) -> dict:
    return {"user": context.user, "roles": list(context.roles),
            "request_id": context.request_id, "lock_wait": context.lock_wait,
            "conductor": conductor}


def _context_from_wire(data) -> hw_context.RequestContext:
    """The request context in ``data``; ValueError saying what is wrong with it.

    Checked before the call: a context of another shape (another protocol,
    a broken client) failed outside the listener's error handling, an
    HTTP 500 and a traceback, or inside the call as "failed unexpectedly".
    """
    data = data or {}
    if not isinstance(data, dict):
        raise ValueError("params.context must be an object, not %s" % type(data).__name__)
    roles = data.get("roles") or ()
    lock_wait = data.get("lock_wait")
    if not (isinstance(roles, list) and all(isinstance(r, str) for r in roles)) and roles:
        raise ValueError("params.context.roles must be a list of strings")
    if lock_wait is not None and (isinstance(lock_wait, bool)
                                  or not isinstance(lock_wait, (int, float))):
        raise ValueError("params.context.lock_wait must be a number of seconds")
    for key in ("user", "request_id", "conductor"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError("params.context.%s must be a string" % key)
    return hw_context.RequestContext(user=data.get("user"), roles=roles,
                                     request_id=data.get("request_id"),
                                     lock_wait=lock_wait)


def _plain(value):
    """A JSON-safe form of an exception keyword argument."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def error_to_wire(exc: BaseException) -> dict:
    data = {"class": type(exc).__name__, "module": type(exc).__module__}
    if isinstance(exc, exception.HWDriversError):
        data["kwargs"] = {k: _plain(v) for k, v in (exc.kwargs or {}).items()}
        data["http_code"] = getattr(exc, "code", 500)
        for attr in ("retry_after", "errors"):
            value = getattr(exc, attr, None)
            if value is not None:
                data[attr] = value
        message = str(exc)
    else:  # a bug: the conductor logged its traceback; the API says so
        data["http_code"] = 500
        message = ("The conductor failed unexpectedly (%s); its log has the details."
                   % type(exc).__name__)
    return {"code": SERVER_ERROR, "message": message, "data": data}


def error_from_wire(error: dict) -> exception.HWDriversError:
    data = error.get("data") or {}
    cls = None
    module_name, class_name = data.get("module") or "", data.get("class") or ""
    if module_name.startswith("hwdrivers."):
        try:
            cls = getattr(importlib.import_module(module_name), class_name, None)
        except ImportError:
            cls = None
    if not (isinstance(cls, type) and issubclass(cls, exception.HWDriversError)):
        cls = RemoteError
    exc = cls.__new__(cls)
    exception.HWDriversError.__init__(exc, error.get("message") or "conductor error",
                                      **(data.get("kwargs") or {}))
    if cls is RemoteError or type(exc).code != data.get("http_code", type(exc).code):
        exc.code = data.get("http_code", 500)
    if "retry_after" in data:
        exc.retry_after = data["retry_after"]
    if "errors" in data or isinstance(exc, exception.InvalidParameterValue):
        exc.errors = list(data.get("errors") or [])
    return exc


# -- the server side ----------------------------------------------------------------------

def make_app(dispatch, methods, before_call=None, hostname=None):
    """A WSGI app serving JSON-RPC 2.0 calls of ``methods`` on ``dispatch``.

    Each call is ``getattr(dispatch, method)(context, **params)``.
    ``before_call(method, params)`` may raise to refuse a call (e.g. a
    conductor that lost its membership). Only POST to ``/`` is served.

    ``hostname`` is the conductor serving: a call the caller routed to
    another conductor (the one it names in its context) is refused with
    WrongConductor. Two conductors recording one URL (an ``advertise_host``
    copied between machines, a load balancer in front of them) had one
    acting on the other's nodes, two conductors driving one controller.
    """
    methods = frozenset(methods)

    def app(environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO", "/") != "/":
            return _http(start_response, "405 Method Not Allowed",
                         b"JSON-RPC: POST a JSON-RPC 2.0 request to /\n")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            request = loads(environ["wsgi.input"].read(length))
        except (ValueError, UnicodeDecodeError) as exc:
            return _answer(start_response, None, error={
                "code": PARSE_ERROR, "message": "not JSON: %s" % exc})
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
            return _answer(start_response, None, error={
                "code": INVALID_REQUEST, "message": "not a JSON-RPC 2.0 request object"})
        call_id = request.get("id")
        method = request.get("method")
        params = request.get("params") or {}
        if method not in methods or not isinstance(params, dict):
            return _answer(start_response, call_id, error={
                "code": METHOD_NOT_FOUND,
                "message": "no method %r (served: %s)" % (method, ", ".join(sorted(methods)))})
        params = dict(params)
        wire_context = params.pop("context", None)
        try:
            context = _context_from_wire(wire_context)
        except ValueError as exc:
            return _answer(start_response, call_id, error={
                "code": INVALID_REQUEST, "message": str(exc)})
        LOG.info("JSON-RPC %s node %s [%s]", method, params.get("ident"), context.request_id)
        meant = wire_context.get("conductor") if isinstance(wire_context, dict) else None
        if hostname is not None and meant and meant != hostname:
            LOG.error("JSON-RPC %s for node %s was meant for conductor %s, not this one "
                      "(%s): refused; give each conductor its own [json_rpc] "
                      "advertise_host", method, params.get("ident"), meant, hostname)
            return _answer(start_response, call_id, error=error_to_wire(WrongConductor(
                node=params.get("ident"), meant=meant, host=hostname,
                url=environ.get("HTTP_HOST") or "its URL")))
        try:
            if before_call is not None:
                before_call(method, params)
            func = getattr(dispatch, method)
            _check_params(method, func, context, params)
            result = func(context, **params)
        except exception.HWDriversError as exc:
            return _answer(start_response, call_id, error=error_to_wire(exc))
        except Exception as exc:
            LOG.exception("JSON-RPC %s failed", method)
            return _answer(start_response, call_id, error=error_to_wire(exc))
        return _answer(start_response, call_id, result=result)

    return app


def _check_params(method, func, context, params):
    """IncompatibleCall unless ``func`` takes ``params``.

    A parameter one side has and the other has not (an API process upgraded
    before the conductors) was a TypeError inside the call: a traceback in
    the conductor's log and "failed unexpectedly" in the API.
    """
    try:
        inspect.signature(func).bind(context, **params)
    except TypeError as exc:
        raise IncompatibleCall(method=method, reason=str(exc)) from None


def _http(start_response, status, body):
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body)))])
    return [body]


def _answer(start_response, call_id, result=None, error=None):
    doc = {"jsonrpc": "2.0", "id": call_id}
    if error is not None:
        doc["error"] = error
    else:
        doc["result"] = result
    body = dumps(doc)
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


# -- the client side -----------------------------------------------------------------------

#: Seconds calls to a conductor that let one time out fail at once, before
#: one call tries it again (ConductorUnreachable's Retry-After).
SILENT_RETRY = ConductorUnreachable.retry_after

#: Seconds at most that the one call trying a silent conductor again holds
#: the others back. That call may be a hardware wait ([json_rpc] timeout,
#: 150 s): a conductor that is back, answering a slow BMC, would have its
#: other nodes refused all that time. Past this, one more call may try
#: (the request's lock wait plus rpc_api.ANSWER_MARGIN, as a quick call).
PROBE_WINDOW = 20.0


class Client:
    """Calls conductors over keep-alive HTTP connections, one per thread and URL.

    A conductor that accepts connections but does not answer (paused, frozen
    VM, packets dropped) would hold every caller for the whole timeout, and
    the callers are the API process's few threads, which serve every other
    node too. So once a call to a URL has timed out, the next calls to it
    fail at once for :data:`SILENT_RETRY` seconds, then one call at a time
    (a new one every :data:`PROBE_WINDOW` seconds at most) tries it again
    until it answers.
    """

    def __init__(self, timeout=60.0, username=None, password=None):
        self.timeout = timeout
        self._auth = None
        if username:
            token = base64.b64encode(("%s:%s" % (username, password or "")).encode())
            self._auth = "Basic %s" % token.decode("ascii")
        self._local = threading.local()
        self._ids = itertools.count(1)
        self._silent = {}  # url -> (monotonic time calls may try it again, reason)
        self._silent_lock = threading.Lock()

    def _admit(self, url, timeout):
        """None when a call to ``url`` may go; else why it did not answer lately."""
        with self._silent_lock:
            entry = self._silent.get(url)
            if entry is None:
                return None
            until, reason = entry
            now = time.monotonic()
            if now < until:
                return reason
            # This call tries it again; the others fail at once until it is back,
            # or until PROBE_WINDOW lets one more try.
            self._silent[url] = (now + min(timeout, PROBE_WINDOW), reason)
            return None

    def _answered(self, url):
        if url in self._silent:
            with self._silent_lock:
                self._silent.pop(url, None)

    def _timed_out(self, url, timeout, timeout_option=None):
        reason = ("no answer within %gs%s at %s; calls to it fail at once for %ss, then "
                  "are tried again" % (timeout, " (%s)" % timeout_option if timeout_option
                                       else "", time.strftime("%H:%M:%S"), SILENT_RETRY))
        with self._silent_lock:
            self._silent[url] = (time.monotonic() + SILENT_RETRY, reason)
        return reason

    def _connection(self, url, fresh=False):
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        conn = pool.get(url)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            parts = urllib.parse.urlsplit(url)
            factory = (http.client.HTTPSConnection if parts.scheme == "https"
                       else http.client.HTTPConnection)
            conn = factory(parts.hostname, parts.port, timeout=self.timeout)
            pool[url] = conn
            return conn, True
        return conn, False

    def _drop(self, url):
        conn = getattr(self._local, "pool", {}).pop(url, None)
        if conn is not None:
            conn.close()

    def call(self, url, method, context, host="?", node="?", call_timeout=None,
             timeout_option=None, **params):
        """The result of ``method`` on the conductor at ``url``, or its error raised.

        ``call_timeout`` (seconds) bounds this call's wait for the answer;
        the client's own when None. (Not ``timeout``: change_power_state
        has a parameter of that name.) ``timeout_option`` names the setting
        it comes from, for the error when it runs out: the operator who
        finds the wait too short needs to know which one to raise.
        """
        timeout = self.timeout if call_timeout is None else call_timeout
        silent = self._admit(url, timeout)
        if silent is not None:
            raise ConductorUnreachable(host=host, node=node, url=url, reason=silent)
        params["context"] = _context_to_wire(context, None if host == "?" else host)
        body = dumps({"jsonrpc": "2.0", "method": method, "params": params,
                      "id": next(self._ids)})
        headers = {"Content-Type": "application/json"}
        if self._auth:
            headers["Authorization"] = self._auth
        try:
            conn, fresh = self._connection(url)
        except ValueError as exc:  # a URL recorded from a bad [json_rpc] advertise_host
            raise ConductorUnreachable(
                host=host, node=node, url=url,
                reason="its recorded JSON-RPC URL is not valid (%s); fix its [json_rpc] "
                       "advertise_host and restart it" % exc) from None
        while True:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request("POST", "/", body=body, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError,
                    BrokenPipeError) as exc:
                # A kept-alive connection the server closed while idle fails
                # before the request was read: try once on a new one.
                self._drop(url)
                if fresh:
                    self._answered(url)
                    raise ConductorUnreachable(host=host, node=node, url=url,
                                               reason=exc) from None
                conn, fresh = self._connection(url, fresh=True)
            except TimeoutError:
                self._drop(url)
                raise ConductorUnreachable(
                    host=host, node=node, url=url,
                    reason=self._timed_out(url, timeout, timeout_option)) from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop(url)
                self._answered(url)  # refused or reset: at once, nothing to spare
                raise ConductorUnreachable(host=host, node=node, url=url,
                                           reason=exc) from None
        self._answered(url)
        if response.status in (401, 403):
            raise exception.ConfigInvalid(
                "conductor %s refused this API process's credentials (HTTP %d); set "
                "[json_rpc] http_basic_username and http_basic_password to a user of "
                "the conductor's [json_rpc] http_basic_auth_user_file"
                % (host, response.status), option="[json_rpc] http_basic_username")
        if response.status == 429:
            error = ConductorRefusesLogins(host=host, node=node)
            try:
                error.retry_after = max(1, int(float(response.getheader("Retry-After"))))
            except (TypeError, ValueError, OverflowError):
                pass
            raise error
        if response.status != 200:
            raise ConductorUnreachable(host=host, node=node, url=url,
                                       reason="HTTP %d" % response.status)
        answer = _response(raw)
        if answer is None:
            raise ConductorUnreachable(
                host=host, node=node, url=url,
                reason="what answers there is not a JSON-RPC 2.0 service (%d bytes that "
                       "are not a response object); is another program listening at the "
                       "conductor's recorded URL?" % len(raw))
        if answer.get("error"):
            raise error_from_wire(answer["error"])
        return answer.get("result")


def _response(raw):
    """The decoded JSON-RPC response object in ``raw``, or None if it is not one."""
    try:
        answer = loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(answer, dict) or not ("result" in answer or "error" in answer):
        return None
    error = answer.get("error")
    if error and not (isinstance(error, dict) and isinstance(error.get("data") or {}, dict)
                      and isinstance((error.get("data") or {}).get("kwargs") or {}, dict)):
        return None
    return answer
