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

PostgreSQL needs none of this: row locks and READ COMMITTED re-evaluation
make the lease compare-and-set safe; there we ping pooled connections
before use so a restarted server costs one reconnect, not an error.
"""

import contextlib
import os
import threading

import sqlalchemy as sa
from oslo_config import cfg

CONF = cfg.CONF

#: Execution option that marks a connection's transactions as writes.
WRITE_OPTION = "hwdrivers_write"


class _Engines:
    """The engines of one configuration, sharing one pool."""

    def __init__(self, url):
        self.sqlite = url.get_backend_name() == "sqlite"
        if self.sqlite:
            self.base = _sqlite_engine(url)
            # Option engines share base's pool; listeners added to them stay
            # theirs, so base remains listener-free for the fast path.
            self.default = self.base.execution_options()
            sa.event.listen(self.default, "begin", _sqlite_begin)
        else:
            self.base = sa.create_engine(
                url,
                pool_pre_ping=True,
                pool_size=CONF.database.pool_size,
                max_overflow=CONF.database.max_overflow,
            )
            self.default = self.base
        self.write = self.default.execution_options(**{WRITE_OPTION: True})


def _sqlite_begin(connection):
    raw = connection.connection.driver_connection
    if connection.get_execution_options().get(WRITE_OPTION):
        raw.execute("BEGIN IMMEDIATE")
    else:
        raw.execute("BEGIN")


def _url():
    connection = CONF.database.connection
    if connection:
        return sa.engine.make_url(connection)
    os.makedirs(CONF.state_path, exist_ok=True)
    return sa.engine.URL.create(
        "sqlite", database=os.path.join(CONF.state_path, "hwdrivers.sqlite"))


def _sqlite_engine(url):
    busy_timeout = CONF.database.sqlite_busy_timeout
    engine = sa.create_engine(
        url,
        poolclass=sa.pool.QueuePool,
        pool_size=CONF.database.pool_size,
        max_overflow=CONF.database.max_overflow,
        connect_args={"check_same_thread": False, "timeout": busy_timeout},
    )

    @sa.event.listens_for(engine, "connect")  # a pool event: no per-statement cost
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout = %d" % int(busy_timeout * 1000))
            if url.database and url.database != ":memory:":
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
        engines.base.dispose()


def is_sqlite():
    return _get().sqlite


@contextlib.contextmanager
def _transaction(begin_sql):
    engines = _get()
    with engines.base.connect() as connection:
        if engines.sqlite:
            connection.connection.driver_connection.execute(begin_sql)
        with connection.begin():
            yield connection


def reader():
    """A connection in a read transaction, committed on exit (the fast path)."""
    return _transaction("BEGIN")


def writer():
    """A connection in a write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
    return _transaction("BEGIN IMMEDIATE")
