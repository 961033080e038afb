"""The real server through a PostgreSQL outage: 503s, one-line logs, back by itself.

``hwdrivers-server`` reaches PostgreSQL through the TCP proxy of
test_database_loss, which is cut for a few seconds and restored. During
the cut every request that needs the database answers 503 (a power
action's lease included: it escaped as a 500), the periodic tasks log one
line per tick (they logged a traceback per tick), and nothing shows the
password; afterwards the same server serves and acts again, unrestarted.
"""

import time

import sqlalchemy as sa

from tests.fixtures import db as db_fixtures
from tests.functional import server_proc
from tests.functional.test_database_loss import TCPProxy
from tests.waits import wait_for


def test_the_server_rides_out_a_postgresql_outage(tmp_path, _postgresql):
    schema = _postgresql.create_schema()
    proxy = TCPProxy((db_fixtures.PG_HOST, db_fixtures.PG_PORT))
    # trust auth ignores the password: it is there to be kept out of the log.
    url = sa.engine.make_url(db_fixtures.pg_url(schema)).set(
        port=proxy.port, password="hunter2-not-shown")
    options = {"database": {"connection": url.render_as_string(hide_password=False)},
               "conductor": {"heartbeat_interval": 1, "sync_power_state_interval": 1}}
    try:
        with server_proc.running(tmp_path, host="outage-1", options=options) as server:
            status, _ = server.call("POST", "/v1/nodes",
                                    {"driver": "fake-hardware", "name": "n1"})
            assert status == 201
            proxy.cut()
            time.sleep(3)  # a few ticks of the periodic tasks
            for method, path, body in (
                    ("GET", "/v1/nodes", None),
                    ("PUT", "/v1/nodes/n1/states/power", {"target": "power on"})):
                status, body = server.call(method, path, body)
                assert status == 503, (method, path, status, body)
                assert "database is unavailable" in body["error_message"]
            wait_for(lambda: "Periodic task hwdrivers-heartbeat: The database is "
                     "unavailable" in server.log(), timeout=30,
                     message="the heartbeat to say the database is unavailable")
            proxy.restore()
            wait_for(lambda: server.call("PUT", "/v1/nodes/n1/states/power",
                                         {"target": "power on"})[0] == 202, timeout=60,
                     interval=0.5, message="the power action to be accepted again")
            wait_for(lambda: server.call("GET", "/v1/nodes/n1")[1]["power_state"]
                     == "power on", timeout=60, interval=0.2,
                     message="the node to be powered on")
        log = server.log()
        assert "Traceback" not in log, log
        assert "hunter2" not in log
    finally:
        proxy.cut()
        _postgresql.drop_schema(schema)


def test_a_stop_during_an_outage_exits_1_saying_what_it_left(tmp_path, _postgresql):
    """SIGTERM while the database is gone: the conductor cannot release its
    locks nor go offline. It exits 1 saying so (it exited 0, 'stopped', as if
    all were tidy), and its nodes are freed by the next start, as it says."""
    schema = _postgresql.create_schema()
    proxy = TCPProxy((db_fixtures.PG_HOST, db_fixtures.PG_PORT))
    url = sa.engine.make_url(db_fixtures.pg_url(schema)).set(port=proxy.port)
    options = {"database": {"connection": url.render_as_string(hide_password=False)}}
    try:
        server = server_proc.ServerProcess(tmp_path, host="outage-2", options=options)
        server.start()
        try:
            assert server.call("POST", "/v1/nodes",
                               {"driver": "fake-hardware", "name": "n1"})[0] == 201
            proxy.cut()
            code = server.stop()
        finally:
            server.stop()
        log = server.log()
        assert code == 1, log
        assert ("hwdrivers-server: error: stopped, but could not release this "
                "conductor's node locks or mark it offline") in log, log
        assert "[DEFAULT] host outage-2" in log
    finally:
        proxy.cut()
        _postgresql.drop_schema(schema)
