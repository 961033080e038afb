"""A PostgreSQL that accepts connections and never answers.

A hung server, a firewall that lets the handshake through, another service
on the port: libpq waits for its answer for ever unless told otherwise,
and ``hwdrivers-dbsync`` and ``hwdrivers-server`` hung at start-up with no
word. Every PostgreSQL connection now gets libpq's ``connect_timeout`` and
TCP keepalives unless the URL sets its own (db/engine.py, LIBPQ_DEFAULTS).
"""

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from hwdrivers.db import engine as db_engine
from tests.functional.server_proc import free_tcp_port

BIN = os.path.dirname(sys.executable)


def test_a_database_that_never_answers_fails_start_up_in_one_line(tmp_path, tcp_blackhole):
    conf = tmp_path / "hwdrivers.conf"
    conf.write_text("[database]\nconnection = postgresql+psycopg://ops:hunter2-not-shown@"
                    "127.0.0.1:%d/fleet\n[api]\nport = %d\n"
                    % (tcp_blackhole.port, free_tcp_port()))
    env = dict(os.environ, HWDRIVERS_STATE_PATH=str(tmp_path / "state"))
    for command, args in (("hwdrivers-dbsync", ["upgrade"]), ("hwdrivers-server", [])):
        result = subprocess.run([os.path.join(BIN, command), "--config-file", str(conf)]
                                + args, capture_output=True, text=True, env=env,
                                timeout=120)  # it hung for ever
        assert result.returncode == 1, result.stderr
        line = result.stderr.strip().splitlines()[-1]
        assert ("%s: error: cannot use the database fleet on 127.0.0.1:%d ([database] "
                "connection): connection timeout expired (no answer within connect_timeout "
                "= 10s; for a server that is slow to answer, set ?connect_timeout=N in "
                "[database] connection)" % (command, tcp_blackhole.port)) == line, result.stderr
        assert "hunter2" not in result.stderr + result.stdout


def test_postgresql_connections_get_timeouts_unless_the_url_sets_them(
        database, config, _postgresql):
    if database != "postgresql":
        pytest.skip("PostgreSQL only")
    with db_engine.reader() as conn:
        dsn = conn.connection.driver_connection.info.dsn
    assert "connect_timeout=10" in dsn and "keepalives_idle=15" in dsn, dsn
    url = sa.engine.make_url(db_engine.CONF.database.connection)
    db_engine.dispose()
    config(database__connection=url.update_query_dict(
        {"connect_timeout": "30"}).render_as_string(hide_password=False))
    try:
        with db_engine.reader() as conn:
            dsn = conn.connection.driver_connection.info.dsn
        assert "connect_timeout=30" in dsn and "keepalives_idle=15" in dsn, dsn
    finally:
        db_engine.dispose()
