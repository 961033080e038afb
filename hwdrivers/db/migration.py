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
"""

import contextlib
import os

from alembic import command as alembic_command
from alembic import config as alembic_config
from alembic import script as alembic_script
from alembic.runtime import migration as alembic_migration

from hwdrivers.common import exception
from hwdrivers.db import engine as db_engine

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")

#: pg_advisory_xact_lock key serialising schema changes ("hwdb" in ASCII).
_PG_LOCK_KEY = 0x68776462


class SchemaError(exception.HWDriversError):
    """The database holds a schema this hwdrivers cannot work with."""

    fmt = "%(reason)s"


def _config(connection=None):
    config = alembic_config.Config()
    config.set_main_option("script_location", MIGRATIONS_DIR.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head():
    """The newest revision this hwdrivers ships."""
    return alembic_script.ScriptDirectory.from_config(_config()).get_current_head()


def _current(connection):
    return alembic_migration.MigrationContext.configure(connection).get_current_revision()


def version():
    """The database's current revision, or None for an empty database."""
    with db_engine.reader() as connection:
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
    """
    with db_engine.get_write_engine().connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw = connection.connection.driver_connection
        if sqlite:
            raw.execute("PRAGMA foreign_keys = OFF")
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql(
                        "SELECT pg_advisory_xact_lock(%d)" % _PG_LOCK_KEY)
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


def _check_known(connection):
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


def upgrade(revision="head"):
    """Migrate the database up to ``revision``."""
    with _migrating() as connection:
        _check_known(connection)
        alembic_command.upgrade(_config(connection), revision)


def downgrade(revision="base"):
    """Migrate the database down to ``revision`` (``base`` drops everything)."""
    with _migrating() as connection:
        _check_known(connection)
        alembic_command.downgrade(_config(connection), revision)


def ensure_schema():
    """Upgrade to head unless already there; returns the revision.

    Called by the services and the local CLI at startup, so the embedded
    SQLite database needs no separate ``hwdrivers-dbsync`` step. The cheap
    read comes first; only a database behind head takes the lock.
    """
    target = head()
    if version() != target:
        upgrade(target)
    return target
