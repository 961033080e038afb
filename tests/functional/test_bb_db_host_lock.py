"""The host lock survives the loss of its database session.

A server or conductor holds PostgreSQL's advisory lock of its ``[DEFAULT]
host`` in a session of its own, so a second process under that name is
refused. A PostgreSQL restart, ``pg_terminate_backend`` or a network cut
ends that session and the lock with it: the holder must take it back, and
if another process of its host took it meanwhile, the holder must not go
on as a duplicate. Run against the real server, each test on a private
schema; the database is cut with the TCP proxy of test_database_loss.
"""

import subprocess

import pytest
import sqlalchemy as sa

from hwdrivers.db import engine as db_engine
from tests.fixtures import db as db_fixtures
from tests.functional import server_proc
from tests.functional.test_database_loss import TCPProxy
from tests.waits import wait_for


def _holder(admin, key):
    """The backend pid holding the advisory lock ``key``, or None."""
    return admin.exec_driver_sql(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND objsubid = 1 AND classid::bigint = %d AND objid::bigint = %d"
        % ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).scalar()


def _refused(config_path):
    result = subprocess.run([server_proc.SERVER, "--config-file", str(config_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_the_lock_is_taken_back_after_its_session_is_terminated(tmp_path, _postgresql):
    schema = _postgresql.create_schema()
    options = {"database": {"connection": db_fixtures.pg_url(schema)}}
    key = db_engine.host_lock_key("lab-r", schema)
    try:
        first = server_proc.ServerProcess(tmp_path, name="first", host="lab-r",
                                          options=options).start()
        try:
            with _postgresql.admin().connect() as admin:
                old = _holder(admin, key)
                assert old is not None
                assert admin.exec_driver_sql(
                    "SELECT pg_terminate_backend(%d, 10000)" % old).scalar()
                new = wait_for(lambda: (_holder(admin, key) or old) != old and
                               _holder(admin, key), timeout=60,
                               message="the server to take its host lock again")
                name = admin.exec_driver_sql(
                    "SELECT application_name FROM pg_stat_activity WHERE pid = %d"
                    % new).scalar()
            assert "pid %d" % first.proc.pid in name, name
            second = server_proc.ServerProcess(tmp_path, name="second", host="lab-r",
                                               options=options)
            line = _refused(second.config_path)
            assert "[DEFAULT] host = lab-r is already running" in line, line
            assert "took the lock of [DEFAULT] host = lab-r again" in first.log()
            status, _ = first.call("GET", "/v1/nodes")
            assert status == 200
        finally:
            code = first.stop()
        assert code == 0, first.log()
    finally:
        _postgresql.drop_schema(schema)


def test_a_holder_displaced_while_cut_off_exits_without_touching_the_new_ones_state(
        tmp_path, _postgresql):
    schema = _postgresql.create_schema()
    proxy = TCPProxy((db_fixtures.PG_HOST, db_fixtures.PG_PORT))
    url = sa.engine.make_url(db_fixtures.pg_url(schema)).set(port=proxy.port)
    options = {"database": {"connection": url.render_as_string(hide_password=False)}}
    key = db_engine.host_lock_key("lab-d", schema)
    try:
        server = server_proc.ServerProcess(tmp_path, name="cut", host="lab-d",
                                           options=options).start()
        try:
            with _postgresql.admin().connect() as admin:
                assert _holder(admin, key) is not None
                proxy.cut()  # the server's sessions end; it cannot reconnect
                # Another process of the host (this session) takes the lock once
                # the server's session is gone.
                admin.exec_driver_sql("SET lock_timeout = '60s'")
                admin.exec_driver_sql("SELECT pg_advisory_lock(%d)" % key)
                mine = admin.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                assert _holder(admin, key) == mine
                proxy.restore()
                code = server.proc.wait(120)
                log = server.log()
                assert code == 1, log
                assert ("another process took the lock of [DEFAULT] host = lab-d "
                        "(PostgreSQL backend pid %d" % mine) in log, log
                assert "stopped" not in log.splitlines()[-1]
                # Exited as if crashed: the conductor row, now the other
                # process's, was not marked offline.
                online = admin.exec_driver_sql(
                    'SELECT online FROM "%s".conductors WHERE hostname = \'lab-d\''
                    % schema).scalar()
                assert online is True
                assert _holder(admin, key) == mine
        finally:
            server.kill()
    finally:
        proxy.cut()
        _postgresql.drop_schema(schema)


def test_an_older_session_holding_the_lock_is_waited_for_not_a_displacement(
        database, _postgresql):
    """claim_host may start a process while a dead machine's session holds the lock."""
    if database != "postgresql":
        pytest.skip("PostgreSQL only")
    stale = db_engine.try_host_lock("lab-s")  # a session older than the new process
    assert stale is not None
    lock = db_engine.HostLock("lab-s")
    try:
        assert lock.acquire() is False
        assert lock.check() == "waiting"
        assert lock.holder["pid"] == stale.info.backend_pid
        stale.close()  # the dead machine's session finally ends
        wait_for(lambda: lock.check() == "retaken", timeout=30,
                 message="the lock to be taken")
        assert lock.check() == "held"
        # Held from then on: a session that takes it later displaces this one.
        with _postgresql.admin().connect() as admin:
            assert admin.exec_driver_sql("SELECT pg_terminate_backend(%d, 10000)"
                                         % lock.backend_pid).scalar()
            admin.exec_driver_sql("SELECT pg_advisory_lock(%d)" % lock.key)
            assert lock.check() == "displaced"
            assert lock.holder["pid"] == admin.exec_driver_sql(
                "SELECT pg_backend_pid()").scalar()
    finally:
        lock.close()


def test_its_own_old_session_still_holding_the_lock_is_ended_and_the_lock_retaken(
        database, _postgresql):
    """A network cut the server did not see: the old session lives on there."""
    if database != "postgresql":
        pytest.skip("PostgreSQL only")
    lock = db_engine.HostLock("lab-o")
    try:
        assert lock.acquire() is True
        old_pid = lock.backend_pid
        # This end of the session is lost; the server keeps it (and the lock).
        lingering, lock.connection = lock.connection, None
        assert lock.check() == "waiting"  # ends that session
        with _postgresql.admin().connect() as admin:
            wait_for(lambda: not admin.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %d" % old_pid).scalar(),
                timeout=30, message="the old session to end")
        assert lock.check() == "retaken"
        assert lock.backend_pid != old_pid and lock.check() == "held"
        lingering.close()
    finally:
        lock.close()
