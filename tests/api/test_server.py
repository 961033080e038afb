"""hwdrivers-server's start-up pieces, in process (the subprocess runs are in
tests/functional/test_ironicclient.py)."""

import subprocess
import sys

import pytest

from hwdrivers.cmd import server
from hwdrivers.common import exception
from hwdrivers.db import migration


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.53"])
def test_noauth_on_loopback_is_fine(config, host):
    config(api__host=host)
    server.check_bind()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.org"])
def test_noauth_beyond_loopback_is_refused_saying_why(config, host):
    config(api__host=host)
    with pytest.raises(exception.ConfigInvalid) as info:
        server.check_bind()
    message = str(info.value)
    assert host in message and "allow_insecure_noauth_bind" in message
    assert "http_basic" in message


def test_override_allows_noauth_beyond_loopback(config):
    config(api__host="0.0.0.0", api__allow_insecure_noauth_bind=True)
    server.check_bind()


def test_http_basic_may_bind_anywhere(config):
    config(api__host="0.0.0.0", api__auth_strategy="http_basic")
    server.check_bind()


def test_defaults_keep_api_threads_free_of_hung_controllers(config, caplog):
    config()
    assert server.check_threads()
    assert not caplog.records


def test_wait_slots_not_below_threads_are_warned_naming_both(config, caplog):
    config(api__threads=4, api__hardware_wait_slots=4)
    assert not server.check_threads()
    [record] = caplog.records
    message = record.getMessage()
    assert record.levelname == "WARNING"
    assert "[api] hardware_wait_slots = 4" in message and "[api] threads = 4" in message
    assert "raise [api] threads above 4" in message


def test_script_head_matches_alembic():
    assert migration.script_head() == migration.head()


def test_schema_is_current_only_at_head(sqlite_database, config, tmp_path):
    assert migration.is_current() is True
    migration.downgrade("base")
    assert migration.is_current() is False


def test_schema_check_on_empty_database(empty_database):
    assert migration.is_current() is False


def test_defaults_load_every_in_tree_driver_without_heavy_libraries():
    """In a fresh interpreter: enabling a driver imports none of its libraries."""
    code = (
        "import sys\n"
        "from hwdrivers.conf import CONF\n"
        "CONF([], project='hwdrivers', default_config_files=[])\n"
        "from hwdrivers.drivers import factory\n"
        "registry = factory.Registry(CONF)\n"
        "print(','.join(sorted(registry.hardware_types)))\n"
        "print(','.join(m for m in ('sushy', 'pysnmp', 'pyghmi', 'flask', 'alembic')\n"
        "               if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    types, heavy = result.stdout.splitlines()
    assert types == "command,external,fake-hardware,ipmi,redfish,snmp"
    assert heavy == ""


def test_second_server_on_a_busy_port_fails_before_touching_the_database(tmp_path):
    """It must not register or run restart recovery (which would release the
    running server's locks): binding comes first."""
    from tests.functional import server_proc

    first = server_proc.ServerProcess(tmp_path, name="first")
    first.start()
    try:
        status, _ = first.call("POST", "/v1/nodes", {"driver": "fake-hardware",
                                                     "name": "held"})
        assert status == 201
        # Pretend the running server holds the node's lock.
        import sqlite3
        conn = sqlite3.connect(str(first.db_path))
        with conn:
            conn.execute("UPDATE nodes SET reservation = 'functest-conductor:tok', "
                         "reservation_expires = '2999-01-01 00:00:00'")
        conn.close()
        result = subprocess.run([server_proc.SERVER, "--config-file",
                                 str(first.config_path)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        assert "cannot listen on 127.0.0.1:%d" % first.port in result.stderr
        assert "[api] host/port" in result.stderr
        rows = first.db_rows("SELECT reservation FROM nodes")
        assert rows == [{"reservation": "functest-conductor:tok"}]
        status, body = first.call("GET", "/v1/nodes/held")
        assert status == 200
    finally:
        assert first.stop() == 0


def test_unreachable_database_is_one_line_without_password(tmp_path):
    from tests.functional import server_proc
    proc = server_proc.ServerProcess(tmp_path, name="nodb", options={"database": {
        "connection": "postgresql+psycopg://hw:db-pa55word@127.0.0.1:1/hw"}})
    result = subprocess.run([server_proc.SERVER, "--config-file", str(proc.config_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("hwdrivers-server: error: cannot use the database")
    assert "Traceback" not in result.stderr
    assert "db-pa55word" not in result.stderr + result.stdout


def test_serving_processes_freeze_what_start_up_built(sqlite_database):
    """Once serving, start-up's objects are out of every later full collection."""
    import gc
    import threading

    from hwdrivers.cmd import startup

    stop, closed = threading.Event(), []
    stop.set()
    try:
        assert startup.run_until_stopped("test", stop, lambda: closed.append(True)) == 0
        assert gc.get_freeze_count() > 0 and closed == [True]
    finally:
        gc.unfreeze()


def test_sigterm_delivered_to_another_thread_still_stops_the_process(tmp_path):
    """The kernel may hand SIGTERM to any thread; the sleeping main thread must wake."""
    script = tmp_path / "serve.py"
    script.write_text(
        "import signal, sys, threading, time\n"
        "from hwdrivers.cmd import startup\n"
        "stop = startup.stop_event()\n"
        "ready = threading.Event()\n"
        "def other():\n"
        "    ready.set()\n"
        "    time.sleep(60)\n"
        "worker = threading.Thread(target=other, daemon=True)\n"
        "worker.start()\n"
        "ready.wait()\n"
        "threading.Timer(0.5, signal.pthread_kill, (worker.ident, signal.SIGTERM)).start()\n"
        "sys.exit(startup.run_until_stopped('test', stop))\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "test: stopped"
