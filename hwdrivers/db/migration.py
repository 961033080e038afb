"""Schema migrations with alembic, configured in code.

The alembic scripts ship inside the package (``hwdrivers/db/migrations``),
so ``hwdrivers-dbsync upgrade`` and :func:`ensure_schema` work from any
install with no ini file. Alembic is handed a connection from
:mod:`hwdrivers.db.engine` (``config.attributes['connection']``), so
migrations see the same URL, pragmas and search_path as the API.

The whole upgrade runs in one transaction that first takes a lock
(``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL): two
services starting at once on an empty database serialise, and the second
finds the schema already at head instead of failing on CREATE TABLE.

Alembic (with mako and friends) is imported only when a migration runs:
it is most of a start-up's import time, and a database already at head --
every restart -- needs none of it. :func:`is_current` answers that with one
plain query against the revision read from the shipped scripts.
"""

import contextlib
import hashlib
import logging
import os
import re
import sqlite3

import sqlalchemy as sa

from hwdrivers.common import exception
from hwdrivers.db import engine as db_engine

LOG = logging.getLogger(__name__)

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")

#: Prefix of the pg_advisory_xact_lock key serialising schema changes ("hwdb"
#: in ASCII); the rest of the key is derived from the schema (:func:`pg_lock_key`).
_PG_LOCK_KEY = 0x68776462


class SchemaError(exception.HWDriversError):
    """The database holds a schema this hwdrivers cannot work with."""

    fmt = "%(reason)s"


_REVISION_RE = re.compile(r"^(down_revision|revision)\s*=\s*['\"]?([\w]+|None)['\"]?",
                          re.MULTILINE)


def script_head():
    """The newest shipped migration's id, read from the files; None when unsure.

    Equal to :func:`head` (a test checks), without importing alembic.
    """
    directory = os.path.join(MIGRATIONS_DIR, "versions")
    revisions, parents = set(), set()
    for name in os.listdir(directory):
        if not name.endswith(".py") or name.startswith("__"):
            continue
        with open(os.path.join(directory, name)) as handle:
            found = dict(_REVISION_RE.findall(handle.read()))
        if "revision" not in found:
            return None
        revisions.add(found["revision"])
        if found.get("down_revision") not in (None, "None"):
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def is_current():
    """True when the database is at the newest migration; any doubt is False."""
    target = script_head()
    if target is None:
        return False
    try:
        with db_engine.reader() as conn:
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    except exception.DatabaseUnavailable:
        if db_engine.is_sqlite():  # SQLite says "no such table" this way too
            return False
        raise  # a server that did not answer would time out twice
    except Exception:  # no table yet, unreadable file...: alembic decides
        return False
    return [r[0] for r in rows] == [target]


def _config(connection=None):
    from alembic import config as alembic_config

    config = alembic_config.Config()
    config.set_main_option("script_location", MIGRATIONS_DIR.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head():
    """The newest revision this hwdrivers ships."""
    from alembic import script as alembic_script

    return alembic_script.ScriptDirectory.from_config(_config()).get_current_head()


def revisions():
    """Every revision this hwdrivers ships, oldest first."""
    from alembic import script as alembic_script

    directory = alembic_script.ScriptDirectory.from_config(_config())
    return [script.revision for script in directory.walk_revisions()][::-1]


def _current(connection):
    from alembic.runtime import migration as alembic_migration

    return alembic_migration.MigrationContext.configure(connection).get_current_revision()


def version():
    """The database's current revision, or None for an empty database."""
    with db_engine.reader() as connection, _quiet_alembic():
        return _current(connection)


@contextlib.contextmanager
def _migrating():
    """A connection in one locked write transaction, for schema changes.

    On SQLite, foreign keys are switched off for the duration, as SQLite's
    documented procedure for altering tables requires: batch mode copies and
    drops tables, and a drop with foreign keys on would cascade-delete the
    rows of the tables that reference it. The pragma is a no-op inside a
    transaction, so it is set on the raw connection before BEGIN, checked
    with ``foreign_key_check`` before COMMIT, and restored afterwards.

    An SQLite file that cannot serve (not a database, read-only...) is
    :class:`~hwdrivers.common.exception.DatabaseUnusable`, naming the file: this
    connection is not taken through :func:`db_engine.writer`.
    """
    with db_engine.unusable_as_error(), db_engine.get_write_engine().connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw = connection.connection.driver_connection
        if sqlite:
            raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with _begin(connection):
                if connection.dialect.name == "postgresql":
                    _pg_schema_lock(connection)
                yield connection
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise SchemaError(
                            reason="migration left rows violating foreign keys: %s"
                            % broken[:10])
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys = ON")


def _begin(connection):
    """``connection.begin()``; a lock SQLite did not get in time is DatabaseUnavailable.

    The BEGIN IMMEDIATE that takes SQLite's write lock is issued on the raw
    connection (db/engine.py), so its "database is locked" is sqlite3's own
    error, which SQLAlchemy does not wrap: it ended the server's start-up,
    the CLI and hwdrivers-dbsync upgrade with a traceback.
    """
    try:
        return connection.begin()
    except sqlite3.OperationalError as error:
        if "locked" not in str(error):
            raise
        raise exception.DatabaseUnavailable(
            reason="database is locked: another process (a running hwdrivers-server, "
                   "hwdrivers command or hwdrivers-dbsync) held its write lock for over "
                   "[database] sqlite_busy_timeout = %ss while the schema was to be "
                   "upgraded; nothing was changed: try again once it is idle, or raise "
                   "that timeout" % db_engine.CONF.database.sqlite_busy_timeout) from None


def pg_lock_key(schema):
    """The 64-bit advisory lock key of schema changes in ``schema``.

    Advisory locks are per database, not per schema: with one key for all,
    deployments in two schemas of one database waited for each other's
    upgrades, and the "waiting" warning could name the other one's backend.
    The high 32 bits are :data:`_PG_LOCK_KEY`, the low 32 a digest of the
    schema's name: the same in every process and every release.
    """
    digest = hashlib.sha256(("hwdrivers-schema:%s" % schema).encode("utf-8")).digest()
    return (_PG_LOCK_KEY << 32) | int.from_bytes(digest[:4], "big")


def _pg_schema_lock(connection):
    """Take the schema-change lock of the current schema; say so when another
    process holds it.

    A second dbsync, or a service starting during an upgrade, waits for the
    first one: silently, it looked hung for as long as that took. The schema
    is the one tables are created in (``current_schema()``), else the
    ``search_path`` itself when none of its schemas exists yet.
    """
    schema = connection.exec_driver_sql(
        "SELECT coalesce(current_schema(), current_setting('search_path'))").scalar()
    key = pg_lock_key(schema)
    if connection.exec_driver_sql(
            "SELECT pg_try_advisory_xact_lock(%d)" % key).scalar():
        return
    holder = connection.exec_driver_sql(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
        "database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND classid::bigint = %d AND objid::bigint = %d AND objsubid = 1"
        % (key >> 32, key & 0xFFFFFFFF)).scalar()
    LOG.warning("Another process is changing the database schema (PostgreSQL backend "
                "pid %s, see pg_stat_activity); waiting for it to finish", holder)
    connection.exec_driver_sql("SELECT pg_advisory_xact_lock(%d)" % key)


def _check_known(connection):
    from alembic import script as alembic_script

    current = _current(connection)
    if current is None:
        return None
    try:
        alembic_script.ScriptDirectory.from_config(_config()).get_revision(current)
    except Exception:
        raise SchemaError(
            reason="the database schema is at revision %s, which this version of "
                   "hwdrivers does not know (its newest is %s); upgrade hwdrivers "
                   "or point [database] connection at another database"
                   % (current, head())) from None
    return current


@contextlib.contextmanager
def _quiet_alembic():
    """Alembic's INFO chatter (plugins, "Context impl", each step) only at DEBUG.

    A fresh database would otherwise print about fifteen lines at start-up;
    :func:`upgrade` logs the one that matters. Whoever configured alembic's
    loggers for DEBUG keeps seeing everything.
    """
    chatty = [logging.getLogger(name) for name in ("alembic", "alembic.runtime.migration",
                                                   "alembic.runtime.plugins")]
    if LOG.isEnabledFor(logging.DEBUG):
        yield
        return
    saved = [logger.level for logger in chatty]
    for logger in chatty:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(chatty, saved):
            logger.setLevel(level)


def upgrade(revision="head"):
    """Migrate the database up to ``revision``; logs one line when it changed."""
    with _migrating() as connection, _quiet_alembic():
        before = _check_known(connection)
        _check_schema_exists(connection)
        from alembic import command as alembic_command
        alembic_command.upgrade(_config(connection), revision)
        after = _current(connection)
    if after != before:
        LOG.info("Database schema upgraded from %s to revision %s",
                 before or "empty", after)


def _check_schema_exists(connection):
    """SchemaError when PostgreSQL has no schema to create tables in.

    A search_path naming only schemas that do not exist (a typo in
    ``options=-csearch_path=...``, a schema not created yet) otherwise fails
    on the first CREATE TABLE with "no schema has been selected to create
    in", which reads like a permission problem.
    """
    if connection.dialect.name != "postgresql":
        return
    if connection.exec_driver_sql("SELECT current_schema()").scalar() is not None:
        return
    path = connection.exec_driver_sql("SHOW search_path").scalar()
    raise SchemaError(
        reason="the %s has no schema to create tables in: none of the search_path "
               "(%s) exists; create the schema (CREATE SCHEMA) or correct the search_path "
               "(options=-csearch_path=... in [database] connection, or the database "
               "user's setting); nothing was changed" % (db_engine.database_label(), path))


def downgrade(revision="base"):
    """Migrate the database down to ``revision`` (``base`` drops everything)."""
    with _migrating() as connection, _quiet_alembic():
        _check_known(connection)
        from alembic import command as alembic_command
        alembic_command.downgrade(_config(connection), revision)


def ensure_schema():
    """Upgrade to head unless already there; returns the revision.

    Called by the services and the local CLI at startup, so the embedded
    SQLite database needs no separate ``hwdrivers-dbsync`` step. The cheap
    read comes first, without alembic; only a database behind head takes
    the lock.
    """
    if is_current():
        return script_head()
    with _quiet_alembic():
        target = head()
        current = version()
        if current != target:
            try:
                upgrade(target)
            except _REFUSED as error:
                # A database user that may read and write rows but not change
                # tables: say what to run rather than only what was refused.
                raise SchemaError(
                    reason="the %s holds schema revision %s, older than this "
                           "hwdrivers' %s, and upgrading it failed: %s; nothing was "
                           "changed. Run 'hwdrivers-dbsync upgrade' as a database user "
                           "allowed to create and alter tables, then start again"
                    % (db_engine.database_label(), current or "(empty)", target,
                       db_engine._first_line(error))) from None
    return target


#: A migration's statement the database refused (permissions, a conflicting
#: object): not a lost connection, which stays "retry later".
_REFUSED = (sa.exc.ProgrammingError, sa.exc.InternalError, sa.exc.NotSupportedError,
            sa.exc.IntegrityError, sa.exc.DataError)
