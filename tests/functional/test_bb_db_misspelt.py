"""A misspelt database setting stops the services before they touch any database.

``[database] conection = postgresql://...`` left the default in force:
``hwdrivers-server`` started on a new, empty SQLite database under
state_path, with only a WARNING saying why, and the conductor and API
processes said they refuse SQLite without saying what was misspelt.
"""

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from tests.fixtures import db as db_fixtures
from tests.functional.server_proc import free_tcp_port

BIN = os.path.dirname(sys.executable)


@pytest.mark.parametrize("command", ["hwdrivers-server", "hwdrivers-conductor",
                                     "hwdrivers-api"])
@pytest.mark.parametrize("text,wrong", [
    ("[database]\nconection = %s\n", "[database] conection is not an option hwdrivers "
                                     "knows; did you mean connection?"),
    ("[databse]\nconnection = %s\n", "group [databse] is not a group hwdrivers knows; "
                                     "did you mean [database]?"),
])
def test_a_misspelt_database_setting_is_refused_before_any_database_is_touched(
        tmp_path, _postgresql, command, text, wrong):
    schema = _postgresql.create_schema()
    try:
        url = sa.engine.make_url(db_fixtures.pg_url(schema)).set(
            password="hunter2-not-shown").render_as_string(hide_password=False)
        conf = tmp_path / "hwdrivers.conf"
        conf.write_text("[DEFAULT]\nhost = misspelt-1\n" + text % url
                        + "[api]\nport = %d\n[json_rpc]\nport = %d\n"
                        % (free_tcp_port(), free_tcp_port()))
        env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state"))
        result = subprocess.run([os.path.join(BIN, command), "--config-file", str(conf)],
                                capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 1, result.stdout + result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("%s: error: %s: %s" % (command, conf, wrong)), lines[0]
        assert "would work on the database %s" % (tmp_path / "state" / "hwdrivers.sqlite"
                                                  ) in lines[0], lines[0]
        assert "hunter2" not in result.stderr + result.stdout
        assert not (tmp_path / "state" / "hwdrivers.sqlite").exists()
        with _postgresql.admin().connect() as admin:
            assert not admin.exec_driver_sql(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = '%s'"
                % schema).scalar()
    finally:
        _postgresql.drop_schema(schema)


def test_a_misspelt_key_file_names_the_key_file_that_would_be_used(tmp_path):
    """It said dbsync "would work on the database ... instead", naming the
    database when the misspelt setting was the key file."""
    conf = tmp_path / "hwdrivers.conf"
    conf.write_text("[secrets]\nkey_fle = %s\n" % (tmp_path / "mine.key"))
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state"))
    result = subprocess.run([os.path.join(BIN, "hwdrivers-dbsync"), "--config-file",
                             str(conf), "add-secrets-key"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "[secrets] key_fle is not an option hwdrivers knows; did you mean key_file?" in (
        result.stderr), result.stderr
    assert "would use the key file %s instead" % (tmp_path / "state" / "secrets.key") in (
        result.stderr), result.stderr
    assert "database" not in result.stderr
    assert not (tmp_path / "state" / "secrets.key").exists()
