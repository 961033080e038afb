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


#: Explicit statuses for the classes the API must map; anything else falls
#: back to the exception's own ``code`` attribute (see :func:`status_for`).
STATUS_BY_EXCEPTION = (
    (NotAcceptable, 406),
    (exception.NoFreeWorker, 503),
    (exception.InvalidStateRequested, 409),
    (exception.NodeLocked, 409),
    (exception.Conflict, 409),
    (exception.NotFound, 404),
    (exception.InvalidParameterValue, 400),
    (exception.Invalid, 400),
    (exception.DriverSettingsError, 400),
    (exception.DriverUnsupportedAction, 400),
)


def status_for(exc):
    """The HTTP status for an exception (500 for anything unexpected)."""
    if isinstance(exc, APIError):
        return exc.code
    for cls, status in STATUS_BY_EXCEPTION:
        if isinstance(exc, cls):
            return status
    code = getattr(exc, "code", None)
    if isinstance(code, int) and 400 <= code < 600:
        return code
    return 500


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
    never contain secrets); unexpected exceptions are logged with their
    traceback and answered with a generic 500 so internals do not leak.
    """
    if isinstance(exc, exception.HWDriversError):
        status = status_for(exc)
        if status >= 500 and not isinstance(exc, (exception.NoFreeWorker,
                                                   exception.DriverError)):
            LOG.error("API request failed: %s", exc)
        return error_response(status, str(exc))
    LOG.exception("Unexpected error serving the API request")
    return error_response(500, "Internal error; see the server log.")
