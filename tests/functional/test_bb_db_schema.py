"""A schema behind or ahead of the code, on the real PostgreSQL.

The services migrate an older schema at start; where the database user may
read and write rows but not change tables (a common production split), the
upgrade fails, and the operator must be told to run ``hwdrivers-dbsync
upgrade`` as a user that may, not only "permission denied". dbsync itself,
run as that user, must say the same in one line, not a traceback.
"""

import os
import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa

from tests.fixtures import db as db_fixtures
from tests.functional import server_proc

BIN = os.path.dirname(sys.executable)


def _run(tmp_path, command, url, *args):
    conf = tmp_path / ("%s.conf" % uuid.uuid4().hex[:6])
    conf.write_text("[DEFAULT]\nhost = schema-test\n[database]\nconnection = %s\n"
                    "[api]\nport = %d\n" % (url, server_proc.free_tcp_port()))
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state"))
    env.pop("HWDRIVERS_URL", None)
    return subprocess.run([os.path.join(BIN, command), "--config-file", str(conf)]
                          + list(args), capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.fixture
def old_schema_and_a_row_only_user(_postgresql):
    """A schema at revision 0003 and a role that may use its rows, not create tables."""
    schema = _postgresql.create_schema()
    role = "hw_rows_%s" % uuid.uuid4().hex[:8]
    admin_url = db_fixtures.pg_url(schema)
    with _postgresql.admin().connect() as admin:
        admin.exec_driver_sql('CREATE ROLE "%s" LOGIN' % role)
        admin.exec_driver_sql('GRANT USAGE ON SCHEMA "%s" TO "%s"' % (schema, role))
    try:
        yield schema, role, admin_url
    finally:
        _postgresql.drop_schema(schema)
        with _postgresql.admin().connect() as admin:
            admin.exec_driver_sql('DROP OWNED BY "%s"' % role)
            admin.exec_driver_sql('DROP ROLE "%s"' % role)


def _role_url(schema, role):
    # trust auth ignores the password: it is there to be kept out of messages.
    return sa.engine.make_url(db_fixtures.pg_url(schema)).set(
        username=role, password="hunter2-not-shown").render_as_string(hide_password=False)


def test_an_old_schema_the_user_cannot_upgrade_says_to_run_dbsync(
        tmp_path, _postgresql, old_schema_and_a_row_only_user):
    schema, role, admin_url = old_schema_and_a_row_only_user
    migrated = _run(tmp_path, "hwdrivers-dbsync", admin_url, "upgrade", "--revision", "0003")
    assert migrated.returncode == 0, migrated.stderr
    with _postgresql.admin().connect() as admin:
        admin.exec_driver_sql('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN '
                              'SCHEMA "%s" TO "%s"' % (schema, role))
    url = _role_url(schema, role)

    for command, args in (("hwdrivers-server", ()), ("hwdrivers", ("node", "list"))):
        result = _run(tmp_path, command, url, *args)
        assert result.returncode == 1, result.stdout + result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert "Traceback" not in result.stderr, result.stderr
        assert "schema revision 0003, older than this hwdrivers'" in line, line
        assert "permission denied" in line, line
        assert "Run 'hwdrivers-dbsync upgrade' as a database user allowed to create" in line
        assert "hunter2" not in result.stderr + result.stdout

    result = _run(tmp_path, "hwdrivers-dbsync", url, "upgrade")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "refused upgrade: permission denied" in lines[0], lines[0]
    assert "nothing was changed" in lines[0] and "hunter2" not in result.stderr
    with _postgresql.admin().connect() as admin:
        assert admin.exec_driver_sql('SELECT version_num FROM "%s".alembic_version'
                                     % schema).scalar() == "0003"

    # Upgraded by a user that may: the row-only user's server starts.
    assert _run(tmp_path, "hwdrivers-dbsync", admin_url, "upgrade").returncode == 0
    with _postgresql.admin().connect() as admin:
        admin.exec_driver_sql('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN '
                              'SCHEMA "%s" TO "%s"' % (schema, role))
        admin.exec_driver_sql('GRANT USAGE ON ALL SEQUENCES IN SCHEMA "%s" TO "%s"'
                              % (schema, role))
    listed = _run(tmp_path, "hwdrivers", url, "node", "list")
    assert listed.returncode == 0, listed.stderr


def test_a_schema_newer_than_the_code_is_named(tmp_path, _postgresql):
    schema = _postgresql.create_schema()
    try:
        url = db_fixtures.pg_url(schema)
        assert _run(tmp_path, "hwdrivers-dbsync", url, "upgrade").returncode == 0
        with _postgresql.admin().connect() as admin:
            admin.exec_driver_sql("UPDATE \"%s\".alembic_version SET version_num = '0999'"
                                  % schema)
        for command, args in (("hwdrivers-server", ()), ("hwdrivers-dbsync", ("upgrade",))):
            result = _run(tmp_path, command, url, *args)
            assert result.returncode == 1, result.stderr
            line = result.stderr.strip().splitlines()[-1]
            assert "revision 0999, which this version of hwdrivers does not know" in line
            assert "upgrade hwdrivers" in line, line
    finally:
        _postgresql.drop_schema(schema)


def test_a_search_path_naming_no_existing_schema_is_named(tmp_path, _postgresql):
    """Not "no schema has been selected to create in" read as a permission problem."""
    missing = "hw_missing_%s" % uuid.uuid4().hex[:8]
    url = db_fixtures.pg_url(missing)
    for command, args in (("hwdrivers-dbsync", ("upgrade",)), ("hwdrivers-server", ())):
        result = _run(tmp_path, command, url, *args)
        assert result.returncode == 1, result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert ("has no schema to create tables in: none of the search_path (%s) "
                "exists" % missing) in line, line
        assert "create the schema" in line, line
    with _postgresql.admin().connect() as admin:
        assert not admin.exec_driver_sql(
            "SELECT count(*) FROM pg_namespace WHERE nspname = '%s'" % missing).scalar()
