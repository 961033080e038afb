"""One SQLAlchemy engine per process, built from ``[database]``.

SQLite is the embedded default and must take concurrent writers from many
threads (API workers, the power-sync loop, lease renewals) without ever
surfacing ``database is locked``. Two things make that hold:

* WAL mode, so readers never block the writer nor the writer the readers;
* every *write* transaction starts with ``BEGIN IMMEDIATE``, so it waits
  for the write lock up front, where SQLite's busy handler (``busy_timeout``)
  queues it. A deferred transaction that reads first and writes later has to
  *upgrade* its lock, and SQLite fails such an upgrade at once with
  SQLITE_BUSY, ignoring the busy timeout: that is the error this avoids.

pysqlite would issue its own deferred ``BEGIN`` behind our back, so its
transaction handling is switched off (``isolation_level=None``) and we emit
``BEGIN IMMEDIATE`` for writes and a plain ``BEGIN`` for reads ourselves:

* :func:`get_engine` / :func:`get_write_engine` do it in a ``begin`` event
  (SQLAlchemy's documented pysqlite recipe), so any code that uses the
  engine directly (alembic, tests, ad-hoc scripts) gets real transactions;
* :func:`reader` / :func:`writer`, which :mod:`hwdrivers.db.api` uses for
  every call, emit it on the driver connection and use an engine *without*
  event listeners: a listener on an engine makes SQLAlchemy dispatch events
  around every statement, which costs a third of a lease round trip.

Writers of one process queue on a lock of their own (:class:`_WriteLock`)
before ``BEGIN IMMEDIATE``: SQLite's busy handler makes a waiting writer
sleep in growing steps (up to 100 ms) however soon the lock is free, which
is what gave 8 busy threads a 100 ms p99; a Python lock hands over at once.
The busy handler still arbitrates between processes (the CLI beside a
running server).

PostgreSQL needs none of this: row locks and READ COMMITTED re-evaluation
make the lease compare-and-set safe. A pooled connection whose server went
away (restart, ``pg_terminate_backend``, idle timeout) has been sent an
error and an end of stream, so its socket reads as ready while it sits
idle: :func:`_check_alive` looks at that at checkout, a non-blocking
``poll`` instead of ``pool_pre_ping``'s round trip per transaction, and
has the pool replace the connection. A connection that dies while in use
fails that one transaction with :class:`DatabaseUnavailable`; SQLAlchemy
then drops the rest of the pool's connections of that generation.

The conductor's hot statements (the lease, publishing a target, the last
write) run through :func:`raw_transaction`: the DB-API connection of a
pooled connection, without SQLAlchemy's per-statement machinery
(see :mod:`hwdrivers.db.prepared`).

Losing the database is not a bug. A terminated PostgreSQL backend, a
refused connection, or a SQLite file that is locked or full leaves
:func:`reader`/:func:`writer` as :class:`DatabaseUnavailable` (HTTP 503,
"retry later") carrying the driver's first line only: the SQL text and its
parameters (which may hold driver_info) never reach a message. The pool
drops dead connections, so the next call after the database is back works.
An SQLite file that waiting will not fix -- not a database, damaged,
read-only, a directory, in a missing directory -- is
``exception.DatabaseUnusable`` instead (a 503 without Retry-After to the
API), whose message names the file, what is wrong on disk and the setting to change.

One SQLite hazard is not an error but a signal: SQLite maps the WAL index
(``<db>-shm``) into memory, and if anything truncates that file while the
server has it mapped, the next access dies with SIGBUS — no exception, no
log line. :class:`_ShmGuard` checks the file's size before each
transaction (one ``stat``) and, when it shrank, zero-extends it back before
SQLite touches it; SQLite then sees a blank index and rebuilds it from the
``-wal`` file, which is its designed recovery path.
"""

import collections
import contextlib
import hashlib
import json
import logging
import os
import re
import select
import sqlite3
import threading
import urllib.parse

import sqlalchemy as sa
from oslo_config import cfg

from hwdrivers.common import exception

CONF = cfg.CONF
LOG = logging.getLogger(__name__)

#: What "the database is gone or cannot be written" looks like: SQLAlchemy's
#: wrappers, and sqlite3's own error from the BEGIN we issue on the raw
#: connection (locked, read-only, full, I/O error).
_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError,
                sa.exc.DisconnectionError, sa.exc.TimeoutError, sqlite3.OperationalError)

#: Execution option that marks a connection's transactions as writes.
WRITE_OPTION = "hwdrivers_write"


def _first_line(error):
    """The database driver's own message, first line: never SQL or parameters.

    A SQLAlchemy error's text carries the statement and its parameters, so
    only its driver error (``orig``) is shown, or else its class name.
    """
    orig = getattr(error, "orig", None)
    if orig is None and isinstance(error, sqlite3.Error):
        # sqlite3's own, unwrapped (the BEGIN hwdrivers issues itself): its
        # text is the driver's message; the class name alone said nothing.
        orig = error
    return _message_line(orig if orig is not None else type(error).__name__)


def _message_line(source):
    """The first line of ``str(source)``, at most 200 characters (and
    :func:`explained`, and :func:`space_hint`)."""
    text = str(source).strip()
    line = (text.splitlines()[0] if text else type(source).__name__)[:200]
    return explained(locked_hint(line)) + (
        space_hint(source))


#: SQLite's primary result codes a full file system shows up as: SQLITE_FULL
#: for a page that cannot be written, SQLITE_IOERR (SHMSIZE, WRITE...) for the
#: -shm and -wal files a process that starts on a full disk cannot create.
_SQLITE_IOERR, _SQLITE_FULL = 10, 13
#: Free bytes below which the database's file system counts as full: the
#: -shm file alone needs 32 KiB.
FULL_BELOW = 64 * 1024


def locked_hint(line):
    """``line`` with the option to change when it is SQLite's "database is locked"
    (another process kept its write lock for longer than this one waits)."""
    if line != "database is locked":
        return line
    return ("database is locked (another process, such as a running hwdrivers-server, "
            "held its write lock for over [database] sqlite_busy_timeout = %ss)"
            % CONF.database.sqlite_busy_timeout)


def space_hint(error):
    """`` (the file system holding DIR is full: ...)`` when an SQLite I/O or
    full error comes from a full disk, else ''.

    A process starting on a full disk cannot create the database's -shm
    file, and SQLite says only "disk I/O error", which reads as failing
    hardware; "database or disk is full" does not say which disk. Only
    looked at on an error (one statvfs).
    """
    orig = getattr(error, "orig", None) or error
    code = getattr(orig, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in (_SQLITE_IOERR, _SQLITE_FULL):
        return ""
    engines = _engines  # None once disposed (hwdrivers-dbsync reports after that)
    try:
        path = engines.path if engines is not None else sqlite_file()
        directory = os.path.dirname(os.path.abspath(path))
        info = os.statvfs(directory)
    except Exception:  # no file (another database), or none to look at: no hint
        return ""
    if info.f_bavail * info.f_frsize >= FULL_BELOW:
        return ""
    return (" (the file system holding %s is full: free space there, then retry)"
            % directory)


#: libpq's message when ``connect_timeout`` ran out ("connection timeout
#: expired" from psycopg, "timeout expired" from psycopg2).
_CONNECT_TIMEOUT_RE = re.compile(r"\btimeout expired\b")


def explained(line):
    """A database driver's message ``line``, with the setting to change when
    the message names none.

    libpq's "connection timeout expired" says neither how long it waited nor
    where that is set: the server did not answer within ``connect_timeout``
    (10 s unless ``[database] connection`` sets it, :data:`LIBPQ_DEFAULTS`).
    Only the number is read from the URL, never the rest of it.
    """
    if not _CONNECT_TIMEOUT_RE.search(line) or "connect_timeout" in line:
        return line
    return ("%s (no answer within connect_timeout = %ss; for a server that is slow to "
            "answer, set ?connect_timeout=N in [database] connection)"
            % (line, _connect_timeout()))


def _connect_timeout():
    """The ``connect_timeout`` PostgreSQL connections get, as text."""
    try:
        url = sa.engine.make_url(CONF.database.connection)
        value = url.query.get("connect_timeout")
    except Exception:  # unset or unparsable: the setting's own check says why
        value = None
    if isinstance(value, tuple):
        value = value[-1]
    if value is None:
        return LIBPQ_DEFAULTS["connect_timeout"]
    return value if re.fullmatch(r"[0-9]+", value) else "(as set)"


@contextlib.contextmanager
def unavailable_as_error():
    """Translate a lost, locked, full or read-only database into DatabaseUnavailable.

    A file that cannot serve at all (not a database, damaged, read-only, a
    directory) becomes ``exception.DatabaseUnusable``, which names the file
    and the fix instead of "retry later".
    """
    try:
        yield
    except (sa.exc.DBAPIError, sqlite3.Error) as error:
        translated = _translated(error)
        if translated is None:
            raise
        raise translated from None


def _translated(error):
    """What :func:`unavailable_as_error` raises for ``error``; None: ``error`` itself."""
    unusable = _unusable(error)
    if unusable is not None:
        return unusable
    if isinstance(error, _UNAVAILABLE) or getattr(error, "connection_invalidated", False):
        return exception.DatabaseUnavailable(reason=_first_line(error))
    return None


@contextlib.contextmanager
def driver_errors_as_unavailable():
    """:func:`unavailable_as_error` for work on a DB-API connection of its own
    (``engine.raw_connection()``: VACUUM): the driver's own errors, which
    SQLAlchemy does not wrap there, are translated the same way."""
    engines = _get()
    with unavailable_as_error():
        try:
            yield
        except engines.dbapi_error as error:
            translated = _driver_translated(engines, error)
            if translated is None:
                raise
            raise translated from None


def _driver_translated(engines, error):
    """What a DB-API driver's own ``error`` on a raw connection becomes: the
    SQLite file's fault (DatabaseUnusable), a lost, locked or refused database
    (DatabaseUnavailable); None: ``error`` itself."""
    unusable = _unusable(error) if isinstance(error, sqlite3.Error) else None
    if unusable is not None:
        return unusable
    if isinstance(error, engines.dbapi_unavailable):
        return exception.DatabaseUnavailable(reason=_message_line(error))
    return None


@contextlib.contextmanager
def unusable_as_error():
    """Only the SQLite file problems of :func:`unavailable_as_error`.

    For code that handles the database's other errors itself (migrations:
    an alembic step's SQL error must not read as "retry later").
    """
    try:
        yield
    except (sa.exc.DBAPIError, sqlite3.Error) as error:
        unusable = _unusable(error)
        if unusable is not None:
            raise unusable from None
        raise


#: SQLite's primary result codes (``sqlite_errorcode & 0xff``) that can
#: mean the file itself is wrong; which one it is is then checked on disk.
_SQLITE_READONLY, _SQLITE_CORRUPT, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 8, 11, 14, 26
#: SQLITE_READONLY's extended codes that pass (recovery, locking, rollback
#: under way in another connection): those stay "retry later".
_SQLITE_READONLY_LASTING = (8, 8 | (6 << 8))  # plain, SQLITE_READONLY_DIRECTORY


def _unusable(error):
    """A DatabaseUnusable for ``error`` when the SQLite file is to blame, else None."""
    engines = _engines
    path = engines.path if engines is not None else None
    orig = getattr(error, "orig", None) or error
    code = getattr(orig, "sqlite_errorcode", None)
    if path is None or not isinstance(orig, sqlite3.Error) or code is None:
        return None
    primary = code & 0xFF
    if primary == _SQLITE_NOTADB:
        problem = "is not an SQLite database (%s); move the file away" % _message_line(orig)
    elif primary == _SQLITE_CORRUPT:
        problem = ("is damaged (%s); restore it from a backup or move the file away"
                   % _message_line(orig))
    elif primary == _SQLITE_READONLY and code in _SQLITE_READONLY_LASTING:
        problem = "is read-only (%s); %s" % (
            _write_problem(path) or _message_line(orig),
            "make it writable (its permissions, chattr -i, a read-only mount)")
    elif primary == _SQLITE_CANTOPEN:
        problem = _open_problem(path)
        if problem is None:
            return None  # too many open files and the like: it passes
    else:
        return None
    return exception.DatabaseUnusable(reason="the database file %s %s, or point %s elsewhere; "
                                   "nothing was changed" % (path, problem, location_option()))


def _write_problem(path):
    """Why SQLite cannot write the database at ``path``, found on disk; or None."""
    directory = os.path.dirname(path)
    for name in (path, path + "-wal", path + "-shm"):
        try:
            os.close(os.open(name, os.O_RDWR))
        except FileNotFoundError:
            continue
        except OSError as error:
            return "%s cannot be opened for writing: %s" % (name, error.strerror)
    if not os.access(directory, os.W_OK | os.X_OK):
        return "its directory %s is not writable (SQLite keeps -wal and -shm files there)" % (
            directory)
    return None


def _open_problem(path):
    """Why SQLite cannot open ``path``, found on disk; None when nothing lasting is."""
    directory = os.path.dirname(path)
    if os.path.isdir(path):
        return "is a directory, not a file; move the directory away"
    if not os.path.isdir(directory):
        return ("cannot be created: its directory %s does not exist; create it"
                % directory)
    if not os.path.exists(path):
        if not os.access(directory, os.W_OK | os.X_OK):
            return ("cannot be created: its directory %s is not writable; fix its "
                    "permissions" % directory)
        return None
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError as error:
        return "cannot be opened: %s; fix its permissions" % error.strerror
    return None


def location_option():
    """The setting that says where the database is, as an operator would change it."""
    if CONF.database.connection:
        return "[database] connection"
    return state_path_option()


def database_label():
    """Which database, for messages, by the setting that names it; never a secret.

    ``[database] connection`` with its server and database name only: a URL
    can carry a password in its query as well as in its user part, so none
    of it is echoed whole. Otherwise the SQLite file and where its
    directory came from.
    """
    connection = CONF.database.connection
    if not connection:
        return "database %s (%s)" % (_default_sqlite_file(), state_path_option())
    try:
        url = sa.engine.make_url(connection)
    except Exception:  # unparsable: the setting's own check says why
        return "database ([database] connection)"
    if url.get_backend_name() == "sqlite":
        where = url.database or "in memory"
    else:
        server = "%s:%s" % (url.host, url.port) if url.port else url.host
        where = "%s on %s" % (url.database or "(default)", server or "the local socket")
    return "database %s ([database] connection)" % where


def state_path_option():
    """``[DEFAULT] state_path`` (with its file), or HWDRIVERS_STATE_PATH when that set it."""
    try:
        location = CONF.get_location("state_path")
    except cfg.Error:
        location = None
    if location is not None and location.location in (cfg.Locations.user,
                                                      cfg.Locations.command_line):
        return "[DEFAULT] state_path (in %s)" % location.detail
    if os.environ.get("HWDRIVERS_STATE_PATH") == CONF.state_path:
        return "HWDRIVERS_STATE_PATH"
    return "[DEFAULT] state_path"


class _ShmGuard:
    """Keeps SQLite's mapped ``-shm`` file from shrinking under the process.

    SQLite never shrinks the WAL index while a connection of ours holds it
    open, so any shrink seen here came from outside (a ``cp``, a clean-up
    script, a restore): the file is extended back to the largest size seen,
    zero-filled, before SQLite reads the mapping again.
    """

    def __init__(self, database):
        self.path = database + "-shm"
        self.largest = 0
        self.inode = None
        self._lock = threading.Lock()

    def check(self):
        try:
            stat = os.stat(self.path)
        except OSError:
            return  # not created yet, or removed: SQLite recreates it
        size, inode = stat.st_size, (stat.st_dev, stat.st_ino)
        if inode != self.inode:  # a new file (SQLite recreated it): start afresh
            self.inode, self.largest = inode, size
            return
        if size >= self.largest:
            self.largest = size
            return
        with self._lock:
            try:
                if os.stat(self.path).st_size < self.largest:
                    os.truncate(self.path, self.largest)
                    LOG.error("%s shrank from outside (to %d bytes) while in use; "
                              "extended it back to %d bytes so SQLite rebuilds its "
                              "index instead of the process dying (SIGBUS). Never "
                              "truncate or copy over a live database's files.",
                              self.path, size, self.largest)
            except OSError as error:
                LOG.error("%s shrank from outside and cannot be restored (%s)",
                          self.path, error.strerror or error)
                raise exception.DatabaseUnavailable(
                    reason="%s was truncated from outside and cannot be restored: %s"
                    % (self.path, error.strerror or error)) from None


def check_writable():
    """Refuse to start (ConfigInvalid) when the SQLite database cannot be written.

    A read-only state directory would otherwise surface as a cryptic
    error on the first write, or as a server that can read but never act.
    Checks the directory and every database file that exists.
    """
    database = sqlite_file()
    if database is None:
        return
    directory = os.path.dirname(os.path.abspath(database))
    option = location_option()
    problems = []
    if not os.access(directory, os.W_OK | os.X_OK):
        problems.append("directory %s is not writable (SQLite creates its -wal and "
                        "-shm files there)" % directory)
    for suffix in ("", "-wal", "-shm"):
        path = database + suffix
        if os.path.exists(path) and not os.access(path, os.R_OK | os.W_OK):
            problems.append("%s is not readable and writable" % path)
    if problems:
        raise exception.ConfigInvalid(
            "the database cannot be written: %s; fix the permissions or point %s "
            "at a writable place" % ("; ".join(problems), option), option=option)


class _Engines:
    """The engines of one configuration, sharing one pool."""

    def __init__(self, url):
        self.sqlite = url.get_backend_name() == "sqlite"
        self.shm_guard = None
        #: The SQLite file, for messages about the file itself (else None).
        self.path = None
        if self.sqlite and url.database and url.database != ":memory:":
            self.path = os.path.abspath(url.database)
            self.shm_guard = _ShmGuard(self.path)
        if self.sqlite:
            self.base = _sqlite_engine(url, read_only=(
                _read_only and self.path is not None and _not_writable(self.path)))
            # Option engines share base's pool; listeners added to them stay
            # theirs, so base remains listener-free for the fast path.
            self.default = self.base.execution_options()
            sa.event.listen(self.default, "begin", _sqlite_begin)
        else:
            try:
                self.base = sa.create_engine(
                    url,
                    pool_size=CONF.database.pool_size,
                    max_overflow=CONF.database.max_overflow,
                    json_deserializer=json_loads,
                    connect_args=_libpq_defaults(url),
                    hide_parameters=HIDE_PARAMETERS,
                )
            except (sa.exc.NoSuchModuleError, ImportError) as error:
                raise _driver_problem(url, error) from None
            sa.event.listen(self.base, "checkout", _check_alive)
            sa.event.listen(self.base, "handle_error", _hide_failing_row)
            self.default = self.base
        self.write = self.default.execution_options(**{WRITE_OPTION: True})
        self.dialect = self.base.dialect
        dbapi = self.dialect.dbapi
        #: The DB-API's own "database gone/locked/full" errors (raw transactions).
        self.dbapi_unavailable = (dbapi.OperationalError, dbapi.InterfaceError)
        self.dbapi_error = dbapi.Error
        self.write_lock = (_WriteLock(CONF.database.sqlite_busy_timeout)
                           if self.sqlite else None)
        self.kept = _KeptConnections(
            self.base, 2 if self.sqlite else max(1, CONF.database.pool_size // 2),
            check=None if self.sqlite else _check_alive)

    def dispose(self):
        self.kept.close_all()
        self.base.dispose()


class _KeptConnections:
    """Pooled connections the raw transactions keep checked out between uses.

    A pool checkout and checkin cost more than one of the hot statements
    (the pool's locking, its events, the reset on return); the conductor
    runs two transactions per task, one after the other. So the last few
    connections used stay checked out here, in a LIFO stack, and the next
    raw transaction takes one without asking the pool. They still count
    against ``[database] pool_size``/``max_overflow``; at most ``keep``
    wait here (SQLite needs two: it has one writer at a time). A connection
    is checked the way the pool checks it (``check``) before reuse, and
    never crosses a fork.
    """

    def __init__(self, engine, keep, check=None):
        self.engine = engine
        self.keep = keep
        self.check = check
        self.pid = os.getpid()
        self._stack = collections.deque()

    def take(self):
        """A pooled connection (``_ConnectionFairy``) for one transaction."""
        if self.pid == os.getpid():
            while True:
                try:
                    fairy = self._stack.pop()
                except IndexError:
                    break
                if self.check is None:
                    return fairy
                try:
                    self.check(fairy.driver_connection, None, None)
                    return fairy
                except sa.exc.DisconnectionError:
                    fairy.invalidate()
                    fairy.close()
        return self.engine.raw_connection()

    def give_back(self, fairy):
        if (fairy.is_valid and len(self._stack) < self.keep
                and self.pid == os.getpid()):
            self._stack.append(fairy)
        else:
            fairy.close()

    def close_all(self):
        while True:
            try:
                fairy = self._stack.pop()
            except IndexError:
                return
            try:
                fairy.close()
            except Exception:  # closing a dead connection: nothing left to do
                pass


class _WriteLock:
    """This process's SQLite writers, one at a time, handed over without sleeping.

    Waiting is bounded like SQLite's own busy handler (``[database]
    sqlite_busy_timeout``), and times out into the same error.
    """

    def __init__(self, timeout):
        self._lock = threading.Lock()
        self.timeout = timeout

    def __enter__(self):
        if not self._lock.acquire(timeout=self.timeout):
            raise exception.DatabaseUnavailable(
                reason="database is locked (another writer of this process held it "
                       "for over [database] sqlite_busy_timeout = %ss)" % self.timeout)
        return self

    def __exit__(self, *exc):
        self._lock.release()


def _check_alive(dbapi_connection, _record, _proxy):
    """Pool checkout: replace a connection the server has already closed.

    An idle PostgreSQL connection has nothing to read unless the server
    sent something unasked -- in practice the notice that it is closing
    the connection, then the end of the stream. Raising DisconnectionError
    makes the pool discard it and check out (or open) another.
    """
    if getattr(dbapi_connection, "closed", False):
        raise sa.exc.DisconnectionError("connection closed")
    try:
        fd = dbapi_connection.fileno()
    except Exception:
        raise sa.exc.DisconnectionError("connection unusable") from None
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    if poller.poll(0):
        raise sa.exc.DisconnectionError("the server closed the connection")


def _sqlite_begin(connection):
    engines = _engines
    if engines is not None and engines.shm_guard is not None:
        engines.shm_guard.check()
    raw = connection.connection.driver_connection
    if connection.get_execution_options().get(WRITE_OPTION):
        raw.execute("BEGIN IMMEDIATE")
    else:
        raw.execute("BEGIN")


def _default_sqlite_file():
    """The embedded database's file, under ``[DEFAULT] state_path``."""
    return os.path.join(CONF.state_path, "hwdrivers.sqlite")


def configured_sqlite_file():
    """The SQLite file the configuration names, without creating anything; None
    for another database or an in-memory one (ConfigInvalid for a bad URL)."""
    connection = CONF.database.connection
    if not connection:
        return _default_sqlite_file()
    url = _parse_connection(connection)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def _url():
    connection = CONF.database.connection
    if connection:
        return _parse_connection(connection)
    _make_state_path(CONF.state_path)
    return sa.engine.URL.create("sqlite", database=_default_sqlite_file())


#: libpq settings of every PostgreSQL connection that the URL does not set
#: itself (its query, e.g. ``?connect_timeout=30``, wins). Without them a
#: server that accepts the TCP connection and never answers (a hung server,
#: a firewall, another service on the port) held every command, start-up
#: included, for ever; and a server that vanished without closing the
#: connection (a dead machine, a cut network) was noticed only when TCP
#: gave up, many minutes later. A long query is not cut short: the server's
#: kernel answers keepalives however long the query runs.
LIBPQ_DEFAULTS = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 15,
                  "keepalives_interval": 5, "keepalives_count": 3,
                  "tcp_user_timeout": 45000}
_LIBPQ_DRIVERS = ("psycopg", "psycopg2")


def _libpq_defaults(url):
    """The :data:`LIBPQ_DEFAULTS` that ``url`` leaves unset, for a libpq driver."""
    try:
        driver = url.get_driver_name()
    except Exception:  # a dialect that cannot load: create_engine says so
        return {}
    if driver not in _LIBPQ_DRIVERS:
        return {}
    return {name: value for name, value in LIBPQ_DEFAULTS.items() if name not in url.query}


def _parse_connection(connection):
    """``[database] connection`` as a URL, or ConfigInvalid saying why not.

    Never with the text itself: it may hold a password (SQLAlchemy's own
    message quoted the whole URL in some versions, and a bad port escaped
    as a ValueError traceback).
    """
    try:
        return sa.engine.make_url(connection)
    except (sa.exc.ArgumentError, ValueError) as error:
        why = ("its port is not a number" if "int()" in str(error)
               else "it cannot be parsed")
    raise exception.ConfigInvalid(
        "[database] connection is not a usable database URL: %s (the value is secret, "
        "not shown); write it as postgresql+psycopg://USER@HOST:PORT/DATABASE or "
        "sqlite:////path/to/file" % why, option="[database] connection")


def _driver_problem(url, error):
    """ConfigInvalid for a URL whose dialect or DB-API module cannot be loaded."""
    name = url.drivername
    hint = ""
    if url.get_backend_name() in ("postgres", "postgresql", "pgsql"):
        hint = "; for PostgreSQL write postgresql+psycopg://..."
    return exception.ConfigInvalid(
        "[database] connection names the database driver %s, which cannot be loaded "
        "(%s)%s" % (name, _message_line(error), hint), option="[database] connection")


def sqlite_file():
    """The SQLite database file of the configuration; None for another database
    or an in-memory one."""
    url = _url()
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return url.database


def _make_state_path(path):
    """Create the state directory, or ConfigInvalid naming the setting and the fix.

    ``os.makedirs`` alone says FileExistsError for a regular file in the
    way, NotADirectoryError for a file further up, FileNotFoundError under
    /proc: none of which names the setting to change.
    """
    try:
        os.makedirs(path, exist_ok=True)
        return
    except OSError as error:
        problem = _state_path_problem(path, error)
    option = state_path_option()
    raise exception.ConfigInvalid(
        "%s %s %s; point it at a directory this user can create or write (it is "
        "created when missing)%s" % (option, path, problem[0], problem[1]), option=option)


def _state_path_problem(path, error):
    """(what is wrong with ``path``, an extra fix) after makedirs failed with ``error``."""
    blocker = os.path.abspath(path)
    while blocker != os.path.dirname(blocker) and not os.path.lexists(blocker):
        blocker = os.path.dirname(blocker)
    if os.path.exists(blocker) and not os.path.isdir(blocker):
        if blocker == os.path.abspath(path):
            return "is a file, not a directory", ", or move the file away"
        return ("cannot be created: %s is a file, not a directory" % blocker,
                ", or move that file away")
    return "cannot be created (%s)" % (error.strerror or error), ""


def json_loads(text):
    """A JSON column's value: ``json.loads``, the empty object without parsing.

    Most of a node's five JSON columns hold ``{}``; a listing reads 5,000
    of them per 1,000-node page, and going through the json module for
    each was a tenth of the page. A new dict each time: callers may
    change what they read.
    """
    if text == "{}":
        return {}
    return json.loads(text)


#: Whether an existing SQLite file is opened read-only (:func:`set_read_only`).
_read_only = False


def set_read_only(read_only=True):
    """Open an existing SQLite file read-only from now on (or no longer).

    For commands that only read (``hwdrivers-dbsync version``): a WAL
    database opened the usual way needs to write its ``-shm`` file, so a
    file the user may only read -- another user's, a read-only directory
    or mount -- could not even be asked its revision. Only such a file is
    opened read-only (one this user may write is opened as usual, which
    removes the ``-wal`` and ``-shm`` files on close); nothing changes for
    PostgreSQL, nor for a file that does not exist yet. Forgets the engine
    when the mode changes.
    """
    global _read_only
    if bool(read_only) != _read_only:
        dispose()
        _read_only = bool(read_only)


def _not_writable(path):
    """True when the SQLite file ``path`` exists and this user cannot write it or
    its directory (where SQLite keeps its ``-wal`` and ``-shm`` files)."""
    return os.path.exists(path) and not (
        os.access(path, os.W_OK)
        and os.access(os.path.dirname(path) or ".", os.W_OK | os.X_OK))


def _connect_read_only(path, timeout):
    """A DB-API connection to the SQLite file ``path`` that never writes to it.

    ``mode=ro`` first: it still shares the WAL index (``-shm``) with live
    writers, creating it when missing. Where it cannot be created (a
    read-only directory) and no ``-wal`` file holds changes, the file alone
    is the whole database and no process is writing it (a writer keeps its
    ``-wal``): it is opened ``immutable``, without the index. Otherwise the
    error stands (DatabaseUnusable naming the file and what to make writable).
    """
    uri = "file:%s?mode=ro" % urllib.parse.quote(path)
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=timeout)
    try:
        connection.execute("PRAGMA schema_version").fetchone()
        return connection
    except sqlite3.OperationalError as error:
        connection.close()
        code = getattr(error, "sqlite_errorcode", None) or 0
        if (code & 0xFF) not in (_SQLITE_READONLY, _SQLITE_CANTOPEN):
            raise
        wal = path + "-wal"
        if os.path.exists(wal) and os.path.getsize(wal) > 0:
            raise exception.DatabaseUnusable(
                reason="the database file %s cannot be read by this user: %s holds "
                       "changes not yet in it, and reading them needs %s-shm, which "
                       "this user cannot create or open (%s); run this as the "
                       "database's owner, or let the service that uses it start and "
                       "stop once (which folds the changes in); nothing was changed"
                       % (path, wal, path, _message_line(error))) from None
    return sqlite3.connect(uri + "&immutable=1", uri=True, check_same_thread=False,
                           timeout=timeout)


#: A statement's values never go into SQLAlchemy's error text (nor its echo
#: log): an unexpected database error, logged with its traceback, would
#: otherwise carry what the row held -- a ramdisk's agent token, a config
#: drive's user data -- which every output masks.
HIDE_PARAMETERS = True


#: PostgreSQL's detail of a NOT NULL or CHECK violation, which quotes the row.
_FAILING_ROW = "Failing row contains"


def _hide_failing_row(context):
    """PostgreSQL's "Failing row contains (...)" detail, without the row.

    The server quotes every value of a row that breaks a NOT NULL or CHECK
    constraint; with the statement's own values hidden (HIDE_PARAMETERS),
    this was the one place a row's agent token or config drive still
    reached an error's text, and the log.
    """
    orig = context.original_exception
    detail = getattr(getattr(orig, "diag", None), "message_detail", None) or ""
    if not detail.startswith(_FAILING_ROW):
        return
    hidden = "Failing row not shown (its values may hold secrets)"
    for error in (context.sqlalchemy_exception, orig):
        if error is not None:
            error.args = tuple(arg.replace(detail, hidden) if isinstance(arg, str) else arg
                               for arg in error.args)


def _sqlite_engine(url, read_only=False):
    busy_timeout = CONF.database.sqlite_busy_timeout
    options = {}
    if read_only:
        path = os.path.abspath(url.database)
        options["creator"] = lambda: _connect_read_only(path, busy_timeout)
    else:
        options["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout}
    engine = sa.create_engine(
        url,
        poolclass=sa.pool.QueuePool,
        pool_size=CONF.database.pool_size,
        max_overflow=CONF.database.max_overflow,
        json_deserializer=json_loads,
        hide_parameters=HIDE_PARAMETERS,
        **options,
    )

    @sa.event.listens_for(engine, "connect")  # a pool event: no per-statement cost
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout = %d" % int(busy_timeout * 1000))
            if url.database and url.database != ":memory:" and not read_only:
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    return engine


_lock = threading.Lock()
_engines = None


def _get():
    global _engines
    engines = _engines
    if engines is None:
        with _lock:
            engines = _engines
            if engines is None:
                engines = _engines = _Engines(_url())
    return engines


def get_engine():
    """The process's engine, built on first use from the current config.

    On SQLite its transactions begin with a plain (deferred) ``BEGIN``: use
    :func:`get_write_engine` or :func:`writer` for anything that writes.
    """
    return _get().default


def get_write_engine():
    """The same pool, but every transaction takes the write lock first."""
    return _get().write


def dispose():
    """Close pooled connections and forget the engine (config or URL changed)."""
    global _engines
    with _lock:
        engines, _engines = _engines, None
    if engines is not None:
        engines.dispose()


def is_sqlite():
    return _get().sqlite


#: The connection holding this process's host lock (:func:`hold_host_lock`),
#: kept open until the process ends.
_host_lock = None


#: The session holding an advisory lock of a 64-bit key, and who it is.
_HOLDER_SQL = (
    "SELECT l.pid, a.backend_start, host(a.client_addr), a.application_name "
    "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND l.classid::bigint = %s AND l.objid::bigint = %s")


def host_lock_key(host, schema):
    """The 64-bit PostgreSQL advisory lock key of conductor host ``host``.

    Advisory locks are per database, not per schema: the schema is part of
    the key, so deployments in two schemas of one database stay apart.
    """
    digest = hashlib.sha256(("hwdrivers-host:%s:%s" % (schema, host)).encode("utf-8"))
    return int.from_bytes(digest.digest()[:8], "big", signed=True)


class HostLock:
    """This process's hold on the advisory lock of its ``[DEFAULT] host``.

    The lock lives in one PostgreSQL session of its own (autocommit: an
    idle transaction kept open for a process's life would hold back
    vacuum). When that session ends -- the server restarted, someone ran
    ``pg_terminate_backend`` on it, the network dropped it -- the lock is
    gone with it, and a second process under the same host name could
    start. :meth:`check`, called every second or so by the process
    (cmd/startup.py), notices the session's end and takes the lock again.
    If another session holds it by then, that is a second process of this
    host that started meanwhile: :meth:`check` returns ``"displaced"`` and
    :attr:`holder` says who it is.

    A lock held when this process started by a session older than it (a
    dead machine's session, kept until TCP keepalive gives up, which
    ``claim_host`` let this process take over from) is waited for: taken
    as soon as that session is gone, never counted as a displacement.
    """

    def __init__(self, host):
        self.host = host
        #: The DB-API connection holding the lock, or None.
        self.connection = None
        #: Its backend's pid: if that session still holds the lock after the
        #: connection broke (the network, not the server, lost it), it is ours.
        self.backend_pid = None
        #: Whether this process has held the lock since it started.
        self.held_once = False
        #: The server's clock when this process first asked for the lock.
        self.since = None
        #: ``{"pid", "backend_start", "client_addr", "application_name"}`` of
        #: the session that displaced this process (``"displaced"``).
        self.holder = None
        self.key = None

    def _connect(self):
        engines = _get()
        dialect = engines.dialect
        cargs, cparams = dialect.create_connect_args(engines.base.url)
        if dialect.driver in _LIBPQ_DRIVERS:
            for name, value in LIBPQ_DEFAULTS.items():
                cparams.setdefault(name, value)
            cparams["application_name"] = ("hwdrivers host lock, pid %d on %s" % (
                os.getpid(), os.uname().nodename))[:63]
        raw = dialect.connect(*cargs, **cparams)
        raw.autocommit = True
        return raw

    def acquire(self):
        """Take the lock in a new session; True when taken, False when another holds it.

        DatabaseUnavailable when the server cannot be reached.
        """
        engines = _get()
        try:
            raw = self._connect()
        except engines.dbapi_error as error:
            raise exception.DatabaseUnavailable(reason=_message_line(error)) from None
        try:
            cursor = raw.cursor()
            cursor.execute("SELECT current_schema(), pg_backend_pid(), statement_timestamp()")
            schema, pid, now = cursor.fetchone()
            self.key = host_lock_key(self.host, schema)
            if self.since is None:
                self.since = now
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
            taken = cursor.fetchone()[0]
            cursor.close()
        except BaseException as error:
            raw.close()
            if isinstance(error, engines.dbapi_error):
                raise exception.DatabaseUnavailable(reason=_message_line(error)) from None
            raise
        if not taken:
            try:
                self._holder_via(raw)
            except engines.dbapi_error as error:
                raise exception.DatabaseUnavailable(reason=_message_line(error)) from None
            finally:
                raw.close()
            return False
        self.connection, self.backend_pid, self.held_once = raw, pid, True
        return True

    def _holder_via(self, raw):
        """Record in :attr:`holder` the session that holds the lock (looked up on ``raw``)."""
        cursor = raw.cursor()
        cursor.execute(_HOLDER_SQL, ((self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF))
        row = cursor.fetchone()
        cursor.close()
        self.holder = None if row is None else dict(zip(
            ("pid", "backend_start", "client_addr", "application_name"), row))

    def alive(self):
        """True while the session holding the lock is there (one ``poll``, no round trip
        unless the server sent something)."""
        raw = self.connection
        if raw is None:
            return False
        try:
            _check_alive(raw, None, None)
            return True
        except sa.exc.DisconnectionError:
            pass
        try:  # something arrived: a notice, or the end. Ask.
            cursor = raw.cursor()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            cursor.close()
            return True
        except Exception:
            return False

    def _drop(self):
        raw, self.connection = self.connection, None
        if raw is not None:
            try:
                raw.close()
            except Exception:  # already broken: nothing left to close
                pass

    def check(self):
        """Look at the lock once; what happened, as one word.

        ``"held"`` (nothing to do), ``"retaken"`` (lost with its session and
        taken again), ``"waiting"`` (not held: the database is unreachable,
        or an older session still holds it), ``"displaced"`` (another
        process took it: see :attr:`holder`).
        """
        if self.alive():
            return "held"
        self._drop()
        try:
            if self.acquire():
                return "retaken"
        except exception.DatabaseUnavailable:
            return "waiting"
        holder = self.holder
        if holder is None:
            return "waiting"  # released between the two queries: next time
        if holder["pid"] == self.backend_pid:
            # Our own session, still alive on the server though our end of it
            # broke (a network cut): end it, and take the lock next time.
            self._terminate(holder["pid"])
            return "waiting"
        if self.held_once:
            return "displaced"
        started = holder["backend_start"]
        if started is not None and self.since is not None and started >= self.since:
            return "displaced"  # not the old session this process took over from
        return "waiting"

    def _terminate(self, pid):
        try:
            raw = self._connect()
        except Exception:
            return
        try:
            cursor = raw.cursor()
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
            cursor.close()
        except Exception as error:
            LOG.warning("[DEFAULT] host = %s: cannot end this process's previous lock "
                        "session (PostgreSQL pid %s): %s", self.host, pid,
                        _message_line(error))
        finally:
            raw.close()

    def close(self):
        self._drop()


def try_host_lock(host):
    """A connection holding the advisory lock of ``host``, or None when another
    session holds it (PostgreSQL only)."""
    lock = HostLock(host)
    return lock.connection if lock.acquire() else None


def hold_host_lock(host):
    """Hold ``host``'s lock for this process's life; False when another holds it.

    One process per ``[DEFAULT] host`` and database: a second one would take
    the first for a previous life of its own, release its locks and abort
    its operations at start. A live process holds the lock however long it
    was paused; the server drops it the moment its session ends, so one
    that crashed or was killed does not hold up its successor. SQLite
    (one server per file, locked by the server itself): always True.
    The lock is then :func:`host_lock`'s, whose ``check`` keeps it.
    """
    global _host_lock
    if is_sqlite():
        return True
    if _host_lock is None:
        _host_lock = HostLock(host)
    return _host_lock.connection is not None or _host_lock.acquire()


def host_lock():
    """This process's :class:`HostLock` (after :func:`hold_host_lock`), else None."""
    return _host_lock


@contextlib.contextmanager
def _transaction(begin_sql):
    engines = _get()
    with unavailable_as_error(), engines.base.connect() as connection:
        if engines.sqlite:
            if engines.shm_guard is not None:
                engines.shm_guard.check()
            connection.connection.driver_connection.execute(begin_sql)
        with connection.begin():
            yield connection


@contextlib.contextmanager
def _write_transaction():
    with _get().write_lock or contextlib.nullcontext(), \
            _transaction("BEGIN IMMEDIATE") as connection:
        yield connection


def reader():
    """A connection in a read transaction, committed on exit (the fast path)."""
    return _transaction("BEGIN")


def writer():
    """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
    return _write_transaction()


class RawTransaction:
    """One transaction on a DB-API connection: what :mod:`.prepared` runs on."""

    __slots__ = ("connection", "dialect")

    def __init__(self, connection, dialect):
        self.connection = connection
        self.dialect = dialect


@contextlib.contextmanager
def raw_transaction(write=True, single=False):
    """A :class:`RawTransaction`, committed on a clean exit, rolled back otherwise.

    The same pool, locks and error translation as :func:`writer` and
    :func:`reader`, at a fraction of the cost per statement: for the few
    statements every task runs (:mod:`hwdrivers.db.prepared`).

    ``single=True`` promises one statement, which is atomic on its own:
    PostgreSQL then runs it in autocommit, one round trip instead of three
    (``BEGIN``, the statement, ``COMMIT``). So does SQLite for a single
    read: a lone ``SELECT`` reads one snapshot in its own implicit
    transaction, which ends when the cursor is closed. Each statement
    saved there is a call that lets go of the GIL, and under load every
    such call costs a thread switch. A single write on SQLite keeps its
    ``BEGIN IMMEDIATE``: that takes the write lock through the busy
    handler, where an implicit transaction upgrading a read could fail at
    once against another process's writer.
    """
    engines = _get()
    lock = engines.write_lock if write else None
    with lock or contextlib.nullcontext():
        try:  # not unavailable_as_error(): a context manager per task costs ~1%
            fairy = engines.kept.take()
        except (sa.exc.DBAPIError, sqlite3.Error) as error:
            translated = _translated(error)
            if translated is None:
                raise
            raise translated from None
        except engines.dbapi_unavailable as error:
            # A new connection the server refused: the pool raises the DB-API's
            # own error here, which SQLAlchemy wraps only on engine.connect().
            raise exception.DatabaseUnavailable(reason=_message_line(error)) from None
        connection = fairy.driver_connection
        if engines.sqlite:
            autocommit = single and not write
        else:
            autocommit = single
        try:
            if engines.sqlite:
                if engines.shm_guard is not None:
                    engines.shm_guard.check()
                if not autocommit:
                    connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            elif autocommit:
                connection.autocommit = True
            yield RawTransaction(connection, engines.dialect)
            if not autocommit:
                connection.commit()
        except BaseException as error:
            _abandon(engines, fairy, connection, error)
            translated = _driver_translated(engines, error)
            if translated is None:
                raise
            raise translated from None
        finally:
            if autocommit and not engines.sqlite:
                try:
                    connection.autocommit = False
                except Exception:  # a broken connection: never back in the pool
                    fairy.invalidate()
            engines.kept.give_back(fairy)


def _abandon(engines, fairy, connection, error):
    """Roll back; a connection that cannot, or that the error says is gone, is dropped."""
    gone = isinstance(error, engines.dbapi_error) and engines.dialect.is_disconnect(
        error, connection, None)
    if not gone:
        try:
            connection.rollback()
            return
        except Exception:
            pass
    fairy.invalidate()
