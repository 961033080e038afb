"""Alembic migrations and hwdrivers-dbsync, on SQLite and PostgreSQL."""

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hwdrivers.db import api
from hwdrivers.db import engine as db_engine
from hwdrivers.db import migration
from hwdrivers.db import models
from tests.fixtures import db as db_fixtures

TABLES = {"nodes", "ports", "conductors", "node_inventory", "bios_settings",
          "node_history"}


def _tables():
    with db_engine.get_engine().connect() as conn:
        return set(sa.inspect(conn).get_table_names()) - {"alembic_version"}


def _schema_diffs():
    with db_engine.get_engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, models.metadata)


def test_migrations_ship_with_the_package():
    assert os.path.isfile(os.path.join(migration.MIGRATIONS_DIR, "env.py"))
    assert os.path.isfile(os.path.join(migration.MIGRATIONS_DIR, "script.py.mako"))
    assert os.path.isfile(os.path.join(migration.MIGRATIONS_DIR, "alembic.ini"))
    assert migration.head() == "0009"  # bios_settings bounds as BigInteger


def test_upgrade_downgrade(empty_database):
    assert migration.version() is None
    assert _tables() == set()
    migration.upgrade()
    assert migration.version() == migration.head()
    assert _tables() == TABLES
    migration.downgrade("base")
    assert migration.version() is None
    assert _tables() == set()
    migration.upgrade("head")  # and back up again, cleanly
    assert migration.version() == migration.head()


def test_upgrade_lowers_stored_conductor_group_names(empty_database):
    """Rows written when group names were case-sensitive match the new rule."""
    migration.upgrade("0006")
    with db_engine.get_write_engine().begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO nodes (uuid, driver, provision_state, maintenance, "
            "power_sync_failures, console_enabled, conductor_group) VALUES "
            "('6a2d1c4e-0000-4000-8000-000000000001', 'fake-hardware', 'enroll', "
            "false, 0, false, 'DC2-East')")
        conn.exec_driver_sql(
            "INSERT INTO conductors (hostname, online, conductor_group) "
            "VALUES ('c1', true, 'DC2-East')")
    migration.upgrade()
    with db_engine.get_engine().connect() as conn:
        assert conn.exec_driver_sql("SELECT conductor_group FROM nodes").scalar() == \
            "dc2-east"
        assert conn.exec_driver_sql("SELECT conductor_group FROM conductors").scalar() == \
            "dc2-east"


def test_migrated_schema_matches_models(empty_database):
    migration.upgrade()
    assert _schema_diffs() == []
    # The comparison is not vacuous: a missing index is reported.
    with db_engine.get_write_engine().begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_nodes_driver")
    assert [diff[0] for diff in _schema_diffs()] == ["add_index"]


def test_ensure_schema_is_idempotent(empty_database):
    assert migration.ensure_schema() == migration.head()
    node = api.create_node({"driver": "fake-hardware", "name": "kept"})
    assert migration.ensure_schema() == migration.head()
    assert api.get_node("kept") == node


def test_migrated_sqlite_keeps_foreign_keys_on(empty_database):
    migration.upgrade()
    if empty_database == "sqlite":
        with db_engine.reader() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    node = api.create_node({"driver": "fake-hardware"})
    api.create_port({"node_id": node["id"], "address": "52:54:00:00:00:01"})
    api.destroy_node(node["id"])
    assert api.list_ports() == []


def test_unknown_revision_in_database(empty_database):
    migration.upgrade()
    with db_engine.get_write_engine().begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff'")
    with pytest.raises(migration.SchemaError) as info:
        migration.upgrade()
    assert "ffff" in str(info.value)


# -- hwdrivers-dbsync ------------------------------------------------------------------

def _dbsync(tmp_path, *args, config=None):
    argv = [sys.executable, "-c", "import sys; from hwdrivers.cmd.dbsync import main; "
                                  "sys.exit(main())"]
    if config is not None:
        path = tmp_path / "dbsync.conf"
        path.write_text(config)
        argv += ["--config-file", str(path)]
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "dbsync-state"),
               HOME=str(tmp_path))
    return subprocess.run(argv + list(args), capture_output=True, text=True, env=env,
                          timeout=120)


def test_dbsync_upgrade_and_version_sqlite(tmp_path):
    result = _dbsync(tmp_path, "version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("None")
    result = _dbsync(tmp_path, "upgrade")
    assert result.returncode == 0, result.stderr
    assert migration.head() in result.stdout
    assert (tmp_path / "dbsync-state" / "hwdrivers.sqlite").exists()
    result = _dbsync(tmp_path, "upgrade", "--revision", "head")
    assert result.returncode == 0, result.stderr
    result = _dbsync(tmp_path, "version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == migration.head()
    # An older revision is not "reached": upgrade never goes back, and says so.
    result = _dbsync(tmp_path, "upgrade", "--revision", "0003")
    assert result.returncode == 1, result.stdout
    assert ("the database is at revision %s, newer than 0003: upgrade only moves "
            "forward" % migration.head()) in result.stderr
    assert _dbsync(tmp_path, "version").stdout.strip() == migration.head()
    # A revision on the way up is reached and printed.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    result = _dbsync(fresh, "upgrade", "--revision", "0003")
    assert result.returncode == 0 and "at revision 0003" in result.stdout, result.stderr


def test_dbsync_postgresql(tmp_path, _postgresql):
    schema = _postgresql.create_schema()
    try:
        config = "[database]\nconnection = %s\n" % db_fixtures.pg_url(schema)
        result = _dbsync(tmp_path, "upgrade", config=config)
        assert result.returncode == 0, result.stderr
        result = _dbsync(tmp_path, "version", config=config)
        assert result.stdout.strip() == migration.head(), result.stderr
    finally:
        _postgresql.drop_schema(schema)


def test_dbsync_malformed_config(tmp_path):
    result = _dbsync(tmp_path, "upgrade", config="[database\nconnection = sqlite://\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot parse config file" in result.stderr
    assert "dbsync.conf" in result.stderr


def test_dbsync_missing_config(tmp_path):
    argv = [sys.executable, "-m", "hwdrivers.cmd.dbsync", "--config-file",
            str(tmp_path / "absent.conf"), "version"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "absent.conf" in result.stderr


def test_dbsync_unreachable_database(tmp_path):
    config = ("[database]\nconnection = "
              "postgresql+psycopg://hw:s3cret@127.0.0.1:1/hwdrivers\n")
    result = _dbsync(tmp_path, "upgrade", config=config)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot use the database" in result.stderr
    assert "127.0.0.1:1" in result.stderr
    assert "s3cret" not in result.stderr


def test_dbsync_bad_url(tmp_path):
    result = _dbsync(tmp_path, "version", config="[database]\nconnection = nosuch://x\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "[database] connection names the database driver nosuch" in result.stderr


def test_dbsync_unknown_revision(tmp_path):
    result = _dbsync(tmp_path, "upgrade", "--revision", "9999")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "9999" in result.stderr


def test_a_current_database_is_opened_without_importing_alembic(tmp_path):
    """Every restart: ensure_schema() on a database at head needs no alembic."""
    url = "sqlite:///%s" % (tmp_path / "current.sqlite")
    code = (
        "import sys\n"
        "from hwdrivers.conf import CONF\n"
        "CONF([], project='hwdrivers', default_config_files=[])\n"
        "CONF.set_override('connection', %r, group='database')\n"
        "from hwdrivers.db import migration\n"
        "print(migration.ensure_schema(), 'alembic' in sys.modules)\n" % url)
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == [migration.head(), "True"]  # empty: migrated
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == [migration.head(), "False"]
