"""Redfish connections: a bounded, thread-safe cache of sushy clients, and errors.

Logging in to a BMC is the slow part of a Redfish call (a session POST, or
at least the service root), and many BMCs allow only a few sessions at a
time, so one client is kept per BMC *address, user name, TLS verification
and auth type* and reused by every node and every thread that names them.
The cache is an LRU bounded by ``[redfish] connection_cache_size``; a
client that falls out is closed, which logs its session out of the BMC.

The password is deliberately not part of the key (keys show up in logs and
debuggers): each entry keeps a keyed hash of it instead. A node whose
password changed finds the entry, sees the hash differ, and gets a fresh
client; the old one is closed.

:func:`connection` also turns sushy's exceptions into the driver error
taxonomy, and drops a cached client that failed to authenticate or lost
its connection, so the next attempt starts clean.

One call to a BMC (everything inside one :func:`connection`) ends within
``[redfish] command_timeout``: sushy sends each request with a connect and
a read timeout, which :class:`_BoundedConnector` cuts to what the call has
left, and sushy's own retries of a failed request are turned off (the
retries belong to :mod:`hwdrivers.drivers.retry`, which keeps the deadline).
"""

import collections
import contextlib
import contextvars
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time


from hwdrivers.common import exception
from hwdrivers.conf import CONF
from hwdrivers.drivers import params
from hwdrivers.drivers import retry

LOG = logging.getLogger(__name__)

#: Keys the password fingerprints; never leaves this process.
_FINGERPRINT_KEY = secrets.token_bytes(32)

AUTH_TYPES = ("basic", "session", "auto")

#: When the current call to a BMC must be over (``time.monotonic()``), set by
#: :func:`connection` for its thread; None outside a call.
_CALL_END = contextvars.ContextVar("redfish_call_end", default=None)


def fingerprint(password):
    """A keyed hash of ``password``: equal for equal passwords, useless to a reader."""
    return hmac.new(_FINGERPRINT_KEY, (password or "").encode("utf-8"),
                    hashlib.sha256).hexdigest()[:16]


def cache_key(info):
    """What identifies a reusable client: no password in it, by design."""
    return (info["address"], info["root_prefix"], info["username"],
            info["verify"], info["auth_type"])


class Entry:
    """One cached client and what was learnt through it about its systems.

    ``system_paths`` maps a configured ``redfish_system_id`` (or None) to
    the resolved path; ``capabilities`` maps a system path to the allowed
    reset types and boot sources, so capability checks do not cost a
    request on every call.
    """

    __slots__ = ("client", "secret_hash", "system_paths", "capabilities")

    def __init__(self, client, secret_hash):
        self.client = client
        self.secret_hash = secret_hash
        self.system_paths = {}
        self.capabilities = {}

    def __repr__(self):
        return "<redfish connection %x>" % id(self.client)


def _sushy():
    try:
        import sushy
    except ImportError:
        raise exception.DriverToolMissing(
            "the redfish driver needs the Python package sushy: "
            "pip install sushy") from None
    return sushy


def request_timeout(timeout: float | tuple[float, float] | None = None
                    ) -> tuple[float, float]:
    """``(connect, read)`` seconds for one request, cut to what the call has left.

    ``timeout`` is what sushy asked for (a read timeout, or a pair); the
    configured ones otherwise. Past the call's end this raises sushy's
    ConnectionError, so the call fails like any BMC that does not answer.
    """
    if isinstance(timeout, tuple):
        connect, read = timeout
    else:
        connect, read = CONF.redfish.connect_timeout, timeout or CONF.redfish.read_timeout
    end = _CALL_END.get()
    if end is None:
        return connect, read
    left = end - time.monotonic()
    if left <= 0:
        raise _sushy().exceptions.ConnectionError(
            url="the BMC", error="the call timed out: [redfish] command_timeout (%.1fs) "
                                 "is spent" % CONF.redfish.command_timeout)
    return min(connect, left), min(read, left)


_CONNECTOR = None


def _connector_class():
    """sushy's Connector, with every request's timeouts from :func:`request_timeout`.

    sushy has no public hook for a per-call time budget; ``_op`` is where
    every request (and sushy's own re-login and retry of one) passes, with
    its timeout, so that is what is wrapped. tests/unit/test_redfish.py
    checks the wrapping still happens with the installed sushy.
    """
    global _CONNECTOR
    if _CONNECTOR is None:
        from sushy import connector

        class _BoundedConnector(connector.Connector):
            def _op(self, method, path="", *args, timeout=None, **kwargs):
                _SENT_TOKEN.set(self._session.headers.get("X-Auth-Token"))
                return super()._op(method, path, *args, timeout=request_timeout(timeout),
                                   **kwargs)

            def set_http_basic_auth(self, username, password):
                if username is None:
                    # No redfish_username: anonymous. requests would send
                    # None as the text "None", a login of user "None".
                    self._session.auth = None
                    return
                super().set_http_basic_auth(_basic_bytes(username), _basic_bytes(password))

        _CONNECTOR = _BoundedConnector
    return _CONNECTOR


def _basic_bytes(value):
    """``value`` as HTTP basic auth sends it: Latin-1 when it can be, else UTF-8.

    requests encodes a str user name or password as Latin-1 and raises
    UnicodeEncodeError -- naming neither node nor field -- for any other
    character (a Euro sign, Cyrillic, CJK). Those go as UTF-8, the charset
    RFC 7617 names; what Latin-1 can encode is sent as before.
    """
    if isinstance(value, str):
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            return value.encode("utf-8")
    return value


#: The session token the current thread's last request carried (None: none).
_SENT_TOKEN = contextvars.ContextVar("redfish_sent_token", default=None)

_AUTH_CLASSES = None


def _auth_classes():
    """sushy's auth classes by ``redfish_auth_type``; the session ones log in again once.

    A cached client serves several threads (``[redfish] max_concurrency``
    calls per BMC). When its session expires, each of them gets a 401 and
    sushy has each log in again: N new sessions, of which the client keeps
    one and the BMC holds the others until they time out -- and BMCs allow
    only a few sessions. Here a re-login waits for one already under way,
    and is skipped when the client's token is no longer the one the refused
    request carried: sushy then sends the request again with the new token.
    """
    global _AUTH_CLASSES
    if _AUTH_CLASSES is None:
        from sushy import auth

        class _OneLogin:
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self._login_lock = threading.RLock()

            def _renewed(self):
                """Whether another thread logged in since this one's request went out."""
                return self._session_key is not None and (
                    self._session_key != _SENT_TOKEN.get())

            def refresh_session(self):
                with self._login_lock:
                    if not self._renewed():
                        super().refresh_session()

            def _do_authenticate(self):
                with self._login_lock:
                    if not self._renewed():
                        super()._do_authenticate()

        _AUTH_CLASSES = {
            "basic": auth.BasicAuth,
            "session": type("SessionAuth", (_OneLogin, auth.SessionAuth), {}),
            "auto": type("SessionOrBasicAuth", (_OneLogin, auth.SessionOrBasicAuth), {})}
    return _AUTH_CLASSES


def _connect(info):
    """A new, authenticated sushy client (network I/O: the service root)."""
    sushy = _sushy()
    auth_class = _auth_classes()[info["auth_type"]]
    # One try per request: hwdrivers.drivers.retry owns retries and the
    # deadline. sushy reads server_side_retries=0 as "3 tries of a failed
    # connection", so 1: one try, and at most one retry of an HTTP 5xx answer.
    connector = _connector_class()(
        info["address"], verify=info["verify"], server_side_retries=1,
        server_side_retries_delay=1, default_request_timeout=CONF.redfish.read_timeout,
        connect_timeout=CONF.redfish.connect_timeout)
    return sushy.Sushy(
        info["address"], root_prefix=info["root_prefix"], verify=info["verify"],
        auth=auth_class(username=info["username"], password=info["password"]),
        connector=connector)


def close(client):
    """Log the client's session out of the BMC and drop its HTTP pool."""
    try:
        auth = getattr(client, "_auth", None)
        if auth is not None:
            auth.close()
            client._auth = None  # sushy's __del__ would log out a second time
        connector = getattr(client, "_conn", None)
        if connector is not None:
            connector.close()
    except Exception as exc:  # closing is best effort: the BMC may be gone
        LOG.debug("Ignoring error while closing a Redfish connection: %s", exc)


def _close_elsewhere(clients):
    """Close ``clients`` in a thread of their own, not in the call that evicted them.

    An evicted client is another BMC's (the least recently used one), and
    closing it logs its session out: a request to that BMC, which may have
    stopped answering since. Made here, it would hold the evicting call --
    and the node and controller slot it belongs to -- for up to
    ``connect_timeout``, or spend that call's ``command_timeout`` on a BMC it
    never named. The thread starts outside any call, so its requests have
    the configured timeouts. A client without a session (basic auth) has
    nothing to say to its BMC and is closed here.
    """
    def has_session(client):
        auth = getattr(client, "_auth", None)
        return getattr(auth, "get_session_resource_id", lambda: None)() is not None

    remote = [client for client in clients if has_session(client)]
    for client in clients:
        if client not in remote:
            close(client)
    if remote:
        threading.Thread(target=lambda: [close(client) for client in remote],
                         name="redfish-logout", daemon=True).start()


class ConnectionCache:
    """LRU of :class:`Entry` by :func:`cache_key`; safe to share between threads.

    The lock guards only the dictionary: logging in to a BMC happens outside
    it, so a slow BMC never holds up calls to the others. Two threads that
    miss the same key at once both log in; the first to store wins and the
    other's client is closed.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = collections.OrderedDict()

    def __len__(self):
        return len(self._entries)

    def keys(self):
        with self._lock:
            return list(self._entries)

    def peek(self, info):
        """The cached entry for ``info``'s key, without touching the LRU order."""
        with self._lock:
            return self._entries.get(cache_key(info))

    def acquire(self, info):
        """An entry for ``info``: cached when possible. Returns (entry, cached)."""
        key, secret_hash = cache_key(info), fingerprint(info["password"])
        stale = None
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                if hmac.compare_digest(entry.secret_hash, secret_hash):
                    self._entries.move_to_end(key)
                    return entry, True
                stale = self._entries.pop(key)
        if stale is not None:
            LOG.debug("Redfish credentials for %s changed; replacing its connection",
                      info["address"])
            close(stale.client)

        entry = Entry(_connect(info), secret_hash)
        size = CONF.redfish.connection_cache_size
        if size <= 0:
            return entry, False
        to_close = []
        with self._lock:
            current = self._entries.get(key)
            if current is not None and hmac.compare_digest(current.secret_hash, secret_hash):
                to_close.append(entry)  # another thread logged in first
                entry = current
                self._entries.move_to_end(key)
            else:
                if current is not None:
                    to_close.append(current)
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > size:
                    to_close.append(self._entries.popitem(last=False)[1])
        _close_elsewhere([old.client for old in to_close])
        return entry, True

    def discard(self, info, entry):
        """Forget and close ``entry`` (if still cached): its client went bad."""
        key = cache_key(info)
        with self._lock:
            if self._entries.get(key) is entry:
                del self._entries[key]
        close(entry.client)

    def clear(self):
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
        for entry in entries:
            close(entry.client)


#: The process-wide cache every redfish interface shares.
CACHE = ConnectionCache()


# -- errors --------------------------------------------------------------------

def _root_cause(exc):
    """The innermost exception sushy wrapped (requests / urllib3 / ssl).

    The walk stops at an HTTP answer of the BMC (a sushy HTTPError): one is
    never what a transport error wraps, only what was being handled when it
    happened -- the 401 of an expired session, say, whose re-login and
    retry then lost the connection. Python chains that 401 as the
    ``__context__`` of the socket error, and reporting it would send the
    operator to the credentials instead of the network.
    """
    answer = _sushy().exceptions.HTTPError
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            reason = getattr(exc, "reason", None)  # urllib3 MaxRetryError
            if isinstance(reason, BaseException):
                inner = reason
            elif exc.args and isinstance(exc.args[0], BaseException):
                inner = exc.args[0]  # requests wraps urllib3's error in args
        if inner is None or isinstance(inner, answer):
            break
        exc = inner
    return exc


_REASON = re.compile(r"(\[Errno -?\d+\][^'\")]*|[^:(]*timed out[^)'\"]*\)?|"
                     r"certificate verify failed[^'\")]*|\[SSL[^\]]*\][^'\")]*)",
                     re.IGNORECASE)


def _short_reason(exc):
    text = str(_root_cause(exc))
    match = _REASON.search(text) or _REASON.search(str(exc))
    reason = match.group(1) if match else text
    return re.sub(r"\s*\(_ssl\.c:\d+\)?", "", reason).strip().rstrip(".")


def _is_tls_error(exc):
    import requests
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, requests.exceptions.SSLError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


#: What a BMC answers an anonymous GET of a path that is not its service root
#: (sushy reads the root before it logs in; the Redfish specification has the
#: root answer without one): it wants a login for any other resource, or has none.
NOT_A_ROOT = frozenset((401, 403, 404))

#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH: the
#: certificate is trusted, but issued for another name than redfish_address's.
_NAME_MISMATCH = frozenset((62, 64))


def _tls_problem(exc, info, where, action, reason):
    """What failed in a TLS handshake, and the driver_info field that fixes it.

    Three causes need three different fixes, so they are told apart: a
    certificate issued for another name (redfish_address), one signed by a CA
    not trusted (redfish_verify_ca), and a redfish_verify_ca file with no
    certificate in it (OpenSSL's X509 and PEM errors, raised loading it).
    """
    import ssl
    root = _root_cause(exc)
    if getattr(root, "verify_code", None) in _NAME_MISMATCH:
        return ("the TLS certificate of the %s is not issued for the host "
                "redfish_address names (%s) while %s: set redfish_address to a "
                "host name or IP address the certificate names" % (
                    where, str(root.verify_message or reason).rstrip("."), action))
    if isinstance(root, ssl.SSLCertVerificationError) or (
            "certificate verify failed" in str(exc).lower()):
        return ("the TLS certificate of the %s could not be verified (%s) while %s: set "
                "redfish_verify_ca to the path of the CA bundle that signed it (or to "
                "false to skip verification, which is insecure)" % (where, reason, action))
    if isinstance(info.get("verify"), str) and getattr(root, "library", None) in ("X509",
                                                                                "PEM"):
        return ("redfish_verify_ca %s holds no CA certificate that can be read (%s), so "
                "the %s could not be verified while %s: set redfish_verify_ca to a PEM CA "
                "bundle file or a c_rehash'ed directory" % (info["verify"], reason, where,
                                                             action))
    return ("TLS with the %s failed (%s) while %s: check that redfish_address names the "
            "right scheme (http or https) and port" % (where, reason, action))


#: HTTP answers saying the request itself is wrong (a BIOS value the BMC
#: does not take, a resource it does not have): sent again unchanged, it is
#: refused again, so retrying would only hold the node and the controller's
#: queue for ``command_retry_timeout``. Conflicts, timeouts, locks and rate
#: limits (408, 409, 412, 423, 425, 429) can pass, and stay retried.
REFUSED_REQUEST = frozenset((400, 404, 405, 406, 410, 411, 413, 414, 415, 422))

#: Message ids with which a BMC refuses a request only for now (HTTP 400, most
#: often): the system is in POST after a reboot, or the BMC is still busy
#: with the previous operation. Sent again a little later, the same request
#: succeeds, so these are retried like a 5xx. HPE iLO's are the ones Ironic
#: retries a boot device change on and sushy retries once itself, Dell
#: iDRAC's SYS518 is "not ready yet"; ServiceTemporarilyUnavailable is
#: DMTF's Base registry's own "retry later".
NOT_NOW = ("UnableToModifyDuringSystemPOST", "InvalidOperationForSystemState", "SYS518",
           "ServiceTemporarilyUnavailable")


def refused_for_now(exc) -> bool:
    """Whether sushy HTTP error ``exc`` refuses only for now (:data:`NOT_NOW`)."""
    return any(marker in str(exc) for marker in NOT_NOW)


def translate(exc, info, action):
    """The taxonomy error for sushy exception ``exc`` raised while ``action``."""
    sushy = _sushy()
    errors = sushy.exceptions
    where = "Redfish service at %s" % info["address"]
    password = info.get("password")

    def said(value):
        """What sushy or the BMC said: the only text here that could hold the password."""
        return params.redact(value, [password])

    if isinstance(exc, errors.ConnectionError):
        reason = said(_short_reason(exc))
        if _is_tls_error(exc):
            return exception.DriverSettingsError(_tls_problem(exc, info, where, action,
                                                              reason))
        return exception.DriverConnectionError((
            "cannot reach the %s while %s: %s; check redfish_address and that the "
            "BMC is up" % (where, action, reason)))
    if isinstance(exc, errors.HTTPError) and exc.status_code in NOT_A_ROOT and (
            " %s%s " % (info["address"], info.get("root_prefix"))) in str(exc):
        return exception.DriverSettingsError((
            "the %s has no Redfish service root at %s (HTTP %s to an anonymous GET) while "
            "%s: set redfish_address to the BMC's https://host[:port], with no path or the "
            "service root's (/redfish/v1); a service root answers without a login, so "
            "the credentials are not what is wrong" % (
                where, info.get("root_prefix"), exc.status_code, action)))
    if isinstance(exc, errors.AccessError):
        user = info.get("username")
        hint = ("check redfish_username and redfish_password" if exc.status_code == 401
                else "check the user's privileges, redfish_username and redfish_password")
        if info.get("auth_type") == "session":
            hint += " (or set redfish_auth_type=auto if the BMC has no session service)"
        return exception.DriverAuthError((
            "the %s refused %s (HTTP %s) while %s: %s" % (
                where, "user %r" % user if user else "anonymous access",
                exc.status_code, action, hint)))
    if isinstance(exc, errors.HTTPError):
        detail = said(exc.detail or exc.code or "no detail")
        if exc.status_code == 501:
            return exception.DriverUnsupportedAction((
                "the %s does not implement this (HTTP 501: %s) while %s"
                % (where, detail, action)))
        if exc.status_code in REFUSED_REQUEST and not refused_for_now(exc):
            return exception.DriverUnsupportedAction((
                "the %s refused the request (HTTP %s: %s) while %s; the same request "
                "would be refused again, so it was not retried"
                % (where, exc.status_code, detail, action)))
        return exception.DriverActionError((
            "the %s answered HTTP %s (%s) while %s" % (where, exc.status_code, detail, action)))
    if isinstance(exc, errors.MissingActionError):
        return exception.DriverUnsupportedAction((
            "the %s offers no such action while %s: %s" % (where, action, said(exc))))
    if isinstance(exc, errors.InvalidParameterValueError):
        return exception.DriverUnsupportedAction((
            "the %s does not allow this while %s: %s" % (where, action, said(exc))))
    return exception.DriverActionError((
        "unexpected answer from the %s while %s: %s" % (where, action, said(exc))))


def _raised_in(module, exc):
    """Whether ``exc`` was raised by code of package ``module`` (its last frame)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    root = os.path.dirname(module.__file__) + os.sep
    return tb is not None and tb.tb_frame.f_code.co_filename.startswith(root)


@contextlib.contextmanager
def connection(info, action):
    """Yield a cached :class:`Entry`; sushy errors leave as taxonomy errors.

    ``action`` completes "... while <action>" in error messages, e.g.
    ``"reading the power state"``. A client that failed to authenticate or
    lost its connection is dropped from the cache. Everything inside is one
    call to the BMC, bounded by ``[redfish] command_timeout`` (a nested
    connection shares the outer one's end).
    """
    sushy = _sushy()
    import requests  # sushy's own transport, loaded with it

    entry = None
    cached = False
    token = None
    if _CALL_END.get() is None:
        token = _CALL_END.set(time.monotonic() + CONF.redfish.command_timeout)
    try:
        entry, cached = CACHE.acquire(info)
        yield entry
    except sushy.exceptions.SushyError as exc:
        if entry is not None and isinstance(
                exc, (sushy.exceptions.AccessError, sushy.exceptions.ConnectionError)):
            CACHE.discard(info, entry)
        error = translate(exc, info, action)
        LOG.debug("%s; sushy said: %s", error, params.redact(exc, [info.get("password")]))
        retry.note(error)  # callers that swallow it (capability checks) still count it
        raise error from None
    except requests.exceptions.InvalidJSONError as exc:
        # Not a SushyError: a BMC (or a proxy before it) answering an HTML page
        # surfaced as "Expecting value: line 1 column 1", naming no node or BMC.
        error = exception.DriverActionError(
            "the Redfish service at %s answered something that is not JSON while %s "
            "(%s); check that redfish_address is the BMC's Redfish service" % (
                info["address"], action, params.redact(exc, [info.get("password")])))
        retry.note(error)
        raise error from None
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as exc:
        if not _raised_in(sushy, exc):
            raise  # ours: a bug to see as one, not a BMC's fault
        # JSON of the wrong shape (a list where sushy reads an object...):
        # sushy's own TypeError named neither the node nor the BMC.
        error = exception.DriverActionError(
            "the Redfish service at %s answered a document the Redfish library cannot "
            "read while %s (%s: %s); check that redfish_address is the BMC's Redfish "
            "service and its firmware is current" % (
                info["address"], action, type(exc).__name__,
                params.redact(exc, [info.get("password")])))
        retry.note(error)
        raise error from None
    finally:
        try:
            if entry is not None and not cached:
                close(entry.client)
        finally:
            if token is not None:
                _CALL_END.reset(token)
