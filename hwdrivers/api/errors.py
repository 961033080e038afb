"""Ironic-shaped error responses and the exception -> HTTP status mapping.

Ironic's clients (python-ironicclient, openstacksdk) parse errors from a body
``{"error_message": "<JSON string>"}`` whose inner document carries
``faultstring`` (the message shown to the user), ``faultcode`` ("Client" for
4xx, "Server" for 5xx) and ``debuginfo`` (always null: we never leak
tracebacks). Keeping that shape exact is what lets their CLIs print our
messages verbatim, so every API error goes through :func:`error_response`.
"""

import json
import logging

import flask

from hwdrivers.common import exception

LOG = logging.getLogger(__name__)


class APIError(exception.HWDriversError):
    """An error detected by the API layer itself, with its own status."""

    fmt = "%(reason)s"
    code = 400

    def __init__(self, message=None, code=None, **kwargs):
        if code is not None:
            self.code = code
        super().__init__(message, **kwargs)


class NotAcceptable(APIError):
    """The requested microversion is malformed or outside what we serve."""

    code = 406


class MethodNotAllowed(APIError):
    code = 405


class RequestTooLarge(APIError):
    code = 413


class Status:
    """How the API answers one exception class: a status and, where a retry
    can help, the seconds a client should wait (``Retry-After``)."""

    __slots__ = ("status", "retry_after")

    def __init__(self, status, retry_after=None):
        self.status = status
        self.retry_after = retry_after


#: The whole taxonomy, most specific class first; the first match wins.
#: Driver errors say what went wrong *at the controller*: the request was
#: fine, so none is a 500. Settings, credentials and unsupported actions
#: are the client's to fix (400); a controller that does not answer is a
#: gateway timeout (504) and one that answered with a failure a bad
#: gateway (502), both worth retrying; a missing tool is the operator's to
#: install (503, no retry hint: retrying will not help until they do).
STATUSES = (
    (NotAcceptable, Status(406)),
    (exception.NoFreeWorker, Status(503, retry_after=1)),
    (exception.HardwareBusy, Status(503, retry_after=2)),
    (exception.DatabaseUnusable, Status(503)),  # the file: fixing it, not waiting
    (exception.DatabaseUnavailable, Status(503, retry_after=5)),
    (exception.HardwareCallTimeout, Status(504, retry_after=10)),
    (exception.NodeLocked, Status(409, retry_after=1)),
    (exception.Conflict, Status(409)),
    (exception.NotFound, Status(404)),
    (exception.InvalidParameterValue, Status(400)),
    (exception.Invalid, Status(400)),
    (exception.DriverSettingsError, Status(400)),
    (exception.DriverAuthError, Status(400)),
    (exception.DriverUnsupportedAction, Status(400)),
    (exception.DriverToolMissing, Status(503)),
    (exception.DriverConnectionError, Status(504, retry_after=10)),
    (exception.PowerStateFailure, Status(504, retry_after=10)),
    (exception.DriverActionError, Status(502, retry_after=10)),
    (exception.DriverError, Status(502)),
    (exception.ConfigInvalid, Status(500)),
)


def _status(exc):
    if isinstance(exc, APIError):
        return Status(exc.code)
    for cls, status in STATUSES:
        if isinstance(exc, cls):
            return status
    code = getattr(exc, "code", None)
    if isinstance(code, int) and 400 <= code < 600:
        return Status(code)
    return Status(500)


def status_for(exc):
    """The HTTP status for an exception (500 for anything unexpected)."""
    return _status(exc).status


def faultcode_for(status):
    return "Client" if status < 500 else "Server"


def error_body(status, message, faultcode=None):
    """The Ironic error document as a dict (``error_message`` is a string)."""
    inner = {
        "faultstring": str(message),
        "faultcode": faultcode or faultcode_for(status),
        "debuginfo": None,
    }
    return {"error_message": json.dumps(inner)}


def error_response(status, message, faultcode=None):
    """A flask.Response carrying ``message`` in Ironic's error shape."""
    resp = flask.Response(
        json.dumps(error_body(status, message, faultcode)),
        status=status, mimetype="application/json")
    return resp


def response_for_exception(exc):
    """Map any exception to an Ironic error response.

    Known hwdrivers errors keep their message (they are written for users and
    never contain secrets) and get their status from :data:`STATUSES`, with
    ``Retry-After`` where waiting helps; unexpected exceptions are logged with
    their traceback and answered with a generic 500 so internals do not leak.
    """
    if isinstance(exc, exception.HWDriversError):
        status = _status(exc)
        if status.status == 500:
            LOG.error("API request failed: %s", exc)
        elif status.status >= 500:
            LOG.warning("API request failed: %s", exc)
        message = (exc.api_message() if isinstance(exc, exception.NodeNotFound)
                   else str(exc))
        resp = error_response(status.status, message)
        # The exception may know better (NodeLocked: a short or a long holder).
        retry_after = getattr(exc, "retry_after", None) or status.retry_after
        if retry_after is not None:
            resp.headers["Retry-After"] = str(retry_after)
        return resp
    LOG.exception("Unexpected error serving the API request")
    return error_response(500, "Internal error; see the server log.")
