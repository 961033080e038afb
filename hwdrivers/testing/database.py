"""A migrated, empty hwdrivers database for a test: SQLite, or PostgreSQL from a URL.

SQLite is a file in a temporary directory, migrated per fixture (fast).
PostgreSQL is reached at ``$HWDRIVERS_TEST_DB_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``; the user must be
allowed to CREATE SCHEMA there, the password may stay in ``PGPASSWORD`` or
``~/.pgpass``): each fixture gets a private schema (``hw_<pid>_<random>``),
selected through the URL's ``options=-csearch_path=...`` so the code under
test needs nothing special, dropped afterwards. A server that does not
answer makes the fixture :class:`~hwdrivers.testing.processes.Unavailable`
(a skip, with the reason); a URL that is not PostgreSQL's is an error.

A suite that runs many database tests shares one :class:`PostgreSQLServer`
between its fixtures (``server=``): the schema is then made and migrated
once and emptied with TRUNCATE before each test, which is how hwdrivers'
own suite runs every database test on both backends.
"""

import os
import uuid

import fixtures
import sqlalchemy as sa

from hwdrivers.db import engine as db_engine
from hwdrivers.db import migration
from hwdrivers.testing import processes
from hwdrivers.testing.processes import Unavailable

__all__ = ["PG_URL_ENV", "DEFAULT_PG_URL", "BACKENDS", "admin_url", "schema_url",
           "PostgreSQLServer", "DatabaseFixture"]

#: The PostgreSQL database tests and benchmarks make their schemas in: any
#: database the URL's user may CREATE SCHEMA in. The README documents it.
PG_URL_ENV = "HWDRIVERS_TEST_DB_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")


def admin_url(environ=os.environ) -> sa.engine.URL:
    """``$HWDRIVERS_TEST_DB_URL`` (default: the local ``test`` database) as a URL.

    ``postgresql://`` gets the psycopg (3) driver the project installs.

    :raises ValueError: naming the variable, without the password, when it
        is not a PostgreSQL URL.
    """
    text = (environ.get(PG_URL_ENV) or "").strip() or DEFAULT_PG_URL
    try:
        url = sa.engine.make_url(text)
    except sa.exc.ArgumentError:
        raise ValueError("%s is not a database URL; set it like %s, or unset it"
                         % (PG_URL_ENV, DEFAULT_PG_URL)) from None
    if url.get_backend_name() != "postgresql":
        raise ValueError("%s=%s is not a PostgreSQL URL; set it like %s (the SQLite "
                         "tests need no URL), or unset it"
                         % (PG_URL_ENV, url.render_as_string(hide_password=True),
                            DEFAULT_PG_URL))
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url


def schema_url(url: sa.engine.URL, schema: str) -> str:
    """``url`` (with its password) with ``schema`` first on the search_path."""
    options = url.query.get("options")
    options = ("%s " % options if isinstance(options, str) and options else "")
    return url.update_query_dict({"options": options + "-csearch_path=%s" % schema}
                                 ).render_as_string(hide_password=False)


def _new_schema_name():
    return "hw_%d_%s" % (os.getpid(), uuid.uuid4().hex[:8])


class PostgreSQLServer:
    """A PostgreSQL server reached at ``url``: reachability and private schemas.

    :param url: a :class:`sqlalchemy.engine.URL` or text; default
        :func:`admin_url` (``$HWDRIVERS_TEST_DB_URL``).
    :raises ValueError: from :func:`admin_url`, on the first use.
    """

    def __init__(self, url=None):
        self._url_arg = url
        self._url = None
        self._admin = None
        self._error = None
        self.session_schema = None
        self.migrated = False

    @property
    def url(self) -> sa.engine.URL:
        if self._url is None:
            self._url = (admin_url() if self._url_arg is None
                         else sa.engine.make_url(self._url_arg))
        return self._url

    def admin(self):
        """An engine on the admin URL; raises Unavailable if the server is down."""
        if self._error is not None:
            raise Unavailable(self._unavailable())
        if self._admin is None:
            admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT",
                                     connect_args={"connect_timeout": 5})
            try:
                with admin.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
            except Exception as error:  # any failure to reach it means: skip
                admin.dispose()
                self._error = str(getattr(error, "orig", error)).strip().splitlines()[0]
                raise Unavailable(self._unavailable()) from None
            self._admin = admin
        return self._admin

    def _unavailable(self):
        return ("PostgreSQL at %s unreachable (%s names another): %s"
                % (self.url.render_as_string(hide_password=True), PG_URL_ENV, self._error))

    def schema_url(self, schema: str) -> str:
        return schema_url(self.url, schema)

    def create_schema(self) -> str:
        name = _new_schema_name()
        with self.admin().connect() as conn:
            conn.exec_driver_sql('CREATE SCHEMA "%s"' % name)
        return name

    def drop_schema(self, name: str) -> None:
        with self.admin().connect() as conn:
            conn.exec_driver_sql('DROP SCHEMA IF EXISTS "%s" CASCADE' % name)

    def close(self) -> None:
        if self._admin is not None:
            if self.session_schema:
                self.drop_schema(self.session_schema)
            self._admin.dispose()


class DatabaseFixture(processes.Fixture):
    """``[database] connection`` pointing at an empty, migrated database.

    :param backend: ``sqlite`` or ``postgresql``.
    :param server: a shared :class:`PostgreSQLServer` (see the module
        docstring); default: one of this fixture's own, closed afterwards.
    :param migrate: False leaves the database without any table (for
        migration tests).
    :param directory: where the SQLite file goes (default: a temporary
        directory).

    Use it after a :class:`~hwdrivers.testing.config.ConfigFixture`;
    ``.backend`` and ``.url`` (with its password) say where.
    """

    def __init__(self, backend="sqlite", server=None, migrate=True, directory=None):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError("backend must be one of %s, not %r" % (BACKENDS, backend))
        self.backend = backend
        self.server = server
        self.migrate = migrate
        self.directory = directory
        self.url = None

    def _connect(self, url):
        from hwdrivers.conf import CONF
        self.url = url
        CONF.set_override("connection", url, group="database")
        self.addCleanup(CONF.clear_override, "connection", group="database")
        db_engine.dispose()

    def _setUp(self):
        db_engine.dispose()
        self.addCleanup(db_engine.dispose)
        if self.backend == "sqlite":
            directory = self.directory or self.useFixture(fixtures.TempDir()).path
            os.makedirs(directory, exist_ok=True)
            self._connect("sqlite:///%s" % os.path.join(directory, "hwdrivers.sqlite"))
            if self.migrate:
                migration.upgrade()
            return
        shared = self.server is not None
        server = self.server or PostgreSQLServer()
        if not shared:
            self.addCleanup(server.close)
        if shared and self.migrate:
            # One schema for the whole run, emptied before each test.
            if server.session_schema is None:
                server.admin()  # unavailable: say so before making anything
                server.session_schema = server.create_schema()
            self._connect(server.schema_url(server.session_schema))
            if not server.migrated:
                migration.upgrade()
                server.migrated = True
            else:
                with db_engine.get_engine().begin() as conn:
                    conn.exec_driver_sql(
                        "TRUNCATE ports, nodes, conductors RESTART IDENTITY CASCADE")
            return
        schema = server.create_schema()
        self.addCleanup(server.drop_schema, schema)
        self.addCleanup(db_engine.dispose)  # before the drop: no connection left in it
        self._connect(server.schema_url(schema))
        if self.migrate:
            migration.upgrade()
