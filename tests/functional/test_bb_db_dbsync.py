"""``hwdrivers-dbsync`` as an operator runs it, against the real PostgreSQL.

A misspelt ``[database] connection`` (or ``[databse]``) used to leave the
default in force: dbsync migrated the default SQLite database under
state_path and said nothing, and the operator believed PostgreSQL ready.
Each test runs the installed command on a private schema.
"""

import os
import select
import subprocess
import sys

import pytest
import sqlalchemy as sa

from hwdrivers.db import migration
from tests.fixtures import db as db_fixtures

DBSYNC = os.path.join(os.path.dirname(sys.executable), "hwdrivers-dbsync")


def _dbsync(tmp_path, config_text, *args):
    conf = tmp_path / "hwdrivers.conf"
    conf.write_text(config_text)
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state"))
    result = subprocess.run([DBSYNC, "--config-file", str(conf)] + list(args),
                            capture_output=True, text=True, env=env, timeout=120)
    return conf, result


def _tables(_postgresql, schema):
    with _postgresql.admin().connect() as admin:
        return admin.exec_driver_sql(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = '%s'"
            % schema).scalar()


def _url_with_password(schema):
    # trust auth ignores the password: it is there to be kept out of messages.
    return sa.engine.make_url(db_fixtures.pg_url(schema)).set(
        password="hunter2-not-shown").render_as_string(hide_password=False)


def test_a_misspelt_connection_option_is_refused_naming_it(tmp_path, _postgresql):
    schema = _postgresql.create_schema()
    try:
        for text, wrong, hint in (
                ("[database]\nconection = %s\n", "[database] conection is not an option",
                 "did you mean connection?"),
                ("[databse]\nconnection = %s\n", "group [databse] is not a group",
                 "did you mean [database]?")):
            conf, result = _dbsync(tmp_path, text % _url_with_password(schema), "upgrade")
            assert result.returncode == 1, result.stdout + result.stderr
            line = result.stderr.strip()
            assert len(line.splitlines()) == 1 and "Traceback" not in line, line
            assert line.startswith("hwdrivers-dbsync: error: %s: %s" % (conf, wrong)), line
            assert hint in line and "nothing was changed" in line, line
            assert str(tmp_path / "state" / "hwdrivers.sqlite") in line, line
            assert "hunter2" not in result.stderr + result.stdout
            # Neither database was touched.
            assert not (tmp_path / "state" / "hwdrivers.sqlite").exists()
            assert _tables(_postgresql, schema) == 0
    finally:
        _postgresql.drop_schema(schema)


def test_other_unknown_options_are_warned_about_and_the_upgrade_runs(tmp_path, _postgresql):
    schema = _postgresql.create_schema()
    try:
        conf, result = _dbsync(
            tmp_path,
            "[DEFAULT]\nenabled_hardware_types = ipmi,fake-hardware\n"
            "[database]\nconnection = %s\n[api]\nauth_stratgy = noauth\n"
            "[hardware_type:ipmi]\ndefault_power_interface = ipmitool\n"
            % _url_with_password(schema), "upgrade")
        assert result.returncode == 0, result.stdout + result.stderr
        assert ("%s: [api] auth_stratgy is not an option hwdrivers knows; it is ignored; "
                "did you mean auth_strategy?" % conf) in result.stderr, result.stderr
        assert "hardware_type" not in result.stderr  # an enabled type's group is known
        assert "Database schema is at revision" in result.stdout
        assert _tables(_postgresql, schema) > 0
        assert "hunter2" not in result.stderr + result.stdout
    finally:
        _postgresql.drop_schema(schema)


def test_a_misspelt_key_file_is_refused_by_the_secrets_commands(tmp_path, _postgresql):
    schema = _postgresql.create_schema()
    try:
        key_file = tmp_path / "keys" / "secrets.key"
        conf, result = _dbsync(
            tmp_path, "[database]\nconnection = %s\n[secrets]\nkey_fille = %s\n"
            % (_url_with_password(schema), key_file), "add-secrets-key")
        assert result.returncode == 1, result.stdout + result.stderr
        assert ("%s: [secrets] key_fille is not an option hwdrivers knows; did you mean "
                "key_file?" % conf) in result.stderr, result.stderr
        assert not (tmp_path / "state" / "secrets.key").exists()
    finally:
        _postgresql.drop_schema(schema)


@pytest.mark.parametrize("revision", ["nope", "+1", "heads", "head+1", "", "base"])
def test_a_revision_that_is_not_one_is_refused_before_anything_changes(
        tmp_path, _postgresql, revision):
    """alembic's relative forms moved the schema then read as a failure (+1,
    heads) or died on an assertion (head+1, empty)."""
    schema = _postgresql.create_schema()
    try:
        _, result = _dbsync(tmp_path, "[database]\nconnection = %s\n"
                            % _url_with_password(schema), "upgrade", "--revision", revision)
        assert result.returncode == 1, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        known = migration.revisions()
        assert lines[0] == (
            "hwdrivers-dbsync: error: --revision %r is not a revision of this hwdrivers: "
            "give head (the newest, %s) or one of %s; nothing was changed"
            % (revision, known[-1], ", ".join(known)))
        assert _tables(_postgresql, schema) == 0
    finally:
        _postgresql.drop_schema(schema)


def test_version_says_when_the_schema_does_not_match_this_hwdrivers(tmp_path, _postgresql):
    schema = _postgresql.create_schema()
    known = migration.revisions()
    try:
        text = "[database]\nconnection = %s\n" % _url_with_password(schema)
        assert _dbsync(tmp_path, text, "upgrade", "--revision", known[0])[1].returncode == 0
        _, result = _dbsync(tmp_path, text, "version")
        assert (result.returncode, result.stdout.strip()) == (0, known[0]), result.stderr
        assert result.stderr.strip() == (
            "hwdrivers-dbsync: the database is at revision %s, older than this "
            "hwdrivers' %s: run 'hwdrivers-dbsync upgrade'" % (known[0], known[-1]))
        assert _dbsync(tmp_path, text, "upgrade")[1].returncode == 0
        _, result = _dbsync(tmp_path, text, "version")
        assert (result.stdout.strip(), result.stderr) == (known[-1], "")
        with _postgresql.admin().connect() as admin:
            admin.exec_driver_sql("UPDATE \"%s\".alembic_version SET version_num = '0999'"
                                  % schema)
        _, result = _dbsync(tmp_path, text, "version")
        assert result.stdout.strip() == "0999"
        assert "which this hwdrivers does not know (its newest is %s): upgrade hwdrivers" % (
            known[-1]) in result.stderr
    finally:
        _postgresql.drop_schema(schema)


def test_a_second_upgrade_says_it_waits_for_the_first(tmp_path, _postgresql):
    """Two dbsync at once: the second waits for the first's lock, and says so."""
    schema = _postgresql.create_schema()
    conf = tmp_path / "hwdrivers.conf"
    conf.write_text("[database]\nconnection = %s\n" % _url_with_password(schema))
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state"))
    try:
        with _postgresql.admin().connect() as first:  # a schema change under way
            first.exec_driver_sql("SELECT pg_advisory_lock(%d)"
                                  % migration.pg_lock_key(schema))
            pid = first.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            second = subprocess.Popen([DBSYNC, "--config-file", str(conf), "upgrade"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=env)
            try:  # it says so while it waits (generous bound: it said nothing)
                ready, _, _ = select.select([second.stderr], [], [], 60)
                line = second.stderr.readline() if ready else ""
            finally:
                first.exec_driver_sql("SELECT pg_advisory_unlock(%d)"
                                      % migration.pg_lock_key(schema))
            out, err = second.communicate(timeout=120)
        assert ("Another process is changing the database schema (PostgreSQL backend "
                "pid %d, see pg_stat_activity); waiting for it to finish" % pid) in line
        assert second.returncode == 0, line + err
        assert "Database schema is at revision" in out
        assert _tables(_postgresql, schema) > 0
    finally:
        _postgresql.drop_schema(schema)
