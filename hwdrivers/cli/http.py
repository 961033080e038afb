"""The HTTP backend: the CLI drives a running ``hwdrivers-server`` over its REST API.

Same methods and return values as :class:`hwdrivers.cli.local.LocalBackend`
so commands and output do not care which backend is underneath
(``hwdrivers --url http://host:6385 node list``). Differences that the
Ironic API imposes, on purpose:

* node documents carry the fields the API serves; the local database's
  internals (integer ``id``, ``power_sync_failures``, the last boot device
  set) are not in Ironic's document and are left out;
* ``node power status`` shows the state the conductor recorded (read when
  the node is managed, after each power action, and by the periodic power
  sync) -- the local backend shows the same record, not a fresh read;
* a power change is accepted by the server (202) and then polled on
  ``GET /v1/nodes/<node>/states`` until the target is reached, so the
  command returns, like the local one, once the hardware is in the new
  state, or fails with the node's ``last_error``.

It uses only the standard library (urllib): the CLI stays quick to start and
needs nothing the server needs. Credentials for ``[api] auth_strategy =
http_basic`` come from ``--username``/``HWDRIVERS_USERNAME`` and
``HWDRIVERS_PASSWORD``, ``--password-stdin`` or a prompt — never argv,
where every user of the machine could read them.
"""

import base64
import datetime
import http.client
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request

from hwdrivers.common import exception
from hwdrivers.common import interface_types

#: Interfaces (1.31), a config drive with rebuild (1.35) or as JSON (1.56) and
#: every field the CLI reads are in this version. The server, as Ironic, leaves
#: out of its documents the fields newer than the version asked for (owner,
#: conductor_group...), which the CLI does not show.
API_VERSION = "1.56"
#: Node history is served from 1.78 (Ironic's MINOR_78_NODE_HISTORY).
HISTORY_API_VERSION = "1.78"
VERSION_HEADER = "X-OpenStack-Ironic-API-Version"

#: The node fields the local backend shows that the API serves too, and the
#: API's ``conductor``: the process that owns the node, which only a server has.
NODE_FIELDS = (("uuid", "name", "driver", "driver_info", "driver_internal_info",
                "instance_info", "properties", "extra", "power_state",
                "target_power_state", "provision_state", "target_provision_state",
                "provision_updated_at", "last_error", "maintenance", "maintenance_reason",
                "fault", "console_enabled", "console_error", "conductor_group",
                "conductor", "reservation", "created_at", "updated_at", "automated_clean")
               + interface_types.NODE_FIELDS)
_TIMES = ("created_at", "updated_at", "provision_updated_at")
#: The fields of a node history event, as the local backend returns them.
HISTORY_FIELDS = ("uuid", "created_at", "severity", "event", "event_type", "conductor",
                  "user")

#: Seconds between polls of a node's states while a power change runs.
POLL_INTERVAL = 0.1
#: Upper bound on waiting for a power change when no timeout was given:
#: the server enforces its own (power_state_change_timeout, retries).
DEFAULT_POWER_WAIT = 1800.0
REQUEST_TIMEOUT = 60.0


#: Seconds a request refused for now (with Retry-After) is asked again, by
#: status: a busy server (503) frees workers as operations end; a node
#: locked by a long operation (409) is not worth a long wait.
RETRY_WINDOW = {503: 60.0, 409: 10.0}
#: The longest sleep between two attempts, whatever Retry-After says.
MAX_RETRY_WAIT = 5.0


def _retry_after(headers):
    """Retry-After's seconds, or None (absent, or an HTTP date: not ours)."""
    try:
        value = float((headers or {}).get("Retry-After"))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


class APIRequestError(exception.HWDriversError):
    """The API refused a request; ``code`` is its HTTP status."""

    def __init__(self, message, code):
        self.code = code
        super().__init__(message)


def _fault(body):
    """The user-facing message of an Ironic-shaped error body, or None."""
    try:
        doc = json.loads(body)
        inner = doc["error_message"]
        if isinstance(inner, str):
            inner = json.loads(inner)
        return inner.get("faultstring") or None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _parse_time(value):
    """API times (ISO 8601, UTC) as the naive UTC datetimes the database holds."""
    if not isinstance(value, str):
        return value
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.UTC).replace(tzinfo=None)
    return parsed


def _without_userinfo(parsed):
    """``parsed`` (a SplitResult) as text with any ``user:password@`` left out."""
    host = parsed.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parsed._replace(netloc=host))


def api_url(url, option="--url / HWDRIVERS_URL"):
    """The API's base URL from what the operator gave (``option`` names where).

    ``http://host:6385``, ``.../`` and ``.../v1`` (Ironic's endpoint, as
    clients print it) are the same endpoint; the CLI adds ``/v1/...``
    itself. A ``user:password@`` in the URL is refused, never used: argv
    and the environment are readable through ps, and urllib would take the
    user and password for part of the host name and echo them in its
    error. Messages show the URL without them.
    """
    parsed = urllib.parse.urlsplit(url or "")
    shown = _without_userinfo(parsed)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise exception.InvalidParameterValue(
            "%s %r is not an http(s) URL of hwdrivers-server, e.g. "
            "http://127.0.0.1:6385" % (option, shown))
    if "@" in parsed.netloc:
        raise exception.InvalidParameterValue(
            "%s must not carry a user or password (every user sees the command line "
            "through ps): use %s, give the user with --username or "
            "HWDRIVERS_USERNAME and the password in HWDRIVERS_PASSWORD or on "
            "--password-stdin" % (option, shown))
    base = shown.rstrip("/")
    if base.endswith("/v1"):
        base = base[:-len("/v1")]
    return base


class HTTPBackend:
    def __init__(self, url, username=None, password=None, timeout=REQUEST_TIMEOUT,
                 password_source=None):
        self.url = api_url(url)
        self.timeout = timeout
        #: Where the password came from, named when the API refuses it.
        self.password_source = password_source or "HWDRIVERS_PASSWORD"
        self._auth = None
        if username:
            # The bytes given, even those that are not UTF-8 (a password in
            # Latin-1 from HWDRIVERS_PASSWORD or stdin reaches Python as
            # surrogates): Basic credentials are bytes, and strict encoding
            # was a UnicodeEncodeError traceback.
            token = base64.b64encode(("%s:%s" % (username, password or ""))
                                     .encode("utf-8", "surrogateescape")).decode("ascii")
            self._auth = "Basic " + token
        self.username = username

    # -- transport ----------------------------------------------------------------

    def request(self, method, path, body=None, query=None, expect=(200,), version=None):
        """The decoded JSON answer (None when empty), or APIRequestError.

        ``version``: the microversion to ask for when the route is newer than
        :data:`API_VERSION` (node history: 1.78); the answer's fields stay
        those of that version.
        """
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header(VERSION_HEADER, version or API_VERSION)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self._auth:
            req.add_header("Authorization", self._auth)
        started = time.monotonic()
        while True:
            status, raw, retry_after = self._send(req)
            # Refused for now, and changed nothing: no free worker, the
            # hardware wait slots full (503), or the node locked by a short
            # operation (409), each with Retry-After. Asked again, as
            # Ironic's clients do: a bulk action with --parallel above the
            # server's free workers failed every node beyond them.
            window = RETRY_WINDOW.get(status)
            if status in expect or retry_after is None or window is None:
                break
            wait = min(max(retry_after, POLL_INTERVAL), MAX_RETRY_WAIT)
            if time.monotonic() + wait - started > window:
                break
            time.sleep(wait)
        if status not in expect:
            raise APIRequestError(self._message(status, raw), status)
        if not raw.strip():
            return None
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):  # every answer the CLI reads is an object
            raise APIRequestError("the API at %s answered %s %s with something that is "
                                  "not a JSON object" % (self.url, req.get_method(),
                                                         path), 502)
        return doc

    def _send(self, req):
        """(status, body, Retry-After in seconds or None) of one request."""
        try:
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return resp.status, resp.read(), None
            except urllib.error.HTTPError as err:
                return err.code, err.read(), _retry_after(err.headers)
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise APIRequestError(
                "cannot reach the hwdrivers API at %s: %s (is hwdrivers-server "
                "running? check --url / HWDRIVERS_URL)" % (self.url, reason), 503) from None
        except http.client.HTTPException as err:
            # Something that is not an HTTP server (an ssh port, a BMC's
            # console) or an answer cut short: a traceback before.
            raise APIRequestError(
                "the server at %s did not answer in HTTP (%s: %.80r); check --url / "
                "HWDRIVERS_URL: is that hwdrivers-server's address and port?"
                % (self.url, type(err).__name__, str(err)), 502) from None

    def _message(self, status, raw):
        message = _fault(raw) or raw.decode("utf-8", "replace").strip()[:200] or (
            "HTTP %d" % status)
        if status == 401:
            if self.username:
                return ("%s (user %s at %s; the password came from %s: check it)"
                        % (message, self.username, self.url, self.password_source))
            return ("%s The API at %s needs credentials: give --username or "
                    "HWDRIVERS_USERNAME, and HWDRIVERS_PASSWORD or --password-stdin."
                    % (message, self.url))
        if status == 404 and message.endswith(exception.NodeNotFound.API_HINT + "."):
            # The API's hint is for its own clients; this one has a command.
            message = "%s%s." % (message[:-len(exception.NodeNotFound.API_HINT) - 1],
                                 exception.NodeNotFound.CLI_HINT)
        return message

    @staticmethod
    def _node_path(ident, suffix=""):
        """``/v1/nodes/<ident><suffix>``; a name no node can have is not found here.

        ``/v1/nodes/detail`` is the node list, and ``/v1/nodes/`` the list
        too: ``node show detail`` printed an empty node and exited 0, where
        the local database says the node does not exist (the API refuses
        ``detail`` as a name, and every node has one or a UUID).
        """
        ident = str(ident)
        if ident in ("", "detail"):
            raise exception.NodeNotFound(node=ident or '""')
        return "/v1/nodes/%s%s" % (urllib.parse.quote(ident, safe=""), suffix)

    # -- nodes --------------------------------------------------------------------

    @staticmethod
    def _view(doc):
        values = {key: doc.get(key) for key in NODE_FIELDS if key in doc}
        for key in _TIMES:
            if key in values:
                values[key] = _parse_time(values[key])
        return values

    def node_create(self, values):
        return self._view(self.request("POST", "/v1/nodes", body=values, expect=(201,)))

    def node_list(self, filters=None, limit=None):
        query = {}
        for key, value in (filters or {}).items():
            query[key] = str(value).lower() if isinstance(value, bool) else value
        nodes = []
        marker = None
        while True:
            page_query = dict(query)
            if limit is not None:
                page_query["limit"] = limit - len(nodes)
            if marker:
                page_query["marker"] = marker
            doc = self.request("GET", "/v1/nodes/detail", query=page_query)
            page = doc.get("nodes", [])
            nodes.extend(self._view(n) for n in page)
            if not page or "next" not in doc or (limit is not None and len(nodes) >= limit):
                break
            marker = page[-1]["uuid"]
        return nodes

    def node_show(self, ident):
        return self._view(self.request("GET", self._node_path(ident)))

    def node_update(self, ident, set_values, unset):
        patch = []
        for path, value in (set_values or {}).items():
            patch.append({"op": "add", "path": "/" + _escape_path(path), "value": value})
        for path in unset or ():
            patch.append({"op": "remove", "path": "/" + _escape_path(path)})
        if not patch:
            return self.node_show(ident)
        return self._view(self.request("PATCH", self._node_path(ident), body=patch))

    def node_delete(self, ident):
        self.request("DELETE", self._node_path(ident), expect=(204,))

    def node_validate(self, ident):
        doc = self.request("GET", self._node_path(ident, "/validate"))
        # Ironic's document also lists kinds hwdrivers does not model.
        return {kind: doc[kind] for kind in interface_types.ALL if kind in doc}

    # -- power ----------------------------------------------------------------------

    def node_power(self, ident, target, timeout=None):
        body = {"target": target}
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
                    or timeout <= 0:
                raise exception.InvalidParameterValue(
                    "timeout must be a positive number of seconds, got %r" % (timeout,))
            body["timeout"] = int(math.ceil(timeout))  # the API takes whole seconds
        node = self.request("GET", self._node_path(ident), query={"fields": "uuid"})
        uuid = node["uuid"]
        self.request("PUT", self._node_path(uuid, "/states/power"), body=body,
                     expect=(202,))
        return self._wait_for_power(uuid, ident, target, timeout)

    def _wait_for_power(self, uuid, ident, target, timeout):
        limit = DEFAULT_POWER_WAIT if timeout is None else timeout + 120.0
        deadline = time.monotonic() + limit
        while True:
            states = self.request("GET", self._node_path(uuid, "/states"))
            if states.get("target_power_state") is None:
                if states.get("last_error"):
                    raise APIRequestError(states["last_error"], 500)
                return {"power_state": states.get("power_state")}
            if time.monotonic() > deadline:
                raise APIRequestError(
                    "Node %s: %s still in progress after %.0f s (target %s); check "
                    "'hwdrivers node show %s' later" % (
                        ident, target, limit, states.get("target_power_state"), ident),
                    504)
            time.sleep(POLL_INTERVAL)

    def node_power_status(self, ident):
        states = self.request("GET", self._node_path(ident, "/states"))
        return {"power_state": states.get("power_state")}

    # -- maintenance and provisioning ------------------------------------------------

    def node_maintenance(self, ident, on, reason=None):
        path = self._node_path(ident, "/maintenance")
        if on:
            self.request("PUT", path, body={"reason": reason} if reason else {},
                         expect=(202,))
        else:
            self.request("DELETE", path, expect=(202,))
        return self.node_show(ident)

    def node_history(self, ident):
        """Every event, oldest first, following the API's pages."""
        events = []
        query = {"detail": "true"}
        while True:
            doc = self.request("GET", self._node_path(ident, "/history"), query=query,
                               version=HISTORY_API_VERSION)
            page = doc.get("history", [])
            for event in page:
                event = {key: event.get(key) for key in HISTORY_FIELDS}
                event["created_at"] = _parse_time(event["created_at"])
                events.append(event)
            if not page or "next" not in doc:
                return events
            query = {"detail": "true", "marker": page[-1]["uuid"]}

    def node_provision(self, ident, action, timeout=None):
        """PUT the action (202), then poll the states until no target is pending."""
        uuid = self.request("GET", self._node_path(ident), query={"fields": "uuid"})["uuid"]
        self.request("PUT", self._node_path(uuid, "/states/provision"),
                     body={"target": action}, expect=(202,))
        limit = DEFAULT_POWER_WAIT if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            states = self.request("GET", self._node_path(uuid, "/states"))
            if states.get("target_provision_state") is None:
                if states.get("last_error"):
                    raise APIRequestError(states["last_error"], 500)
                return {key: states.get(key) for key in (
                    "provision_state", "target_provision_state", "power_state",
                    "last_error")}
            if time.monotonic() > deadline:
                raise APIRequestError(
                    "Node %s: %s still in progress after %.0f s (provision state %s, "
                    "target %s); check 'hwdrivers node history %s' later" % (
                        ident, action, limit, states.get("provision_state"),
                        states.get("target_provision_state"), ident), 504)
            time.sleep(POLL_INTERVAL)

    # -- management -------------------------------------------------------------------

    def node_boot_device_set(self, ident, device, persistent):
        self.request("PUT", self._node_path(ident, "/management/boot_device"),
                     body={"boot_device": device, "persistent": bool(persistent)},
                     expect=(204,))

    def node_boot_device_show(self, ident):
        doc = self.request("GET", self._node_path(ident, "/management/boot_device"))
        return {"boot_device": doc.get("boot_device"), "persistent": doc.get("persistent")}

    def node_boot_device_supported(self, ident):
        doc = self.request("GET", self._node_path(ident,
                                                  "/management/boot_device/supported"))
        return {"supported_boot_devices": doc.get("supported_boot_devices", [])}

    def _optional(self, what, method, path, **kwargs):
        """Endpoints Ironic's API may lack: a missing route is said plainly."""
        try:
            return self.request(method, path, **kwargs)
        except APIRequestError as exc:
            if exc.code in (404, 405) and str(exc).startswith("The resource"):
                raise APIRequestError(
                    "the API at %s does not serve %s (%s %s); run the command on "
                    "the server's host without --url" % (self.url, what, method, path),
                    exc.code) from None
            raise

    def node_sensors(self, ident):
        return self._optional("sensor data", "GET",
                              self._node_path(ident, "/management/sensors"))

    def node_inject_nmi(self, ident):
        self._optional("NMI injection", "PUT",
                       self._node_path(ident, "/management/inject_nmi"), body={},
                       expect=(202, 204))

    # -- drivers ------------------------------------------------------------------------

    def driver_list(self):
        doc = self.request("GET", "/v1/drivers", query={"detail": "true"})
        return [self._driver(d) for d in doc.get("drivers", [])]

    def driver_show(self, name):
        return self._driver(self.request(
            "GET", "/v1/drivers/%s" % urllib.parse.quote(name, safe="")))

    @staticmethod
    def _driver(doc):
        info = {"name": doc["name"], "description": doc.get("description") or ""}
        for kind in interface_types.ALL:
            for key in ("default_%s_interface" % kind, "enabled_%s_interfaces" % kind):
                if key in doc:
                    info[key] = doc[key]
        return info

    def driver_properties(self, name):
        """Per kind, with every flag, as the local backend returns them.

        Asks for the hwdrivers extension (``?detail=true``); a server that
        only serves Ironic's flat ``{field: description}`` map is refused
        rather than guessed from: the map cannot say which field is secret.
        """
        path = "/v1/drivers/%s/properties" % urllib.parse.quote(name, safe="")
        flat_only = APIRequestError(
            "the API at %s serves only Ironic's driver properties map, without the "
            "secret/type/interface of each field; run 'hwdrivers driver properties "
            "%s' without --url on the server's host" % (self.url, name), 501)
        try:
            doc = self.request("GET", path, query={"detail": "true"})
        except APIRequestError as exc:
            if exc.code == 400 and "detail" in str(exc):
                raise flat_only from None
            raise
        # A server that ignores the query (Ironic) answers the flat map.
        interfaces = doc.get("interfaces") if isinstance(doc, dict) else None
        if not isinstance(interfaces, dict) or not all(
                isinstance(v, list) for v in interfaces.values()):
            raise flat_only
        return interfaces


def _escape_path(path):
    """``driver_info/a/b`` -> JSON pointer segments (only the first '/' splits)."""
    def escape(text):
        return text.replace("~", "~0").replace("/", "~1")

    field, sep, key = path.partition("/")
    return escape(field) + (sep + escape(key) if sep else "")
