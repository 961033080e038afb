"""Helpers every resource module uses: the manager, bodies, links, query args.

Every check here raises an API error naming the offending field or query
parameter and saying what would be accepted, before anything is changed.
"""

import datetime
import json
import urllib.parse
import uuid as uuid_mod

import flask
import orjson
from oslo_config import cfg

from hwdrivers.api import errors
from hwdrivers.api import microversions
from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.common import json_values
from hwdrivers.drivers import params

CONF = cfg.CONF

SERVICE_KEY = "hwdrivers.service"
CONF_KEY = "hwdrivers.conf"
#: Set by hwdrivers.api.auth: {"user": ..., "roles": [...]}.
AUTH_ENVIRON_KEY = "hwdrivers.auth"


def service():
    return flask.current_app.config[SERVICE_KEY]


def manager():
    return service().manager


def conf():
    return flask.current_app.config.get(CONF_KEY, CONF)


def context():
    """The request context: set by the auth middleware, else the admin one.

    With ``auth_strategy = noauth`` every caller is admin (the server only
    binds loopback in that mode); the request id follows the client's
    ``X-OpenStack-Request-Id`` when it sends a sane one. (The auth
    middleware already refused readers' writes; roles are kept for logs.)
    """
    ctx = flask.g.get("context")
    if ctx is None:
        ctx = flask.g.context = context_for(flask.request.environ, conf())
    return ctx


def context_for(environ, conf):
    """:func:`context` for a WSGI ``environ`` (also used outside Flask: fastpath)."""
    auth = environ.get(AUTH_ENVIRON_KEY)
    if auth is not None:
        ctx = hw_context.RequestContext(user=auth.get("user"), roles=auth.get("roles", ()))
    else:
        ctx = hw_context.get_admin_context()
    asked = environ.get("HTTP_X_OPENSTACK_REQUEST_ID", "")
    if asked.startswith("req-") and len(asked) <= 64 and asked.isprintable():
        ctx.request_id = asked
    # A busy node is waited for this long before the 409 (task_manager).
    ctx.lock_wait = conf.api.node_locked_wait
    return ctx


# -- bodies ----------------------------------------------------------------------

#: Routes whose bodies ``[api] max_request_body_size`` does not bound, and the
#: ``[api]`` option that does: an agent's inspection data runs to megabytes.
BODY_LIMIT_OPTIONS = {"/v1/continue_inspection": "max_inspection_body_size"}


def body_limit(conf, path):
    """``(bytes, option name)``: the body limit of a request for ``path``."""
    option = BODY_LIMIT_OPTIONS.get(path.rstrip("/"), "max_request_body_size")
    return getattr(conf.api, option), option


def too_large(limit, option, length=None):
    """The 413 for a body over ``limit`` (``[api] option``)."""
    said = ("is %d bytes" % length) if length is not None else "is larger than the limit"
    return errors.RequestTooLarge("The request body %s; the limit is %d bytes ([api] %s)."
                                  % (said, limit, option))


def request_body():
    """The request body's bytes; one over its limit (:func:`body_limit`) is a 413.

    A body with a Content-Length over the limit was refused before the
    view ran. A streamed (chunked) body has none: werkzeug reads it up to
    the limit and stops there without a word, so a larger one would
    arrive cut short. One more byte read from the input tells them apart.
    """
    request = flask.request
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if (request.content_length is None and limit is not None and len(raw) >= limit
            and request.environ["wsgi.input"].read(1)):
        raise too_large(limit, body_limit(conf(), request.path)[1])
    return raw


def json_body(expect=dict):
    """The request's JSON body, which must be of type ``expect``.

    Too large a body is a 413 (:func:`request_body`); malformed JSON or
    the wrong top-level type is a 400 saying so.
    """
    return parse_json_body(request_body(), expect)


def parse_json_body(raw, expect=dict):
    """:func:`json_body` for the body's bytes ``raw``.

    Only standard JSON (:mod:`hwdrivers.common.json_values`): NaN,
    Infinity, numbers that overflow to infinity and lone surrogates are
    400s naming where they are, since a stored one would make every
    listing that shows it invalid JSON.
    """
    if not raw.strip():
        raise errors.APIError("The request body is empty; send a JSON %s."
                              % ("object" if expect is dict else "list"))
    try:
        body = json_values.loads(raw)
    except json_values.JSONValueError as exc:
        raise errors.APIError("Invalid value in the request body: %s"
                              % exc.describe("the body itself")) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.APIError("The request body is not valid JSON: %s" % exc) from None
    except RecursionError:
        body = _TOO_DEEP
    if body is _TOO_DEEP or depth_exceeds(body, MAX_BODY_DEPTH):
        raise errors.APIError("The request body is nested more than %d levels deep; no "
                              "hwdrivers request needs that many." % MAX_BODY_DEPTH)
    if not isinstance(body, expect):
        raise errors.APIError("The request body must be a JSON %s, not %s."
                              % ("object" if expect is dict else "list",
                                 type(body).__name__))
    return body


#: Deepest JSON nesting a request body may have. Bodies are stored (extra,
#: driver_info) and encoded again later; a 100,000-deep list would blow
#: Python's recursion limit there, or in json itself.
MAX_BODY_DEPTH = 32
_TOO_DEEP = object()


def depth_exceeds(value, limit):
    """True when ``value`` nests containers deeper than ``limit`` (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))
    return False


def check_keys(body, allowed, what):
    """400 naming every key of ``body`` not in ``allowed``."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise errors.APIError(
            "Unknown field(s) %s in the %s; accepted fields: %s."
            % (", ".join(unknown), what, ", ".join(sorted(allowed)) or "none"))


def require(body, field, types, what, type_name):
    if field not in body:
        raise errors.APIError("Field %s is required in the %s." % (field, what))
    return check_type(body[field], field, types, type_name)


def check_type(value, field, types, type_name):
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple)
                                                else (types,)):
        raise errors.APIError("Field %s must be %s, got %s." % (
            field, type_name, json.dumps(value)))
    if not isinstance(value, types):
        raise errors.APIError("Field %s must be %s, got %s." % (
            field, type_name, json.dumps(value)[:80]))
    return value


def check_bool(value, field):
    """``value`` as a bool: JSON true/false, or one of Ironic's boolean strings
    (``params.TRUE_STRINGS``/``FALSE_STRINGS``).

    Anything else (a number, "maybe") is a 400 naming ``field`` and the
    accepted spellings. null is the caller's to decide.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return params.parse_bool(value)
        except ValueError:
            pass
    raise errors.APIError(
        "Field %s must be true or false, got %s; also accepted as strings, in any case: "
        "%s for true, %s for false." % (field, json.dumps(value)[:80],
                                        "/".join(params.TRUE_STRINGS),
                                        "/".join(params.FALSE_STRINGS)))


# -- responses -----------------------------------------------------------------

#: orjson's options for our documents: datetimes and dataclasses go to
#: _default as with the json module (Ironic's "+00:00" form; a dataclass is
#: an error, not silently a dict), and non-string keys become strings.
_ORJSON_OPTIONS = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
                   | orjson.OPT_NON_STR_KEYS)


def dump_json(data):
    """``data`` as JSON bytes.

    orjson encodes a 1,000-node page about 8x faster than the json module
    (a fifth of the page's time went to encoding). What it refuses but
    JSON can carry -- an integer beyond 64 bits a client stored in
    ``extra`` -- is encoded by the json module instead, so a listing
    never fails on one node's values (and what neither can encode raises
    the json module's TypeError, as before). A value stored before bodies
    were held to standard JSON -- NaN, an infinity, a lone surrogate,
    which the json module would write as invalid JSON -- is written as
    :func:`json_values.repaired` makes it (null, U+FFFD).
    """
    try:
        return orjson.dumps(data, default=_default, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        pass
    try:  # allow_nan=False refuses NaN, the UTF-8 encoding a lone surrogate
        return json.dumps(data, default=_default, allow_nan=False,
                          ensure_ascii=False).encode("utf-8")
    except ValueError:
        return json.dumps(json_values.repaired(data), default=_default,
                          ensure_ascii=False).encode("utf-8")


def json_response(data, status=200, headers=None):
    resp = flask.Response(dump_json(data), status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def empty_response(status, location=None):
    resp = flask.Response(b"", status=status)
    resp.headers.pop("Content-Type", None)
    if location:
        resp.headers["Location"] = location
    return resp


def _default(value):
    if isinstance(value, datetime.datetime):
        return isotime(value)
    if hasattr(value, "value"):  # enums (PowerState ...)
        return value.value
    raise TypeError("%r is not JSON serialisable" % (value,))


def isotime(value):
    """Naive UTC datetimes (as stored) as ISO 8601 with +00:00, Ironic's form."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.isoformat()


def base_url():
    """``[api] public_endpoint``, else the URL the client used; once per request.

    A 1,000-node listing builds 5,000 links: looking the option and the
    host up for each one was a quarter of the page's API-side time.
    """
    g = flask.g
    base = g.get("base_url")
    if base is None:
        base = g.base_url = known_base_url(flask.request.environ, conf()) or _host_url()
    return base


def known_base_url(environ, conf):
    """:func:`base_url` for ``environ`` without Flask, or None when it needs Flask.

    ``[api] public_endpoint``, else the host URL already computed for the
    same Host (the fast path leaves a Host never seen to Flask).
    """
    public = conf.api.public_endpoint
    if public:
        return public.rstrip("/")
    return _HOST_URLS.get(_host_url_key(environ))


#: ``request.host_url`` (without the slash) by what it is computed from:
#: werkzeug decodes it afresh on each request (IDNA, percent-escapes), a
#: twentieth of a small GET; clients send the same Host header every time.
_HOST_URLS = {}
_HOST_URLS_SIZE = 256


def _host_url_key(environ):
    """What ``request.host_url`` is computed from (no trusted_hosts are set)."""
    return (environ.get("wsgi.url_scheme"), environ.get("HTTP_HOST"),
            environ.get("SERVER_NAME"), environ.get("SERVER_PORT"))


def _host_url():
    key = _host_url_key(flask.request.environ)
    url = _HOST_URLS.get(key)
    if url is None:
        url = flask.request.host_url.rstrip("/")
        if len(_HOST_URLS) >= _HOST_URLS_SIZE:  # bounded, whatever Host headers arrive
            _HOST_URLS.clear()
        _HOST_URLS[key] = url
    return url


def links(resource, ident, suffix="", base=None):
    """Ironic's self + bookmark links for ``/v1/<resource>/<ident><suffix>``.

    ``base`` is :func:`base_url`, for callers building many links at once.
    """
    if base is None:
        base = base_url()
    path = "%s/%s%s" % (resource, ident, suffix)
    return _link_pair("%s/v1/%s" % (base, path), "%s/%s" % (base, path))


def _link_pair(self_href, bookmark_href):
    return [{"href": self_href, "rel": "self"}, {"href": bookmark_href, "rel": "bookmark"}]


def resource_links(resource, ident, subs, base):
    """``{"links": links(...), sub: links(..., "/" + sub) for each sub}``.

    The same links as :func:`links`, for a document that carries its own
    and its sub-resources' (a node has five sets): the common prefixes are
    built once (a tenth of a 1,000-node page went to links).
    """
    own = "%s/%s" % (resource, ident)
    self_href, bookmark = "%s/v1/%s" % (base, own), "%s/%s" % (base, own)
    result = {"links": _link_pair(self_href, bookmark)}
    for sub in subs:
        result[sub] = _link_pair("%s/%s" % (self_href, sub), "%s/%s" % (bookmark, sub))
    return result


def url(path):
    return "%s/v1/%s" % (base_url(), path.lstrip("/"))


# -- query arguments -------------------------------------------------------------

def check_query(allowed):
    """400 for query parameters this endpoint does not understand."""
    unknown = sorted(set(flask.request.args) - set(allowed))
    if unknown:
        raise errors.APIError(
            "Unknown query parameter(s) %s; this endpoint accepts: %s."
            % (", ".join(unknown), ", ".join(sorted(allowed)) or "none"))


def query_bool(name, default=None):
    """Query parameter ``name`` as a boolean (``default`` when absent).

    As Ironic reads them (oslo's strict ``bool_from_string``): the strings
    of ``params.TRUE_STRINGS``/``FALSE_STRINGS`` in any case; anything else
    is a 400 naming the parameter.
    """
    value = flask.request.args.get(name)
    if value is None:
        return default
    try:
        return params.parse_bool(value)
    except ValueError:
        pass
    raise errors.APIError(
        "Query parameter %s must be a boolean, got %r; use, in any case, %s for true "
        "or %s for false." % (name, value, "/".join(params.TRUE_STRINGS),
                              "/".join(params.FALSE_STRINGS)))


#: Ironic's version that added ``?detail=`` to node and port listings (1.43).
DETAIL_QUERY_VERSION = (1, 43)


def query_detail():
    """``?detail=`` of a node or port listing: a boolean, from API 1.43 (a 400
    below, as Ironic's get_request_return_fields; ``/detail`` is the older way)."""
    detail = query_bool("detail")
    if detail is not None:
        microversions.require("Query parameter detail", DETAIL_QUERY_VERSION, code=400,
                              instead="or list .../detail for every field")
    return bool(detail)


def query_limit():
    """``limit``: a positive integer capped at [api] max_limit (the default).

    0 or less is a 400, as Ironic's validate_limit ("Limit must be positive"):
    0 read as "the default page" let a script that meant "no results" or
    "everything" get [api] max_limit nodes and a next link. Ironic's clients
    send no limit for "everything" (``baremetal node list --limit 0``).
    """
    maximum = conf().api.max_limit
    value = flask.request.args.get("limit")
    if value is None:
        return maximum
    try:
        limit = int(value)
    except ValueError:
        raise errors.APIError("Query parameter limit must be an integer, got %r."
                              % value) from None
    if limit <= 0:
        raise errors.APIError(
            "Query parameter limit must be positive, got %d; leave it out for pages of "
            "[api] max_limit (%d), following the next link for the rest." % (limit, maximum))
    return min(limit, maximum)


def query_fields(valid, resource=None):
    """``fields=a,b``: the requested subset, each checked against ``valid``.

    With ``resource`` (a :data:`microversions.FIELD_VERSIONS` resource), a
    field the request's API version does not have is a 406, as in Ironic.
    """
    value = flask.request.args.get("fields")
    if value is None:
        return None
    fields = [f.strip() for f in value.split(",") if f.strip()]
    unknown = [f for f in fields if f not in valid]
    if unknown:
        raise errors.APIError("Field(s) %s are not valid in query parameter fields; "
                              "valid fields: %s." % (", ".join(unknown),
                                                     ", ".join(sorted(valid))))
    if resource is not None:
        microversions.check_fields(resource, fields, microversions.current())
    return fields


def select_fields(doc, fields, hidden=()):
    """``doc`` reduced to ``fields`` (links always kept, as Ironic does), without
    the ``hidden`` ones (:func:`microversions.hidden_fields`)."""
    if hidden:
        doc = {k: v for k, v in doc.items() if k not in hidden}
    if fields is None:
        return doc
    return {k: v for k, v in doc.items() if k in fields or k == "links"}


def listed_after_marker(list_page, marker, resource, find):
    """``list_page()``, where ``marker`` (``?marker=``) is a UUID of ``resource``.

    The database refuses a marker no row has (a 400). As Ironic, which
    looks the marker up first: one that is not a UUID is a 400 saying what
    it must be, and a UUID of no ``resource`` (deleted since the previous
    page, say) is ``find(marker)``'s 404. Looked at only after a refusal:
    a page with a good marker costs no extra read.
    """
    try:
        return list_page()
    except exception.InvalidParameterValue:
        if marker is None:
            raise
        try:
            uuid_mod.UUID(marker)
        except ValueError:
            raise errors.APIError(
                "Query parameter marker must be the UUID of a %s (the last one of the "
                "previous page, as the next link carries it), got %r." % (resource, marker)
            ) from None
        find(marker)
        raise


def next_link(resource, items, limit, marker_key="uuid"):
    """Ironic's ``next`` URL when the page is full, carrying every other arg."""
    if not items or len(items) < limit:
        return None
    args = [(k, v) for k, v in flask.request.args.items(multi=True)
            if k not in ("marker", "limit")]
    args += [("limit", str(limit)), ("marker", items[-1][marker_key])]
    return "%s?%s" % (url(resource), urllib.parse.urlencode(args))
