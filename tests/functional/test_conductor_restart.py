"""A conductor killed mid-operation, then restarted: nothing stays locked or lost.

A real ConductorService runs in a child process on a SQLite file shared
with the test. Its fake BMCs take long to answer ([fake] power_delay), so
the operations it accepts are still running when it is killed (SIGKILL:
no clean-up at all) or asked to stop (SIGTERM: graceful stop). The test
then reads the database, and for SIGKILL starts a new service with the
same host name, which must repair everything the dead one left.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.conductor import service as service_mod
from hwdrivers.db import api as db_api
from hwdrivers.db import engine as db_engine

CTX = hw_context.get_admin_context()
HOST = "restart-conductor"

#: The child: start a service, fire the operations named on the command
#: line, say READY, then wait; SIGTERM runs the graceful stop and the
#: process ends normally — a worker still inside a slow BMC call must not
#: keep it alive once stop() has released its lease.
CHILD = textwrap.dedent("""
    import signal, sys, threading
    from hwdrivers import conf as hw_conf
    from hwdrivers.common import context
    from hwdrivers.conductor import service as service_mod

    hw_conf.CONF(["--config-file", sys.argv[1]], project="hwdrivers",
                 default_config_files=[])
    svc = service_mod.ConductorService()
    svc.start()
    ctx = context.get_admin_context()
    for spec in sys.argv[2:]:
        kind, name = spec.split(":")
        if kind == "power":
            svc.manager.change_power_state(ctx, name, "power on", wait=False)
        else:
            svc.manager.do_provisioning_action(ctx, name, kind)
    done = threading.Event()

    signal.signal(signal.SIGTERM, lambda signum, frame: done.set())
    print("READY", flush=True)
    while not done.wait(1):
        pass
    print("STOPPED %s" % svc.stop(), flush=True)
""")


def write_config(tmp_path, power_delay, shutdown_timeout):
    path = tmp_path / "conductor.conf"
    path.write_text(textwrap.dedent("""
        [DEFAULT]
        host = %s
        state_path = %s
        [database]
        connection = %s
        [fake]
        power_delay = %s
        [conductor]
        workers_pool_size = 8
        graceful_shutdown_timeout = %s
        sync_power_state_interval = 3600
        lease_duration = 300
    """ % (HOST, tmp_path / "state", db_engine.get_engine().url
           .render_as_string(hide_password=False), power_delay, shutdown_timeout)))
    return path


def start_child(config_path, operations):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(config_path)] + operations,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = child.stdout.readline()
    if line.strip() != "READY":
        child.kill()
        pytest.fail("conductor child did not start: %r %s" % (line, child.stderr.read()))
    return child


def make_fleet():
    """Four nodes in flight (3 power on, 1 being verified) and one left alone."""
    nodes = {name: db_api.create_node({"driver": "fake-hardware", "name": name,
                                       "power_state": "power off"})
             for name in ("p1", "p2", "p3", "verify", "idle")}
    operations = ["power:p1", "power:p2", "power:p3", "manage:verify"]
    return nodes, operations


def assert_in_flight():
    for name in ("p1", "p2", "p3"):
        row = db_api.get_node(name)
        assert row["reservation"].startswith(HOST + ":")
        assert row["target_power_state"] == "power on"
    row = db_api.get_node("verify")
    assert row["provision_state"] == "verifying"
    assert row["reservation"].startswith(HOST + ":")


def test_sigkill_mid_operation_then_restart_repairs_everything(sqlite_database, tmp_path,
                                                              config):
    nodes, operations = make_fleet()
    idle_before = db_api.get_node("idle")
    child = start_child(write_config(tmp_path, power_delay=60, shutdown_timeout=60),
                        operations)
    try:
        assert_in_flight()
        assert db_api.get_conductor(HOST)["online"] is True
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert_in_flight()  # a dead process cleans nothing up by itself

    config(host=HOST)
    service = service_mod.ConductorService()
    service.start()
    try:
        assert db_api.count_nodes() == len(nodes)  # nothing lost
        for name in ("p1", "p2", "p3"):
            row = db_api.get_node(name)
            assert row["reservation"] is None
            assert row["target_power_state"] is None
            assert row["power_state"] == "power off"  # never claimed what it did not do
            assert "aborted by a conductor restart" in row["last_error"]
        row = db_api.get_node("verify")
        assert row["reservation"] is None
        assert row["provision_state"] == "enroll"  # verification never finished
        assert row["target_provision_state"] is None
        assert "aborted by a conductor restart" in row["last_error"]
        assert db_api.get_node("idle") == idle_before
        assert db_api.get_conductor(HOST)["online"] is True
        # The repaired nodes take new work at once.
        assert str(service.manager.change_power_state(CTX, "p1", "power on")) == "power on"
        assert db_api.get_node("p1")["last_error"] is None
    finally:
        assert service.stop(timeout=10) is True
    assert db_api.list_nodes({"reserved": True}) == []


def test_sigterm_lets_operations_finish(sqlite_database, tmp_path):
    make_fleet()
    child = start_child(write_config(tmp_path, power_delay=0.5, shutdown_timeout=30),
                        operations=["power:p1", "power:p2", "power:p3", "manage:verify"])
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert "STOPPED True" in out
    for name in ("p1", "p2", "p3"):
        row = db_api.get_node(name)
        assert row["power_state"] == "power on"
        assert row["target_power_state"] is None
        assert row["last_error"] is None
    assert db_api.get_node("verify")["provision_state"] == "manageable"
    assert db_api.list_nodes({"reserved": True}) == []
    assert db_api.get_conductor(HOST)["online"] is False


def test_sigterm_aborts_what_outlives_the_grace_period(sqlite_database, tmp_path):
    make_fleet()
    child = start_child(write_config(tmp_path, power_delay=60, shutdown_timeout=1),
                        operations=["power:p1", "power:p2", "power:p3", "manage:verify"])
    start = time.monotonic()
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=30)
    assert child.returncode == 0, err
    assert time.monotonic() - start < 15
    assert "STOPPED False" in out
    for name in ("p1", "p2", "p3"):
        row = db_api.get_node(name)
        assert row["reservation"] is None
        assert row["target_power_state"] is None
        assert "aborted by a conductor shutdown" in row["last_error"]
    row = db_api.get_node("verify")
    assert row["provision_state"] == "enroll"
    assert "aborted by a conductor shutdown" in row["last_error"]
    assert db_api.get_conductor(HOST)["online"] is False
    assert os.path.exists(db_engine.get_engine().url.database)
