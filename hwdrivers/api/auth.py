"""Authentication of the REST API: ``noauth`` or HTTP Basic over a bcrypt htpasswd.

``[api] auth_strategy`` picks the strategy, as in Ironic:

* ``noauth`` (default): no check at all. ``hwdrivers-server`` then binds to
  loopback only, so "no auth" never means "open to the network".
* ``http_basic``: every request carries ``Authorization: Basic ...`` checked
  against ``[api] http_basic_auth_user_file``, an Apache htpasswd file of
  bcrypt hashes (``htpasswd -B``: ``$2y$``; Python's bcrypt: ``$2b$``; Go's,
  Java's Spring and Ironic-era files: ``$2a$``, which Ironic accepts too).
  Other hash kinds (MD5-crypt, SHA1, crypt, plain text) are refused at
  start-up naming the file and line: they are weak or unverifiable, and a
  silently ignored user would be a surprise in production.

Users named in ``[api] reader_users`` have the *reader* role: they see
everything (GET/HEAD) and change nothing (403 otherwise). Everybody else
in the file is an admin.

The version documents (``/`` and ``/v1``) stay public, like Ironic's
``public_api_routes``: clients negotiate the microversion before they
authenticate, and those documents reveal nothing about nodes. ``/metrics``
is behind authentication (a reader may scrape it).

bcrypt is slow on purpose (tens to hundreds of ms per check), so a client
making 1,000 requests would spend minutes hashing. Successful checks are
remembered for ``[api] http_basic_cache_ttl`` seconds in a bounded LRU
keyed by a keyed hash of user, password and stored hash — never the
password itself — so a password change in the file takes effect at once.

Passwords and the Authorization header never reach a log line: failures log
the user name and client address only, and the header is removed from the
WSGI environ before the application sees it.

bcrypt reads only the first 72 bytes of a password, and ``htpasswd -B``
stores exactly that hash (it accepts up to 255 bytes and drops the rest:
``htpasswd -vB`` confirms a longer password whose first 72 bytes match).
Python's bcrypt 5 refuses longer input with ValueError instead, so passwords
are cut to :data:`BCRYPT_MAX_BYTES` bytes before every check: a long password
is accepted exactly when ``htpasswd`` would accept it, and never causes a 500.

Failed logins are throttled (:class:`Throttle`), per user name and per client
address: after ``[api] auth_failure_free_attempts`` failures, each further
failure closes that source for a delay doubling from
``auth_failure_base_delay`` up to ``auth_failure_max_delay``. While a source
is closed its requests get **429 with Retry-After** at once, without a bcrypt
check. Answering instead of sleeping is deliberate: a sleeping request holds
one of waitress's few threads, so an attacker with as many connections as the
server has threads would lock every client out, while a 429 costs microseconds.
A success clears the user's and the address's record, a quiet period
(``auth_failure_reset_after``) forgets it, and credentials verified recently
(the cache above) still pass while their user is throttled -- an attacker
cannot produce a cache hit without the password -- so throttling never locks
a real user out for longer than the capped delay, and a busy client with the
right password not at all.
"""

import base64
import binascii
import collections
import hashlib
import hmac
import logging
import math
import os
import re
import secrets
import threading
import time

from hwdrivers.common import exception
from hwdrivers.common import log_text

LOG = logging.getLogger(__name__)

REALM = "hwdrivers"
READ_METHODS = frozenset(("GET", "HEAD"))
PUBLIC_PATHS = frozenset(("/", "/v1", "/v1/"))
#: Routes that carry their own credential or need none, as in Ironic: a deploy
#: ramdisk's lookup and heartbeat (the agent token is checked by the
#: conductor, api/ramdisk.py) and the boot files firmware fetches (they hold
#: no secrets, api/bootfiles.py). (methods, path pattern)
UNAUTHENTICATED_ROUTES = (
    (frozenset(("GET",)), re.compile(r"^/v1/lookup/?$")),
    (frozenset(("POST",)), re.compile(r"^/v1/heartbeat/[^/]+/?$")),
    # the ramdisk's inspection data; only a node in inspect wait takes it
    (frozenset(("POST",)), re.compile(r"^/v1/continue_inspection/?$")),
    # no ".." segment, the first one included
    (READ_METHODS, re.compile(r"^/boot/(?!(?:.*/)?\.\.(?:/|$))[^?#]+$")),
)
#: Bounded so a client cycling through passwords cannot grow memory.
CACHE_SIZE = 1024
#: How often (seconds) the htpasswd file's mtime is looked at for a reload.
RELOAD_CHECK_INTERVAL = 1.0
#: bcrypt hashes only this many bytes of a password; htpasswd -B drops the rest.
BCRYPT_MAX_BYTES = 72
#: Failure records kept per kind (user names, client addresses): least recently
#: failed first out. Under 350 bytes each with keys cut to KEY_CHARS (measured:
#: 2.6 MB for both full tables), however many names or addresses an attacker
#: cycles through.
THROTTLE_SIZE = 4096
#: Longest user name or address kept as a throttling key (longer ones are cut).
KEY_CHARS = 128

#: $2a$, $2b$ and $2y$ as Ironic; $2x$ (hashes of the buggy crypt_blowfish) is refused.
_BCRYPT = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")


def wrap(app, conf=None):
    """The WSGI app to serve: ``app`` itself, or ``app`` behind HTTP Basic.

    Raises :class:`ConfigInvalid` naming the option (and file and line)
    when the configuration cannot work, so the server refuses to start.
    """
    if conf is None:
        from hwdrivers.conf import CONF as conf
    strategy = conf.api.auth_strategy
    if strategy == "noauth":
        return app
    if strategy == "http_basic":
        throttle = Throttle(free_attempts=conf.api.auth_failure_free_attempts,
                            base_delay=conf.api.auth_failure_base_delay,
                            max_delay=conf.api.auth_failure_max_delay,
                            reset_after=conf.api.auth_failure_reset_after)
        return BasicAuthMiddleware(app, conf.api.http_basic_auth_user_file,
                                   reader_users=conf.api.reader_users,
                                   cache_ttl=conf.api.http_basic_cache_ttl,
                                   throttle=throttle,
                                   open_body_slots=open_body_slots(conf))
    raise exception.ConfigInvalid(
        "[api] auth_strategy %r is not one of noauth, http_basic" % (strategy,),
        option="[api] auth_strategy")


def open_body_slots(conf):
    """Threads for unauthenticated requests with a body: half of ``[api] threads``, and
    never so many that they and ``[api] hardware_wait_slots`` take every thread."""
    api = conf.api
    return max(1, min(api.threads // 2, api.threads - api.hardware_wait_slots - 1))


#: The option naming the API's user file; the conductors' JSON-RPC listener
#: passes its own ([json_rpc] http_basic_auth_user_file), so an error sends
#: the operator to the option that is really at fault.
USER_FILE_OPTION = "[api] http_basic_auth_user_file"
STRATEGY_OPTION = "[api] auth_strategy"


def load_htpasswd(path, option=USER_FILE_OPTION):
    """``{user: bcrypt hash bytes}`` from an htpasswd file, or ConfigInvalid.

    Every problem names ``option``, the file and line and says how to fix
    it. Blank lines and lines starting with ``#`` are skipped.
    """
    if not path:
        raise exception.ConfigInvalid(
            "%s is not set; [api] auth_strategy = http_basic needs an htpasswd file "
            "of bcrypt hashes (create one with: htpasswd -cB FILE USER)" % option,
            option=option)
    try:
        # utf-8-sig: a file saved by an editor that starts it with a byte order
        # mark kept the mark in the first user's name, who then never got in.
        with open(path, encoding="utf-8-sig") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise exception.ConfigInvalid(
            "%s: cannot read %s: %s" % (option, path, exc.strerror or exc),
            option=option) from None
    except UnicodeDecodeError:
        raise exception.ConfigInvalid(
            "%s: %s is not UTF-8 text" % (option, path), option=option) from None
    users = {}
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        user, sep, stored = text.partition(":")
        where = "%s line %d" % (path, number)
        if not sep or not user:
            raise exception.ConfigInvalid(
                "%s: %s is not 'user:hash'" % (option, where), option=option)
        if user in users:
            raise exception.ConfigInvalid(
                "%s: %s repeats user %s; keep one entry per user"
                % (option, where, user), option=option)
        match = _BCRYPT.match(stored)
        if match is None or not 4 <= int(match.group(1)) <= 31:
            # Say what kind it is without echoing the hash.
            kind = ("MD5-crypt" if stored.startswith("$apr1$") or stored.startswith("$1$")
                    else "SHA1" if stored.startswith("{SHA}")
                    else "bcrypt with an unsupported variant or a malformed value"
                    if stored.startswith("$2") else "not a bcrypt hash")
            raise exception.ConfigInvalid(
                "%s: %s: the password of user %s is %s; only bcrypt hashes "
                "($2y$, $2b$ or $2a$) are accepted. Recreate it with: htpasswd -B %s %s"
                % (option, where, user, kind, path, user), option=option)
        users[user] = stored.encode("ascii")
    return users


class _VerifiedCache:
    """Recently verified credentials: bounded LRU with expiry, thread-safe."""

    def __init__(self, ttl, size=CACHE_SIZE):
        self.ttl = ttl
        self.size = size
        self._key = secrets.token_bytes(32)  # per process: digests are useless elsewhere
        self._entries = collections.OrderedDict()
        self._lock = threading.Lock()

    def digest(self, user, password, stored):
        message = b"\0".join((user.encode("utf-8"), password, stored))
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def __contains__(self, digest):
        if self.ttl <= 0:
            return False
        now = time.monotonic()
        with self._lock:
            expires = self._entries.get(digest)
            if expires is None:
                return False
            if expires < now:
                del self._entries[digest]
                return False
            self._entries.move_to_end(digest)
            return True

    def add(self, digest):
        if self.ttl <= 0:
            return
        with self._lock:
            self._entries[digest] = time.monotonic() + self.ttl
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self):
        with self._lock:
            self._entries.clear()

    def __len__(self):
        return len(self._entries)


class _Record:
    """Failures of one source (a user name or a client address)."""

    __slots__ = ("failures", "last_failure", "closed_until", "warned")

    def __init__(self):
        self.failures = 0
        self.last_failure = 0.0
        self.closed_until = 0.0
        self.warned = False


class Throttle:
    """Failed-login records per user name and per client address, bounded.

    ``retry_after(user, address)`` says how many seconds a source still has
    to wait (0: it may try), ``failed()`` and ``succeeded()`` update the
    records. Each table is an LRU of at most ``size`` sources, so memory is
    bounded whatever an attacker sends. Thread-safe; ``clock`` is
    ``time.monotonic`` unless a test passes its own.
    """

    KINDS = ("user", "address")

    def __init__(self, free_attempts=5, base_delay=1.0, max_delay=60.0,
                 reset_after=900.0, size=THROTTLE_SIZE, clock=None):
        self.free_attempts = free_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.reset_after = reset_after
        self.size = size
        self._clock = clock or (lambda: time.monotonic())
        self._tables = {kind: collections.OrderedDict() for kind in self.KINDS}
        self._lock = threading.Lock()

    def _sources(self, user, address):
        # Cut keys so a table of THROTTLE_SIZE entries stays small even when
        # an attacker sends megabyte-long user names.
        return (("user", user[:KEY_CHARS]), ("address", address[:KEY_CHARS]))

    def _current(self, table, key, now):
        """The live record of ``key``, or None (a quiet period forgets it)."""
        record = table.get(key)
        if record is not None and now - record.last_failure > self.reset_after:
            del table[key]
            return None
        return record

    def retry_after(self, user, address):
        """Seconds until ``user`` from ``address`` may be checked again (0: now)."""
        now = self._clock()
        wait = 0.0
        with self._lock:
            for kind, key in self._sources(user, address):
                record = self._current(self._tables[kind], key, now)
                if record is not None and record.closed_until > now:
                    wait = max(wait, record.closed_until - now)
        return wait

    def failed(self, user, address):
        """Count a wrong password; returns the newly throttled ``(kind, key, delay)``."""
        now = self._clock()
        newly = []
        with self._lock:
            for kind, key in self._sources(user, address):
                table = self._tables[kind]
                record = self._current(table, key, now)
                if record is None:
                    record = table[key] = _Record()
                table.move_to_end(key)
                while len(table) > self.size:
                    table.popitem(last=False)
                record.failures += 1
                record.last_failure = now
                excess = record.failures - self.free_attempts
                if excess > 0:
                    delay = min(self.base_delay * 2 ** min(excess - 1, 32), self.max_delay)
                    record.closed_until = now + delay
                    if not record.warned:
                        record.warned = True
                        newly.append((kind, key, delay))
        return newly

    def succeeded(self, user, address):
        """The right password: forget this user's and this address's failures."""
        with self._lock:
            for kind, key in self._sources(user, address):
                self._tables[kind].pop(key, None)

    def __len__(self):
        return sum(len(table) for table in self._tables.values())


class BasicAuthMiddleware:
    """WSGI middleware: HTTP Basic against a bcrypt htpasswd, with a reader role."""

    def __init__(self, app, user_file, reader_users=(), cache_ttl=60.0, throttle=None,
                 open_body_slots=4, user_file_option=USER_FILE_OPTION,
                 strategy_option=STRATEGY_OPTION, service="API"):
        """``user_file_option`` and ``strategy_option`` name the options that
        configure this listener, in start-up errors, reload logs and 401s;
        ``service`` names it in the log lines of failed logins."""
        import bcrypt  # only http_basic pays for it

        self._bcrypt = bcrypt
        self.app = app
        self.open_body_slots = open_body_slots
        self._open_bodies = threading.BoundedSemaphore(open_body_slots)
        self.user_file = user_file
        self.user_file_option = user_file_option
        self.service = service
        self._required = ("Authentication required: send HTTP Basic credentials "
                          "(%s is http_basic)." % strategy_option)
        self.users = load_htpasswd(user_file, option=user_file_option)
        self.readers = frozenset(reader_users or ())
        unknown = sorted(self.readers - set(self.users))
        if unknown:
            raise exception.ConfigInvalid(
                "[api] reader_users names %s, who %s no entry in %s; add them with "
                "htpasswd -B or remove them from reader_users"
                % (", ".join(unknown), "has" if len(unknown) == 1 else "have", user_file),
                option="[api] reader_users")
        self.cache = _VerifiedCache(cache_ttl)
        self.throttle = throttle if throttle is not None else Throttle()
        self._file_state = self._stat()
        self._next_check = time.monotonic() + RELOAD_CHECK_INTERVAL
        self._reload_lock = threading.Lock()
        self._dummy = None  # a hash to check unknown users against (same timing)

    # -- the user file ---------------------------------------------------------------

    def _stat(self):
        """What says the file changed: mtime, size and inode, not mtime alone.

        An editor that truncates and then writes (``>``, ``echo >>`` after a
        ``: >``, many config tools) can be caught between the two by a check,
        and both steps often carry the same mtime (the clock tick is coarser
        than two writes): by mtime alone the empty file loaded then stays
        loaded -- every user refused -- until the next edit. The size tells
        the two apart; the inode a file replaced by one with the same mtime
        and size (``cp -p``, ``rsync -t`` of an edited copy).
        """
        try:
            stat = os.stat(self.user_file)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def _maybe_reload(self):
        """Pick up edits of the htpasswd file; keep the old users if it is broken."""
        now = time.monotonic()
        if now < self._next_check:
            return
        with self._reload_lock:
            if now < self._next_check:
                return
            self._next_check = now + RELOAD_CHECK_INTERVAL
            state = self._stat()
            if state == self._file_state:
                return
            self._file_state = state
            try:
                users = load_htpasswd(self.user_file, option=self.user_file_option)
            except exception.ConfigInvalid as exc:
                LOG.error("Keeping the previous users: %s", exc)
                return
            self.users = users
            self.cache.clear()
            LOG.info("Reloaded %s %s (%d users)", self.user_file_option, self.user_file,
                     len(users))

    # -- checks ------------------------------------------------------------------------

    def _dummy_hash(self):
        """A hash to check an unknown user against, at the cost most users' hashes have.

        An unknown name must take as long as a known one, or a stopwatch
        tells which names exist. ``htpasswd -B`` writes cost 5 and Python's
        bcrypt 12, so one file may hold both; the first user's cost, fixed
        at the first unknown name, made every user of another cost -- or
        every user, once the file was rehashed and reloaded -- stand out.
        """
        cost = _usual_cost(self.users.values())
        if self._dummy is None or self._dummy[0] != cost:
            self._dummy = (cost, self._bcrypt.hashpw(secrets.token_bytes(16),
                                                     self._bcrypt.gensalt(rounds=cost)))
        return self._dummy[1]

    def cached(self, user, password):
        """True when ``user`` and ``password`` were verified recently (no bcrypt)."""
        stored = self.users.get(user)
        return (stored is not None and
                self.cache.digest(user, password[:BCRYPT_MAX_BYTES], stored) in self.cache)

    def verify(self, user, password):
        """True when ``password`` (bytes) is ``user``'s; cached when it is.

        Only the first 72 bytes count, as in the hash ``htpasswd -B`` wrote.
        """
        password = password[:BCRYPT_MAX_BYTES]
        stored = self.users.get(user)
        if stored is None:
            # Spend the same time as for a real user so names cannot be probed.
            self._bcrypt.checkpw(password, self._dummy_hash())
            return False
        digest = self.cache.digest(user, password, stored)
        if digest in self.cache:
            return True
        if self._bcrypt.checkpw(password, stored):
            self.cache.add(digest)
            return True
        return False

    @staticmethod
    def parse_header(value):
        """``(user, password bytes)`` from an Authorization value, or a reason string."""
        scheme, _, token = (value or "").strip().partition(" ")
        if scheme.lower() != "basic" or not token.strip():
            return "the Authorization header must be 'Basic <base64 of user:password>'"
        try:
            decoded = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return "the Authorization header's Basic credentials are not valid base64"
        user, sep, password = decoded.partition(b":")
        if not sep or not user:
            return "the Authorization header's Basic credentials are not 'user:password'"
        try:
            return user.decode("utf-8"), password
        except UnicodeDecodeError:
            return "the user name in the Authorization header is not UTF-8"

    # -- WSGI --------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO") or "/"
        header = environ.pop("HTTP_AUTHORIZATION", None)
        if path in PUBLIC_PATHS and method in READ_METHODS:
            return self.app(environ, start_response)
        if any(method in methods and pattern.match(path)
               for methods, pattern in UNAUTHENTICATED_ROUTES):
            if environ.get(STREAMED_INPUT) and _has_body(environ):
                return self._open_body(environ, start_response)
            return self.app(environ, start_response)
        if not header:
            return _deny(start_response, 401, self._required)
        parsed = self.parse_header(header)
        if isinstance(parsed, str):
            return _deny(start_response, 401, "Authentication failed: %s." % parsed)
        user, password = parsed
        address = environ.get("REMOTE_ADDR", "?")
        self._maybe_reload()
        if not self.cached(user, password):
            wait = self.throttle.retry_after(user, address)
            if wait > 0:
                return _deny(start_response, 429,
                             "Too many failed logins for this user or client address; "
                             "retry after %d seconds." % math.ceil(wait),
                             challenge=False, retry_after=wait)
            if not self.verify(user, password):
                LOG.warning("%s authentication failed for user %s from %s",
                            self.service, _logged_name(user), address)
                for kind, key, delay in self.throttle.failed(user, address):
                    LOG.warning("Throttling %s logins of %s %r after repeated "
                                "failures: refused with HTTP 429 for %.0f s, longer "
                                "on each further failure (up to %.0f s)", self.service,
                                kind, key, delay, self.throttle.max_delay)
                return _deny(start_response, 401, "Incorrect username or password.")
            self.throttle.succeeded(user, address)
        reader = user in self.readers
        if reader and method not in READ_METHODS:
            LOG.info("Refused %s %s to reader %r", log_text.printable(method),
                     log_text.printable(path), user)
            return _deny(start_response, 403,
                         "User %s has the reader role: it may only read (GET, HEAD); "
                         "%s %s is refused." % (user, method, path), challenge=False)
        environ["REMOTE_USER"] = user
        environ["hwdrivers.auth"] = {"user": user, "roles": ["reader" if reader else "admin"]}
        return self.app(environ, start_response)

    def _open_body(self, environ, start_response):
        """An unauthenticated request with a body, on one of a few threads.

        The server reads bodies as the app asks (granian), with no
        timeout: a client that sends the headers and holds the body back
        keeps its thread. Anyone who reaches the port may send a ramdisk's
        heartbeat, so at most ``open_body_slots`` threads
        (:func:`open_body_slots`) serve such requests at once; beyond them the
        answer is an immediate 503, and the other threads stay free for
        authenticated clients.
        """
        if not self._open_bodies.acquire(blocking=False):
            LOG.warning("%s %s from %s refused with 503: all %d threads for unauthenticated "
                        "requests with a body are busy (clients sending slowly, or a "
                        "heartbeat storm)", environ.get("REQUEST_METHOD"),
                        environ.get("PATH_INFO"), environ.get("REMOTE_ADDR", "?"),
                        self.open_body_slots)
            return _deny(start_response, 503, "Too many unauthenticated requests with a "
                         "body at once; retry shortly.", challenge=False, retry_after=5)
        try:
            return self.app(environ, start_response)  # reads the body before returning
        finally:
            self._open_bodies.release()


#: Set in the environ by a server whose ``wsgi.input`` reads from the
#: network as the app asks (cmd/granian_server.py); waitress reads every
#: body before the app runs.
STREAMED_INPUT = "hwdrivers.streamed_input"


def _usual_cost(hashes):
    """The bcrypt cost most of ``hashes`` have (the higher on a tie; 12 if none)."""
    counts = collections.Counter(int(stored[4:6]) for stored in hashes)
    return max(counts, key=lambda cost: (counts[cost], cost)) if counts else 12


def _logged_name(user):
    """``user`` as a failure's log line shows it: quoted, escaped, at most
    :data:`KEY_CHARS` characters. Anyone may send a name of hundreds of
    kilobytes (the server's header limit), and every wrong guess is logged."""
    return log_text.cut(repr(user), KEY_CHARS)


def _has_body(environ):
    length = environ.get("CONTENT_LENGTH")
    return (length not in (None, "", "0")
            or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower())


def _deny(start_response, status, message, challenge=True, retry_after=None):
    """An Ironic-shaped JSON error; 401s carry the Basic challenge."""
    import json

    from hwdrivers.api import errors

    body = json.dumps(errors.error_body(status, message)).encode("utf-8")
    headers = [("Content-Type", "application/json"),
               ("Content-Length", str(len(body)))]
    if challenge:
        headers.append(("WWW-Authenticate", 'Basic realm="%s"' % REALM))
    if retry_after is not None:
        headers.append(("Retry-After", str(max(1, math.ceil(retry_after)))))
    reason = {401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests",
              503: "Service Unavailable"}[status]
    start_response("%d %s" % (status, reason), headers)
    return [body]
