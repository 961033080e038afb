"""Conductor metrics: operations, latency, driver errors, queue depth, rendering."""

import threading

import pytest

from hwdrivers.common import context as hw_context
from hwdrivers.common import exception
from hwdrivers.conductor import controllers
from hwdrivers.conductor import manager as manager_mod
from hwdrivers.conductor import metrics
from hwdrivers.drivers import base
from hwdrivers.drivers.modules import fake

CTX = hw_context.get_admin_context()


def value(name, **labels):
    return metrics.sample(name, **labels) or 0


@pytest.fixture
def manager(sqlite_database):
    manager = manager_mod.ConductorManager()
    manager.create_node(CTX, {"driver": "fake-hardware", "name": "m-node"})
    return manager


def test_operations_are_counted_and_timed(manager):
    ok = value("hwdrivers_operations_total", kind="set_power_state", result="success")
    timed = value("hwdrivers_operation_duration_seconds_count", kind="set_power_state")
    reads = value("hwdrivers_operations_total", kind="get_power_state", result="success")
    manager.change_power_state(CTX, "m-node", "power on")
    manager.get_power_state(CTX, "m-node")
    assert value("hwdrivers_operations_total", kind="set_power_state",
                 result="success") == ok + 1
    assert value("hwdrivers_operation_duration_seconds_count",
                 kind="set_power_state") == timed + 1
    assert value("hwdrivers_operations_total", kind="get_power_state",
                 result="success") == reads + 1


def test_driver_errors_are_counted_by_taxonomy(manager, monkeypatch):
    def refuse(self, task, state, timeout=None):
        raise exception.DriverAuthError("wrong password")

    monkeypatch.setattr(fake.FakePower, "set_power_state", refuse)
    errors = value("hwdrivers_driver_errors_total", code="authError")
    failed = value("hwdrivers_operations_total", kind="set_power_state",
                   result="DriverAuthError")
    with pytest.raises(exception.DriverAuthError):
        manager.change_power_state(CTX, "m-node", "power on")
    assert value("hwdrivers_driver_errors_total", code="authError") == errors + 1
    assert value("hwdrivers_operations_total", kind="set_power_state",
                 result="DriverAuthError") == failed + 1


def test_wrapped_driver_error_is_counted_by_its_cause():
    before = value("hwdrivers_driver_errors_total", code="connError")
    try:
        try:
            raise exception.DriverConnectionError("no route")
        except exception.DriverError as inner:
            raise exception.HWDriversError("clean step failed") from inner
    except exception.HWDriversError as outer:
        metrics.record_driver_error(outer)
    assert value("hwdrivers_driver_errors_total", code="connError") == before + 1


def test_queue_depth_is_read_at_scrape_time():
    limits = base.ControllerLimits(1, 0.0)
    key = "metrics-test-pdu"
    inside = threading.Event()
    leave = threading.Event()

    def hold():
        with controllers.LIMITER.slot(key, limits):
            inside.set()
            leave.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    inside.wait(5)
    waiter = threading.Thread(target=hold)
    waiter.start()
    try:
        deadline = 50
        while value("hwdrivers_controller_queue_depth", controller=key,
                    state="waiting") != 1 and deadline:
            deadline -= 1
            threading.Event().wait(0.02)
        assert value("hwdrivers_controller_queue_depth", controller=key,
                     state="in_use") == 1
        assert value("hwdrivers_controller_queue_depth", controller=key,
                     state="waiting") == 1
    finally:
        leave.set()
        holder.join(5)
        waiter.join(5)
    assert value("hwdrivers_controller_queue_depth", controller=key, state="in_use") == 0


def test_render_is_prometheus_text(manager):
    manager.get_power_state(CTX, "m-node")
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    text = body.decode()
    assert "# TYPE hwdrivers_operations_total counter" in text
    assert "hwdrivers_operation_duration_seconds_bucket" in text
    assert "# TYPE hwdrivers_controller_queue_depth gauge" in text
    assert "hwdrivers_power_sync_cycle_duration_seconds" in text
    assert "python_gc" not in text  # a private registry: no default collectors


def test_nothing_is_recorded_while_suspended_and_all_again_after():
    def count():
        return metrics.sample("hwdrivers_operations_total", kind="suspend-test",
                              result="success") or 0

    before = count()
    with metrics.suspended():
        with metrics.suspended():  # nested: still suspended when the inner one ends
            metrics.record_operation("suspend-test", "success", 0.01)
        metrics.record_operation("suspend-test", "success", 0.01)
    assert count() == before
    metrics.record_operation("suspend-test", "success", 0.01)
    assert count() == before + 1


def test_a_command_line_run_does_not_leave_metrics_suspended(config, tmp_path):
    from hwdrivers.cmd import cli

    state = tmp_path / "state"
    conf = tmp_path / "cli.conf"
    conf.write_text("[DEFAULT]\nstate_path = %s\n" % state)
    assert cli.main(["--config-file", str(conf), "node", "list"]) == 0
    assert metrics._suspended == 0
