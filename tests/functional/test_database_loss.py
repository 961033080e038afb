"""Losing the database is a 503 that says so, never a 500 or a dead server.

Each case takes the real database away the way it happens in production
and brings it back: PostgreSQL behind a TCP proxy that is cut and
restored, PostgreSQL backends terminated by the server, an SQLite file
locked by another writer, an SQLite file on a full disk, SQLite's ``-shm``
index truncated under a running server, and a state directory that is
read-only at start-up. Nothing a refused request carried may be written.
"""

import os
import selectors
import socket
import sqlite3
import subprocess
import threading

import pytest
import sqlalchemy as sa

from hwdrivers.common import exception
from hwdrivers.db import api as db_api
from hwdrivers.db import engine as db_engine
from hwdrivers.db import migration
from tests.api.conftest import Client, Service, error_of
from tests.fixtures import db as db_fixtures
from tests.functional import server_proc
from tests.waits import wait_for


class TCPProxy:
    """Forwards 127.0.0.1:<port> to a target; ``cut()`` drops every
    connection and refuses new ones, ``restore()`` listens again."""

    def __init__(self, target):
        self.target = target
        self.port = server_proc.free_tcp_port()
        self._lock = threading.Lock()
        self._pairs = []
        self._listener = None
        self._thread = None
        self.restore()

    def restore(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        with selectors.DefaultSelector() as sel:
            sel.register(a, selectors.EVENT_READ, b)
            sel.register(b, selectors.EVENT_READ, a)
            while True:
                try:
                    for key, _ in sel.select():
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        key.data.sendall(data)
                except OSError:
                    return

    def cut(self):
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        self._thread.join(5)
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


def _client():
    from hwdrivers.api import app as app_mod
    service = Service()
    return service, Client(app_mod.create_app(service).test_client())


def _create(api, name):
    return api.post("/v1/nodes", {"driver": "fake-hardware", "name": name})


def _assert_unavailable(resp):
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert "database is unavailable" in error_of(resp)
    assert resp.headers["Retry-After"]


@pytest.fixture
def proxied_postgresql(config, _postgresql):
    """A migrated PostgreSQL schema reached through a TCPProxy."""
    schema = _postgresql.create_schema()
    proxy = TCPProxy((db_fixtures.PG_HOST, db_fixtures.PG_PORT))
    url = sa.engine.make_url(db_fixtures.pg_url(schema)).set(port=proxy.port)
    db_engine.dispose()
    config(database__connection=url.render_as_string(hide_password=False))
    migration.upgrade()
    try:
        yield proxy
    finally:
        db_engine.dispose()
        proxy.cut()
        _postgresql.drop_schema(schema)


def test_postgresql_cut_off_is_503_then_recovers(proxied_postgresql):
    service, api = _client()
    try:
        assert _create(api, "before").status_code == 201
        proxied_postgresql.cut()
        _assert_unavailable(api.get("/v1/nodes"))
        _assert_unavailable(_create(api, "during"))
        proxied_postgresql.restore()
        assert api.get("/v1/nodes").status_code == 200
        assert _create(api, "after").status_code == 201
        assert sorted(n["name"] for n in db_api.list_nodes()) == ["after", "before"]
    finally:
        service.manager.workers.shutdown(wait=True, timeout=10)


def test_postgresql_cut_off_power_action_is_503_then_recovers(proxied_postgresql):
    """The conductor's raw transactions open a connection themselves: a refused
    one is "unavailable" too (it escaped as psycopg's own error: a 500)."""
    service, api = _client()
    try:
        assert _create(api, "p1").status_code == 201
        db_engine.dispose()  # no kept connection: the next action opens one
        proxied_postgresql.cut()
        resp = api.put("/v1/nodes/p1/states/power", {"target": "power on"})
        _assert_unavailable(resp)
        proxied_postgresql.restore()
        assert api.put("/v1/nodes/p1/states/power",
                       {"target": "power on"}).status_code == 202
        wait_for(lambda: db_api.get_node("p1")["power_state"] == "power on",
                 timeout=30, message="the node to be powered on")
    finally:
        service.manager.workers.shutdown(wait=True, timeout=10)


def test_postgresql_backends_terminated_never_500(database, _postgresql):
    if database != "postgresql":
        pytest.skip("PostgreSQL only")
    service, api = _client()
    try:
        assert _create(api, "n0").status_code == 201
        with db_engine.reader() as conn:  # the pooled connection the API uses
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with _postgresql.admin().connect() as admin:
            assert admin.exec_driver_sql("SELECT pg_terminate_backend(%d)" % pid).scalar()
        statuses = [api.get("/v1/nodes").status_code for _ in range(3)]
        assert 500 not in statuses and statuses[-1] == 200, statuses
        assert _create(api, "n1").status_code == 201
    finally:
        service.manager.workers.shutdown(wait=True, timeout=10)


def test_postgresql_connection_closed_while_idle_is_replaced_unseen(database, _postgresql):
    """A pooled connection the server closed is swapped at checkout: no request fails.

    Without a ping per checkout: the server's goodbye makes the idle
    socket readable, which the pool looks at (engine._check_alive).
    """
    if database != "postgresql":
        pytest.skip("PostgreSQL only")
    service, api = _client()
    try:
        assert _create(api, "n0").status_code == 201
        with db_engine.reader() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with _postgresql.admin().connect() as admin:
            assert admin.exec_driver_sql("SELECT pg_terminate_backend(%d)" % pid).scalar()
            wait_for(lambda: not admin.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %d" % pid).scalar(),
                message="the terminated backend to exit")
        statuses = [api.get("/v1/nodes").status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        with db_engine.reader() as conn:
            assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
    finally:
        service.manager.workers.shutdown(wait=True, timeout=10)


def test_postgresql_kept_connections_closed_while_idle_are_replaced(database, _postgresql):
    """The raw transactions' kept connections are checked like a pool checkout."""
    if database != "postgresql":
        pytest.skip("PostgreSQL only")
    from hwdrivers.common import context as hw_context
    from hwdrivers.conductor import manager as manager_mod

    ctx = hw_context.get_admin_context()
    manager = manager_mod.ConductorManager()
    manager.create_node(ctx, {"driver": "fake-hardware", "name": "kept"})
    manager.change_power_state(ctx, "kept", "power on")
    kept = list(db_engine._get().kept._stack)
    assert kept, "a power action leaves its connection kept for the next"
    pids = [fairy.driver_connection.info.backend_pid for fairy in kept]
    with _postgresql.admin().connect() as admin:
        for pid in pids:
            assert admin.exec_driver_sql("SELECT pg_terminate_backend(%d)" % pid).scalar()
        wait_for(lambda: not admin.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE pid IN (%s)"
            % ",".join(map(str, pids))).scalar(), message="the backends to exit")
    manager.change_power_state(ctx, "kept", "power off")  # no DatabaseUnavailable
    assert db_api.get_node("kept")["power_state"] == "power off"
    assert not {f.driver_connection.info.backend_pid
                for f in db_engine._get().kept._stack} & set(pids)


def test_sqlite_locked_by_another_writer_is_503_and_changes_nothing(sqlite_database, config):
    config(database__sqlite_busy_timeout=0.2)
    db_engine.dispose()
    service, api = _client()
    path = sa.engine.make_url(db_engine.get_engine().url).database
    try:
        assert _create(api, "first").status_code == 201
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            _assert_unavailable(_create(api, "blocked"))
            resp = api.patch("/v1/nodes/first", [{"op": "add", "path": "/extra/k",
                                                  "value": "v"}])
            _assert_unavailable(resp)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert [n["name"] for n in db_api.list_nodes()] == ["first"]
        assert db_api.get_node("first")["extra"] == {}
        assert _create(api, "after").status_code == 201
    finally:
        service.manager.workers.shutdown(wait=True, timeout=10)


def _mount(*args):
    result = subprocess.run(["mount", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip("cannot mount here (%s): %s" % (" ".join(args), result.stderr.strip()))


@pytest.fixture
def small_tmpfs(tmp_path):
    path = tmp_path / "tmpfs"
    path.mkdir()
    _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(path))
    try:
        yield path
    finally:
        db_engine.dispose()
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_sqlite_on_a_full_disk_is_503_then_recovers(small_tmpfs, config):
    db_engine.dispose()
    config(database__connection="sqlite:///%s" % (small_tmpfs / "hwdrivers.sqlite"))
    migration.upgrade()
    service, api = _client()
    filler = small_tmpfs / "filler"
    try:
        assert _create(api, "before").status_code == 201
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\1" * 4096):
                pass
        except OSError:
            pass  # ENOSPC: the disk is full
        finally:
            os.close(fd)
        statuses = []
        for i in range(40):  # until SQLite needs a page the disk cannot give
            resp = api.patch("/v1/nodes/before", [{"op": "add", "path": "/extra/k%d" % i,
                                                   "value": "x" * 8000}])
            statuses.append(resp.status_code)
            if resp.status_code != 200:
                _assert_unavailable(resp)
                break
        assert statuses[-1] == 503, statuses
        os.unlink(filler)
        assert _create(api, "after").status_code == 201
        assert {n["name"] for n in db_api.list_nodes()} == {"before", "after"}
    finally:
        service.manager.workers.shutdown(wait=True, timeout=10)


def test_server_survives_its_shm_file_being_truncated(tmp_path):
    """Without the guard the next query dies with SIGBUS (SQLite maps the file)."""
    server = server_proc.ServerProcess(tmp_path).start()
    try:
        for i in range(5):
            assert server.call("POST", "/v1/nodes", {"driver": "fake-hardware",
                                                     "name": "n%d" % i})[0] == 201
        shm = str(server.db_path) + "-shm"
        assert os.path.getsize(shm) > 0
        os.truncate(shm, 0)
        for i in range(5, 10):
            status, _ = server.call("POST", "/v1/nodes", {"driver": "fake-hardware",
                                                          "name": "n%d" % i})
            assert status == 201
        status, body = server.call("GET", "/v1/nodes")
        assert status == 200 and len(body["nodes"]) == 10
        assert server.proc.poll() is None
        wait_for(lambda: "shrank from outside" in server.log(), message="the guard's log line")
        assert server.stop() == 0
    finally:
        server.kill()


def test_server_refuses_to_start_on_a_read_only_state_directory(tmp_path):
    server = server_proc.ServerProcess(tmp_path)
    server.start().stop()  # creates and migrates the database
    directory = str(server.db_path.parent)
    _mount("--bind", directory, directory)
    try:
        _mount("-o", "remount,ro,bind", directory)
        result = subprocess.run([server_proc.SERVER, "--config-file", str(server.config_path)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        assert "cannot be written" in result.stderr and directory in result.stderr
        assert "[database] connection" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        subprocess.run(["umount", "-l", directory], check=False)


def test_postgresql_cut_off_during_purge_of_old_row_versions_is_unavailable(
        proxied_postgresql):
    """The VACUUM after re-encryption runs on a DB-API connection of its own;
    a refused one was psycopg's own error (a traceback from reencrypt-secrets)."""
    db_api.purge_old_row_versions()  # reachable: runs
    db_engine.dispose()
    proxied_postgresql.cut()
    with pytest.raises(exception.DatabaseUnavailable):
        db_api.purge_old_row_versions()
    proxied_postgresql.restore()
    db_api.purge_old_row_versions()
