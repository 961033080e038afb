"""HWDRIVERS_TEST_DB_URL: where the PostgreSQL half of the tests and benchmarks runs.

The default is the local ``test`` database; the variable (and
``benchmarks/run_all.py --db-url``) points both at another server or
database, so the suite runs anywhere.
"""

import os
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa

from tests.fixtures import db as db_fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = db_fixtures.PG_URL_ENV


def test_default_is_the_local_test_database():
    for environ in ({}, {ENV: ""}, {ENV: "  "}):
        url = db_fixtures.admin_url(environ)
        assert url.render_as_string() == db_fixtures.DEFAULT_PG_URL


def test_a_url_is_taken_and_given_the_psycopg_driver():
    url = db_fixtures.admin_url({ENV: "postgresql://ci:pw@db.example:6543/hwci"})
    assert (url.drivername, url.host, url.port, url.database, url.username) == (
        "postgresql+psycopg", "db.example", 6543, "hwci", "ci")


@pytest.mark.parametrize("value,fragment", [
    ("sqlite:///tmp/x.sqlite", "is not a PostgreSQL URL"),
    ("mysql+pymysql://root:hunter2@127.0.0.1/test", "is not a PostgreSQL URL"),
    ("not a url", "is not a database URL"),
])
def test_a_bad_url_names_the_variable_and_hides_the_password(value, fragment):
    with pytest.raises(ValueError) as caught:
        db_fixtures.admin_url({ENV: value})
    message = str(caught.value)
    assert ENV in message and fragment in message and "unset it" in message
    assert "hunter2" not in message


def test_schema_url_keeps_the_query_and_existing_options():
    url = db_fixtures.admin_url(
        {ENV: "postgresql+psycopg://u:p%40ss@h/db?sslmode=disable&options=-cwork_mem%3D8MB"})
    parsed = sa.engine.make_url(db_fixtures.schema_url(url, "hw_1"))
    assert parsed.password == "p@ss" and parsed.query["sslmode"] == "disable"
    assert parsed.query["options"] == "-cwork_mem=8MB -csearch_path=hw_1"


def run(argv, **env):
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, **env))


def test_the_database_fixture_uses_the_variable():
    """A real pytest run pointed at a database that does not exist says so and skips."""
    missing = "hwdrivers_no_such_db_%s" % uuid.uuid4().hex[:6]
    url = db_fixtures.DEFAULT_PG_URL.rsplit("/", 1)[0] + "/" + missing
    result = run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                  "tests/unit/test_db_api.py::test_create_node_defaults"], **{ENV: url})
    assert "1 passed, 1 skipped" in result.stdout, result.stdout[-2000:]
    assert ("PostgreSQL at %s unreachable" % url) in result.stdout
    # A URL that is not PostgreSQL fails the PostgreSQL half instead of skipping it.
    result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  "tests/unit/test_db_api.py::test_create_node_defaults"],
                 **{ENV: "sqlite:///nowhere.sqlite"})
    assert "1 passed, 1 error" in result.stdout, result.stdout[-2000:]
    assert "%s=sqlite:///nowhere.sqlite is not a PostgreSQL URL" % ENV in result.stdout


def test_benchmarks_use_the_variable(monkeypatch):
    """The benchmarks' private schema lands in the database the variable names."""
    from benchmarks import common

    admin = sa.create_engine(db_fixtures.admin_url(), isolation_level="AUTOCOMMIT",
                             connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        admin.dispose()
        pytest.skip("PostgreSQL unreachable: %s" % str(exc).splitlines()[0])
    other = "hwtest_alt_%s" % uuid.uuid4().hex[:8]
    with admin.connect() as conn:
        conn.exec_driver_sql('CREATE DATABASE "%s"' % other)
    try:
        url = db_fixtures.admin_url().set(database=other)
        monkeypatch.setenv(ENV, url.render_as_string(hide_password=False))
        common.configure()
        with common.database("postgresql") as backend:
            assert backend == "postgresql"
            assert sa.engine.make_url(common.CONF.database.connection).database == other
            probe = sa.create_engine(url)
            with probe.connect() as conn:
                schemas = [r[0] for r in conn.exec_driver_sql(
                    "SELECT table_schema FROM information_schema.tables "
                    "WHERE table_name = 'nodes'")]
            probe.dispose()
            assert len(schemas) == 1 and schemas[0].startswith("hwbench_")
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % other)
        admin.dispose()


@pytest.mark.parametrize("value,fragment", [
    ("sqlite:///x.sqlite", "--db-url=sqlite:///x.sqlite is not a PostgreSQL URL"),
    ("postgresql://ci:hunter2@db/x", "must not hold the password"),
])
def test_run_all_refuses_a_bad_db_url_before_running_anything(value, fragment):
    result = run([sys.executable, "benchmarks/run_all.py", "--db-url", value])
    assert result.returncode == 2
    assert fragment in result.stderr and "hunter2" not in result.stderr
    assert "===" not in result.stdout  # no benchmark started
